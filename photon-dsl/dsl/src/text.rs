//! A fixed-size text buffer usable in `const fn`, so compile-time checks can
//! say *which* node, service and port are wrong instead of a fixed sentence.
//!
//! The same builder renders the message when a check runs at start-up, so the
//! wording a user sees is identical whether `cargo build` or the binary caught it.

/// Capacity of a [`ConstText`]; longer messages are cut with a trailing `…`.
pub const CAPACITY: usize = 480;

/// Text assembled in const code. Build it with the `push*` methods, then
/// [`ConstText::panic`] (compile time) or [`ConstText::as_str`] (run time).
#[derive(Clone, Copy)]
pub struct ConstText {
    buf: [u8; CAPACITY],
    len: usize,
    truncated: bool,
}

impl ConstText {
    /// Empty text.
    pub const fn new() -> Self {
        ConstText {
            buf: [0; CAPACITY],
            len: 0,
            truncated: false,
        }
    }

    /// Appends `s`, keeping the text valid UTF-8 when it has to cut.
    pub const fn push(mut self, s: &str) -> Self {
        let bytes = s.as_bytes();
        // Room for the ellipsis if we must cut.
        let limit = CAPACITY - 3;
        if self.len + bytes.len() > limit {
            let mut end = limit - self.len;
            // Do not split a UTF-8 sequence: back up to a char boundary.
            while end > 0 && (bytes[end] & 0b1100_0000) == 0b1000_0000 {
                end -= 1;
            }
            let mut i = 0;
            while i < end {
                self.buf[self.len] = bytes[i];
                self.len += 1;
                i += 1;
            }
            self.truncated = true;
            return self;
        }
        let mut i = 0;
        while i < bytes.len() {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `s` between backticks, the way compiler messages quote names.
    pub const fn quoted(self, s: &str) -> Self {
        self.push("`").push(s).push("`")
    }

    /// Appends a decimal number.
    pub const fn number(self, n: i128) -> Self {
        let mut digits = [0u8; 40];
        let mut len = 0;
        let negative = n < 0;
        let mut rest = n.unsigned_abs();
        if rest == 0 {
            digits[0] = b'0';
            len = 1;
        }
        while rest > 0 {
            digits[len] = b'0' + (rest % 10) as u8;
            rest /= 10;
            len += 1;
        }
        let mut out = [0u8; 41];
        let mut olen = 0;
        if negative {
            out[0] = b'-';
            olen = 1;
        }
        while len > 0 {
            len -= 1;
            out[olen] = digits[len];
            olen += 1;
        }
        let (head, _) = out.split_at(olen);
        match core::str::from_utf8(head) {
            Ok(s) => self.push(s),
            Err(_) => self,
        }
    }

    /// Appends an IP address between backticks: IPv4 dotted, IPv6 as
    /// eight hex groups (uncompressed: `2001:db8:0:0:0:0:0:1`).
    pub const fn ip(self, ip: core::net::IpAddr) -> Self {
        let mut text = self.push("`");
        match ip {
            core::net::IpAddr::V4(v4) => {
                let octets = v4.octets();
                let mut i = 0;
                while i < 4 {
                    if i > 0 {
                        text = text.push(".");
                    }
                    text = text.number(octets[i] as i128);
                    i += 1;
                }
            }
            core::net::IpAddr::V6(v6) => {
                let groups = v6.segments();
                let mut i = 0;
                while i < 8 {
                    if i > 0 {
                        text = text.push(":");
                    }
                    text = text.hex(groups[i]);
                    i += 1;
                }
            }
        }
        text.push("`")
    }

    /// Appends `n` in lowercase hex, without leading zeros.
    const fn hex(self, n: u16) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 4];
        let mut len = 0;
        let mut shift = 12i32;
        while shift >= 0 {
            let digit = ((n >> shift) & 0xf) as usize;
            if len > 0 || digit != 0 || shift == 0 {
                out[len] = DIGITS[digit];
                len += 1;
            }
            shift -= 4;
        }
        let (head, _) = out.split_at(len);
        match core::str::from_utf8(head) {
            Ok(s) => self.push(s),
            Err(_) => self,
        }
    }

    /// The text so far.
    pub const fn as_str(&self) -> &str {
        let (head, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(head) {
            Ok(s) => s,
            // `push` only ever copies whole UTF-8 sequences.
            Err(_) => "(message was not valid UTF-8)",
        }
    }

    /// Whether the message was cut to fit.
    pub const fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Fails const evaluation (a build error) or panics (run time) with this text.
    #[track_caller]
    pub const fn panic(&self) -> ! {
        // Const panics only format a plain `&str`; a cut message already ends
        // where `push` stopped, so mark it by appending the ellipsis first.
        let text = if self.truncated {
            let mut t = *self;
            t.truncated = false;
            let mut i = 0;
            let dots = "…".as_bytes();
            while i < dots.len() {
                t.buf[t.len] = dots[i];
                t.len += 1;
                i += 1;
            }
            t
        } else {
            *self
        };
        panic!("{}", text.as_str())
    }
}

impl PartialEq for ConstText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() && self.truncated == other.truncated
    }
}

impl Eq for ConstText {}

impl Default for ConstText {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Display for ConstText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for ConstText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// `a == b` for `&str`, usable in `const fn` (where `==` on `str` is not).
pub const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether DNS names `a` and `b` are the same name: ASCII case ignored,
/// and a trailing dot (`example.com.`) too.
pub const fn same_domain(a: &str, b: &str) -> bool {
    const fn trimmed(name: &[u8]) -> usize {
        if !name.is_empty() && name[name.len() - 1] == b'.' {
            name.len() - 1
        } else {
            name.len()
        }
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let len = trimmed(a);
    if len != trimmed(b) {
        return false;
    }
    let mut i = 0;
    while i < len {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_compare_without_case_or_the_root_dot() {
        assert!(same_domain("VPC.internal.", "vpc.INTERNAL"));
        assert!(same_domain("a.", "a"));
        assert!(!same_domain("vpc.internal", "vpc.internals"));
        assert!(!same_domain("a..", "a"));
    }

    #[test]
    fn addresses_render_quoted() {
        let t = ConstText::new()
            .ip("192.0.2.10".parse().unwrap())
            .push(" ")
            .ip("2001:db8::1".parse().unwrap());
        assert_eq!(t.as_str(), "`192.0.2.10` `2001:db8:0:0:0:0:0:1`");
    }

    #[test]
    fn numbers_render_in_decimal() {
        let t = ConstText::new()
            .number(0)
            .push(" ")
            .number(-42)
            .push(" ")
            .number(70000);
        assert_eq!(t.as_str(), "0 -42 70000");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let mut t = ConstText::new();
        for _ in 0..300 {
            t = t.push("é");
        }
        assert!(t.is_truncated());
        assert!(t.as_str().chars().all(|c| c == 'é'));
        assert!(t.to_string().ends_with('…'));
    }
}

//! Refined strings: text with a grammar (path prefixes, node names, host names,
//! DNS names, branch labels). Each type has one `const fn` validator, so a
//! literal is checked while the deployment compiles (via its macro) and text
//! read at run time is checked by the very same code.
//!
//! Values are `&'static str`: literals are free, and text configuration, which
//! is read once at start-up, is kept for the life of the process (leaked on
//! purpose, a few bytes per value) so refined values stay `Copy` and usable in
//! `const` topology tables.

use core::fmt;
use core::str::FromStr;

use crate::text::ConstText;

/// What is wrong with a piece of text, found by a `const fn` validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// The text is empty where something is required.
    Empty,
    /// The text is longer than `max` bytes.
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A character that the grammar does not allow, at byte offset `at`.
    BadChar {
        /// Byte offset of the offending character.
        at: usize,
    },
    /// A dot-separated label is empty (`a..b`, or a leading dot).
    EmptyLabel {
        /// Byte offset where the empty label starts.
        at: usize,
    },
    /// A label is longer than 63 bytes.
    LabelTooLong {
        /// Byte offset where the label starts.
        at: usize,
    },
    /// A label starts or ends with `-`.
    HyphenAtLabelEdge {
        /// Byte offset of the hyphen.
        at: usize,
    },
}

impl Violation {
    /// Appends a human description of the violation for `value` to `text`.
    pub const fn describe(self, text: ConstText, value: &str) -> ConstText {
        match self {
            Violation::Empty => text.push("it is empty"),
            Violation::TooLong { max } => text
                .push("it is ")
                .number(value.len() as i128)
                .push(" bytes long, the limit is ")
                .number(max as i128),
            Violation::BadChar { at } => {
                let bytes = value.as_bytes();
                let mut end = at + 1;
                while end < bytes.len() && (bytes[end] & 0b1100_0000) == 0b1000_0000 {
                    end += 1;
                }
                let (_, tail) = bytes.split_at(at);
                let (ch, _) = tail.split_at(end - at);
                let shown = match core::str::from_utf8(ch) {
                    Ok(s) => s,
                    Err(_) => "?",
                };
                text.push("character ")
                    .quoted(shown)
                    .push(" at byte ")
                    .number(at as i128)
                    .push(" is not allowed")
            }
            Violation::EmptyLabel { at } => text
                .push("it has an empty label at byte ")
                .number(at as i128),
            Violation::LabelTooLong { at } => text
                .push("the label at byte ")
                .number(at as i128)
                .push(" is longer than 63 bytes"),
            Violation::HyphenAtLabelEdge { at } => text
                .push("a label starts or ends with `-` at byte ")
                .number(at as i128),
        }
    }
}

/// Text that does not fit a refined type's grammar (run-time parsing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidText {
    /// The full sentence, e.g. "path prefix `a b` is not valid: character ` ` at byte 1 is not allowed (grammar: [A-Za-z0-9_/]*)".
    pub message: String,
}

/// Renders the one sentence both the compiler and the parser print.
pub const fn invalid_message(
    what: &str,
    grammar: &str,
    value: &str,
    violation: Violation,
) -> ConstText {
    let text = ConstText::new()
        .push(what)
        .push(" ")
        .quoted(value)
        .push(" is not valid: ");
    violation
        .describe(text, value)
        .push(" (grammar: ")
        .push(grammar)
        .push(")")
}

const fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9_/]*`, the article's `UrlPathPrefix`.
pub const fn validate_path_prefix(value: &str) -> Result<(), Violation> {
    let bytes = value.as_bytes();
    if bytes.len() > 1024 {
        return Err(Violation::TooLong { max: 1024 });
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(is_alnum(b) || b == b'_' || b == b'/') {
            return Err(Violation::BadChar { at: i });
        }
        i += 1;
    }
    Ok(())
}

/// Validates dot-separated labels; `extra` says whether `_` is allowed (DNS
/// owner names such as `_sip._tcp`), `lowercase_only` whether capitals are.
const fn validate_labels(
    value: &str,
    allow_underscore: bool,
    lowercase_only: bool,
    allow_dots: bool,
    allow_trailing_dot: bool,
) -> Result<(), Violation> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(Violation::Empty);
    }
    let mut len = bytes.len();
    if allow_trailing_dot && len > 1 && bytes[len - 1] == b'.' {
        len -= 1;
    }
    if len > 253 {
        return Err(Violation::TooLong { max: 253 });
    }
    let mut label_start = 0;
    let mut i = 0;
    while i <= len {
        if i == len || bytes[i] == b'.' {
            if i < len && !allow_dots {
                return Err(Violation::BadChar { at: i });
            }
            if i == label_start {
                return Err(Violation::EmptyLabel { at: label_start });
            }
            if i - label_start > 63 {
                return Err(Violation::LabelTooLong { at: label_start });
            }
            if bytes[label_start] == b'-' {
                return Err(Violation::HyphenAtLabelEdge { at: label_start });
            }
            if bytes[i - 1] == b'-' {
                return Err(Violation::HyphenAtLabelEdge { at: i - 1 });
            }
            label_start = i + 1;
        } else {
            let b = bytes[i];
            let ok = b.is_ascii_digit()
                || b.is_ascii_lowercase()
                || (!lowercase_only && b.is_ascii_uppercase())
                || b == b'-'
                || (allow_underscore && b == b'_');
            if !ok {
                return Err(Violation::BadChar { at: i });
            }
        }
        i += 1;
    }
    Ok(())
}

/// A node name: one lowercase DNS label, so it can also be a host name.
pub const fn validate_node_name(value: &str) -> Result<(), Violation> {
    validate_labels(value, false, true, false, false)
}

/// An RFC 1123 host name: dot-separated labels of letters, digits and `-`.
pub const fn validate_host_name(value: &str) -> Result<(), Violation> {
    validate_labels(value, false, false, true, false)
}

/// A DNS name (zone or owner name): labels may contain `_`, a trailing dot
/// marks it absolute, and `.` alone is the root.
pub const fn validate_dns_name(value: &str) -> Result<(), Violation> {
    if value.len() == 1 && value.as_bytes()[0] == b'.' {
        return Ok(());
    }
    validate_labels(value, true, false, true, true)
}

/// A configuration branch label: `[A-Za-z0-9._-]+`, at most 64 bytes.
pub const fn validate_branch(value: &str) -> Result<(), Violation> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(Violation::Empty);
    }
    if bytes.len() > 64 {
        return Err(Violation::TooLong { max: 64 });
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(is_alnum(b) || b == b'.' || b == b'_' || b == b'-') {
            return Err(Violation::BadChar { at: i });
        }
        i += 1;
    }
    Ok(())
}

/// A service kind, such as `echo` or `chainfire`: lowercase letters, digits, `-`.
pub const fn validate_service_kind(value: &str) -> Result<(), Violation> {
    validate_labels(value, false, true, false, false)
}

macro_rules! refined_str {
    (
        $(#[$doc:meta])*
        $name:ident, what = $what:literal, grammar = $grammar:literal, validate = $validate:path
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(&'static str);

        impl $name {
            /// What this kind of text is called in error messages.
            pub const WHAT: &'static str = $what;
            /// The grammar, as shown in error messages.
            pub const GRAMMAR: &'static str = $grammar;

            /// Checks a literal; a bad one fails the build (or panics if called at run time).
            #[track_caller]
            pub const fn from_literal(value: &'static str) -> Self {
                match $validate(value) {
                    Ok(()) => $name(value),
                    Err(violation) => {
                        invalid_message($what, $grammar, value, violation).panic()
                    }
                }
            }

            /// Checks a `'static` string without panicking.
            pub const fn try_from_static(value: &'static str) -> Result<Self, Violation> {
                match $validate(value) {
                    Ok(()) => Ok($name(value)),
                    Err(violation) => Err(violation),
                }
            }

            /// Checks run-time text; keeps it for the life of the process when valid.
            pub fn parse(value: &str) -> Result<Self, InvalidText> {
                match $validate(value) {
                    Ok(()) => Ok($name(Box::leak(value.to_owned().into_boxed_str()))),
                    Err(violation) => Err(InvalidText {
                        message: invalid_message($what, $grammar, value, violation).to_string(),
                    }),
                }
            }

            /// The text.
            pub const fn as_str(self) -> &'static str {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidText;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.0
            }
        }
    };
}

refined_str! {
    /// A URL path prefix under which an HTTP service answers: `[A-Za-z0-9_/]*`.
    /// Write literals with [`path!`](crate::path).
    UrlPathPrefix, what = "path prefix", grammar = "[A-Za-z0-9_/]*", validate = validate_path_prefix
}

refined_str! {
    /// The stable name of a node: one lowercase DNS label (`[a-z0-9-]`, no `-`
    /// at either end, at most 63 bytes), so it is also usable as a host name.
    NodeName, what = "node name", grammar = "a lowercase DNS label: [a-z0-9-], not starting or ending with -", validate = validate_node_name
}

refined_str! {
    /// An RFC 1123 host name. Write literals with [`host!`](crate::host).
    HostName, what = "host name", grammar = "dot-separated labels of [A-Za-z0-9-], at most 253 bytes", validate = validate_host_name
}

refined_str! {
    /// A DNS name (a zone or an owner name); a trailing dot makes it absolute.
    /// Write literals with [`dns_name!`](crate::dns_name).
    DnsName, what = "DNS name", grammar = "dot-separated labels of [A-Za-z0-9_-], at most 253 bytes, optional trailing dot", validate = validate_dns_name
}

refined_str! {
    /// The branch label of a configuration version (`main`, `prod-eu`, ...).
    BranchLabel, what = "branch label", grammar = "[A-Za-z0-9._-]+, at most 64 bytes", validate = validate_branch
}

refined_str! {
    /// The kind of a service (`echo`, `chainfire`, ...), as shown in `plan`.
    ServiceKind, what = "service kind", grammar = "a lowercase DNS label: [a-z0-9-]", validate = validate_service_kind
}

refined_str! {
    /// The name of a deployment (`echo-pair`, `prod`): a lowercase DNS label.
    DeploymentName, what = "deployment name", grammar = "a lowercase DNS label: [a-z0-9-]", validate = validate_service_kind
}

impl UrlPathPrefix {
    /// The prefix without leading or trailing slashes (`/echo/` -> `echo`).
    pub fn trimmed(self) -> &'static str {
        self.0.trim_matches('/')
    }
}

impl DnsName {
    /// Whether the name ends with a dot (is fully qualified).
    pub const fn is_absolute(self) -> bool {
        let b = self.0.as_bytes();
        !b.is_empty() && b[b.len() - 1] == b'.'
    }
}

/// A [`UrlPathPrefix`] literal, checked at compile time: `path!("echo")`.
#[macro_export]
macro_rules! path {
    ($value:literal) => {
        const { $crate::UrlPathPrefix::from_literal($value) }
    };
}

/// A [`HostName`] literal, checked at compile time: `host!("db.example.com")`.
#[macro_export]
macro_rules! host {
    ($value:literal) => {
        const { $crate::HostName::from_literal($value) }
    };
}

/// A [`DnsName`] literal, checked at compile time: `dns_name!("example.com.")`.
#[macro_export]
macro_rules! dns_name {
    ($value:literal) => {
        const { $crate::DnsName::from_literal($value) }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefix_grammar() {
        assert_eq!(crate::path!("echo").as_str(), "echo");
        assert_eq!(crate::path!("").as_str(), "");
        assert_eq!(crate::path!("api/v1_beta").as_str(), "api/v1_beta");
        assert_eq!(
            UrlPathPrefix::parse("ec ho").unwrap_err().to_string(),
            "path prefix `ec ho` is not valid: character ` ` at byte 2 is not allowed (grammar: [A-Za-z0-9_/]*)"
        );
        assert_eq!(
            UrlPathPrefix::parse("caf\u{e9}").unwrap_err().to_string(),
            "path prefix `caf\u{e9}` is not valid: character `\u{e9}` at byte 3 is not allowed (grammar: [A-Za-z0-9_/]*)"
        );
        assert!(UrlPathPrefix::parse("a-b").is_err());
        assert_eq!(crate::path!("/echo/").trimmed(), "echo");
    }

    #[test]
    fn node_names_are_lowercase_labels() {
        assert!(NodeName::parse("node-a").is_ok());
        assert!(NodeName::parse("n1").is_ok());
        for bad in ["", "Node", "-a", "a-", "a.b", "a_b", &"x".repeat(64)] {
            assert!(NodeName::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            NodeName::parse("web-").unwrap_err().to_string(),
            "node name `web-` is not valid: a label starts or ends with `-` at byte 3 (grammar: a lowercase DNS label: [a-z0-9-], not starting or ending with -)"
        );
    }

    #[test]
    fn host_and_dns_names() {
        assert!(HostName::parse("db-1.Example.com").is_ok());
        assert!(HostName::parse("db..example").is_err());
        assert!(HostName::parse("example.com.").is_err());
        assert!(HostName::parse("_srv.example").is_err());
        assert!(DnsName::parse("_sip._tcp.example.com.").is_ok());
        assert!(DnsName::parse(".").is_ok());
        assert!(crate::dns_name!("example.com.").is_absolute());
        assert!(!crate::dns_name!("www").is_absolute());
        let long = format!("{}.com", "a".repeat(64));
        assert_eq!(
            DnsName::parse(&long).unwrap_err().to_string(),
            format!(
                "DNS name `{long}` is not valid: the label at byte 0 is longer than 63 bytes (grammar: dot-separated labels of [A-Za-z0-9_-], at most 253 bytes, optional trailing dot)"
            )
        );
    }

    #[test]
    fn branch_labels() {
        assert!(BranchLabel::parse("prod-eu.2").is_ok());
        assert!(BranchLabel::parse("").is_err());
        assert!(BranchLabel::parse("feature/x").is_err());
    }
}

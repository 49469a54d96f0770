//! [`ConfigVersion`]: which configuration a binary carries, as in the article:
//! a semantic version plus a branch label.

use core::fmt;

use crate::BranchLabel;
use crate::text::ConstText;

/// `major.minor.patch` plus a branch label, e.g. `1.4.0+prod-eu`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfigVersion {
    /// Incompatible changes.
    pub major: u32,
    /// Compatible additions.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
    /// Which configuration branch (one per production instance).
    pub branch: BranchLabel,
}

const fn parse_component(bytes: &[u8], mut i: usize) -> Result<(u32, usize), usize> {
    let start = i;
    let mut value: u64 = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        value = value * 10 + (bytes[i] - b'0') as u64;
        if value > u32::MAX as u64 {
            return Err(start);
        }
        i += 1;
    }
    // Empty, or a leading zero (semver forbids `01`).
    if i == start || (bytes[start] == b'0' && i - start > 1) {
        return Err(start);
    }
    Ok((value as u32, i))
}

impl ConfigVersion {
    /// Parses `major.minor.patch`; `None` with the byte where it went wrong.
    pub const fn try_parse(version: &str, branch: BranchLabel) -> Result<Self, usize> {
        let b = version.as_bytes();
        let (major, i) = match parse_component(b, 0) {
            Ok(v) => v,
            Err(at) => return Err(at),
        };
        if i >= b.len() || b[i] != b'.' {
            return Err(i);
        }
        let (minor, i) = match parse_component(b, i + 1) {
            Ok(v) => v,
            Err(at) => return Err(at),
        };
        if i >= b.len() || b[i] != b'.' {
            return Err(i);
        }
        let (patch, i) = match parse_component(b, i + 1) {
            Ok(v) => v,
            Err(at) => return Err(at),
        };
        if i != b.len() {
            return Err(i);
        }
        Ok(ConfigVersion {
            major,
            minor,
            patch,
            branch,
        })
    }

    /// A literal version; a malformed one fails the build.
    #[track_caller]
    pub const fn from_literal(version: &'static str, branch: &'static str) -> Self {
        let branch = BranchLabel::from_literal(branch);
        match Self::try_parse(version, branch) {
            Ok(v) => v,
            Err(at) => ConstText::new()
                .push("config version ")
                .quoted(version)
                .push(" is not valid at byte ")
                .number(at as i128)
                .push(": write it as major.minor.patch, e.g. `1.0.0`")
                .panic(),
        }
    }
}

impl fmt::Display for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}+{}",
            self.major, self.minor, self.patch, self.branch
        )
    }
}

impl fmt::Debug for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_print_with_branch() {
        let v = ConfigVersion::from_literal("1.20.3", "prod-eu");
        assert_eq!((v.major, v.minor, v.patch), (1, 20, 3));
        assert_eq!(v.to_string(), "1.20.3+prod-eu");
    }

    #[test]
    fn malformed_versions_name_the_byte() {
        let main = BranchLabel::from_literal("main");
        assert_eq!(ConfigVersion::try_parse("1.2", main), Err(3));
        assert_eq!(ConfigVersion::try_parse("1.02.0", main), Err(2));
        assert_eq!(ConfigVersion::try_parse("1.2.3-rc1", main), Err(5));
        assert_eq!(ConfigVersion::try_parse("x", main), Err(0));
    }
}

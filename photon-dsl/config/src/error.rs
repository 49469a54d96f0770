//! A configuration error: which key, where its value came from, and what is
//! wrong, with a "did you mean" for a misspelt key or value.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of a TOML file.
    File {
        /// The file.
        path: PathBuf,
        /// The line (1-based) the key is on; 0 for the file as a whole.
        line: usize,
    },
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
    /// Not given anywhere: the schema's default (or its absence).
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line: 0 } => write!(f, "{}", path.display()),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Default => f.write_str("defaults"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {}{problem}", if key.is_empty() { String::new() } else { format!("`{key}`: ") })]
pub struct ConfigError {
    /// The key path (`standalone.server.dns_addr`), empty for the file as a
    /// whole.
    pub key: String,
    /// Where the value (or the table missing a key) came from.
    pub origin: Origin,
    /// What is wrong and what is expected.
    pub problem: String,
}

/// The closest of `candidates` to `word`, if it is close enough to be a
/// likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or variant), as
/// (what, the word, the expected words).
pub(crate) fn unknown_word(message: &str) -> Option<(&'static str, &str, Vec<&str>)> {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("value", rest)
    } else {
        return None;
    };
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty())
        .collect();
    Some((what, word, expected))
}

/// The problem for an unknown key or value, in our words.
pub(crate) fn explain_unknown(message: &str) -> Option<(String, String)> {
    let (what, word, expected) = unknown_word(message)?;
    let mut problem = format!("unknown {what} `{word}`");
    if let Some(near) = closest(word, expected.iter().copied()) {
        problem.push_str(&format!("; did you mean `{near}`?"));
    }
    if expected.is_empty() {
        problem.push_str(" (this table takes no keys)");
    } else {
        problem.push_str(&format!(" (expected one of: {})", expected.join(", ")));
    }
    Some((word.to_owned(), problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_the_nearest_known_one() {
        let (word, problem) =
            explain_unknown("unknown field `zone_dri`, expected one of `zone_dir`, `auto_reload`")
                .unwrap();
        assert_eq!(word, "zone_dri");
        assert_eq!(
            problem,
            "unknown key `zone_dri`; did you mean `zone_dir`? (expected one of: zone_dir, auto_reload)"
        );
        let (_, far) =
            explain_unknown("unknown variant `banana`, expected `standalone` or `integrated`")
                .unwrap();
        assert_eq!(
            far,
            "unknown value `banana` (expected one of: standalone, integrated)"
        );
        assert_eq!(
            closest("intgrated", ["standalone", "integrated"]),
            Some("integrated")
        );
        assert_eq!(closest("x", ["standalone"]), None);
    }
}

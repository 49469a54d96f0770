//! A span of time written in seconds, whole or not: `interval_sec = 10`,
//! `interval_sec = 0.5`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Seconds as the design's `*_sec` keys write them; a whole number is
/// written back as one, so `10` stays `10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds(pub Duration);

impl Seconds {
    /// `seconds` whole seconds.
    pub const fn whole(seconds: u64) -> Seconds {
        Seconds(Duration::from_secs(seconds))
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.subsec_nanos() == 0 {
            serializer.serialize_u64(self.0.as_secs())
        } else {
            serializer.serialize_f64(self.0.as_secs_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde's f64 accepts integers as well.
        let value = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(value)
            .map(Seconds)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "{value} is not a number of seconds: write 0 or more, such as 10 or 0.5"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        interval_sec: Seconds,
    }

    #[test]
    fn whole_and_fractional_seconds_read_and_write_back_as_written() {
        for text in ["interval_sec = 10\n", "interval_sec = 0.25\n"] {
            let doc: Doc = toml::from_str(text).unwrap();
            assert_eq!(toml::to_string(&doc).unwrap(), text);
        }
        let doc: Doc = toml::from_str("interval_sec = 0.5").unwrap();
        assert_eq!(doc.interval_sec.0, Duration::from_millis(500));
        let wrong = toml::from_str::<Doc>("interval_sec = -1").unwrap_err();
        assert!(
            wrong.to_string().contains("-1 is not a number of seconds"),
            "{wrong}"
        );
    }
}

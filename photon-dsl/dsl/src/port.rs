//! [`Port`]: a TCP/UDP port number that cannot be zero.

use core::str::FromStr;

use nutype::nutype;

use crate::text::ConstText;

/// A port a service listens on: an integer in `1..=65535`.
///
/// Port 0 means "any free port" to the OS, which a topology can never hand to a
/// client, so it is not a `Port`. Write literals with [`port!`](crate::port),
/// which rejects bad values when the deployment is compiled.
#[nutype(
    const_fn,
    validate(greater_or_equal = 1),
    derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Display)
)]
pub struct Port(u16);

/// The message every out-of-range port produces, at build time and at run time.
pub const PORT_RANGE: &str = "a port must be in 1..=65535";

impl Port {
    /// The number, for sockets.
    pub const fn get(self) -> u16 {
        self.into_inner()
    }

    /// Checks a literal while the deployment compiles; used by [`port!`](crate::port).
    ///
    /// Takes `i128` so that `port!(70000)` and `port!(-1)` reach this check and
    /// get our message instead of a generic "literal out of range".
    #[doc(hidden)]
    #[track_caller]
    pub const fn from_literal(value: i128) -> Port {
        if value < 1 || value > u16::MAX as i128 {
            ConstText::new()
                .push("port ")
                .number(value)
                .push(" is out of range: ")
                .push(PORT_RANGE)
                .panic()
        }
        match Port::try_new(value as u16) {
            Ok(port) => port,
            Err(_) => panic!("port is out of range: a port must be in 1..=65535"),
        }
    }
}

/// Why text could not be read as a [`Port`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortParseError {
    /// The text is not a whole number.
    #[error("`{text}` is not a port number: {PORT_RANGE}")]
    NotANumber {
        /// The rejected text.
        text: String,
    },
    /// A number, but outside `1..=65535`.
    #[error("port {text} is out of range: {PORT_RANGE}")]
    OutOfRange {
        /// The rejected text.
        text: String,
    },
}

impl FromStr for Port {
    type Err = PortParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let value: i128 = trimmed.parse().map_err(|_| PortParseError::NotANumber {
            text: text.to_owned(),
        })?;
        u16::try_from(value)
            .ok()
            .and_then(|v| Port::try_new(v).ok())
            .ok_or_else(|| PortParseError::OutOfRange {
                text: trimmed.to_owned(),
            })
    }
}

impl TryFrom<u16> for Port {
    type Error = PortParseError;

    fn try_from(value: u16) -> Result<Self, Self::Error> {
        Port::try_new(value).map_err(|_| PortParseError::OutOfRange {
            text: value.to_string(),
        })
    }
}

/// A [`Port`] literal, checked when the deployment compiles.
///
/// ```
/// use photon_dsl::port;
/// let p = port!(8080);
/// assert_eq!(p.get(), 8080);
/// ```
///
/// `port!(0)` and `port!(70000)` fail the build with
/// `evaluation panicked: port 70000 is out of range: a port must be in 1..=65535`.
#[macro_export]
macro_rules! port {
    ($value:literal) => {
        const { $crate::Port::from_literal($value) }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_bounds_are_inclusive() {
        assert_eq!(crate::port!(1).get(), 1);
        assert_eq!(crate::port!(65535).get(), 65535);
    }

    #[test]
    fn zero_is_not_a_port() {
        assert!(Port::try_new(0).is_err());
        assert_eq!(
            "0".parse::<Port>().unwrap_err().to_string(),
            "port 0 is out of range: a port must be in 1..=65535"
        );
    }

    #[test]
    fn parse_names_the_rejected_value() {
        assert_eq!("8080".parse::<Port>().unwrap().get(), 8080);
        assert_eq!(" 443 ".parse::<Port>().unwrap().get(), 443);
        assert_eq!(
            "70000".parse::<Port>().unwrap_err().to_string(),
            "port 70000 is out of range: a port must be in 1..=65535"
        );
        assert_eq!(
            "-1".parse::<Port>().unwrap_err().to_string(),
            "port -1 is out of range: a port must be in 1..=65535"
        );
        assert_eq!(
            "http".parse::<Port>().unwrap_err().to_string(),
            "`http` is not a port number: a port must be in 1..=65535"
        );
    }

    #[test]
    fn out_of_range_literal_panics_with_the_range_when_run() {
        let err = std::panic::catch_unwind(|| Port::from_literal(70000)).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert_eq!(
            msg,
            "port 70000 is out of range: a port must be in 1..=65535"
        );
    }
}

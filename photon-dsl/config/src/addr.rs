//! `ip:port` listen addresses, with the port checked as the DSL's `Port`
//! checks it (1 to 65535).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address a server listens on: `0.0.0.0:53`, `[::1]:8053`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    /// The interface address.
    pub ip: IpAddr,
    /// The port, 1 to 65535.
    pub port: u16,
}

impl ListenAddr {
    /// `ip:port`.
    pub const fn new(ip: IpAddr, port: u16) -> ListenAddr {
        ListenAddr { ip, port }
    }

    /// `0.0.0.0:port`: every interface.
    pub const fn any(port: u16) -> ListenAddr {
        ListenAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port)
    }

    /// `127.0.0.1:port`: this machine only.
    pub const fn loopback(port: u16) -> ListenAddr {
        ListenAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), port)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

/// Text that is not an address to listen on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenAddrError {
    /// `ip:0` or a port above 65535.
    #[error("port {port} in `{text}` is out of range: a port is 1 to 65535")]
    PortOutOfRange {
        /// What was written.
        text: String,
        /// The port in it.
        port: u64,
    },
    /// Not `ip:port` at all (a host name, a missing port, ...).
    #[error(
        "`{text}` is not an address to listen on: write ip:port, such as 0.0.0.0:53 or [::]:53"
    )]
    NotAnAddress {
        /// What was written.
        text: String,
    },
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(text: &str) -> Result<ListenAddr, ListenAddrError> {
        match text.parse::<SocketAddr>() {
            Ok(addr) if addr.port() == 0 => Err(ListenAddrError::PortOutOfRange {
                text: text.to_owned(),
                port: 0,
            }),
            Ok(addr) => Ok(ListenAddr::new(addr.ip(), addr.port())),
            Err(_) => {
                let port = text.rsplit_once(':').map(|(_, port)| port);
                match port.and_then(|p| p.parse::<u64>().ok()) {
                    Some(port) if port > 65535 => Err(ListenAddrError::PortOutOfRange {
                        text: text.to_owned(),
                        port,
                    }),
                    _ => Err(ListenAddrError::NotAnAddress {
                        text: text.to_owned(),
                    }),
                }
            }
        }
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ListenAddr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_out_of_range_are_named() {
        assert_eq!(
            "0.0.0.0:53".parse::<ListenAddr>().unwrap().to_string(),
            "0.0.0.0:53"
        );
        assert_eq!("[::1]:8053".parse::<ListenAddr>().unwrap().port, 8053);
        assert!(
            "0.0.0.0:0"
                .parse::<ListenAddr>()
                .unwrap_err()
                .to_string()
                .contains("port 0 in `0.0.0.0:0` is out of range")
        );
        assert!(
            "0.0.0.0:70000"
                .parse::<ListenAddr>()
                .unwrap_err()
                .to_string()
                .contains("port 70000")
        );
        assert!(
            "localhost:53"
                .parse::<ListenAddr>()
                .unwrap_err()
                .to_string()
                .contains("write ip:port")
        );
    }
}

//! A typed record's data as zone-file text (`10 mail`, `"v=spf1 -all"`),
//! both ways: how the standalone schema writes a zone a deployment types in
//! Rust (`[[standalone.zones.zone]] records = [...]`), so `export-config`
//! loses nothing and loading gives back the same records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use photon_dsl::Port;

use photon_runtime::standalone::leak;

use crate::spec::RecData;
use crate::zone::typed::{AddressOf, NodeAddressError};

/// The record's type mnemonic and its data as text. A node's address is
/// written as the `A` or `AAAA` record the address `address` gives makes.
pub fn render(
    data: &RecData,
    address: AddressOf<'_>,
) -> Result<(&'static str, String), NodeAddressError> {
    let data = match *data {
        RecData::NodeAddress(node) => match address(node)? {
            IpAddr::V4(ip) => RecData::A(ip),
            IpAddr::V6(ip) => RecData::Aaaa(ip),
        },
        other => other,
    };
    let text = match data {
        RecData::A(ip) => ip.to_string(),
        RecData::Aaaa(ip) => ip.to_string(),
        RecData::NodeAddress(_) => unreachable!("a node's address is resolved above"),
        RecData::Cname(name) | RecData::Ns(name) | RecData::Ptr(name) => name.to_owned(),
        RecData::Mx {
            preference,
            exchange,
        } => format!("{preference} {exchange}"),
        RecData::Txt(strings) => strings
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(" "),
        RecData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("{priority} {weight} {port} {target}"),
        RecData::Caa {
            critical,
            tag,
            value,
        } => format!("{} {tag} {}", if critical { 128 } else { 0 }, quote(value)),
    };
    let rtype = data
        .type_name()
        .expect("every record but a node's address has a fixed type");
    Ok((rtype, text))
}

/// The data of a record of type `rtype` written as `text`; names and
/// strings are leaked, as a loaded configuration lives as long as the
/// process.
pub fn parse(rtype: &str, text: &str) -> Result<RecData, String> {
    let fields = || text.split_whitespace().collect::<Vec<_>>();
    let exactly = |n: usize, shape: &str| {
        let f = fields();
        if f.len() == n {
            Ok(f)
        } else {
            Err(format!("{rtype} data is `{shape}`, not `{text}`"))
        }
    };
    let number = |field: &str, what: &str| {
        field
            .parse::<u16>()
            .map_err(|_| format!("`{field}` is not a {what} (0 to 65535)"))
    };
    Ok(match rtype.to_ascii_uppercase().as_str() {
        "A" => RecData::A(
            text.trim()
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("`{text}` is not an IPv4 address"))?,
        ),
        "AAAA" => RecData::Aaaa(
            text.trim()
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("`{text}` is not an IPv6 address"))?,
        ),
        "CNAME" => RecData::Cname(leak(exactly(1, "name")?[0])),
        "NS" => RecData::Ns(leak(exactly(1, "name")?[0])),
        "PTR" => RecData::Ptr(leak(exactly(1, "name")?[0])),
        "MX" => {
            let f = exactly(2, "preference exchange")?;
            RecData::Mx {
                preference: number(f[0], "preference")?,
                exchange: leak(f[1]),
            }
        }
        "SRV" => {
            let f = exactly(4, "priority weight port target")?;
            RecData::Srv {
                priority: number(f[0], "priority")?,
                weight: number(f[1], "weight")?,
                port: Port::try_from(number(f[2], "port")?)
                    .map_err(|_| "port 0 cannot be advertised: a port is 1 to 65535".to_owned())?,
                target: leak(f[3]),
            }
        }
        "TXT" => {
            let strings = quoted_strings(text)?;
            if strings.is_empty() {
                return Err(
                    "TXT data is one or more quoted strings, such as `\"v=spf1 -all\"`".to_owned(),
                );
            }
            RecData::Txt(Box::leak(
                strings
                    .into_iter()
                    .map(|s| leak(&s))
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            ))
        }
        "CAA" => {
            let (flags, rest) = text
                .trim_start()
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("CAA data is `flags tag \"value\"`, not `{text}`"))?;
            let (tag, value) = rest
                .trim_start()
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("CAA data is `flags tag \"value\"`, not `{text}`"))?;
            let critical = match flags {
                "0" => false,
                "128" => true,
                other => return Err(format!("CAA flags are 0 or 128 (critical), not `{other}`")),
            };
            let value = match quoted_strings(value)?.as_slice() {
                [one] => one.clone(),
                _ => return Err(format!("a CAA value is one quoted string, not `{value}`")),
            };
            RecData::Caa {
                critical,
                tag: leak(tag),
                value: leak(&value),
            }
        }
        other => {
            return Err(format!(
                "`{other}` records cannot be written here (A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, CAA); put the zone in a zone file"
            ));
        }
    })
}

/// `text` as a zone-file character string: quoted, `"` and `\` escaped,
/// control bytes as `\DDD` (decimal, as BIND writes them).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The quoted strings of `text`, unescaped, separated by white space.
fn quoted_strings(text: &str) -> Result<Vec<String>, String> {
    let mut strings = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c != '"' {
            return Err(format!("strings are quoted here: `{text}`"));
        }
        let mut bytes = Vec::new();
        loop {
            match chars.next() {
                None => return Err(format!("a quote is not closed in `{text}`")),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some(d) if d.is_ascii_digit() => {
                        let mut code = d.to_digit(10).unwrap_or(0);
                        for _ in 0..2 {
                            match chars.next().and_then(|d| d.to_digit(10)) {
                                Some(digit) => code = code * 10 + digit,
                                None => {
                                    return Err(format!("`\\DDD` takes three digits, in `{text}`"));
                                }
                            }
                        }
                        bytes.push(
                            u8::try_from(code)
                                .map_err(|_| format!("`\\{code}` is over 255, in `{text}`"))?,
                        );
                    }
                    Some(other) => {
                        let mut buf = [0; 4];
                        bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                    }
                    None => return Err(format!("`{text}` ends in an escape")),
                },
                Some(other) => {
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if let Some(next) = chars.peek()
            && !next.is_whitespace()
        {
            return Err(format!(
                "quoted strings are separated by spaces, in `{text}`"
            ));
        }
        strings.push(
            String::from_utf8(bytes)
                .map_err(|_| format!("`{text}` escapes bytes that are not UTF-8"))?,
        );
    }
    Ok(strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_nodes(node: photon_dsl::NodeName) -> Result<IpAddr, NodeAddressError> {
        Err(NodeAddressError::NoAddress {
            host: node.to_string(),
        })
    }

    #[test]
    fn every_type_renders_and_parses_back() {
        let port = Port::try_from(443).unwrap();
        for data in [
            RecData::A(Ipv4Addr::new(192, 0, 2, 1)),
            RecData::Aaaa("2001:db8::1".parse().unwrap()),
            RecData::Cname("www"),
            RecData::Ns("ns1.example.net."),
            RecData::Ptr("host.example."),
            RecData::Mx {
                preference: 10,
                exchange: "mail",
            },
            RecData::Txt(&["v=spf1 -all", "a \"quoted\" \\ word", "tab\there", ""]),
            RecData::Srv {
                priority: 1,
                weight: 2,
                port,
                target: "api",
            },
            RecData::Caa {
                critical: true,
                tag: "issue",
                value: "letsencrypt.org; \"x\"",
            },
        ] {
            let (rtype, text) = render(&data, &no_nodes).unwrap();
            assert_eq!(parse(rtype, &text).unwrap(), data, "{rtype} {text}");
        }
        assert_eq!(
            render(&RecData::Txt(&["tab\there"]), &no_nodes).unwrap().1,
            "\"tab\\009here\""
        );
    }

    #[test]
    fn bad_data_is_named() {
        for (rtype, text, error) in [
            ("A", "10.0.0", "`10.0.0` is not an IPv4 address"),
            ("MX", "mail", "MX data is `preference exchange`, not `mail`"),
            (
                "SRV",
                "1 2 0 api",
                "port 0 cannot be advertised: a port is 1 to 65535",
            ),
            ("TXT", "unquoted", "strings are quoted here: `unquoted`"),
            ("TXT", "\"open", "a quote is not closed in `\"open`"),
            ("TXT", "\"\\300\"", "`\\300` is over 255, in `\"\\300\"`"),
            (
                "CAA",
                "5 issue \"ca\"",
                "CAA flags are 0 or 128 (critical), not `5`",
            ),
            (
                "NAPTR",
                "1 1 \"u\" \"\" \"\" .",
                "`NAPTR` records cannot be written here (A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, CAA); put the zone in a zone file",
            ),
        ] {
            assert_eq!(parse(rtype, text).unwrap_err(), error, "{rtype} {text}");
        }
    }
}

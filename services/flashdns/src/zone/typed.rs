//! Zones written in the deployment ([`ZoneData`]), turned into the same
//! records a zone file with the same content gives.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};
use photon_dsl::NodeName;

use super::file::absolute;
use super::{Zone, ZoneBuilder, ZoneError};
use crate::spec::{RecData, ZoneData};

/// Why a node named by a typed record (`Rec::node`) has no address to
/// write into it.
#[derive(Debug, thiserror::Error)]
pub enum NodeAddressError {
    /// The run's plan does not know the node.
    #[error(transparent)]
    Resolve(#[from] photon_dsl::ResolveError),
    /// An export under a host-name plan: a record needs an address.
    #[error(
        "node `{node}` is the host name `{host}` in this address plan; a record needs an address: export with --loopback-base or a static plan"
    )]
    HostNameInExport {
        /// The node.
        node: NodeName,
        /// Its host name.
        host: String,
    },
    /// The system resolver failed for the node's host name.
    #[error("cannot resolve host `{host}`: {source}")]
    Lookup {
        /// The host name.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// The system resolver has no address for the node's host name.
    #[error("host `{host}` has no address")]
    NoAddress {
        /// The host name.
        host: String,
    },
}

/// What gives a node's address: the runtime's resolver at start, the
/// export's plan in `export-config`.
pub type AddressOf<'a> = &'a dyn Fn(NodeName) -> Result<IpAddr, NodeAddressError>;

/// Builds the typed zone at `origin`; `address_of` gives a node's address
/// (the runtime's resolver).
pub fn build(origin: &Name, data: &ZoneData, address_of: AddressOf<'_>) -> Result<Zone, ZoneError> {
    let source = format!("zone {origin} (typed, in the deployment)");
    let mut builder = ZoneBuilder::new(origin.clone(), source);
    let origin = builder.origin().clone();
    let fail = |builder: &ZoneBuilder, problem: String| builder.error(None, problem);
    let name = |builder: &ZoneBuilder, text: &str| {
        absolute(text, &origin).map_err(|problem| fail(builder, problem))
    };
    let soa = SOA::new(
        name(&builder, data.soa.primary)?,
        name(&builder, data.soa.admin)?,
        data.soa.serial,
        clamp(data.soa.refresh),
        clamp(data.soa.retry),
        clamp(data.soa.expire),
        data.soa.minimum,
    );
    builder.add(
        Record::from_rdata(origin.clone(), data.ttl, RData::SOA(soa)),
        None,
    )?;
    for rec in data.records {
        let owner = name(&builder, rec.owner)?;
        let rdata = match rec.data {
            RecData::A(ip) => RData::A(A(ip)),
            RecData::Aaaa(ip) => RData::AAAA(AAAA(ip)),
            RecData::NodeAddress(node) => match address_of(node) {
                Ok(IpAddr::V4(ip)) => RData::A(A(ip)),
                Ok(IpAddr::V6(ip)) => RData::AAAA(AAAA(ip)),
                Err(problem) => {
                    return Err(fail(
                        &builder,
                        format!("{owner}: the address of node `{node}`: {problem}"),
                    ));
                }
            },
            RecData::Cname(target) => RData::CNAME(CNAME(name(&builder, target)?)),
            RecData::Ns(target) => RData::NS(NS(name(&builder, target)?)),
            RecData::Ptr(target) => RData::PTR(PTR(name(&builder, target)?)),
            RecData::Mx {
                preference,
                exchange,
            } => RData::MX(MX::new(preference, name(&builder, exchange)?)),
            RecData::Txt(strings) => {
                RData::TXT(TXT::new(strings.iter().map(|s| (*s).to_owned()).collect()))
            }
            RecData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                let target = if target == "." {
                    Name::root()
                } else {
                    name(&builder, target)?
                };
                RData::SRV(SRV::new(priority, weight, port.get(), target))
            }
            RecData::Caa {
                critical,
                tag,
                value,
            } => {
                // The zone-file form of the same record: one parser for both.
                let text = format!("{} {tag} \"{value}\"", if critical { 128 } else { 0 });
                let caa = RData::try_from_str(hickory_proto::rr::RecordType::CAA, &text)
                    .map_err(|e| fail(&builder, format!("{owner}: bad CAA data: {e}")))?;
                debug_assert!(matches!(caa, RData::CAA(CAA { .. })));
                caa
            }
        };
        builder.add(
            Record::from_rdata(owner, rec.ttl.unwrap_or(data.ttl), rdata),
            None,
        )?;
    }
    builder.finish()
}

fn clamp(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use photon_dsl::{Port, port};

    use super::*;
    use crate::spec::{Rec, Soa};
    use crate::zone::file;

    const PORT: Port = port!(5060);

    const DATA: ZoneData = ZoneData {
        ttl: 3600,
        soa: Soa {
            primary: "ns1",
            admin: "hostmaster",
            serial: 7,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 60,
        },
        records: &[
            Rec::new("@", RecData::Ns("ns1")),
            Rec::new("ns1", RecData::A(Ipv4Addr::new(192, 0, 2, 1))),
            Rec::new(
                "www",
                RecData::NodeAddress(photon_dsl::NodeName::from_literal("web")),
            ),
            Rec::new(
                "www",
                RecData::Aaaa(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            )
            .ttl(600),
            Rec::new("api", RecData::Cname("www")),
            Rec::new(
                "@",
                RecData::Mx {
                    preference: 10,
                    exchange: "mail.example.net.",
                },
            ),
            Rec::new("@", RecData::Txt(&["v=spf1 -all", "say \"hi\""])),
            Rec::new(
                "_sip._tcp",
                RecData::Srv {
                    priority: 1,
                    weight: 2,
                    port: PORT,
                    target: "www",
                },
            ),
            Rec::new("4.3.2.1", RecData::Ptr("www")),
            Rec::new(
                "@",
                RecData::Caa {
                    critical: false,
                    tag: "issue",
                    value: "letsencrypt.org",
                },
            ),
            Rec::new("*.apps", RecData::A(Ipv4Addr::new(192, 0, 2, 9))),
        ],
    };

    const TEXT: &str = r#"$ORIGIN example.com.
$TTL 3600
@ IN SOA ns1 hostmaster 7 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.80
www 600 AAAA 2001:db8::1
api CNAME www
@ MX 10 mail.example.net.
@ TXT "v=spf1 -all" "say \"hi\""
_sip._tcp SRV 1 2 5060 www
4.3.2.1 PTR www
@ CAA 0 issue "letsencrypt.org"
*.apps A 192.0.2.9
"#;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    #[test]
    fn a_typed_zone_is_the_zone_file_with_the_same_records() {
        let typed = build(&origin(), &DATA, &|node| {
            assert_eq!(node.as_str(), "web");
            Ok(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 80)))
        })
        .unwrap();
        let file = file::parse(TEXT, "z", &origin()).unwrap();
        assert_eq!(typed.to_text(), file.to_text());
        assert_eq!(typed.record_count(), 12);
    }

    #[test]
    fn the_zone_text_reads_back_as_the_same_zone() {
        let zone = file::parse(TEXT, "z", &origin()).unwrap();
        let again = file::parse(&zone.to_text(), "dump", &origin()).unwrap();
        assert_eq!(zone.to_text(), again.to_text());
        // Punycode stays punycode (hickory's `Display` shows it as Unicode).
        let puny = format!(
            "{TEXT}ext CNAME www.xn--ple.net.\n@ CAA 0 iodef \"mailto:se\\\\curity@example.com\"\n@ CAA 0 issue \"ca\\011.example.net\"\n"
        );
        let zone = file::parse(&puny, "z", &origin()).unwrap();
        assert!(
            zone.to_text().contains("CNAME www.xn--ple.net.\n"),
            "{}",
            zone.to_text()
        );
        let again = file::parse(&zone.to_text(), "dump", &origin()).unwrap();
        assert_eq!(zone.to_text(), again.to_text());
    }

    #[test]
    fn a_node_without_an_address_is_named() {
        let no_address = |_| {
            Err(NodeAddressError::NoAddress {
                host: "web.example".to_owned(),
            })
        };
        let error = build(&origin(), &DATA, &no_address).unwrap_err();
        assert_eq!(
            error.to_string(),
            "zone example.com. (typed, in the deployment): www.example.com.: the address of node `web`: host `web.example` has no address"
        );
    }
}

//! `export-config` and `flashdns-server` agree: any spec a deployment can
//! write, with zone files or typed zones, exported as the standalone TOML
//! and loaded back through the same layers and checks the server uses, is
//! the same spec.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flashdns::spec::{
    AutoReload, FlashDns, RateLimit, Rec, RecData, Signing, SigningAlgorithm, SigningKey, Soa,
    Zone, ZoneData, ZoneFileLimits,
};
use flashdns::standalone::{FlashDnsSchema, export};
use flashdns::zone::typed::NodeAddressError;
use photon_dsl::{Node as _, Port};
use photon_runtime::standalone::leak;
use photon_runtime::standalone::round_trip::{context, round_trip};
use proptest::prelude::*;

photon_dsl::nodes! {
    /// The deployment's node.
    pub Ns = "ns";
}

fn signing() -> impl Strategy<Value = Option<Signing>> {
    proptest::option::of(
        (
            prop_oneof![
                Just(SigningAlgorithm::EcdsaP256Sha256),
                Just(SigningAlgorithm::Ed25519)
            ],
            proptest::option::of("/etc/flashdns/keys/[a-z]{1,8}\\.pem"),
            2u16..=365,
        )
            .prop_map(|(algorithm, key, signature_days)| Signing {
                algorithm,
                key: match key {
                    Some(path) => SigningKey::PemFile(leak(&path)),
                    None => SigningKey::StateDir,
                },
                signature_days,
            }),
    )
}

/// A relative or absolute name, as records write them.
fn name() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("@".to_owned()),
        "[a-z][a-z0-9-]{0,8}[a-z0-9]",
        "[a-z]{1,6}\\.[a-z]{2,5}\\.",
    ]
    .prop_map(|text| leak(&text))
}

/// A name a record points at: the apex, or a name outside every served
/// zone (a target inside one must exist there, and these zones are random).
fn target() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("@".to_owned()), "[a-z]{1,6}\\.example\\."].prop_map(|text| leak(&text))
}

fn text() -> impl Strategy<Value = &'static str> {
    // Quotes, backslashes, control bytes, non-ASCII: all must survive.
    "[ -~\t\u{e9}\u{4e2d}\\\\\"]{0,40}".prop_map(|text| leak(&text))
}

fn rec_data() -> impl Strategy<Value = RecData> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(RecData::A),
        any::<Ipv6Addr>().prop_map(RecData::Aaaa),
        target().prop_map(RecData::Cname),
        target().prop_map(RecData::Ns),
        name().prop_map(RecData::Ptr),
        (any::<u16>(), target()).prop_map(|(preference, exchange)| RecData::Mx {
            preference,
            exchange
        }),
        proptest::collection::vec(text(), 1..4)
            .prop_map(|strings| RecData::Txt(Box::leak(strings.into_boxed_slice()))),
        (any::<u16>(), any::<u16>(), 1u16..=65535, target()).prop_map(
            |(priority, weight, port, target)| RecData::Srv {
                priority,
                weight,
                port: Port::try_from(port).unwrap(),
                target,
            }
        ),
        (
            any::<bool>(),
            prop_oneof!["issue", "issuewild", "iodef"],
            text()
        )
            .prop_map(|(critical, tag, value)| RecData::Caa {
                critical,
                tag: leak(&tag),
                value,
            }),
    ]
}

/// A typed zone: an SOA, a default TTL, and records of every kind.
fn zone_data() -> impl Strategy<Value = &'static ZoneData> {
    (
        0u32..=2_147_483_647,
        any::<[u32; 5]>(),
        proptest::collection::vec(
            (
                name(),
                proptest::option::of(0u32..=2_147_483_647),
                rec_data(),
            ),
            0..8,
        ),
    )
        .prop_map(
            |(ttl, [serial, refresh, retry, expire, minimum], records)| {
                let records: Vec<Rec> = records
                    .into_iter()
                    .map(|(owner, ttl, data)| Rec { owner, ttl, data })
                    .collect();
                &*Box::leak(Box::new(ZoneData {
                    ttl,
                    soa: Soa {
                        primary: "ns1",
                        admin: "hostmaster",
                        serial,
                        refresh,
                        retry,
                        expire,
                        minimum,
                    },
                    records: Box::leak(records.into_boxed_slice()),
                }))
            },
        )
}

/// Where a generated zone's records are.
#[derive(Debug, Clone)]
enum Source {
    File(&'static str),
    Typed(&'static ZoneData),
    Stored,
}

fn zone(index: usize) -> impl Strategy<Value = Zone> {
    (
        "[a-z][a-z0-9-]{0,6}[a-z0-9]\\.(com|net|internal)",
        prop_oneof![
            prop_oneof!["zones/[a-z]{1,8}\\.zone", "/srv/dns/[a-z]{1,8}\\.zone"]
                .prop_map(|file| Source::File(leak(&file))),
            zone_data().prop_map(Source::Typed),
            Just(Source::Stored),
        ],
        proptest::option::of(0u32..=2_147_483_647),
        signing(),
    )
        .prop_map(move |(origin, source, ttl, signing)| {
            // Unique origins: the index is part of the name.
            let origin = leak(&format!("z{index}{origin}"));
            let mut zone = match source {
                Source::File(file) => {
                    let zone = Zone::file(origin, file);
                    match ttl {
                        Some(ttl) => zone.default_ttl(ttl),
                        None => zone,
                    }
                }
                Source::Typed(data) => Zone::records(origin, data),
                // Not signed: a stored zone cannot be yet.
                Source::Stored => return Zone::stored(origin),
            };
            if let Some(signing) = signing {
                zone = zone.signed(signing);
            }
            zone
        })
}

/// A standalone spec names no other service.
fn unreachable(
    node: photon_dsl::NodeName,
    _: photon_dsl::Port,
) -> Result<String, photon_runtime::ExportError> {
    panic!("a standalone spec asked for {node}")
}

/// Every node a host name, as in a host-name plan: a record naming one
/// has no address to write.
fn no_address(node: photon_dsl::NodeName) -> Result<IpAddr, NodeAddressError> {
    Err(NodeAddressError::HostNameInExport {
        node,
        host: format!("{node}.example"),
    })
}

fn spec() -> impl Strategy<Value = FlashDns<Ns>> {
    (
        1u16..=65535,
        1u16..=65535,
        (0usize..4).prop_flat_map(|n| (0..n).map(zone).collect::<Vec<_>>()),
        proptest::collection::vec(any::<IpAddr>(), 0..3),
        prop_oneof![
            Just(AutoReload::Off),
            (1u32..=100_000).prop_map(AutoReload::EverySeconds)
        ],
        (1u32..=1024, 0u32..=4096),
        prop_oneof![
            Just(RateLimit::Off),
            (1u32..=100_000, 1u32..=3600, 0u32..=10).prop_map(|(rate, window, slip)| {
                RateLimit::PerPrefix {
                    responses_per_second: rate,
                    window_seconds: window,
                    slip,
                }
            })
        ],
    )
        .prop_filter("two listeners on one port", |(dns, admin, ..)| dns != admin)
        .prop_map(
            |(dns, admin, zones, axfr_allow, auto_reload, (file, more), rate_limit)| FlashDns {
                node: Ns,
                mode: photon_dsl::Mode::Standalone,
                dns_port: Port::try_from(dns).unwrap(),
                admin_port: Port::try_from(admin).unwrap(),
                zones: Box::leak(zones.into_boxed_slice()),
                // Every secondary allowed to transfer is told of changes.
                notify: Box::leak(
                    axfr_allow
                        .iter()
                        .map(|ip| std::net::SocketAddr::new(*ip, 53))
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                ),
                axfr_allow: Box::leak(axfr_allow.into_boxed_slice()),
                auto_reload,
                file_limits: ZoneFileLimits {
                    max_file_mib: file,
                    max_zone_mib: file + more,
                },
                rate_limit,
            },
        )
}

proptest! {
    #[test]
    fn an_exported_spec_loads_back_as_the_same_spec(spec in spec(), bind in any::<IpAddr>()) {
        let built = round_trip::<FlashDnsSchema>(&spec, &context(Ns::NAME, bind, Vec::new())).unwrap();
        prop_assert_eq!(built.spec.zones, spec.zones);
        prop_assert_eq!(built.spec.axfr_allow, spec.axfr_allow);
        prop_assert_eq!(built.spec.auto_reload, spec.auto_reload);
        prop_assert_eq!(built.spec.file_limits, spec.file_limits);
        prop_assert_eq!(built.spec.notify, spec.notify);
        prop_assert_eq!(built.spec.rate_limit, spec.rate_limit);
    }
}

#[test]
fn a_record_naming_a_node_is_written_with_the_nodes_address() {
    const DATA: ZoneData = ZoneData::new(&[Rec::node("ns", Ns), Rec::node("v6", Ns)]);
    const ZONES: &[Zone] = &[Zone::records("nodes.internal", &DATA)];
    let spec = FlashDns {
        node: Ns,
        mode: photon_dsl::Mode::Standalone,
        dns_port: Port::try_from(53).unwrap(),
        admin_port: Port::try_from(8053).unwrap(),
        zones: ZONES,
        axfr_allow: &[],
        notify: &[],
        auto_reload: AutoReload::Off,
        file_limits: ZoneFileLimits::DEFAULT,
        rate_limit: RateLimit::Off,
    };
    let v4 = |_| Ok(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53)));
    let doc = export(
        &spec,
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "x",
        &v4,
        "c",
        &unreachable,
    )
    .unwrap();
    let text = photon_config::to_toml(&doc).unwrap();
    assert!(
        text.contains("[[standalone.zones.zone.records]]\nowner = \"ns\"\ntype = \"A\"\ndata = \"10.0.0.53\"\n"),
        "{text}"
    );
    let v6 = |_| Ok(IpAddr::V6("2001:db8::53".parse().unwrap()));
    let doc = export(
        &spec,
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "x",
        &v6,
        "c",
        &unreachable,
    )
    .unwrap();
    let text = photon_config::to_toml(&doc).unwrap();
    assert!(
        text.contains("owner = \"v6\"\ntype = \"AAAA\"\ndata = \"2001:db8::53\"\n"),
        "{text}"
    );
    let error = export(
        &spec,
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "x",
        &no_address,
        "c",
        &unreachable,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "zone `nodes.internal`, record `ns`: node `ns` is the host name `ns.example` in this address plan; a record needs an address: export with --loopback-base or a static plan"
    );
}

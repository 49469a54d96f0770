//! `export-config` and `flashdns-server` agree: any spec a deployment can
//! write with zone files, exported as the standalone TOML and loaded back
//! through the same layers and checks the server uses, is the same spec.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use flashdns::spec::{AutoReload, FlashDns, Signing, SigningAlgorithm, SigningKey, Zone};
use flashdns::standalone::{FlashDnsServer, export};
use photon_config::{ComponentDocument, Layers};
use photon_dsl::Port;
use photon_runtime::standalone::StandaloneServer as _;
use proptest::prelude::*;

photon_dsl::nodes! {
    /// The deployment's node.
    pub Ns = "ns";
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
    ]
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
                    Some(path) => SigningKey::PemFile(leak(path)),
                    None => SigningKey::StateDir,
                },
                signature_days,
            }),
    )
}

fn zone(index: usize) -> impl Strategy<Value = Zone> {
    (
        "[a-z][a-z0-9-]{0,6}[a-z0-9]\\.(com|net|internal)",
        prop_oneof!["zones/[a-z]{1,8}\\.zone", "/srv/dns/[a-z]{1,8}\\.zone"],
        proptest::option::of(0u32..=2_147_483_647),
        signing(),
    )
        .prop_map(move |(origin, file, ttl, signing)| {
            // Unique origins: the index is part of the name.
            let mut zone = Zone::file(leak(format!("z{index}{origin}")), leak(file));
            if let Some(ttl) = ttl {
                zone = zone.default_ttl(ttl);
            }
            if let Some(signing) = signing {
                zone = zone.signed(signing);
            }
            zone
        })
}

fn spec() -> impl Strategy<Value = FlashDns<Ns>> {
    (
        1u16..=65535,
        1u16..=65535,
        (0usize..4).prop_flat_map(|n| (0..n).map(zone).collect::<Vec<_>>()),
        proptest::collection::vec(ip(), 0..3),
        prop_oneof![
            Just(AutoReload::Off),
            (1u32..=100_000).prop_map(AutoReload::EverySeconds)
        ],
    )
        .prop_filter("two listeners on one port", |(dns, admin, ..)| dns != admin)
        .prop_map(|(dns, admin, zones, axfr_allow, auto_reload)| FlashDns {
            node: Ns,
            dns_port: Port::try_from(dns).unwrap(),
            admin_port: Port::try_from(admin).unwrap(),
            zones: Box::leak(zones.into_boxed_slice()),
            axfr_allow: Box::leak(axfr_allow.into_boxed_slice()),
            auto_reload,
        })
}

proptest! {
    #[test]
    fn an_exported_spec_loads_back_as_the_same_spec(spec in spec(), bind in ip()) {
        let doc = export(&spec, bind, "ns-flashdns").unwrap();
        let text = photon_config::to_toml(&doc).unwrap();
        let mut layers = Layers::new();
        layers.text(Path::new("exported.toml"), &text).unwrap();
        let loaded: ComponentDocument<FlashDnsServer> = layers.extract().unwrap();
        prop_assert_eq!(&loaded, &doc, "{}", text);
        let built = FlashDnsServer::build(&loaded, &layers).unwrap();
        let back = built.spec;
        prop_assert_eq!(back.dns_port, spec.dns_port);
        prop_assert_eq!(back.admin_port, spec.admin_port);
        prop_assert_eq!(back.zones, spec.zones, "{}", text);
        prop_assert_eq!(back.axfr_allow, spec.axfr_allow);
        prop_assert_eq!(back.auto_reload, spec.auto_reload);
        prop_assert_eq!(built.listen, vec![("dns", bind), ("admin", bind)]);
    }
}

#[test]
fn a_typed_zone_is_refused_by_name() {
    const DATA: flashdns::ZoneData = flashdns::ZoneData {
        ttl: 60,
        soa: flashdns::Soa {
            primary: "ns",
            admin: "hostmaster",
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 30,
        },
        records: &[],
    };
    const ZONES: &[Zone] = &[Zone::records("nodes.internal", &DATA)];
    let spec = FlashDns {
        node: Ns,
        dns_port: Port::try_from(53).unwrap(),
        admin_port: Port::try_from(8053).unwrap(),
        zones: ZONES,
        axfr_allow: &[],
        auto_reload: AutoReload::Off,
    };
    let error = export(&spec, IpAddr::V4(Ipv4Addr::UNSPECIFIED), "x").unwrap_err();
    assert!(
        error.starts_with("zone `nodes.internal` is written in the deployment"),
        "{error}"
    );
}

//! Every TOML example of the design that a flashdns server can be given
//! loads as written (`tests/standalone/design/`): docs/design.md §2.2 (flashdns),
//! 5.1 (the common schema), 3.2 (the integrated structure), 6.4 (hybrid)
//! and 7.2 (versioning, fallback).

use std::path::PathBuf;

use flashdns::standalone::{FlashDnsSchema, ZoneBackend, ZoneKind};
use photon_config::schema::{Backend, LogFormat, OperationMode};
use photon_config::{ComponentDocument, Sources, load};

fn example(name: &str) -> ComponentDocument<FlashDnsSchema> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/standalone/design")
        .join(name);
    let sources = Sources {
        file: Some(file),
        ..Sources::default()
    };
    load::<ComponentDocument<FlashDnsSchema>>(&sources)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .0
}

#[test]
fn flashdns_section_2_2() {
    let doc = example("flashdns-2.2.toml");
    assert_eq!(doc.photon.mode, Some(OperationMode::Standalone));
    assert_eq!(doc.photon.component_id.as_deref(), Some("flashdns-01"));
    assert_eq!(doc.photon.standalone.zone_backend, ZoneBackend::File);
    let s = &doc.standalone;
    assert_eq!(s.server.dns_addr.to_string(), "0.0.0.0:53");
    assert_eq!(s.server.admin_api_addr.to_string(), "127.0.0.1:8053");
    assert!(s.zones.auto_reload);
    assert_eq!(s.zones.reload_interval_sec, Some(300));
    let zones = s.zones.zone.as_ref().unwrap();
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].ttl, Some(3600));
    assert_eq!(zones[1].kind, Some(ZoneKind::Master));
    assert_eq!(
        s.features.axfr_allow,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[test]
fn the_common_schema_section_5_1() {
    let doc = example("common-5.1.toml");
    assert_eq!(doc.photon.cluster_id.as_deref(), Some("cluster-1"));
    assert_eq!(doc.photon.logging.format, LogFormat::Json);
    assert_eq!(doc.photon.metrics.endpoint.as_deref(), Some("0.0.0.0:9090"));
    assert_eq!(
        doc.photon.integrated.chainfire_endpoints,
        ["http://cf:2379"]
    );
    assert_eq!(doc.photon.integrated.heartbeat_interval_sec, Some(30));
}

#[test]
fn the_integrated_structure_section_3_2() {
    let doc = example("integrated-3.2.toml");
    assert_eq!(doc.photon.mode, Some(OperationMode::Integrated));
    let registration = doc.photon.integrated.registration.unwrap();
    assert!(registration.auto_register);
    assert_eq!(registration.metadata["region"], "tokyo");
    assert_eq!(
        doc.photon.integrated.event_bus_endpoint.as_deref(),
        Some("http://events:4222")
    );
}

#[test]
fn hybrid_section_6_4_and_section_7_2() {
    let hybrid = example("hybrid-6.4.toml");
    assert_eq!(hybrid.photon.mode, Some(OperationMode::Hybrid));
    assert_eq!(hybrid.photon.hybrid.auth_backend, Some(Backend::Integrated));
    assert_eq!(hybrid.photon.hybrid.metadata_backend, Some(Backend::Local));
    let versioned = example("versioning-7.2.toml");
    assert_eq!(versioned.photon.config_version.as_deref(), Some("1.0"));
    let fallback = example("fallback-7.2.toml");
    assert!(fallback.photon.integrated.fallback_to_standalone);
    assert_eq!(fallback.photon.integrated.fallback_timeout_sec, Some(30));
}

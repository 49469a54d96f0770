//! flashdns serving BIND zone files from `zones/` under the working
//! directory (re-read every second and on SIGHUP), beside a typed zone;
//! both file zones are DNSSEC-signed (`example.com` with Ed25519,
//! `example.net` with ECDSA P-256), each with a key created in the state
//! directory on first start; transfers only to 127.0.0.1. The end-to-end tests run it
//! from a directory of their own zone files.
//!
//! ```text
//! cd dir-with-zones && deploy-flashdns-files up
//! dig @127.0.1.1 -p 5300 www.example.com
//! dig @127.0.1.1 -p 5300 example.com AXFR
//! dig @127.0.1.1 -p 5300 +dnssec www.example.net
//! ```

use std::net::{IpAddr, Ipv4Addr};

use flashdns::{
    AutoReload, FlashDns, RateLimit, Rec, RecData, Signing, SigningAlgorithm, Soa, Zone, ZoneData,
    ZoneFileLimits,
};
use photon_dsl::prelude::*;

nodes! {
    /// The name server.
    pub Dns = "dns";
}

const NODES_INTERNAL: ZoneData = ZoneData {
    ttl: 60,
    soa: Soa {
        minimum: 30,
        ..Soa::DEFAULT
    },
    records: &[
        Rec::new("@", RecData::Ns("ns")),
        Rec::node("ns", Dns),
        Rec::new(
            "_dns._tcp",
            RecData::Srv {
                priority: 0,
                weight: 0,
                port: DNS_PORT,
                target: "ns",
            },
        ),
    ],
};

/// The DNS port, named once: the server listens on it and the zone's SRV
/// record advertises it (a zone inside the server's own spec cannot ask
/// the server for its endpoint).
const DNS_PORT: Port = port!(5300);

const SERVER: FlashDns<Dns> = FlashDns {
    node: Dns,
    mode: Mode::Standalone,
    dns_port: DNS_PORT,
    admin_port: port!(8053),
    zones: &[
        Zone::file("example.com", "zones/example.com.zone").signed(Signing {
            algorithm: SigningAlgorithm::Ed25519,
            ..Signing::DEFAULT
        }),
        Zone::file("example.net", "zones/example.net.zone").signed(Signing::DEFAULT),
        Zone::records("nodes.internal", &NODES_INTERNAL),
    ],
    axfr_allow: &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
    notify: &[],
    auto_reload: AutoReload::EverySeconds(1),
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_runtime::deployment! {
    name: "flashdns-files",
    version: "1.0.0",
    branch: "main",
    nodes: [Dns],
    services: [SERVER],
}

//! flashdns on one node, serving a zone written right here: every address
//! in it that belongs to a node of the topology comes from the resolver,
//! never from a second literal.
//!
//! ```text
//! cargo run -p deploy-flashdns-single -- up
//! dig @127.0.1.1 -p 5300 www.photon.internal
//! curl http://127.0.1.1:8053/zones
//! ```

use flashdns::{
    AutoReload, FlashDns, RateLimit, Rec, RecData, Soa, Zone, ZoneData, ZoneFileLimits,
};
use photon_dsl::prelude::*;

nodes! {
    /// Answers for `photon.internal`.
    pub Dns = "dns";
}

const PHOTON_INTERNAL: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa {
        primary: "ns1",
        admin: "hostmaster",
        serial: 2026112401,
        refresh: 3600,
        retry: 600,
        expire: 604800,
        minimum: 60,
    },
    records: &[
        Rec::new("@", RecData::Ns("ns1")),
        Rec::node("ns1", Dns),
        Rec::node("www", Dns),
        Rec::new("api", RecData::Cname("www")),
        Rec::new(
            "@",
            RecData::Txt(&["photoncloud deployment flashdns-single"]),
        ),
        Rec::new(
            "_dns._udp",
            RecData::Srv {
                priority: 0,
                weight: 0,
                port: DNS_PORT,
                target: "ns1",
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
    zones: &[Zone::records("photon.internal", &PHOTON_INTERNAL)],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_runtime::deployment! {
    name: "flashdns-single",
    version: "1.0.0",
    branch: "main",
    nodes: [Dns],
    services: [SERVER],
}

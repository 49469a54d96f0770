//! Level 0, DNS alone (docs/design.md §4.2 B): flashdns on one node,
//! standalone, authoritative for a zone written here. Its name server's
//! address is the node's, from the topology; the rest are addresses
//! outside it, written as they are.
//!
//! ```text
//! cargo run -p deploy-level0-dns -- up            # DNS on 127.0.1.1:5300
//! dig @127.0.1.1 -p 5300 www.example.internal
//! dig @127.0.1.1 -p 5300 example.internal AXFR    # refused: no transfers allowed
//! ```

use std::net::Ipv4Addr;

use flashdns::{
    AutoReload, FlashDns, RateLimit, Rec, RecData, Soa, Zone, ZoneData, ZoneFileLimits,
};
use photon_dsl::prelude::*;

nodes! {
    /// Answers for `example.internal`.
    pub Dns = "dns";
}

const EXAMPLE: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa {
        serial: 2026120501,
        ..Soa::DEFAULT
    },
    records: &[
        Rec::new("@", RecData::Ns("ns1")),
        Rec::node("ns1", Dns),
        Rec::new("www", RecData::A(Ipv4Addr::new(192, 0, 2, 10))),
        Rec::new("www", RecData::A(Ipv4Addr::new(192, 0, 2, 11))),
        Rec::new("app", RecData::Cname("www")),
        Rec::new(
            "@",
            RecData::Mx {
                preference: 10,
                exchange: "mail",
            },
        ),
        Rec::new("mail", RecData::A(Ipv4Addr::new(192, 0, 2, 25))),
    ],
};

const DNS: FlashDns<Dns> = FlashDns {
    node: Dns,
    mode: Mode::Standalone,
    dns_port: port!(5300),
    admin_port: port!(8053),
    zones: &[Zone::records("example.internal", &EXAMPLE)],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_runtime::deployment! {
    name: "level0-dns",
    version: "1.0.0",
    branch: "main",
    nodes: [Dns],
    services: [DNS],
}

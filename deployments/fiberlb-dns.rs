//! fiberlb in front of two flashdns servers: DNS over UDP and TCP on one
//! port, each client's UDP flow kept on one server. Both servers serve
//! the zone written once, below; the balancer's front end is a DNS
//! endpoint like theirs.
//!
//! ```text
//! cargo run -p deploy-fiberlb-dns -- up
//! dig @127.0.1.1 -p 5300 www.photon.internal         # UDP, through the balancer
//! dig @127.0.1.1 -p 5300 +tcp www.photon.internal    # TCP
//! ```

use fiberlb::{Backend, Check, FiberLb, Health, L4, L4Stickiness, Method};
use flashdns::{
    AutoReload, FlashDns, RateLimit, Rec, RecData, Soa, Zone, ZoneData, ZoneFileLimits,
};
use photon_dsl::prelude::*;

nodes! {
    /// The balancer.
    pub Edge = "edge";
    /// The first DNS server.
    pub Dns1 = "dns-1";
    /// The second DNS server.
    pub Dns2 = "dns-2";
}

const PHOTON_INTERNAL: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa {
        primary: "ns1",
        admin: "hostmaster",
        serial: 2026120401,
        refresh: 3600,
        retry: 600,
        expire: 604800,
        minimum: 60,
    },
    records: &[
        Rec::new("@", RecData::Ns("ns1")),
        Rec::node("ns1", Edge),
        Rec::node("www", Edge),
    ],
};

const ZONES: &[Zone] = &[Zone::records("photon.internal", &PHOTON_INTERNAL)];

const fn server<N: Node>(node: N) -> FlashDns<N> {
    FlashDns {
        node,
        mode: Mode::Standalone,
        dns_port: port!(5300),
        admin_port: port!(8053),
        zones: ZONES,
        axfr_allow: &[],
        notify: &[],
        auto_reload: AutoReload::Off,
        file_limits: ZoneFileLimits::DEFAULT,
        rate_limit: RateLimit::Off,
    }
}
const DNS_1: FlashDns<Dns1> = server(Dns1);
const DNS_2: FlashDns<Dns2> = server(Dns2);

const DNS: L4<Dns> = L4 {
    name: "dns",
    port: port!(5300),
    backends: &[
        Backend::of(DNS_1.dns().dep()),
        Backend::of(DNS_2.dns().dep()),
    ],
    method: Method::RoundRobin,
    // Each server is asked a DNS question twice a second: one that stops
    // answering is taken out though its port still takes connections.
    health: Health {
        check: Check::Protocol,
        interval: Duration::from_millis(500),
        ..Health::DEFAULT
    },
    stickiness: L4Stickiness::None,
    idle_timeout: Duration::from_secs(30),
};

const LB: FiberLb<Edge> = FiberLb::new(Edge, &[DNS.balancer()]);

photon_runtime::deployment! {
    name: "fiberlb-dns",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, Dns1, Dns2],
    services: [DNS_1, DNS_2, LB],
}

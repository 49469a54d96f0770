// A typed CNAME whose target is misspelt: `wwww` is inside the zone, and
// the zone has no such name, so every resolver would get NXDOMAIN.
use flashdns::{AutoReload, FlashDns, Rec, RecData, Soa, Zone, ZoneData, ZoneFileLimits, RateLimit};
use photon_dsl::prelude::*;
use std::net::Ipv4Addr;

nodes! {
    pub Ns = "ns";
}

const ZONE: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa { primary: "ns", admin: "hostmaster", serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 },
    records: &[
        Rec::new("@", RecData::Ns("ns")),
        Rec::new("ns", RecData::A(Ipv4Addr::new(192, 0, 2, 1))),
        Rec::new("www", RecData::A(Ipv4Addr::new(192, 0, 2, 2))),
        Rec::new("shop", RecData::Cname("wwww")),
    ],
};

const DNS: FlashDns<Ns> = FlashDns {
    node: Ns,
    mode: Mode::Standalone,
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[Zone::records("example.com", &ZONE)],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_dsl::topology! {
    name: "dns",
    version: "1.0.0",
    branch: "main",
    nodes: [Ns],
    services: [DNS],
}

fn main() {}

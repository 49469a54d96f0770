// A secondary told of changes by NOTIFY that may not transfer the zone:
// it would ask for every change and be refused every time.
use flashdns::{AutoReload, FlashDns, RateLimit, Zone, ZoneFileLimits};
use photon_dsl::prelude::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

nodes! {
    pub Ns = "ns";
}

const DNS: FlashDns<Ns> = FlashDns {
    node: Ns,
    mode: Mode::Standalone,
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[Zone::file("example.com", "zones/example.com.zone")],
    axfr_allow: &[IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))],
    notify: &[SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)), 53)],
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

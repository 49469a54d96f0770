// The uploads app, which needs S3, wired to a balancer in front of DNS
// servers.
use fiberlb::{Backend, FiberLb, Health, L4, L4Stickiness, Method};
use photon_dsl::prelude::*;
use ui_tests::fixtures::Uploads;

nodes! {
    pub Edge = "edge";
    pub App = "app";
}

const DNS_POOL: L4<Dns> = L4 {
    name: "dns",
    port: port!(53),
    backends: &[Backend::outside_topology(std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 53)), 53))],
    method: Method::RoundRobin,
    health: Health::DEFAULT,
    stickiness: L4Stickiness::None,
    idle_timeout: Duration::from_secs(30),
};
const LB: FiberLb<Edge> = FiberLb::new(Edge, &[DNS_POOL.balancer()]);
const UPLOADS: Uploads<App> = Uploads { node: App, s3: LB.l4(&DNS_POOL).dep() };

fn main() {}

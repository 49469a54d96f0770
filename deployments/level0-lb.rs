//! Level 0, load balancing alone (docs/design.md §4.2 C): fiberlb on one
//! node in front of web servers PhotonCloud does not run. They are outside
//! the topology, so their addresses are written here, with
//! `Backend::outside_topology` saying so; fiberlb checks each one's
//! `/health` twice a second and sends requests only to those that answer.
//!
//! ```text
//! cargo run -p deploy-level0-lb -- up             # HTTP on 127.0.1.1:8080, admin on :8404
//! curl http://127.0.1.1:8080/                     # answered by 127.0.5.1:8080 or 127.0.5.2:8080
//! curl http://127.0.1.1:8404/balancers            # which backends are up
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use fiberlb::{Backend, Check, FiberLb, Health, HttpStickiness, L7, Method};
use photon_dsl::prelude::*;

nodes! {
    /// The balancer.
    pub Edge = "edge";
}

const WEB: L7<Http> = L7 {
    name: "web",
    port: port!(8080),
    backends: &[
        Backend::outside_topology(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 5, 1)),
            8080,
        )),
        Backend::outside_topology(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 5, 2)),
            8080,
        )),
    ],
    routes: &[],
    method: Method::RoundRobin,
    health: Health {
        check: Check::Http {
            path: "/health",
            status: 200,
        },
        interval: Duration::from_millis(500),
        ..Health::DEFAULT
    },
    stickiness: HttpStickiness::None,
    tls: None,
    request_timeout: Duration::from_secs(30),
};

const LB: FiberLb<Edge> = FiberLb::new(Edge, &[WEB.balancer()]);

photon_runtime::deployment! {
    name: "level0-lb",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge],
    services: [LB],
}

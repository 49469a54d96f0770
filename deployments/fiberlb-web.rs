//! fiberlb in front of the web tier: two echo servers behind an L4
//! balancer, their prefix served through it. The backends are the echo
//! servers' endpoints, so the port of each is written once, below, where
//! the server is configured; the balancer's front end is an echo endpoint
//! too, so the probe client is wired to it like to any echo server.
//!
//! `up` runs it on 127.0.1.1-4: the balancer on `edge` (:8080, admin on
//! :8404), the servers on `web-1` and `web-2`, the client on `app`.

use echo::{EchoClient, EchoProtocol, EchoServer};
use fiberlb::{Backend, FiberLb, Health, L4, L4Stickiness, Method};
use photon_dsl::prelude::*;

nodes! {
    /// The balancer.
    pub Edge = "edge";
    /// The first web server.
    pub Web1 = "web-1";
    /// The second web server.
    pub Web2 = "web-2";
    /// A client of the site, through the balancer.
    pub App = "app";
}

const WEB_1: EchoServer<Web1> = EchoServer {
    node: Web1,
    port: port!(8080),
    prefix: path!("echo"),
    token: None,
};
const WEB_2: EchoServer<Web2> = EchoServer {
    node: Web2,
    port: port!(8080),
    prefix: path!("echo"),
    token: None,
};

const WEB: L4<EchoProtocol> = L4 {
    name: "web",
    port: port!(8080),
    backends: &[
        Backend::of(WEB_1.endpoint().dep()),
        Backend::of(WEB_2.endpoint().dep()),
    ],
    method: Method::RoundRobin,
    health: Health {
        interval: Duration::from_millis(500),
        ..Health::DEFAULT
    },
    stickiness: L4Stickiness::None,
    idle_timeout: Duration::from_secs(60),
};

const LB: FiberLb<Edge> = FiberLb {
    node: Edge,
    admin_port: port!(8404),
    balancers: &[WEB.balancer()],
};

const PROBE: EchoClient<App> = EchoClient {
    node: App,
    echo: LB.l4(&WEB).dep(),
    test_message: "through-the-balancer",
    poll_interval: Duration::from_secs(1),
    token: None,
};

photon_runtime::deployment! {
    name: "fiberlb-web",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, Web1, Web2, App],
    services: [WEB_1, WEB_2, LB, PROBE],
}

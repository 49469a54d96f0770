//! fiberlb in front of the web tier: two echo servers behind an L7 (HTTP)
//! balancer, and a pool of two lightningstors behind another. The
//! backends are the servers' endpoints, so each port is written once,
//! below, where its server is configured; each balancer's front end is an
//! endpoint of its backends' protocol, so the probe client is wired to the
//! echo balancer like to any echo server.
//!
//! The stores do not replicate: the S3 balancer keeps each client on one
//! store by a hash of its address (`Method::SourceHash`), so a client sees
//! its own objects, and a store that leaves takes only its clients along.
//!
//! `up` runs it on 127.0.1.1-6: the balancer on `edge` (echo on :8080, S3
//! on :9000, admin on :8404), the echo servers on `web-1` and `web-2`, the
//! stores on `store-1` and `store-2`, the client on `app`. The stores read
//! their secret key from `LIGHTNINGSTOR_SECRET_KEY`.
//!
//! ```text
//! export LIGHTNINGSTOR_SECRET_KEY=$(openssl rand -hex 20)
//! cargo run -p deploy-fiberlb-web -- up
//! curl http://127.0.1.1:8080/echo/hello
//! AWS_ACCESS_KEY_ID=PHOTONADMIN AWS_SECRET_ACCESS_KEY=$LIGHTNINGSTOR_SECRET_KEY \
//!   aws --endpoint-url http://127.0.1.1:9000 s3 mb s3://photos
//! ```

use echo::{EchoClient, EchoProtocol, EchoServer};
use fiberlb::{Backend, Check, FiberLb, Health, HttpStickiness, L7, Method};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photon_dsl::protocol::S3;

nodes! {
    /// The balancer.
    pub Edge = "edge";
    /// The first web server.
    pub Web1 = "web-1";
    /// The second web server.
    pub Web2 = "web-2";
    /// The first object store.
    pub Store1 = "store-1";
    /// The second object store.
    pub Store2 = "store-2";
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

/// One store of the pool; both take the same access key.
const fn store<N: Node>(node: N) -> LightningStor<N> {
    LightningStor {
        node,
        s3_port: port!(9000),
        admin_port: port!(9001),
        access_key: AccessKey {
            id: "PHOTONADMIN",
            secret: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
        },
        base_domain: None,
        storage: lightningstor::Storage::DEFAULT,
        mode: Mode::Standalone,
    }
}
const STORE_1: LightningStor<Store1> = store(Store1);
const STORE_2: LightningStor<Store2> = store(Store2);

/// Each backend's `/health` asked twice a second; out after three
/// failures, back after two successes.
const CHECKS: Health = Health {
    check: Check::Http {
        path: "/health",
        status: 200,
    },
    interval: Duration::from_millis(500),
    ..Health::DEFAULT
};

const WEB: L7<EchoProtocol> = L7 {
    name: "web",
    port: port!(8080),
    backends: &[
        Backend::of(WEB_1.endpoint().dep()),
        Backend::of(WEB_2.endpoint().dep()),
    ],
    routes: &[],
    method: Method::RoundRobin,
    health: CHECKS,
    stickiness: HttpStickiness::None,
    tls: None,
    request_timeout: Duration::from_secs(30),
};

const OBJECTS: L7<S3> = L7 {
    name: "s3",
    port: port!(9000),
    backends: &[
        Backend::of(STORE_1.s3().dep()),
        Backend::of(STORE_2.s3().dep()),
    ],
    routes: &[],
    method: Method::SourceHash,
    // S3's own check: each store's `/health`.
    health: Health {
        check: Check::Protocol,
        ..CHECKS
    },
    stickiness: HttpStickiness::None,
    tls: None,
    request_timeout: Duration::from_secs(60),
};

const LB: FiberLb<Edge> = FiberLb::new(Edge, &[WEB.balancer(), OBJECTS.balancer()]);

const PROBE: EchoClient<App> = EchoClient {
    node: App,
    echo: LB.l7(&WEB).dep(),
    test_message: "through-the-balancer",
    poll_interval: Duration::from_secs(1),
    token: None,
};

photon_runtime::deployment! {
    name: "fiberlb-web",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, Web1, Web2, Store1, Store2, App],
    services: [WEB_1, WEB_2, STORE_1, STORE_2, LB, PROBE],
}

// Class 10, corrected: fiberlb in front of three lightningstors (L4, S3
// byte for byte) and two echo servers (L7, HTTPS with a cookie), plus one
// backend outside the topology, named as such. The uploads app needs S3
// and is wired to the balancer's front end, which is an S3 endpoint.
use echo::{EchoClient, EchoServer};
use fiberlb::{Backend, Certificate, FiberLb, Health, HttpStickiness, L4, L4Stickiness, L7, Method, TlsFront};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use ui_tests::fixtures::Uploads;

nodes! {
    pub Edge = "edge";
    pub Store1 = "store-1";
    pub Store2 = "store-2";
    pub Store3 = "store-3";
    pub Web1 = "web-1";
    pub Web2 = "web-2";
    pub App = "app";
}

const KEY: AccessKey = AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::file("/etc/photon/s3.key") };
const fn store<N: Node>(node: N) -> LightningStor<N> {
    LightningStor {
        node,
        s3_port: port!(9000),
        admin_port: port!(9001),
        access_key: KEY,
        base_domain: None,
        storage: lightningstor::Storage::DEFAULT,
        mode: Mode::Standalone,
    }
}
const STORE_1: LightningStor<Store1> = store(Store1);
const STORE_2: LightningStor<Store2> = store(Store2);
const STORE_3: LightningStor<Store3> = store(Store3);

const WEB_1: EchoServer<Web1> = EchoServer { node: Web1, port: port!(8080), prefix: path!("echo"), token: None };
const WEB_2: EchoServer<Web2> = EchoServer { node: Web2, port: port!(8080), prefix: path!("echo"), token: None };

const S3_POOL: L4<S3> = L4 {
    name: "s3",
    port: port!(9000),
    backends: &[
        Backend::of(STORE_1.s3().dep()),
        Backend::of(STORE_2.s3().dep()),
        Backend::of(STORE_3.s3().dep()).weight(50),
    ],
    method: Method::LeastConnections,
    health: Health::DEFAULT,
    stickiness: L4Stickiness::None,
    idle_timeout: Duration::from_secs(300),
};
const WEB: L7<HttpGet<String, String>> = L7 {
    name: "web",
    port: port!(443),
    backends: &[
        Backend::of(WEB_1.endpoint().dep()),
        Backend::of(WEB_2.endpoint().dep()),
        Backend::outside_topology(std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10)), 8080)),
    ],
    routes: &[],
    method: Method::RoundRobin,
    health: Health::DEFAULT,
    stickiness: HttpStickiness::Cookie("SRV"),
    tls: Some(TlsFront {
        certificates: &[Certificate { cert_file: "/etc/fiberlb/web.crt", key: Secret::file("/etc/fiberlb/web.key") }],
    }),
    request_timeout: Duration::from_secs(30),
};
const LB: FiberLb<Edge> = FiberLb::new(Edge, &[S3_POOL.balancer(), WEB.balancer()]);

const UPLOADS: Uploads<App> = Uploads { node: App, s3: LB.l4(&S3_POOL).dep() };
const PROBE: EchoClient<App> = EchoClient {
    node: App,
    echo: LB.l7(&WEB).dep(),
    test_message: "hello",
    poll_interval: Duration::from_secs(5),
    token: None,
};

photon_dsl::topology! {
    name: "web",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, Store1, Store2, Store3, Web1, Web2, App],
    services: [STORE_1, STORE_2, STORE_3, WEB_1, WEB_2, LB, UPLOADS, PROBE],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    let lb = t.services().iter().find(|p| p.decl.kind().as_str() == "fiberlb").unwrap();
    // The admin API and one listener per balancer; one dependency per
    // backend of the topology (the outside one is not the topology's).
    assert_eq!(lb.decl.listener_count(), 3);
    assert_eq!(lb.decl.dep_count(), 5);
}

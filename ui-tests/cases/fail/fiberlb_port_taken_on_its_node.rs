// A balancer's port on the edge node is taken by the echo server there.
use echo::EchoServer;
use fiberlb::{Backend, FiberLb, Health, L4, L4Stickiness, Method};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    pub Edge = "edge";
    pub Store1 = "store-1";
}

const STORE_1: LightningStor<Store1> = LightningStor {
    node: Store1,
    s3_port: port!(9000),
    admin_port: port!(9001),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::file("/etc/photon/s3.key") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Standalone,
};

const STATUS: EchoServer<Edge> = EchoServer { node: Edge, port: port!(9000), prefix: path!("status"), token: None };

const S3_POOL: L4<S3> = L4 {
    name: "s3",
    port: port!(9000),
    backends: &[Backend::of(STORE_1.s3().dep())],
    method: Method::RoundRobin,
    health: Health::DEFAULT,
    stickiness: L4Stickiness::None,
    idle_timeout: Duration::from_secs(300),
};
const LB: FiberLb<Edge> = FiberLb::new(Edge, &[S3_POOL.balancer()]);

photon_dsl::topology! {
    name: "lb",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, Store1],
    services: [STORE_1, STATUS, LB],
}

fn main() {}

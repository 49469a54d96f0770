// An HTTP (L7) balancer over chainfire's etcd v3 gRPC API.
use chainfire::{Chainfire, Limits};
use fiberlb::{Backend, Health, HttpStickiness, L7, Method};
use photon_dsl::prelude::*;

nodes! {
    pub Edge = "edge";
    pub Kv1 = "kv-1";
}

const KV: Chainfire<Kv1> = Chainfire { node: Kv1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };

const ETCD: L7<EtcdV3> = L7 {
    name: "etcd",
    port: port!(2379),
    backends: &[Backend::of(KV.kv().dep())],
    routes: &[],
    method: Method::RoundRobin,
    health: Health::DEFAULT,
    stickiness: HttpStickiness::None,
    tls: None,
    request_timeout: Duration::from_secs(30),
};
fn main() {}

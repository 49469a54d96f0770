// lightningstor integrated with a three-member chainfire cluster, but the
// second member copied from the first: `kv-1` twice, `kv-2` left out.
use chainfire::{Chainfire, Limits};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    pub Kv1 = "kv-1";
    pub Kv2 = "kv-2";
    pub Kv3 = "kv-3";
    pub Store = "store";
}

const CF1: Chainfire<Kv1> = Chainfire { node: Kv1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF2: Chainfire<Kv2> = Chainfire { node: Kv2, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF3: Chainfire<Kv3> = Chainfire { node: Kv3, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: &[CF1.kv().dep(), CF1.kv().dep(), CF3.kv().dep()],
        auth: Auth::Local,
    }),
};

photon_dsl::topology! {
    name: "store",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Store],
    services: [CF1, CF2, CF3, STORE],
}

fn main() {}

// A three-member chainfire cluster, and a store that knows only two of
// them: when those two are down it loses its metadata, though the third
// and the cluster's majority would have served it.
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
const CF2: Chainfire<Kv2> = CF1.on(Kv2);
const CF3: Chainfire<Kv3> = CF1.on(Kv3);

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9000),
    admin_port: port!(9001),
    access_key: AccessKey { id: "PHOTONADMIN", secret: Secret::env("S3_SECRET") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: &[CF1.kv().dep(), CF2.kv().dep()],
        auth: Auth::Local,
    }),
};

photon_dsl::topology! {
    name: "platform",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Store],
    services: [CF1, CF2, CF3, STORE],
}

fn main() {}

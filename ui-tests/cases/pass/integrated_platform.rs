// Class 6, corrected: a three-member chainfire cluster, photonauth keeping
// its state there, and lightningstor integrated with both; a second
// lightningstor stays standalone.
use chainfire::{Chainfire, Limits};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    pub Kv1 = "kv-1";
    pub Kv2 = "kv-2";
    pub Kv3 = "kv-3";
    pub Auth1 = "auth-1";
    pub Store = "store";
    pub Lab = "lab";
}

const CF1: Chainfire<Kv1> = Chainfire { node: Kv1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF2: Chainfire<Kv2> = Chainfire { node: Kv2, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF3: Chainfire<Kv3> = Chainfire { node: Kv3, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const STATE: [Dep<EtcdV3>; 3] = [CF1.kv().dep(), CF2.kv().dep(), CF3.kv().dep()];

const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: &STATE, admin_token: Secret::file("/etc/photon/auth.token") };

const KEY: AccessKey = AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::file("/etc/photon/s3.key") };

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: KEY,
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: &STATE,
        auth: Auth::PhotonAuth(AUTH.api().dep()),
    }),
};
const LAB_STORE: LightningStor<Lab> = LightningStor {
    node: Lab,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: KEY,
    base_domain: Some(host!("s3.lab.example.net")),
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Standalone,
};

photon_dsl::topology! {
    name: "platform",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Auth1, Store, Lab],
    services: [CF1, CF2, CF3, AUTH, STORE, LAB_STORE],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    let store = &t.services()[4].decl;
    let slots: Vec<&str> = store.deps().map(|d| d.slot).collect();
    assert_eq!(slots, ["state_store", "state_store", "state_store", "auth"]);
    assert_eq!(t.services()[5].decl.deps().count(), 0);
}

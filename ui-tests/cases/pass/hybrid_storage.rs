// Class 6, hybrid (design 6.4): lightningstor keeps its metadata local while
// photonauth checks its requests; a second one keeps everything local and is
// only registered, so `photonctl status` sees it.
use chainfire::{Chainfire, Limits};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    pub Kv = "kv";
    pub Auth1 = "auth";
    pub Store = "store";
    pub Lab = "lab";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: &[CF.kv().dep()], admin_token: Secret::env("ADMIN_TOKEN") };
const KEY: AccessKey = AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") };

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: KEY,
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Hybrid(Hybrid {
        state_store: &[CF.kv().dep()],
        metadata: Kept::Local,
        auth: Auth::PhotonAuth(AUTH.api().dep()),
    }),
};
const LAB: LightningStor<Lab> = LightningStor {
    node: Lab,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: KEY,
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Hybrid(Hybrid { state_store: &[CF.kv().dep()], metadata: Kept::Local, auth: Auth::Local }),
};

photon_dsl::topology! {
    name: "hybrid",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Store, Lab],
    services: [CF, AUTH, STORE, LAB],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    let store = &t.services()[2].decl;
    assert!(store.is_hybrid());
    let slots: Vec<&str> = store.deps().map(|d| d.slot).collect();
    assert_eq!(slots, ["state_store", "auth"]);
    let lab = &t.services()[3].decl;
    assert!(lab.is_hybrid());
    assert_eq!(lab.deps().count(), 1);
}

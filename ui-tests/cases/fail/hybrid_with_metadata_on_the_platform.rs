// lightningstor "hybrid" with nothing local: metadata on the platform and
// requests checked by photonauth is integrated mode, spelled one way.
use chainfire::{Chainfire, Limits};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    pub Kv = "kv";
    pub Auth1 = "auth";
    pub Store = "store";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: &[CF.kv().dep()], admin_token: Secret::env("ADMIN_TOKEN") };

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Hybrid(Hybrid {
        state_store: &[CF.kv().dep()],
        metadata: Kept::Platform,
        auth: Auth::PhotonAuth(AUTH.api().dep()),
    }),
};

photon_dsl::topology! {
    name: "store",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Store],
    services: [CF, AUTH, STORE],
}

fn main() {}

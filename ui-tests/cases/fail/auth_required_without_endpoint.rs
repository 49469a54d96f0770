// lightningstor told to check requests with photonauth, without saying where
// photonauth is.
use chainfire::{Chainfire, Limits};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    pub Kv = "kv";
    pub Store = "store";
}

const CHAINFIRE: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: &[CHAINFIRE.kv().dep()],
        auth: Auth::PhotonAuth,
    }),
};

fn main() {}

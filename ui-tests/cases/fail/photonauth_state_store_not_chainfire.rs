// photonauth told to keep tenants and keys in an object store: its state
// store must be chainfire (etcd v3), and the compiler says so.
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    pub Store = "store";
    pub Auth1 = "auth-1";
}

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Standalone,
};

const AUTH: PhotonAuth<Auth1> = PhotonAuth {
    node: Auth1,
    port: port!(50051),
    state_store: &[STORE.s3().dep()],
    admin_token: Secret::env("PHOTONAUTH_ADMIN_TOKEN"),
};

fn main() {}

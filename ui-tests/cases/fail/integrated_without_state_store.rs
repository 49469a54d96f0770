// lightningstor switched to integrated mode without saying which chainfire
// holds its state.
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    pub Store = "store";
}

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration { auth: Auth::Local }),
};

fn main() {}

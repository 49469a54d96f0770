// The S3 secret key pasted where the name of its environment variable goes.
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    pub Store = "store";
}

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey {
        id: "AKIAIOSFODNN7EXAMPLE",
        secret: Secret::env("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Standalone,
};

fn main() {}

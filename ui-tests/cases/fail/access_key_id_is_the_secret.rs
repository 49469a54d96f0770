// The secret key pasted into the public access key id.
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
        id: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        secret: Secret::env("S3_SECRET_KEY"),
    },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Standalone,
};

photon_dsl::topology! {
    name: "store",
    version: "1.0.0",
    branch: "main",
    nodes: [Store],
    services: [STORE],
}

fn main() {}

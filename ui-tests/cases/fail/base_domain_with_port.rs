// A port written into the virtual-hosting base domain (it belongs in
// `s3_port`, and clients add it to the host themselves).
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
        secret: Secret::env("S3_SECRET_KEY"),
    },
    base_domain: Some(host!("s3.example.net:9001")),
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

//! lightningstor on one node: the S3 API on :9000 (the embedded default
//! for trying it with the AWS CLI). The secret key is read on the node from
//! `LIGHTNINGSTOR_SECRET_KEY`; it is never in this file or the binary.
//!
//! ```text
//! export LIGHTNINGSTOR_SECRET_KEY=$(openssl rand -hex 20)
//! cargo run -p deploy-lightningstor-single -- up
//! AWS_ACCESS_KEY_ID=PHOTONADMIN AWS_SECRET_ACCESS_KEY=$LIGHTNINGSTOR_SECRET_KEY \
//!   aws --endpoint-url http://127.0.1.1:9000 s3 mb s3://photos
//! ```

use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    /// Holds the objects.
    pub Storage = "storage";
}

const STORE: LightningStor<Storage> = LightningStor {
    node: Storage,
    s3_port: port!(9000),
    admin_port: port!(9001),
    access_key: AccessKey {
        id: "PHOTONADMIN",
        secret: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
    },
    // `photos.s3.localhost:9000` is bucket `photos`; path-style works too.
    base_domain: Some(host!("s3.localhost")),
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Standalone,
};

photon_runtime::deployment! {
    name: "lightningstor-single",
    version: "1.0.0",
    branch: "main",
    nodes: [Storage],
    services: [STORE],
}

//! Level 0, storage alone (docs/design.md §4.2 A): lightningstor on one
//! node, standalone, its metadata in RocksDB and its objects on the node's
//! disk. Nothing else is needed, or started.
//!
//! ```text
//! export LIGHTNINGSTOR_SECRET_KEY=$(openssl rand -hex 20)
//! cargo run -p deploy-level0-storage -- up        # S3 on 127.0.1.1:9000
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
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Standalone,
};

photon_runtime::deployment! {
    name: "level0-storage",
    version: "1.0.0",
    branch: "main",
    nodes: [Storage],
    services: [STORE],
}

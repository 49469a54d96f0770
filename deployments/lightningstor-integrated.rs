//! lightningstor integrated with the platform's state store: chainfire on
//! one node, lightningstor on another registering in it (the design's
//! "+chainfire" step). Its buckets, object index, multipart state and
//! access keys are kept in chainfire; object bytes stay on its node's disk.

use chainfire::{Chainfire, Limits};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    /// The state store.
    pub Kv = "kv";
    /// Holds the objects.
    pub Storage = "storage";
}

const STATE: Chainfire<Kv> = Chainfire {
    node: Kv,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};

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
    mode: Mode::Integrated(Integration {
        state_store: &[STATE.kv().dep()],
        auth: Auth::Local,
    }),
};

photon_runtime::deployment! {
    name: "lightningstor-integrated",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Storage],
    services: [STATE, STORE],
}

//! Hybrid mode (the design's 6.4): lightningstor keeps its buckets, object
//! index and multipart state in RocksDB on its own node, as when standalone,
//! while photonauth's tenants own the access keys. It registers in chainfire
//! like an integrated service; nothing of its metadata is kept there, so its
//! data never waits on the state store. Tenants and keys are made with
//! `photonctl auth` (admin token from `PHOTONAUTH_ADMIN_TOKEN`); the
//! operator's key is `PHOTONADMIN` with `LIGHTNINGSTOR_SECRET_KEY`.

use chainfire::{Chainfire, Limits};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    /// The state store.
    pub Kv = "kv";
    /// The auth service.
    pub Auth1 = "auth";
    /// Holds the objects.
    pub Storage = "storage";
}

const STATE: Chainfire<Kv> = Chainfire {
    node: Kv,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};

const AUTH: PhotonAuth<Auth1> = PhotonAuth {
    node: Auth1,
    port: port!(50051),
    state_store: &[STATE.kv().dep()],
    admin_token: Secret::env("PHOTONAUTH_ADMIN_TOKEN"),
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
    mode: Mode::Hybrid(Hybrid {
        state_store: &[STATE.kv().dep()],
        metadata: Kept::Local,
        auth: Auth::PhotonAuth(AUTH.api().dep()),
    }),
};

photon_runtime::deployment! {
    name: "lightningstor-hybrid",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Storage],
    services: [STATE, AUTH, STORE],
}

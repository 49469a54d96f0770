//! Multi-tenant object storage: chainfire holding the platform's state,
//! photonauth owning tenants, users, keys and policies, and lightningstor
//! integrated with both (the design's "+photonauth" step). A tenant's key
//! reaches only its tenant's buckets, and only as its policies allow; the
//! operator's key (`PHOTONADMIN`, secret from `LIGHTNINGSTOR_SECRET_KEY`)
//! reaches everything. Tenants and keys are made with `photonctl auth`,
//! holding the admin token from `PHOTONAUTH_ADMIN_TOKEN`.

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
    mode: Mode::Integrated(Integration {
        state_store: &[STATE.kv().dep()],
        auth: Auth::PhotonAuth(AUTH.api().dep()),
    }),
};

photon_runtime::deployment! {
    name: "lightningstor-photonauth",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Storage],
    services: [STATE, AUTH, STORE],
}

//! photonauth with the chainfire that holds its tenants, users, keys and
//! policies: the design's "+photonauth" step on its own. The operator
//! administers it with `photonctl auth` or any gRPC client
//! (`services/photonauth/proto/photonauth/v1.proto`), sending the admin
//! token read from `PHOTONAUTH_ADMIN_TOKEN`.

use chainfire::{Chainfire, Limits};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    /// The state store.
    pub Kv = "kv";
    /// The auth service.
    pub Auth1 = "auth";
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

photon_runtime::deployment! {
    name: "photonauth",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1],
    services: [STATE, AUTH],
}

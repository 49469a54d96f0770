//! creditservice on the platform: a chainfire member holding everything,
//! photonauth owning tenants and their keys, and creditservice keeping
//! tenants' quotas and credits, which the API gateway reserves before it
//! makes a resource (level 4); tenants read their own accounts.
//!
//! ```text
//! PHOTONAUTH_ADMIN_TOKEN=... CREDITSERVICE_ADMIN_TOKEN=... cargo run -p deploy-creditservice -- up
//! ```
//!
//! The API (`services/creditservice/proto`) is then on `127.0.1.3:50053`,
//! `/health` and `/metrics` beside it.

use chainfire::{Chainfire, Limits};
use creditservice::{CreditService, DefaultLimits};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    /// The state store.
    pub Kv = "kv";
    /// The auth service.
    pub Auth1 = "auth";
    /// The quota and credit service.
    pub Credits = "credits";
}

const KV: Chainfire<Kv> = Chainfire {
    node: Kv,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};

const STATE: &[Dep<EtcdV3>] = &[KV.kv().dep()];

const AUTH: PhotonAuth<Auth1> = PhotonAuth {
    node: Auth1,
    port: port!(50051),
    state_store: STATE,
    admin_token: Secret::env("PHOTONAUTH_ADMIN_TOKEN"),
};

const CREDITS: CreditService<Credits> = CreditService {
    node: Credits,
    port: port!(50053),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("CREDITSERVICE_ADMIN_TOKEN"),
    limits: DefaultLimits {
        kinds: &[("bucket", 10), ("load-balancer", 2)],
        other: None,
    },
};

photon_runtime::deployment! {
    name: "creditservice",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Credits],
    services: [KV, AUTH, CREDITS],
}

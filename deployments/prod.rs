//! Production: the level-3 platform (`level3/platform.rs`, the same
//! services `deploy-level3` runs) on named hosts. What differs from
//! staging is only what must: each node is reached as
//! `<node>.prod.photon.internal` through the system resolver, secrets are
//! read from files on each host (never in this binary), and DNS answers on
//! port 53. Build it once, copy the one binary to every host, and run
//! `deploy-prod run --node <name>` on each; `deploy-prod plan` shows the
//! whole platform first.
//!
//! ```text
//! cargo build --release -p deploy-prod
//! deploy-prod plan
//! deploy-prod run --node kv-1          # on kv-1.prod.photon.internal, and so on
//! ```

#[path = "level3/platform.rs"]
mod platform;

use photon_dsl::prelude::*;
use platform::*;

const SITE: Site = Site {
    photonauth_admin: Secret::file("/etc/photoncloud/secrets/photonauth-admin-token"),
    photonnet_admin: Secret::file("/etc/photoncloud/secrets/photonnet-admin-token"),
    storage_key: Secret::file("/etc/photoncloud/secrets/lightningstor-secret-key"),
    dns_port: port!(53),
};

photon_runtime::deployment! {
    name: "prod",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Auth1, Net, Storage, NameServer, Edge],
    addresses: AddressPlan::HostNames {
        domain: Some(host!("prod.photon.internal")),
    },
    services: [KV_1, KV_2, KV_3, AUTH, NET, STORE, DNS, LB],
}

//! Level 3, the integrated platform (docs/design.md §4.5): photonauth and
//! photonnet on a three-member chainfire cluster, lightningstor checking
//! tenants' keys through photonauth, flashdns serving the VPCs' names and
//! the platform's, fiberlb in front of the store publishing
//! `s3.cloud.internal`. The services are `level3/platform.rs`, shared with
//! `deploy-prod`; this file says what this site sets: secrets from the
//! environment, DNS on an unprivileged port.
//!
//! ```text
//! cargo run -p deploy-level3 -- up --local-secrets   # secrets made for this machine only
//! dig @127.0.1.7 -p 5300 s3.cloud.internal            # the balancer in front of the store
//! photonctl auth --endpoint http://127.0.1.4:50051 tenant create acme
//! ```

#[path = "level3/platform.rs"]
mod platform;

use photon_dsl::prelude::*;
use platform::*;

const SITE: Site = Site {
    photonauth_admin: Secret::env("PHOTONAUTH_ADMIN_TOKEN"),
    photonnet_admin: Secret::env("PHOTONNET_ADMIN_TOKEN"),
    storage_key: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
    dns_port: port!(5300),
};

photon_runtime::deployment! {
    name: "level3",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Auth1, Net, Storage, NameServer, Edge],
    services: [KV_1, KV_2, KV_3, AUTH, NET, STORE, DNS, LB],
}

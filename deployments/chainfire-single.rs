//! chainfire on one node: the etcd v3 API on :2379, a one-member Raft
//! cluster (the embedded default for trying it with `etcdctl`).
//!
//! ```text
//! cargo run -p deploy-chainfire-single -- up
//! etcdctl --endpoints 127.0.1.1:2379 put hello world
//! ```

use chainfire::{Chainfire, Limits};
use photon_dsl::prelude::*;

nodes! {
    /// The only member.
    pub Kv = "kv";
}

const CHAINFIRE: Chainfire<Kv> = Chainfire {
    node: Kv,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};

photon_runtime::deployment! {
    name: "chainfire-single",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv],
    services: [CHAINFIRE],
}

//! A three-member chainfire cluster. The members are the three `Chainfire`
//! placements below; there is no second list of them to keep in step.
//!
//! `up` runs all three in one process on 127.0.1.1-3; on real machines run
//! `deploy-chainfire-cluster run --node kv-N` on each.

use chainfire::{Chainfire, Limits};
use photon_dsl::prelude::*;

nodes! {
    /// Member 1.
    pub Kv1 = "kv-1";
    /// Member 2.
    pub Kv2 = "kv-2";
    /// Member 3.
    pub Kv3 = "kv-3";
}

const KV_1: Chainfire<Kv1> = Chainfire {
    node: Kv1,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};
const KV_2: Chainfire<Kv2> = KV_1.on(Kv2);
const KV_3: Chainfire<Kv3> = KV_1.on(Kv3);

photon_runtime::deployment! {
    name: "chainfire-cluster",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3],
    services: [KV_1, KV_2, KV_3],
}

// The same chainfire member placed twice on one node (on other ports), as
// if that made a cluster.
use chainfire::{Chainfire, Limits};
use photon_dsl::prelude::*;

nodes! {
    pub Kv = "kv";
}

const CF1: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF2: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(3379), peer_port: port!(3380), limits: Limits::DEFAULT };

photon_dsl::topology! {
    name: "kv",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv],
    services: [CF1, CF2],
}

fn main() {}

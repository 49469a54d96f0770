// Four chainfire members: a majority of four is three, so the cluster
// survives one member down, as three members would. Nothing says the even
// size is meant.
use chainfire::{Chainfire, Limits};
use photon_dsl::prelude::*;

nodes! {
    pub Kv1 = "kv-1";
    pub Kv2 = "kv-2";
    pub Kv3 = "kv-3";
    pub Kv4 = "kv-4";
}

const KV_1: Chainfire<Kv1> = Chainfire { node: Kv1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const KV_2: Chainfire<Kv2> = KV_1.on(Kv2);
const KV_3: Chainfire<Kv3> = KV_1.on(Kv3);
const KV_4: Chainfire<Kv4> = KV_1.on(Kv4);

photon_dsl::topology! {
    name: "kv",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Kv4],
    services: [KV_1, KV_2, KV_3, KV_4],
}

fn main() {}

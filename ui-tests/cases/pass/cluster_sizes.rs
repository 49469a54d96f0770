// Class 6, corrected: an odd chainfire cluster needs nothing said; an even
// one compiles when the topology says it is meant (on the way from three
// members to five, say).
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
    name: "growing",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Kv4],
    allow: [Allow::EvenCluster("chainfire")],
    services: [KV_1, KV_2, KV_3, KV_4],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    assert!(t.canonical_text().contains("allow EvenCluster(\"chainfire\")"));
}

// flaredb on two nodes, sixteen shards, its map in chainfire.
use chainfire::{Chainfire, Limits};
use flaredb::FlareDb;
use photon_dsl::prelude::*;

nodes! {
    pub Kv = "kv";
    pub Db1 = "db-1";
    pub Db2 = "db-2";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const STATE: &[Dep<EtcdV3>] = &[CF.kv().dep()];

const DB_1: FlareDb<Db1> = FlareDb { node: Db1, port: port!(50060), state_store: STATE, shards: 16, admin_token: Secret::env("FLAREDB_TOKEN") };
const DB_2: FlareDb<Db2> = FlareDb { node: Db2, port: port!(50060), state_store: STATE, shards: 16, admin_token: Secret::env("FLAREDB_TOKEN") };

photon_dsl::topology! {
    name: "flaredb",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Db1, Db2],
    services: [CF, DB_1, DB_2],
}

fn main() {}

//! flaredb on three nodes: sixteen shards dealt among them, the shard map
//! in chainfire, each node's shards in its own RocksDB.
//!
//! ```text
//! FLAREDB_TOKEN=... cargo run -p deploy-flaredb -- up
//! ```
//!
//! A node answers on `127.0.1.2:50060` (and `.3`, `.4`);
//! `flaredb::client::Client` routes each key to its shard's node.

use chainfire::{Chainfire, Limits};
use flaredb::FlareDb;
use photon_dsl::prelude::*;

nodes! {
    /// The state store, holding the shard map.
    pub Kv = "kv";
    /// A flaredb node.
    pub Db1 = "db-1";
    /// Another.
    pub Db2 = "db-2";
    /// A third.
    pub Db3 = "db-3";
}

const KV: Chainfire<Kv> = Chainfire {
    node: Kv,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};

const STATE: &[Dep<EtcdV3>] = &[KV.kv().dep()];

/// Every node of the database says the same shard count and token.
const SHARDS: u16 = 16;
const TOKEN: Secret = Secret::env("FLAREDB_TOKEN");

const DB_1: FlareDb<Db1> = FlareDb {
    node: Db1,
    port: port!(50060),
    state_store: STATE,
    shards: SHARDS,
    admin_token: TOKEN,
};

const DB_2: FlareDb<Db2> = FlareDb {
    node: Db2,
    port: port!(50060),
    state_store: STATE,
    shards: SHARDS,
    admin_token: TOKEN,
};

const DB_3: FlareDb<Db3> = FlareDb {
    node: Db3,
    port: port!(50060),
    state_store: STATE,
    shards: SHARDS,
    admin_token: TOKEN,
};

photon_runtime::deployment! {
    name: "flaredb",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Db1, Db2, Db3],
    services: [KV, DB_1, DB_2, DB_3],
}

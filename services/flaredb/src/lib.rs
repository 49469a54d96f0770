//! flaredb: a sharded key-value database. Keys are spread over a fixed
//! number of shards by hash ([`shard::shard_of`]); each shard's data is in
//! the RocksDB of the node holding it; the shard map (which node holds
//! which shard) is in chainfire, and clients ([`client::Client`]) route
//! each key to its shard's node by it. A shard moves to another node
//! without losing a write: its data is copied while it serves, the keys
//! written meanwhile are noted, then calls to it wait while those keys'
//! current state is sent, and the map names the new owner only once all
//! of it is durable there.
//!
//! The [`spec`] half is what deployments and ui-tests compile against;
//! the `server` feature adds the node, the client and the runtime's
//! `Service`.

pub mod spec;
pub use spec::FlareDb;

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod client;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod shard;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod store;

/// The generated messages, server and client.
#[cfg(feature = "server")]
pub mod proto {
    tonic::include_proto!("flaredb.v1");
}

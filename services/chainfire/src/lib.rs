//! chainfire, the platform's state store: a Raft KV that speaks the etcd v3
//! API.
//!
//! | feature | what it adds |
//! |---|---|
//! | `server` (default) | the member: MVCC on RocksDB, Raft (openraft), the etcd v3 gRPC services |
//! | `standalone` (default) | `chainfire-server` from TOML, and joining the platform when integrated |
//!
//! Without them, only the [`spec`] compiles: what deployments and ui-tests
//! check against.

pub mod spec;
pub use spec::{Chainfire, Limits, RaftPeer};

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod backup;
#[cfg(feature = "server")]
mod health;
#[cfg(feature = "server")]
pub mod lone;
#[cfg(feature = "server")]
pub mod member;
#[cfg(feature = "server")]
pub mod mvcc;
#[cfg(feature = "server")]
pub mod proto;
#[cfg(feature = "server")]
pub mod raft;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod standalone;

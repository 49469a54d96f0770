//! chainfire, the platform's state store: a Raft KV that speaks the etcd v3
//! API.
//!
//! | feature | what it adds |
//! |---|---|
//! | `server` (default) | the store: MVCC on RocksDB and the etcd v3 gRPC types |
//!
//! Without `server`, only the [`spec`] compiles: what deployments and
//! ui-tests check against. Work in progress (issue 5): the MVCC store and
//! the protocol types exist; consensus (openraft) and the gRPC services do
//! not yet, so a `Chainfire` can be checked in a `topology!` but not run.

pub mod spec;
pub use spec::Chainfire;

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
mod health;
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

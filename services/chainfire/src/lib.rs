//! chainfire, the platform's state store: a Raft KV that speaks the etcd v3
//! API.
//!
//! Only the [`spec`] half exists so far: what deployments and ui-tests
//! compile against. The server (openraft, RocksDB, tonic) is issue 5's work;
//! until then a `Chainfire` can be checked in a `topology!` but not run.

pub mod spec;
pub use spec::Chainfire;

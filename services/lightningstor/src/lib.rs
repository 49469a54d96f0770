//! lightningstor: S3-compatible object storage.
//!
//! Only the [`spec`] half exists so far: what deployments and ui-tests
//! compile against. The server (hyper, SigV4, RocksDB metadata) is issue 6's
//! work; until then a `LightningStor` can be checked in a `topology!` but not
//! run.

pub mod spec;
pub use spec::{AccessKey, AdminApi, LightningStor};

//! lightningstor: S3-compatible object storage.
//!
//! The [`spec`] half is what deployments and ui-tests compile against; the
//! `server` feature adds the running store: [`store`] (blob files and the
//! RocksDB index) and [`s3`] (the S3 operations, served by `s3s` over
//! hyper).

pub mod spec;
pub use spec::{AccessKey, AdminApi, LightningStor, Storage, StorageAgent};

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod agent;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod migrate;
#[cfg(feature = "server")]
pub mod operation;
#[cfg(feature = "server")]
pub mod s3;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod store;

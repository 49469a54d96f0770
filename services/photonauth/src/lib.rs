//! photonauth: tenants, users, access keys and policies, checked on behalf
//! of integrated services.
//!
//! The [`spec`] half is what deployments and ui-tests compile against. The
//! `server` feature adds the state half: [`keys`] (the access-key format,
//! shared with lightningstor's local keys so a key moves between them
//! unchanged), [`policy`] (who may do what, deny winning) and [`store`]
//! (all of it in chainfire), [`api`] (the gRPC API over them) and the
//! runtime's `Service` for a deployment's photonauth, and [`standalone`]
//! (`photonauth-server` from TOML).

pub mod spec;
pub use spec::PhotonAuth;

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod key_token;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod policy;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod token;

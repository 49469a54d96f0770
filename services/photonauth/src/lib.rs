//! photonauth: tenants, users, access keys and tokens, checked on behalf of
//! integrated services.
//!
//! Only the [`spec`] half exists so far: what deployments and ui-tests
//! compile against. The server is later work; until then a `PhotonAuth` can
//! be checked in a `topology!` but not run.

pub mod spec;
pub use spec::PhotonAuth;

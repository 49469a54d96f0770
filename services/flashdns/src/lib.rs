//! flashdns: an authoritative DNS server for BIND zone files and zones
//! written in the deployment.
//!
//! The [`spec`] half is what deployments and ui-tests compile against; the
//! `server` feature adds the running server: [`zone`] (loading and checking
//! zones), [`answer`] (the authoritative answer for one question), [`dns`]
//! (hickory-server's UDP/TCP front end, truncation, transfers), [`zones`]
//! (reloading) and [`admin`] (the read-only HTTP API).

pub mod spec;
pub use spec::{AdminApi, AutoReload, FlashDns, Rec, RecData, Soa, Zone, ZoneData, ZoneSource};

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod answer;
#[cfg(feature = "server")]
pub mod dns;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod zone;
#[cfg(feature = "server")]
pub mod zones;

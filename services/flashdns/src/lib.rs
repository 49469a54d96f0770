//! flashdns: an authoritative DNS server for BIND zone files and zones
//! written in the deployment.
//!
//! The [`spec`] half is what deployments and ui-tests compile against; the
//! `server` feature adds the running server: [`zone`] (loading and checking
//! zones), [`answer`] (the authoritative answer for one question), [`dns`]
//! (the request handler: truncation, transfers), [`front`] (the UDP and TCP
//! sockets, the answer cache, rate limiting), [`zones`]
//! (reloading and DNSSEC signing, with [`keys`]) and [`admin`] (the
//! read-only HTTP API).

pub mod spec;
pub use spec::{
    AdminApi, AutoReload, DnsAgent, Dnssec, FlashDns, RateLimit, Rec, RecData, Signing,
    SigningAlgorithm, SigningKey, Soa, Zone, ZoneData, ZoneFileLimits, ZoneSource,
};

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod agent;
#[cfg(feature = "server")]
pub mod answer;
#[cfg(feature = "server")]
pub mod dns;
#[cfg(feature = "server")]
pub mod front;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod notify;
#[cfg(feature = "server")]
mod record_text;
#[cfg(feature = "server")]
pub mod rrl;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod stored;
#[cfg(feature = "server")]
pub mod zone;
#[cfg(feature = "server")]
pub mod zones;

//! The resource manager: tenants' desired resources (buckets, DNS
//! records, load balancers, VPCs, subnets, addresses), kept in chainfire,
//! each change published on the event bus; the components' agents
//! ([`agent`]) make the components match and report back.
//!
//! The [`spec`] half is what deployments and ui-tests compile against
//! (with the [`spec::ResourceChanged`] event); the `server` feature adds
//! the store, the gRPC API, the agent loop, the runtime's `Service` and
//! [`standalone`] (`resource-manager-server` from TOML).

pub mod spec;
pub use spec::{ResourceChanged, ResourceManager};

#[cfg(feature = "server")]
pub mod agent;
#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod model;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub use server::bus_address;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod store;

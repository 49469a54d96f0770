//! photonnet: tenants' VPCs, subnets and addresses, with their names in
//! DNS.
//!
//! The [`spec`] half is what deployments and ui-tests compile against. The
//! `server` feature adds the state half: [`store`] (VPCs, subnets and
//! allocations in chainfire, each allocation's name written into
//! flashdns's zone in the same transaction), [`api`] (the gRPC API, a
//! tenant reaching only its own VPCs), the runtime's `Service`, and
//! [`standalone`] (`photonnet-server` from TOML).

pub mod spec;
pub use spec::{NetAgent, PhotonNet, VpcDns};

#[cfg(feature = "server")]
pub mod agent;
#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod store;

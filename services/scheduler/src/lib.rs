//! The scheduler: tenants' resources of the kinds one node of several
//! serves (a load balancer) are placed on a node of the compiled topology
//! whose agent serves that kind, the least loaded of those whose agent
//! answers, within a capacity; a node whose agent stops answering has its
//! resources moved to the others. Placements are in the resource records
//! in chainfire; agents serve only what is placed on their node.
//!
//! The [`spec`] half is what deployments and ui-tests compile against;
//! the `server` feature adds the placing loop and the runtime's
//! `Service`.

pub mod spec;
pub use spec::Scheduler;

#[cfg(feature = "server")]
pub mod place;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub use server::AgentAt;

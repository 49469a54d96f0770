//! fiberlb, the platform's load balancer: L4 (TCP and UDP, byte for byte)
//! and L7 (HTTP), whose backends are endpoints of the topology's services.
//!
//! | feature | what it adds |
//! |---|---|
//! | `server` (default) | the running balancer: L4 over TCP and UDP, L7 over HTTP/1.1 and HTTP/2, health checks, the admin API, `/health` and `/metrics` |
//!
//! Without it only the [`spec`] compiles: what deployments and ui-tests
//! check against. TLS termination and `fiberlb-server` are next
//! (issue 19).

pub mod agent;
pub use agent::{LbAgent, TenantPorts};
#[cfg(feature = "server")]
pub mod pool;
#[cfg(feature = "server")]
mod server;
pub mod spec;
#[cfg(feature = "server")]
pub mod standalone;
pub use spec::{
    Backend, Balancer, Certificate, Check, FiberLb, Health, HttpStickiness, L4, L4Stickiness, L7,
    Method, Publish, Route, Target, TlsFront,
};

//! fiberlb, the platform's load balancer: L4 (TCP and UDP, byte for byte)
//! and L7 (HTTP), whose backends are endpoints of the topology's services.
//!
//! Only the [`spec`] half exists so far: what deployments and ui-tests
//! compile against. The server is the next step (issue 19).

pub mod spec;
pub use spec::{
    Backend, Balancer, Certificate, Check, FiberLb, Health, HttpStickiness, L4, L4Stickiness, L7,
    Method, Route, Target, TlsFront,
};

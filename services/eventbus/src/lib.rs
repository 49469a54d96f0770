//! The event bus: a real NATS server (Debian's `nats-server`) that the
//! runtime starts and stops like any other service of a node, JetStream
//! keeping the streams the topology declares on the node's disk.
//!
//! Publishers and subscribers never name the bus's address or a subject
//! by hand: a [`photon_dsl::events::Subject<M>`] made from the bus's
//! [`EventBus::client`] endpoint carries both, and its message type, so
//! the compiler refuses a subscriber of another type; `photon-bus` is the
//! client that speaks it.
//!
//! The [`spec`] half is what deployments and ui-tests compile against; the
//! `server` feature adds running nats-server, and [`standalone`]
//! (`eventbus-server` from TOML).

pub mod spec;
pub use spec::{BusLimits, EventBus};

#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod standalone;

//! The event bus alone: one node running nats-server, JetStream keeping
//! the platform's resource events on its disk (level 4's bus, on its own).
//!
//! ```text
//! cargo run -p deploy-eventbus -- up
//! ```
//!
//! NATS clients then connect to `127.0.1.1:4222`; `/health` and
//! `/metrics` are on `127.0.1.1:8222`.

use eventbus::{BusLimits, EventBus};
use photon_dsl::events::Stream;
use photon_dsl::prelude::*;

nodes! {
    /// The bus.
    pub Bus = "bus";
}

/// Changes to tenants' resources, kept a week.
const RESOURCES: Stream = Stream {
    name: "RESOURCES",
    subjects: "photon.resources",
    max_age_seconds: 7 * 24 * 3600,
    max_mib: 256,
};

const BUS: EventBus<Bus> = EventBus {
    node: Bus,
    client_port: port!(4222),
    admin_port: port!(8222),
    streams: &[RESOURCES],
    limits: BusLimits::DEFAULT,
};

photon_runtime::deployment! {
    name: "eventbus",
    version: "1.0.0",
    branch: "main",
    nodes: [Bus],
    services: [BUS],
}

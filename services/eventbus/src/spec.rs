//! The event bus's typed configuration (light: photon-dsl only).

use photon_dsl::events::{STREAM, Stream};
use photon_dsl::protocol::{Http, Nats};
use photon_dsl::text::ConstText;
use photon_dsl::{Declares, Endpoint, Node, Port, Provides, ServiceDecl, ServiceSpec};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "eventbus";

photon_dsl::listener! {
    /// Where NATS clients connect (publishers, subscribers).
    pub ClientListener: Nats = "client";
    /// `/health` and `/metrics` (read from nats-server's monitoring).
    pub AdminListener: Http = "admin";
}

/// How much the bus accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusLimits {
    /// The largest message, in KiB (nats-server's `max_payload`).
    pub max_payload_kib: u32,
    /// How many clients may be connected at once.
    pub max_connections: u32,
    /// How much JetStream keeps on the node's disk, every stream together,
    /// in MiB.
    pub store_mib: u32,
}

impl BusLimits {
    /// 1 MiB messages (NATS's default), 10,000 connections, 1 GiB of
    /// streams.
    pub const DEFAULT: BusLimits = BusLimits {
        max_payload_kib: 1024,
        max_connections: 10_000,
        store_mib: 1024,
    };
}

/// The event bus: a NATS server (Debian's `nats-server`, started and
/// stopped by the runtime) on node `N`, with JetStream keeping `streams`
/// on the node's disk.
#[derive(Debug, Clone, Copy)]
pub struct EventBus<N: Node> {
    /// Where it runs.
    pub node: N,
    /// The NATS client port.
    pub client_port: Port,
    /// `/health` and `/metrics`.
    pub admin_port: Port,
    /// The JetStream streams it keeps; a kept
    /// [`Subject`](photon_dsl::events::Subject) names one of them.
    pub streams: &'static [Stream],
    /// Its limits.
    pub limits: BusLimits,
}

impl<N: Node> EventBus<N> {
    /// Its listeners and streams, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<ClientListener>(self.client_port)
            .listens_on::<AdminListener>(self.admin_port)
            .with_health();
        if self.limits.max_payload_kib == 0
            || self.limits.max_payload_kib > 64 * 1024
            || self.limits.max_connections == 0
        {
            decl = decl.reject(
                "`limits`: `max_payload_kib` must be 1 to 65536 (64 MiB, NATS's most) and `max_connections` at least 1",
            );
        }
        let streams = self.streams;
        let mut kept_mib: u64 = 0;
        let mut i = 0;
        while i < streams.len() {
            let stream = streams[i];
            if let Some(why) = stream.problem() {
                decl = decl.reject_because(ConstText::new().push("`streams`: ").push(why.as_str()));
            }
            let mut j = 0;
            while j < i {
                let other = streams[j];
                if photon_dsl::text::same(other.name, stream.name) {
                    decl = decl.reject_because(
                        ConstText::new()
                            .push("`streams`: two streams are named ")
                            .quoted(stream.name),
                    );
                } else if photon_dsl::text::same(other.subjects, stream.subjects)
                    || other.keeps(stream.subjects)
                    || stream.keeps(other.subjects)
                {
                    decl = decl.reject_because(
                        ConstText::new()
                            .push("`streams`: ")
                            .quoted(stream.name)
                            .push(" and ")
                            .quoted(other.name)
                            .push(" would both keep subjects under ")
                            .quoted(stream.subjects)
                            .push(" (JetStream refuses overlapping streams)"),
                    );
                }
                j += 1;
            }
            kept_mib += stream.max_mib as u64;
            decl = decl.holds(STREAM, stream.name);
            i += 1;
        }
        if kept_mib > self.limits.store_mib as u64 {
            decl = decl.reject_because(
                ConstText::new()
                    .push("`streams` may keep ")
                    .number(kept_mib as i128)
                    .push(" MiB together, more than `limits.store_mib` (")
                    .number(self.limits.store_mib as i128)
                    .push(" MiB): JetStream would refuse to create the last ones"),
            );
        }
        decl
    }

    /// The endpoint publishers and subscribers connect to.
    pub const fn client(&self) -> Endpoint<N, Nats> {
        Endpoint::provided_by(self, self.client_port, None)
    }
}

impl<N: Node> ServiceSpec for EventBus<N> {
    fn declare(&self) -> ServiceDecl {
        EventBus::declare(self)
    }
}

impl<N: Node> Declares<ClientListener> for EventBus<N> {}
impl<N: Node> Declares<AdminListener> for EventBus<N> {}

impl<N: Node> Provides<Nats> for EventBus<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

//! The event bus from TOML: `eventbus-server --config eventbus.toml`
//! runs nats-server as a deployment does, its streams kept.
//!
//! ```toml
//! [photon]
//! mode = "standalone"
//! component_id = "eventbus-1"
//! [standalone.server]
//! client_addr = "0.0.0.0:4222"   # NATS clients
//! admin_addr = "0.0.0.0:8222"    # /health and /metrics
//! [standalone.limits]            # each optional; these are the defaults
//! max_payload_kib = 1024
//! max_connections = 10000
//! store_mib = 1024
//! [[standalone.streams]]
//! name = "RESOURCES"
//! subjects = "photon.resources"  # keeps photon.resources.>
//! max_age_seconds = 604800
//! max_mib = 256
//! ```

use photon_config::schema::LogLevel;
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::events::Stream;
use photon_dsl::{Node, Port};
use photon_runtime::standalone::{
    Built, Local, StandaloneServer, config_error, leak, listen_port, standalone_document,
};
use photon_runtime::{ExportContext, ExportError};
use serde::{Deserialize, Serialize};

use crate::spec::{AdminListener, BusLimits, ClientListener, EventBus};

/// The event bus's TOML schema as a type.
#[derive(Debug)]
pub enum EventBusSchema {}

impl Component for EventBusSchema {
    const NAME: &'static str = "eventbus";
    type PhotonStandalone = photon_config::schema::GenericStandalone;
    type Standalone = Standalone;
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.limits]`.
    #[serde(default)]
    pub limits: Limits,
    /// `[[standalone.streams]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamEntry>,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Where NATS clients connect.
    pub client_addr: ListenAddr,
    /// `/health` and `/metrics`.
    pub admin_addr: ListenAddr,
    /// The log level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            client_addr: ListenAddr::any(4222),
            admin_addr: ListenAddr::any(8222),
            log_level: None,
        }
    }
}

/// `[standalone.limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest message, in KiB.
    pub max_payload_kib: u32,
    /// Clients connected at once.
    pub max_connections: u32,
    /// Every stream together, in MiB.
    pub store_mib: u32,
}

impl Default for Limits {
    fn default() -> Self {
        let d = BusLimits::DEFAULT;
        Limits {
            max_payload_kib: d.max_payload_kib,
            max_connections: d.max_connections,
            store_mib: d.store_mib,
        }
    }
}

/// `[[standalone.streams]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamEntry {
    /// Its name.
    pub name: String,
    /// The subject prefix it keeps (`photon.resources` keeps
    /// `photon.resources.>`).
    pub subjects: String,
    /// How long a message is kept.
    pub max_age_seconds: u32,
    /// How much it keeps, in MiB.
    pub max_mib: u32,
}

impl StandaloneServer for EventBusSchema {
    type Spec = EventBus<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<EventBus<Local>>, ConfigError> {
        let s = &doc.standalone;
        let streams: Vec<Stream> = s
            .streams
            .iter()
            .map(|entry| Stream {
                name: leak(&entry.name),
                subjects: leak(&entry.subjects),
                max_age_seconds: entry.max_age_seconds,
                max_mib: entry.max_mib,
            })
            .collect();
        let spec = EventBus {
            node: Local,
            client_port: listen_port(
                layers,
                "standalone.server.client_addr",
                s.server.client_addr,
            )?,
            admin_port: listen_port(layers, "standalone.server.admin_addr", s.server.admin_addr)?,
            streams: streams.leak(),
            limits: BusLimits {
                max_payload_kib: s.limits.max_payload_kib,
                max_connections: s.limits.max_connections,
                store_mib: s.limits.store_mib,
            },
        };
        if let Some(reason) = spec.declare().rejected() {
            let key = if reason.starts_with("`limits") {
                "standalone.limits"
            } else {
                "standalone.streams"
            };
            return Err(config_error(layers, key, reason));
        }
        Ok(Built::new(spec)
            .listen(ClientListener, s.server.client_addr.ip)
            .listen(AdminListener, s.server.admin_addr.ip))
    }
}

fn addr(ctx: &ExportContext, port: Port) -> ListenAddr {
    ListenAddr::new(ctx.bind_ip, port.get())
}

/// The document that configures `spec` as a deployment does.
pub fn export<N: Node>(
    spec: &EventBus<N>,
    ctx: &ExportContext,
) -> Result<ComponentDocument<EventBusSchema>, ExportError> {
    let mut doc = standalone_document::<EventBusSchema>(&ctx.component_id);
    doc.standalone = Standalone {
        server: Server {
            client_addr: addr(ctx, spec.client_port),
            admin_addr: addr(ctx, spec.admin_port),
            log_level: None,
        },
        limits: Limits {
            max_payload_kib: spec.limits.max_payload_kib,
            max_connections: spec.limits.max_connections,
            store_mib: spec.limits.store_mib,
        },
        streams: spec
            .streams
            .iter()
            .map(|s| StreamEntry {
                name: s.name.to_owned(),
                subjects: s.subjects.to_owned(),
                max_age_seconds: s.max_age_seconds,
                max_mib: s.max_mib,
            })
            .collect(),
    };
    Ok(doc)
}

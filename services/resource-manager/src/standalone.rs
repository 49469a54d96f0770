//! The resource manager from TOML: `resource-manager-server --config
//! resources.toml`. It exists only integrated (resources are in
//! chainfire, tenants are photonauth's, changes go on the event bus), so
//! the document must say `mode = "integrated"` and name all three.
//!
//! ```toml
//! [photon]
//! mode = "integrated"
//! component_id = "resources-1"
//! cluster_id = "prod"
//! [photon.integrated]
//! chainfire_endpoints = ["http://chainfire-1:2379"]
//! auth_service_endpoint = "http://photonauth:50051"
//! event_bus_endpoint = "nats://eventbus:4222"
//! [standalone.server]
//! grpc_addr = "0.0.0.0:50054"     # the API, /health and /metrics
//! [standalone.auth]
//! admin_token_env = "RESOURCES_ADMIN_TOKEN"   # or admin_token_file, or admin_token
//! [standalone.events]             # these are the defaults
//! stream = "RESOURCES"            # the bus's stream keeping the subject
//! stream_subjects = "photon.resources"
//! subject = "photon.resources.changed"
//! ```

use std::net::IpAddr;

use photon_config::schema::{AdminToken, GrpcPort, GrpcServer, LogLevel, NoStandalone};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::events::{Stream, Subject};
use photon_dsl::protocol::Nats;
use photon_dsl::{Auth, Integration, Mode};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Reach, Remotes, StandaloneServer, admin_token, admin_token_section, config_error,
    integrated_only, leak, listen_port, photonauth_of, standalone_document, write_integration,
};
use serde::{Deserialize, Serialize};

use crate::ResourceChanged;
use crate::spec::{ApiListener, ResourceManager};

/// The resource manager's TOML schema as a type.
#[derive(Debug)]
pub enum ResourceManagerSchema {}

impl Component for ResourceManagerSchema {
    const NAME: &'static str = "resource-manager";
    const SECRET_KEYS: &'static [&'static str] = &["standalone.auth.admin_token"];
    type PhotonStandalone = NoStandalone;
    type Standalone = Standalone;
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: GrpcServer<ResourceManagerSchema>,
    /// `[standalone.auth]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AdminToken>,
    /// `[standalone.events]`.
    #[serde(default)]
    pub events: Events,
}

/// `[standalone.events]`: where on the bus changes are published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Events {
    /// The JetStream stream the bus keeps the subject in.
    pub stream: String,
    /// The subject prefix that stream keeps.
    pub stream_subjects: String,
    /// The subject changes are published on.
    pub subject: String,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            stream: "RESOURCES".into(),
            stream_subjects: "photon.resources".into(),
            subject: "photon.resources.changed".into(),
        }
    }
}

impl Events {
    /// The subject this section names on the bus at `bus_url` (the
    /// document's `event_bus_endpoint`, required: `why` says what it is
    /// for), added to `remotes` as keeping the stream.
    pub fn subject(
        &self,
        bus_url: Option<&str>,
        layers: &Layers,
        remotes: &mut Remotes<'_>,
        why: &str,
    ) -> Result<Subject<ResourceChanged>, ConfigError> {
        let Some(bus_url) = bus_url else {
            return Err(config_error(
                layers,
                "photon.integrated.event_bus_endpoint",
                format!("{why}: give its address (`nats://eventbus:4222`)"),
            ));
        };
        let bus = remotes.add::<Nats>("photon.integrated.event_bus_endpoint", bus_url)?;
        remotes.keeps_stream(&bus, &self.stream);
        // The bus's own limits are its configuration's; the client needs
        // only the stream's name and subjects.
        let stream = Stream {
            name: leak(&self.stream),
            subjects: leak(&self.stream_subjects),
            max_age_seconds: 1,
            max_mib: 1,
        };
        if let Some(why) = stream.problem() {
            return Err(config_error(layers, "standalone.events", why.as_str()));
        }
        Ok(Subject::kept(bus, stream, leak(&self.subject)))
    }

    /// The section that names `subject`, its bus written into `doc`'s
    /// `event_bus_endpoint` where `reach` says: the inverse of
    /// [`subject`](Self::subject), for `export-config`.
    pub fn written<C: Component>(
        doc: &mut ComponentDocument<C>,
        subject: &Subject<ResourceChanged>,
        reach: Reach<'_>,
    ) -> Result<Events, ExportError> {
        let bus = subject.bus();
        doc.photon.integrated.event_bus_endpoint =
            Some(format!("nats://{}", reach(bus.node(), bus.port())?));
        let stream = subject
            .stream()
            .expect("the resource manager's subject is kept");
        Ok(Events {
            stream: stream.name.to_owned(),
            stream_subjects: stream.subjects.to_owned(),
            subject: subject.name().to_owned(),
        })
    }
}

impl GrpcPort for ResourceManagerSchema {
    const DEFAULT_GRPC_PORT: u16 = 50054;
}

impl StandaloneServer for ResourceManagerSchema {
    type Spec = ResourceManager<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<ResourceManager<Local>>, ConfigError> {
        let (Integration { state_store, auth }, mut remotes) = integrated_only::<
            ResourceManagerSchema,
        >(
            doc,
            layers,
            "the resource manager keeps resources in chainfire and publishes their changes on the event bus: set mode = \"integrated\", [photon.integrated] chainfire_endpoints, auth_service_endpoint and event_bus_endpoint",
        )?;
        let auth = photonauth_of(layers, auth, "resource-manager")?;
        let s = &doc.standalone;
        let events = s.events.subject(
            doc.photon.integrated.event_bus_endpoint.as_deref(),
            layers,
            &mut remotes,
            "the resource manager publishes every change on the event bus",
        )?;
        let spec = ResourceManager {
            node: Local,
            port: listen_port(layers, "standalone.server.grpc_addr", s.server.grpc_addr)?,
            state_store,
            auth,
            admin_token: admin_token(layers, s.auth.as_ref())?,
            events,
        };
        if let Some(reason) = spec.declare().rejected() {
            return Err(config_error(layers, "standalone.events", reason));
        }
        Ok(Built::new(spec)
            .listen(ApiListener, s.server.grpc_addr.ip)
            .remotes(remotes))
    }
}

/// The document that configures `spec` as a deployment does: integrated
/// in `cluster`, its chainfire, photonauth and bus where `reach` says.
pub fn export<N: photon_dsl::Node>(
    spec: &ResourceManager<N>,
    bind_ip: IpAddr,
    component_id: &str,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<ComponentDocument<ResourceManagerSchema>, ExportError> {
    let mut doc = standalone_document::<ResourceManagerSchema>(component_id);
    write_integration::<ResourceManagerSchema>(
        &mut doc,
        Mode::Integrated(Integration {
            state_store: spec.state_store,
            auth: Auth::PhotonAuth(spec.auth),
        }),
        cluster,
        reach,
    )?;
    let events = Events::written::<ResourceManagerSchema>(&mut doc, &spec.events, reach)?;
    doc.standalone = Standalone {
        server: GrpcServer::at(ListenAddr::new(bind_ip, spec.port.get())),
        auth: Some(admin_token_section(&spec.admin_token)),
        events,
    };
    Ok(doc)
}

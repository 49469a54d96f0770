//! The scheduler from TOML: `scheduler-server --config scheduler.toml`. It
//! exists only integrated (resources are in chainfire, changes on the
//! bus), and without a compiled topology the agents it places on are
//! listed.
//!
//! ```toml
//! [photon]
//! mode = "integrated"
//! component_id = "scheduler-1"
//! cluster_id = "prod"
//! [photon.integrated]
//! chainfire_endpoints = ["http://chainfire-1:2379"]
//! event_bus_endpoint = "nats://eventbus:4222"
//! [standalone.server]
//! admin_addr = "0.0.0.0:8058"        # /health and /metrics
//! [standalone.events]                # the resource manager's; these are the defaults
//! stream = "RESOURCES"
//! stream_subjects = "photon.resources"
//! subject = "photon.resources.changed"
//! [standalone.placing]               # these are the defaults
//! resync_seconds = 10
//! away_after_seconds = 5
//! capacity_per_node = 100
//! [[standalone.agent]]               # one per node serving a placed kind
//! kind = "load-balancer"
//! node = "lb-1"                      # the name placements are written with
//! admin_addr = "10.0.0.11:8057"      # where its agent answers /health
//! ```

use photon_config::schema::{LogLevel, NoStandalone};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::{Auth, Declares, Integration, Mode, ServiceDecl, ServiceSpec};
use photon_runtime::standalone::{
    Built, Local, StandaloneServer, check_host_port, config_error, integrated_only, listen_port,
    standalone_document, without_photonauth, write_integration,
};
use photon_runtime::{BoxFuture, ExportContext, ExportError, Running, Service, ServiceError};
use resource_manager::model::Kind;
use resource_manager::standalone::Events;
use serde::{Deserialize, Serialize};

use crate::server::{AgentAt, run};
use crate::spec::{AdminListener, Scheduler};

/// The scheduler's TOML schema as a type.
#[derive(Debug)]
pub enum SchedulerSchema {}

impl Component for SchedulerSchema {
    const NAME: &'static str = "scheduler";
    const SECRET_KEYS: &'static [&'static str] = &[];
    type PhotonStandalone = NoStandalone;
    type Standalone = Standalone;
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.events]`: the resource manager's subject.
    #[serde(default)]
    pub events: Events,
    /// `[standalone.placing]`.
    #[serde(default)]
    pub placing: Placing,
    /// `[[standalone.agent]]`: the agents it places on.
    #[serde(default, rename = "agent", skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentSection>,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// `/health` and `/metrics`.
    pub admin_addr: ListenAddr,
    /// Overrides `[photon.logging] level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            admin_addr: ListenAddr::any(8058),
            log_level: None,
        }
    }
}

/// `[standalone.placing]`: the spec's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Placing {
    /// How often every placed resource is looked at again.
    pub resync_seconds: u32,
    /// How long an agent may leave `/health` unanswered before its
    /// resources move.
    pub away_after_seconds: u32,
    /// The most resources of one kind one node serves.
    pub capacity_per_node: u32,
}

impl Default for Placing {
    fn default() -> Self {
        Placing {
            resync_seconds: 10,
            away_after_seconds: 5,
            capacity_per_node: 100,
        }
    }
}

/// `[[standalone.agent]]`: one node's agent of a placed kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// The resource kind it serves (`load-balancer`).
    pub kind: String,
    /// Its node's name: what placements say.
    pub node: String,
    /// Where its `/health` answers, `host:port`.
    pub admin_addr: String,
}

/// The scheduler run from text: its spec, and the agents listed (a
/// deployment finds them in its topology).
#[derive(Debug, Clone)]
pub struct StandaloneScheduler {
    /// The spec, as a deployment would write it.
    pub scheduler: Scheduler<Local>,
    /// The agents it places on.
    pub agents: Vec<AgentAt>,
}

impl ServiceSpec for StandaloneScheduler {
    fn declare(&self) -> ServiceDecl {
        self.scheduler.declare()
    }
}

impl Declares<AdminListener> for StandaloneScheduler {}

impl Service for StandaloneScheduler {
    fn uses_event_bus(&self) -> bool {
        true
    }

    fn export_config(&self, ctx: &ExportContext) -> Result<String, ExportError> {
        let doc = export(&self.scheduler, &self.agents, ctx)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(
        &self,
        ctx: photon_runtime::StartContext,
    ) -> BoxFuture<'_, Result<Running, ServiceError>> {
        Box::pin(run(self.scheduler, ctx, self.agents.clone()))
    }
}

impl StandaloneServer for SchedulerSchema {
    type Spec = StandaloneScheduler;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<StandaloneScheduler>, ConfigError> {
        let (Integration { state_store, auth }, mut remotes) = integrated_only::<SchedulerSchema>(
            doc,
            layers,
            "the scheduler places resources kept in chainfire and hears of them on the event bus: set mode = \"integrated\", [photon.integrated] chainfire_endpoints and event_bus_endpoint",
        )?;
        without_photonauth(layers, auth, "the scheduler serves no tenant")?;
        let s = &doc.standalone;
        let changes = s.events.subject(
            doc.photon.integrated.event_bus_endpoint.as_deref(),
            layers,
            &mut remotes,
            "the scheduler hears of resources and tells its placements on the event bus",
        )?;
        let mut agents: Vec<AgentAt> = Vec::new();
        for (i, agent) in s.agents.iter().enumerate() {
            let key = |field: &str| format!("standalone.agent[{i}].{field}");
            let kind = Kind::parse(&agent.kind)
                .map_err(|problem| config_error(layers, &key("kind"), problem))?;
            if kind.agent_service().is_none() {
                let placed: Vec<&str> = Kind::ALL
                    .iter()
                    .filter(|k| k.agent_service().is_some())
                    .map(|k| k.as_str())
                    .collect();
                return Err(config_error(
                    layers,
                    &key("kind"),
                    format!(
                        "`{kind}` is not placed by the scheduler (placed kinds: {})",
                        placed.join(", ")
                    ),
                ));
            }
            if photon_dsl::NodeName::parse(&agent.node).is_err() {
                return Err(config_error(
                    layers,
                    &key("node"),
                    format!(
                        "`{}` is not a node name: lowercase letters, digits and `-`",
                        agent.node
                    ),
                ));
            }
            if agents
                .iter()
                .any(|a| a.kind == kind && a.node == agent.node)
            {
                return Err(config_error(
                    layers,
                    &key("node"),
                    format!("the {kind} agent of node `{}` is listed twice", agent.node),
                ));
            }
            check_host_port(&agent.admin_addr)
                .map_err(|problem| config_error(layers, &key("admin_addr"), problem))?;
            agents.push(AgentAt {
                kind,
                node: agent.node.clone(),
                admin: agent.admin_addr.clone(),
            });
        }
        if agents.is_empty() {
            return Err(config_error(
                layers,
                "standalone.agent",
                "list the agents to place on: [[standalone.agent]] kind = \"load-balancer\", node = \"lb-1\", admin_addr = \"10.0.0.11:8057\"",
            ));
        }
        let placing = &s.placing;
        let scheduler = Scheduler {
            node: Local,
            admin_port: listen_port(layers, "standalone.server.admin_addr", s.server.admin_addr)?,
            state_store,
            changes,
            resync_seconds: placing.resync_seconds,
            away_after_seconds: placing.away_after_seconds,
            capacity_per_node: placing.capacity_per_node,
        };
        if let Some(reason) = scheduler.declare().rejected() {
            let key = ["resync_seconds", "away_after_seconds", "capacity_per_node"]
                .into_iter()
                .find(|field| reason.contains(field))
                .map_or("standalone.placing".to_owned(), |field| {
                    format!("standalone.placing.{field}")
                });
            return Err(config_error(layers, &key, reason));
        }
        Ok(Built::new(StandaloneScheduler { scheduler, agents })
            .listen(AdminListener, s.server.admin_addr.ip)
            .remotes(remotes))
    }
}

/// The document that configures `spec` as a deployment does, placing on
/// `agents`: integrated in `ctx.cluster`, its chainfire and bus where the
/// run reaches them.
pub fn export<N: photon_dsl::Node>(
    spec: &Scheduler<N>,
    agents: &[AgentAt],
    ctx: &ExportContext,
) -> Result<ComponentDocument<SchedulerSchema>, ExportError> {
    let reach = |node, port| ctx.reach(node, port);
    let mut doc = standalone_document::<SchedulerSchema>(ctx.node.as_str());
    write_integration::<SchedulerSchema>(
        &mut doc,
        Mode::Integrated(Integration {
            state_store: spec.state_store,
            auth: Auth::Local,
        }),
        &ctx.cluster,
        &reach,
    )?;
    let events = Events::written::<SchedulerSchema>(&mut doc, &spec.changes, &reach)?;
    doc.standalone = Standalone {
        server: Server {
            admin_addr: ListenAddr::new(ctx.bind_ip, spec.admin_port.get()),
            log_level: None,
        },
        events,
        placing: Placing {
            resync_seconds: spec.resync_seconds,
            away_after_seconds: spec.away_after_seconds,
            capacity_per_node: spec.capacity_per_node,
        },
        agents: agents
            .iter()
            .map(|a| AgentSection {
                kind: a.kind.as_str().to_owned(),
                node: a.node.clone(),
                admin_addr: a.admin.clone(),
            })
            .collect(),
    };
    Ok(doc)
}

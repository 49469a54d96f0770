//! A flaredb node from TOML: `flaredb-server --config db-1.toml`. It exists
//! only integrated (the shard map is in chainfire), so the document says
//! `mode = "integrated"` and names chainfire. Its `component_id` is its
//! name in the shard map.
//!
//! ```toml
//! [photon]
//! mode = "integrated"
//! component_id = "db-1"               # this node's name in the shard map
//! cluster_id = "prod"
//! [photon.integrated]
//! chainfire_endpoints = ["http://chainfire-1:2379"]
//! [standalone.server]
//! grpc_addr = "0.0.0.0:50060"         # the API, /health and /metrics
//! advertise_addr = "10.0.0.14:50060"  # where clients and the other nodes reach it
//!                                     # (default: grpc_addr, unless it binds every address)
//! [standalone.storage]
//! data_dir = "/var/lib/flaredb"
//! [standalone.auth]
//! admin_token_env = "FLAREDB_TOKEN"   # or admin_token_file, or admin_token
//! [standalone.shards]
//! count = 16                          # the default; every node of a database says the same
//! [[standalone.cluster.node]]         # the other nodes the first map deals shards to
//! name = "db-2"
//! addr = "10.0.0.15:50060"
//! ```
//!
//! The nodes listed matter only to the first node to start, which writes
//! the map; a node the existing map does not name joins it holding no
//! shard (shards are then moved to it), and a node whose address changed
//! is readdressed.

use std::collections::BTreeMap;

use photon_config::schema::{AdminToken, DataDir, LogLevel, NoStandalone, StorageSection};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::{Auth, Declares, Integration, Listener, Mode, ServiceDecl, ServiceSpec};
use photon_runtime::standalone::{
    Built, Local, StandaloneServer, admin_token, admin_token_section, check_fellow,
    check_host_port, config_error, integrated_only, leak, listen_port, standalone_document,
    without_photonauth, write_integration,
};
use photon_runtime::{BoxFuture, ExportContext, ExportError, Running, Service, ServiceError};
use serde::{Deserialize, Serialize};

use crate::server::{Identity, serve};
use crate::spec::{ApiListener, FlareDb, MAX_SHARDS};

/// flaredb's TOML schema as a type.
#[derive(Debug)]
pub enum FlareDbSchema {}

impl Component for FlareDbSchema {
    const NAME: &'static str = "flaredb";
    const SECRET_KEYS: &'static [&'static str] = &["standalone.auth.admin_token"];
    type PhotonStandalone = NoStandalone;
    type Standalone = Standalone;
}

impl DataDir for FlareDbSchema {
    const DEFAULT_DATA_DIR: &'static str = "/var/lib/flaredb";
}

/// The API's port when `grpc_addr` is left out.
const DEFAULT_PORT: u16 = 50060;

/// The shard count when `[standalone.shards]` is left out.
const DEFAULT_SHARDS: u16 = 16;

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.storage]`.
    #[serde(default)]
    pub storage: StorageSection<FlareDbSchema>,
    /// `[standalone.auth]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AdminToken>,
    /// `[standalone.shards]`.
    #[serde(default)]
    pub shards: Shards,
    /// `[standalone.cluster]`.
    #[serde(default, skip_serializing_if = "Cluster::is_empty")]
    pub cluster: Cluster,
}

/// `[standalone.server]`: the API's address, and where it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// The gRPC API, `/health` and `/metrics`.
    pub grpc_addr: ListenAddr,
    /// Where clients and the other nodes reach this node, `host:port`:
    /// written into the shard map. Left out, `grpc_addr`, which must then
    /// name an address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_addr: Option<String>,
    /// Overrides `[photon.logging] level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            grpc_addr: ListenAddr::any(DEFAULT_PORT),
            advertise_addr: None,
            log_level: None,
        }
    }
}

/// `[standalone.shards]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shards {
    /// How many shards keys are spread over: fixed when the map is first
    /// written.
    pub count: u16,
}

impl Default for Shards {
    fn default() -> Self {
        Shards {
            count: DEFAULT_SHARDS,
        }
    }
}

/// `[standalone.cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// `[[standalone.cluster.node]]`: every node but this one that the
    /// first map deals shards to.
    #[serde(default, rename = "node", skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<ClusterNode>,
}

impl Cluster {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Another node: its name (its `component_id`) and where it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterNode {
    /// Its name in the shard map.
    pub name: String,
    /// Its API, `host:port`.
    pub addr: String,
}

/// A flaredb node run from text: its spec, and the address written into
/// the map for it (a deployment knows its nodes' addresses; a lone
/// server is told).
#[derive(Debug, Clone, Copy)]
pub struct StandaloneNode {
    /// The spec, as a deployment would write it.
    pub db: FlareDb<Local>,
    /// Where clients and the other nodes reach it.
    pub advertise: &'static str,
}

impl ServiceSpec for StandaloneNode {
    fn declare(&self) -> ServiceDecl {
        self.db.declare()
    }
}

impl Declares<ApiListener> for StandaloneNode {}

impl Service for StandaloneNode {
    fn export_config(&self, ctx: &ExportContext) -> Result<String, ExportError> {
        let doc = export_reached_at(&self.db, self.advertise.to_owned(), ctx)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(
        &self,
        ctx: photon_runtime::StartContext,
    ) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let node = *self;
        Box::pin(async move {
            let me = ctx.instance.clone();
            let mut first: BTreeMap<String, String> = ctx
                .peers
                .iter()
                .filter_map(|peer| {
                    Some((peer.name.clone(), peer.addr::<ApiListener>()?.to_owned()))
                })
                .collect();
            first.insert(me.clone(), node.advertise.to_owned());
            let who = Identity {
                me,
                addr: node.advertise.to_owned(),
                first,
            };
            serve(node.db, ctx, who).await
        })
    }
}

impl StandaloneServer for FlareDbSchema {
    type Spec = StandaloneNode;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<StandaloneNode>, ConfigError> {
        let (Integration { state_store, auth }, remotes) = integrated_only::<FlareDbSchema>(
            doc,
            layers,
            "flaredb keeps its shard map in chainfire: set mode = \"integrated\" and [photon.integrated] chainfire_endpoints",
        )?;
        without_photonauth(
            layers,
            auth,
            "flaredb is called with its admin token ([standalone.auth]), not photonauth's tokens",
        )?;
        let s = &doc.standalone;
        let grpc_addr = s.server.grpc_addr;
        let advertise = match &s.server.advertise_addr {
            Some(addr) => {
                check_host_port(addr).map_err(|problem| {
                    config_error(layers, "standalone.server.advertise_addr", problem)
                })?;
                addr.clone()
            }
            None if grpc_addr.ip.is_unspecified() => {
                return Err(config_error(
                    layers,
                    "standalone.server.advertise_addr",
                    format!(
                        "required when grpc_addr ({grpc_addr}) binds every address: the shard map tells clients and the other nodes where this node is, such as advertise_addr = \"10.0.0.14:{}\"",
                        grpc_addr.port
                    ),
                ));
            }
            None => grpc_addr.to_string(),
        };
        let me = doc
            .photon
            .component_id
            .clone()
            .unwrap_or_else(|| Self::NAME.to_owned());
        let mut peers: Vec<photon_runtime::Peer> = Vec::new();
        for (i, node) in s.cluster.nodes.iter().enumerate() {
            let at = format!("standalone.cluster.node[{i}]");
            check_fellow(layers, &at, &node.name, &me, &peers, "node")?;
            check_host_port(&node.addr)
                .map_err(|problem| config_error(layers, &format!("{at}.addr"), problem))?;
            peers.push(photon_runtime::Peer {
                name: node.name.clone(),
                addrs: vec![(ApiListener::NAME.to_owned(), node.addr.clone())],
            });
        }
        let db = FlareDb {
            node: Local,
            port: listen_port(layers, "standalone.server.grpc_addr", grpc_addr)?,
            state_store,
            shards: s.shards.count,
            admin_token: admin_token(layers, s.auth.as_ref())?,
        };
        if let Some(reason) = db.declare().rejected() {
            return Err(config_error(
                layers,
                "standalone.shards.count",
                format!("{reason} (up to {MAX_SHARDS})"),
            ));
        }
        Ok(Built::new(StandaloneNode {
            db,
            advertise: leak(&advertise),
        })
        .listen(ApiListener, grpc_addr.ip)
        .state_dir(s.storage.data_dir.clone())
        .peers(peers)
        .remotes(remotes))
    }
}

/// The document that configures node `ctx.node` of `spec`'s database as
/// a deployment does: integrated in `ctx.cluster` under its node's name,
/// reached where the run reaches it, the other nodes the topology places
/// listed.
pub fn export<N: photon_dsl::Node>(
    spec: &FlareDb<N>,
    ctx: &ExportContext,
) -> Result<ComponentDocument<FlareDbSchema>, ExportError> {
    export_reached_at(spec, ctx.reach(ctx.node, spec.port)?, ctx)
}

fn export_reached_at<N: photon_dsl::Node>(
    spec: &FlareDb<N>,
    advertise: String,
    ctx: &ExportContext,
) -> Result<ComponentDocument<FlareDbSchema>, ExportError> {
    let mut nodes = Vec::new();
    for peer in &ctx.peers {
        nodes.push(ClusterNode {
            name: peer.name.clone(),
            addr: peer
                .addr::<ApiListener>()
                .map(str::to_owned)
                .ok_or_else(|| ExportError::MemberWithoutListener {
                    member: peer.name.clone(),
                    listener: ApiListener::NAME,
                })?,
        });
    }
    // Its name in the map is its node's, so a node taken out of a
    // deployment keeps its shards.
    let mut doc = standalone_document::<FlareDbSchema>(ctx.node.as_str());
    write_integration::<FlareDbSchema>(
        &mut doc,
        Mode::Integrated(Integration {
            state_store: spec.state_store,
            auth: Auth::Local,
        }),
        &ctx.cluster,
        &|node, port| ctx.reach(node, port),
    )?;
    doc.standalone = Standalone {
        server: Server {
            grpc_addr: ListenAddr::new(ctx.bind_ip, spec.port.get()),
            advertise_addr: Some(advertise),
            log_level: None,
        },
        storage: StorageSection::new(ctx.state_dir.clone()),
        auth: Some(admin_token_section(&spec.admin_token)),
        shards: Shards { count: spec.shards },
        cluster: Cluster { nodes },
    };
    Ok(doc)
}

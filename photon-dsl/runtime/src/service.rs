//! [`Service`]: what a running service must do: acquire its resources, serve
//! until told to stop, release them. The article's `cats.Resource`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use photon_dsl::{ListenerDecl, NodeAddress, NodeName, Port, Resolver, ServiceKind, ServiceSpec};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

/// A boxed, sendable future (object-safe async trait methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Any error a service reports; the runtime prints its whole `source()` chain.
pub type ServiceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A started service: a future that serves until its context's `shutdown`
/// is cancelled, then releases every resource and returns.
pub type Running = BoxFuture<'static, Result<(), ServiceError>>;

/// Why a service could not listen, in the user's terms.
#[derive(Debug, thiserror::Error)]
#[error("node `{node}`: service `{service}` cannot listen on {addr} ({what})")]
pub struct BindError {
    /// The node.
    pub node: NodeName,
    /// The service kind.
    pub service: String,
    /// The listener's name.
    pub what: String,
    /// The address.
    pub addr: SocketAddr,
    /// The OS error.
    pub source: std::io::Error,
}

/// Why a dependency's address could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The resolver has no address for the node.
    #[error(transparent)]
    Resolve(#[from] photon_dsl::ResolveError),
    /// The host name did not resolve.
    #[error("cannot resolve host `{host}`")]
    Lookup {
        /// The host name.
        host: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Sends "stop my node" requests to the supervisor.
#[derive(Debug, Clone)]
pub struct NodeStopper {
    pub(crate) node: NodeName,
    pub(crate) tx: tokio::sync::mpsc::UnboundedSender<NodeName>,
}

impl NodeStopper {
    /// Asks the supervisor to stop every service of this node, in reverse order.
    pub fn stop_node(&self) {
        // The supervisor outlives every service; a closed channel means it is already stopping.
        let _ = self.tx.send(self.node);
    }
}

/// What the runtime gives a service when it starts it.
#[derive(Debug, Clone)]
pub struct StartContext {
    /// The node this service runs on.
    pub node: NodeName,
    /// The mode a standalone server settled on, and why when it is not
    /// the one asked for (a fallback); `None` in a deployment, whose spec
    /// says its mode.
    pub mode_report: Option<ModeReport>,
    /// This instance's name: the node's in a deployment, the
    /// `component_id` for a standalone server (chainfire names its Raft
    /// member with it).
    pub instance: String,
    /// The service kind, for messages.
    pub service: String,
    /// The deployment's name (`standalone` for a standalone server): the
    /// cluster an integrated service registers in.
    pub cluster: String,
    /// The address its listeners bind to.
    pub bind_ip: IpAddr,
    /// Listeners bound to another address than `bind_ip`, by listener name
    /// (a standalone server's `admin_api_addr = "127.0.0.1:8053"`).
    pub listen_ips: Vec<(String, IpAddr)>,
    /// Finds the other nodes.
    pub resolver: Arc<Resolver>,
    /// Cancelled when the service must stop.
    pub shutdown: CancellationToken,
    /// Lets a service (e.g. a lifetime) end its node's run.
    pub stopper: NodeStopper,
    /// Where this service keeps its data on this machine:
    /// `<state root>/<deployment>/<node>/<service>` (created on demand by the
    /// service). Several nodes of an `up` share a machine, never a directory.
    pub state_dir: PathBuf,
    /// Every service of the topology, on every node: how a clustered
    /// service (chainfire) finds its members without a second list.
    pub placements: Arc<[Placement]>,
    /// A standalone server's fellow members, from its configuration (empty
    /// in a deployment, whose members are `placements`).
    pub peers: Vec<Peer>,
}

/// What `/health` says of the mode (the design's `"mode"` field).
#[derive(Debug, Clone)]
pub struct ModeReport {
    /// `standalone`, `integrated` or `hybrid`: the mode it runs in.
    pub mode: &'static str,
    /// Why it runs in another mode than configured, or what of the mode
    /// it does not cover yet, if anything.
    pub note: Option<String>,
    /// The registration in chainfire, kept current by its heartbeat, when
    /// integrated.
    pub integration: Option<Arc<photon_integration::Status>>,
}

impl ModeReport {
    /// Standalone, as configured.
    pub fn standalone() -> ModeReport {
        ModeReport {
            mode: "standalone",
            note: None,
            integration: None,
        }
    }

    /// Integrated, its registration's status kept by `integration`, and
    /// `note` saying what is still local (logged once, here).
    pub fn integrated(
        note: Option<String>,
        integration: Arc<photon_integration::Status>,
    ) -> ModeReport {
        if let Some(note) = &note {
            tracing::warn!(%note, "integrated mode, with parts still local");
        }
        ModeReport {
            mode: "integrated",
            note,
            integration: Some(integration),
        }
    }

    /// `/health`'s `checks.mode`: `ok`, or the fallback's reason.
    pub fn check(&self) -> String {
        self.note.clone().unwrap_or_else(|| "ok".to_owned())
    }

    /// The design's `/health` answer (section 7.2) for `component`: the
    /// HTTP status (200, or 503 when not `healthy`) and the JSON body.
    /// `checks` are the component's own, after `mode` and, when
    /// integrated, `chainfire` (the registration).
    pub fn health(
        &self,
        component: &str,
        version: &str,
        healthy: bool,
        checks: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
    ) -> (u16, String) {
        let mut all = serde_json::Map::new();
        all.insert("mode".to_owned(), self.check().into());
        if let Some(integration) = &self.integration {
            all.insert("chainfire".to_owned(), integration.check().into());
        }
        for (name, value) in checks {
            all.insert(name.to_owned(), value);
        }
        let body = serde_json::json!({
            "status": if healthy { "healthy" } else { "unhealthy" },
            "mode": self.mode,
            "component": component,
            "version": version,
            "checks": all,
        });
        (if healthy { 200 } else { 503 }, body.to_string())
    }
}

/// A service of the topology, as other services may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Its node.
    pub node: NodeName,
    /// Its kind.
    pub kind: ServiceKind,
    /// Its listeners.
    pub listeners: Vec<ListenerDecl>,
}

impl Placement {
    /// The port of the listener called `name`.
    pub fn port(&self, name: &str) -> Option<Port> {
        self.listeners
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.port)
    }
}

impl StartContext {
    /// The address the listener `what` binds to.
    pub fn ip_for(&self, what: &str) -> IpAddr {
        self.listen_ips
            .iter()
            .find(|(name, _)| name == what)
            .map_or(self.bind_ip, |(_, ip)| *ip)
    }

    /// Binds a TCP listener on this node's address, reporting failure in the
    /// user's terms (node, service, listener, address).
    pub async fn bind_tcp(&self, what: &str, port: Port) -> Result<TcpListener, BindError> {
        let addr = SocketAddr::new(self.ip_for(what), port.get());
        TcpListener::bind(addr).await.map_err(|source| BindError {
            node: self.node,
            service: self.service.clone(),
            what: what.to_owned(),
            addr,
            source,
        })
    }

    /// Binds a UDP socket on this node's address (a DNS server's other
    /// half), reporting failure as [`bind_tcp`](Self::bind_tcp) does.
    pub async fn bind_udp(&self, what: &str, port: Port) -> Result<UdpSocket, BindError> {
        let addr = SocketAddr::new(self.ip_for(what), port.get());
        UdpSocket::bind(addr).await.map_err(|source| BindError {
            node: self.node,
            service: self.service.clone(),
            what: what.to_owned(),
            addr,
            source,
        })
    }

    /// Where to connect to reach `port` on `node`.
    pub async fn address_of(&self, node: NodeName, port: Port) -> Result<SocketAddr, ConnectError> {
        resolve_socket(&self.resolver, node, port).await
    }

    /// The services of kind `kind`, on every node, in topology order.
    pub fn placements_of(&self, kind: &str) -> impl Iterator<Item = &Placement> {
        self.placements
            .iter()
            .filter(move |p| p.kind.as_str() == kind)
    }
}

/// Resolves `node:port` through the resolver (and DNS for host-name plans).
pub async fn resolve_socket(
    resolver: &Resolver,
    node: NodeName,
    port: Port,
) -> Result<SocketAddr, ConnectError> {
    match resolver.resolve(node)? {
        NodeAddress::Ip(ip) => Ok(SocketAddr::new(ip, port.get())),
        NodeAddress::Host(host) => {
            let mut addrs = tokio::net::lookup_host((host.as_str(), port.get()))
                .await
                .map_err(|source| ConnectError::Lookup {
                    host: host.clone(),
                    source,
                })?;
            let first = addrs.next();
            first.ok_or_else(|| ConnectError::Lookup {
                host: host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
            })
        }
    }
}

/// Where `check` found a listener and how long to try.
#[derive(Debug, Clone, Copy)]
pub struct ProbeTarget<'a> {
    /// The listener's address.
    pub addr: SocketAddr,
    /// Which listener.
    pub listener: &'a ListenerDecl,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What `export-config` tells a service about where it runs.
#[derive(Debug, Clone)]
pub struct ExportContext {
    /// Its node.
    pub node: NodeName,
    /// The address its listeners bind on that node.
    pub bind_ip: IpAddr,
    /// The `component_id` to write (`<node>-<kind>`).
    pub component_id: String,
    /// The deployment's name: the `cluster_id` an integrated service
    /// registers under.
    pub cluster: String,
    /// The state directory the service would use on that node.
    pub state_dir: PathBuf,
    /// The run's addresses (a typed DNS record naming a node is written
    /// as that node's address).
    pub resolver: Arc<Resolver>,
    /// The other services of its kind the topology places, with the
    /// addresses they are reached at (a clustered service's other
    /// members).
    pub peers: Vec<Peer>,
    /// When the node's [`Lifetime`](photon_dsl::Lifetime) stops it, if it
    /// has one.
    pub stops_node_after: Option<Duration>,
}

/// Another instance of a clustered component, outside the run's topology:
/// a standalone chainfire-server's fellow members, written in its
/// configuration (`[[standalone.cluster.peer]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its instance name (`component_id`, or its node's name).
    pub name: String,
    /// Where each of its listeners is reached, by listener name:
    /// `host:port`.
    pub addrs: Vec<(String, String)>,
}

impl Peer {
    /// Where its listener `name` is reached.
    pub fn addr(&self, name: &str) -> Option<&str> {
        self.addrs
            .iter()
            .find(|(listener, _)| listener == name)
            .map(|(_, addr)| addr.as_str())
    }
}

/// A service the runtime can start, stop and probe.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run: it is a spec without a server",
    note = "enable the `server` feature of the service's crate (the default) to run it in a deployment"
)]
pub trait Service: ServiceSpec {
    /// Acquires the service's resources (binds its listeners, opens its
    /// storage) and returns once it is ready to serve, with the future that
    /// serves until `ctx.shutdown` is cancelled.
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>>;

    /// Checks a running instance through its own protocol; returns a short
    /// description of what answered. The default connects over TCP.
    fn probe<'a>(&'a self, target: ProbeTarget<'a>) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async move {
            if !target.listener.transport.has_tcp() {
                return Ok("udp: not probed".to_owned());
            }
            tokio::time::timeout(target.timeout, tokio::net::TcpStream::connect(target.addr))
                .await
                .map_err(|_| format!("no answer within {:?}", target.timeout))??;
            Ok("tcp connect ok".to_owned())
        })
    }

    /// The service's configuration as the standalone TOML its
    /// `<component>-server` reads, which loads back as the same spec.
    fn export_config(&self, ctx: &ExportContext) -> Result<String, String> {
        let _ = ctx;
        Err(format!(
            "`{}` has no standalone configuration schema yet",
            self.declare().kind()
        ))
    }

    /// When this service stops its node by itself ([`Lifetime`]): what an
    /// export of the node's other services carries (`stop_after_ms`).
    ///
    /// [`Lifetime`]: photon_dsl::Lifetime
    fn stops_node_after(&self) -> Option<Duration> {
        None
    }
}

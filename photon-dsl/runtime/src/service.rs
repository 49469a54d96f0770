//! [`Service`]: what a running service must do: acquire its resources, serve
//! until told to stop, release them. The article's `cats.Resource`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::ModeReport;
use photon_dsl::{
    Declares, Listener, ListenerDecl, NodeAddress, NodeName, Port, Resolver, ServiceKind,
    ServiceSpec,
};
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

/// A server asked twice for the socket of one listener: each is handed
/// out once.
#[derive(Debug, thiserror::Error)]
#[error("node `{node}`: service `{service}` took its `{what}` {transport} socket twice")]
pub struct TakenTwice {
    /// The node.
    pub node: NodeName,
    /// The service kind.
    pub service: String,
    /// The listener.
    pub what: String,
    /// `tcp` or `udp`.
    pub transport: &'static str,
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

/// Where an integrated service keeps its state: chainfire's members, and
/// the cluster its keys are kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateStore {
    /// chainfire's client endpoints (`http://host:port`).
    pub endpoints: Vec<String>,
    /// The cluster (`photon.cluster_id`, or the deployment's name).
    pub cluster: String,
}

/// What the runtime gives a service when it starts it.
#[derive(Debug, Clone)]
pub struct StartContext {
    /// The node this service runs on.
    pub node: NodeName,
    /// The mode it runs in, for `/health`: what a standalone server
    /// settled on (and why, after a fallback), or, in a deployment, what
    /// its spec says (integrated services are joined to the platform
    /// before they start).
    pub mode: ModeReport,
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
    /// The listeners the service's spec declares.
    pub listeners: Vec<ListenerDecl>,
    /// The sockets the runtime bound for them before the service started,
    /// taken by [`tcp`](Self::tcp) and [`udp`](Self::udp).
    pub sockets: Sockets,
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
    /// Where the service keeps its state when it runs integrated (joined
    /// to chainfire); `None` when it keeps it locally.
    pub state_store: Option<StateStore>,
    /// The configuration this node runs (for `/health` and `/metrics`),
    /// what it presents on calls to other services, and how it judges
    /// theirs.
    pub config: Arc<crate::skew::ConfigCheck>,
}

/// The sockets bound for a service's listeners, until its server takes
/// them.
#[derive(Debug, Clone, Default)]
pub struct Sockets(Arc<std::sync::Mutex<Bound>>);

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, Bound> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What [`StartContext::bind_declared`] bound, by listener name.
#[derive(Debug, Default)]
struct Bound {
    tcp: Vec<(&'static str, TcpListener)>,
    udp: Vec<(&'static str, UdpSocket)>,
}

/// Takes the socket bound for `name` out of `bound`.
fn take<T>(bound: &mut Vec<(&'static str, T)>, name: &str) -> Option<T> {
    let i = bound.iter().position(|(n, _)| *n == name)?;
    Some(bound.swap_remove(i).1)
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
    /// Where the service `decl` declares runs, and its listeners.
    pub fn of(decl: &photon_dsl::ServiceDecl) -> Placement {
        Placement {
            node: decl.node(),
            kind: decl.kind(),
            listeners: decl.listeners().copied().collect(),
        }
    }

    /// The port of its listener `L`, if it declares one.
    pub fn port<L: Listener>(&self) -> Option<Port> {
        self.listeners
            .iter()
            .find(|l| l.name == L::NAME)
            .map(|l| l.port)
    }
}

impl StartContext {
    /// Where the declared listener `l` listens: on the address the
    /// configuration gives it, else on the node's.
    fn addr_of(&self, l: &ListenerDecl) -> SocketAddr {
        let ip = self
            .listen_ips
            .iter()
            .find(|(name, _)| name == l.name)
            .map_or(self.bind_ip, |(_, ip)| *ip);
        SocketAddr::new(ip, l.port.get())
    }

    /// Binds every listener the spec declares (TCP, UDP or both, as its
    /// protocol needs), reporting failure in the user's terms (node,
    /// service, listener, address). The supervisor calls it before
    /// `start`; the server takes the sockets by key.
    pub(crate) async fn bind_declared(&self) -> Result<(), BindError> {
        let listen_error = |what: &str, addr, source| BindError {
            node: self.node,
            service: self.service.clone(),
            what: what.to_owned(),
            addr,
            source,
        };
        let mut bound = Bound::default();
        for l in &self.listeners {
            let addr = self.addr_of(l);
            if l.transport.has_tcp() {
                let socket = TcpListener::bind(addr)
                    .await
                    .map_err(|e| listen_error(l.name, addr, e))?;
                bound.tcp.push((l.name, socket));
            }
            if l.transport != photon_dsl::Transport::Tcp {
                let socket = UdpSocket::bind(addr)
                    .await
                    .map_err(|e| listen_error(l.name, addr, e))?;
                bound.udp.push((l.name, socket));
            }
        }
        *self.sockets.lock() = bound;
        Ok(())
    }

    /// The TCP socket the runtime bound for `spec`'s listener `key`.
    /// A key the spec does not declare does not compile.
    pub fn tcp<L: Listener, S: Declares<L>>(
        &self,
        key: L,
        spec: &S,
    ) -> Result<TcpListener, TakenTwice> {
        let name = photon_dsl::listener_name(key, spec);
        take(&mut self.sockets.lock().tcp, name).ok_or_else(|| self.taken_twice(name, "tcp"))
    }

    /// The UDP socket the runtime bound for `spec`'s listener `key` (a DNS
    /// server's other half).
    pub fn udp<L: Listener, S: Declares<L>>(
        &self,
        key: L,
        spec: &S,
    ) -> Result<UdpSocket, TakenTwice> {
        let name = photon_dsl::listener_name(key, spec);
        take(&mut self.sockets.lock().udp, name).ok_or_else(|| self.taken_twice(name, "udp"))
    }

    /// The TCP socket the runtime bound for the listener `name` of this
    /// service's declaration: for a spec whose listeners have no key type
    /// because its typed constructors erased their protocols (fiberlb's
    /// balancers). Only this service's own listeners were bound for it.
    pub fn tcp_named(&self, name: &str) -> Result<TcpListener, TakenTwice> {
        take(&mut self.sockets.lock().tcp, name).ok_or_else(|| self.taken_twice(name, "tcp"))
    }

    /// The UDP socket for the listener `name` (see [`tcp_named`](Self::tcp_named)).
    pub fn udp_named(&self, name: &str) -> Result<UdpSocket, TakenTwice> {
        take(&mut self.sockets.lock().udp, name).ok_or_else(|| self.taken_twice(name, "udp"))
    }

    fn taken_twice(&self, name: &str, transport: &'static str) -> TakenTwice {
        TakenTwice {
            node: self.node,
            service: self.service.clone(),
            what: name.to_owned(),
            transport,
        }
    }

    /// Where each declared listener listens (`ip:port`), by name: what an
    /// integrated service registers.
    pub fn listen_addresses(&self) -> std::collections::BTreeMap<String, String> {
        self.listeners
            .iter()
            .map(|l| (l.name.to_owned(), self.addr_of(l).to_string()))
            .collect()
    }

    /// The component's `/health` and `/metrics`, reporting this start's
    /// mode and what `report` says (`version` is the component crate's).
    pub fn admin(&self, version: &'static str, report: impl crate::admin::Report) -> crate::Admin {
        crate::Admin::new(&self.service, version, self.mode.clone(), report)
            .with_config(self.config.clone())
    }

    /// A client of the state store (chainfire) when the service joined
    /// the platform, presenting this node's configuration on every call;
    /// `None` when it keeps its state locally.
    #[cfg(feature = "integration")]
    pub async fn state_store_client(
        &self,
    ) -> Result<Option<photon_integration::Client>, photon_integration::ConnectError> {
        let Some(state) = &self.state_store else {
            return Ok(None);
        };
        photon_integration::connect(&state.endpoints, None, self.config.presenter())
            .await
            .map(Some)
    }

    /// For a service that keeps its state in chainfire only: a client of
    /// the state store and the cluster its keys are under, or an error
    /// saying `component` runs joined to its state store only.
    #[cfg(feature = "integration")]
    pub async fn state_store_only(
        &self,
        component: &str,
    ) -> Result<(photon_integration::Client, String), ServiceError> {
        let Some(state) = &self.state_store else {
            return Err(format!(
                "{component} keeps its state in chainfire: it runs joined to its state store only"
            )
            .into());
        };
        let client = self
            .state_store_client()
            .await
            .map_err(|e| format!("{component}'s state in chainfire: {e}"))?
            .ok_or("no state store to connect to")?;
        Ok((client, state.cluster.clone()))
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

/// Every listener serving `/health`, with its service's label, on `node`
/// (or everywhere when `None`).
pub(crate) async fn health_listeners(
    topology: &photon_dsl::Topology<dyn Service>,
    resolver: &Resolver,
    node: Option<NodeName>,
) -> Vec<(String, Result<std::net::SocketAddr, String>)> {
    let mut found = Vec::new();
    for (i, placed) in topology.services().iter().enumerate() {
        if node.is_some_and(|n| n != placed.decl.node()) {
            continue;
        }
        for listener in placed.decl.listeners().filter(|l| l.health) {
            let addr = resolve_socket(resolver, placed.decl.node(), listener.port)
                .await
                .map_err(|e| e.to_string());
            found.push((topology.label(i), addr));
        }
    }
    found
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

/// Why a service cannot be written as its standalone configuration.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The component has no `<component>-server` schema.
    #[error("`{kind}` has no standalone configuration schema yet")]
    NoSchema {
        /// Its kind.
        kind: photon_dsl::ServiceKind,
    },
    /// It has no server of its own ([`Lifetime`](photon_dsl::Lifetime)).
    #[error(
        "a lifetime has no server of its own: export the service it stops, whose `stop_after_ms` carries it"
    )]
    NoServer,
    /// A node it names has no address in the run's plan.
    #[error(transparent)]
    Resolve(#[from] photon_dsl::ResolveError),
    /// A secret written in the deployment, which the schema can only name.
    #[error("its {slot} is written in {origin}; the schema names where a {slot} is, not its value")]
    SecretWritten {
        /// The spec field (`token`).
        slot: &'static str,
        /// Where it is written.
        origin: String,
    },
    /// Another member of its cluster lacks a listener the schema lists.
    #[error("member `{member}` has no `{listener}` listener")]
    MemberWithoutListener {
        /// The member's name.
        member: String,
        /// The listener.
        listener: &'static str,
    },
    /// The component's own reason (flashdns: a record's node has no
    /// address to write).
    #[error(transparent)]
    Component(Box<dyn std::error::Error + Send + Sync>),
    /// The document could not be written.
    #[error(transparent)]
    Write(#[from] photon_config::WriteError),
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
    /// Every service of the topology, on every node (as
    /// [`StartContext::placements`]): what a service that finds others by
    /// kind (the scheduler, its agents) writes.
    pub placements: Arc<[Placement]>,
    /// Every `/metrics` the topology serves, as (service kind, `host:port`
    /// where it is reached): what a service that scrapes them all
    /// (nightlight) writes as its targets.
    pub metrics_endpoints: Vec<(String, String)>,
}

impl ExportContext {
    /// `host:port` at which `node`'s `port` is reached in this run: where
    /// an integrated spec's state store and photonauth are written.
    pub fn reach(&self, node: NodeName, port: photon_dsl::Port) -> Result<String, ExportError> {
        Ok(self.resolver.resolve(node)?.with_port(port.get()))
    }

    /// The `component_id` to write for a service in `mode`: integrated (or
    /// hybrid), it registers as its node does in the deployment.
    pub fn component_id_in(&self, mode: photon_dsl::Mode) -> String {
        match mode {
            photon_dsl::Mode::Integrated(_) | photon_dsl::Mode::Hybrid(_) => self.node.to_string(),
            photon_dsl::Mode::Standalone => self.component_id.clone(),
        }
    }
}

/// What `restore` tells a service: whose state, where, from which file.
#[derive(Debug, Clone)]
pub struct RestoreContext {
    /// The instance's name, as [`StartContext::instance`] will give it.
    pub instance: String,
    /// The state directory its start will use.
    pub state_dir: PathBuf,
    /// The backup.
    pub from: PathBuf,
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
    /// Where its listener `L` is reached.
    pub fn addr<L: Listener>(&self) -> Option<&str> {
        self.addrs
            .iter()
            .find(|(listener, _)| listener == L::NAME)
            .map(|(_, addr)| addr.as_str())
    }
}

/// The default [`Service::probe`]: `GET /health` answering 200 on a
/// listener that serves it, else a TCP connect (UDP is not probed).
pub async fn default_probe(target: ProbeTarget<'_>) -> Result<String, ServiceError> {
    if target.listener.health {
        let answer = crate::http::get(target.addr, "/health", target.timeout).await?;
        return if answer.status == hyper::StatusCode::OK {
            Ok("/health answers healthy".to_owned())
        } else {
            Err(format!(
                "/health answered {}: {}",
                answer.status,
                answer.body.trim_end()
            )
            .into())
        };
    }
    if !target.listener.transport.has_tcp() {
        return Ok("udp: not probed".to_owned());
    }
    tokio::time::timeout(target.timeout, tokio::net::TcpStream::connect(target.addr))
        .await
        .map_err(|_| format!("no answer within {:?}", target.timeout))??;
    Ok("tcp connect ok".to_owned())
}

/// A service the runtime can start, stop and probe.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run: it is a spec without a server",
    note = "enable the `server` feature of the service's crate (the default) to run it in a deployment",
    note = "a crate with no `server` feature (photonauth, for now) has no server yet: its spec can be checked in `topology!` but not run by `deployment!`"
)]
pub trait Service: ServiceSpec {
    /// Acquires the service's resources (binds its listeners, opens its
    /// storage) and returns once it is ready to serve, with the future that
    /// serves until `ctx.shutdown` is cancelled.
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>>;

    /// Checks a running instance through its own protocol; returns a short
    /// description of what answered. The default asks `GET /health` on a
    /// listener that serves it ([`ServiceDecl::with_health`]), and
    /// otherwise connects over TCP.
    ///
    /// [`ServiceDecl::with_health`]: photon_dsl::ServiceDecl::with_health
    fn probe<'a>(&'a self, target: ProbeTarget<'a>) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(default_probe(target))
    }

    /// Libraries this service uses that narrate routine work at `info`
    /// (openraft every election, hickory-server every query): the default
    /// log filter holds them at `warn`, where what matters is. An entry
    /// `target=level` holds that target at `level` instead, for a module
    /// that warns about routine events.
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &[]
    }

    /// What stays local when this service runs integrated, because its
    /// integrated backend is not built yet: said in `/health`'s
    /// `checks.mode` and logged, so "integrated" never claims more than it
    /// does.
    fn local_when_integrated(&self) -> Option<&'static str> {
        None
    }

    /// Whether this service has its requests checked by photonauth when
    /// its spec says `auth: Auth::PhotonAuth` (else `/health` says the
    /// photonauth endpoint is not used).
    fn uses_photonauth(&self) -> bool {
        false
    }

    /// Whether this service publishes or subscribes on the event bus
    /// (else a standalone server's `/health` says the
    /// `event_bus_endpoint` it was given is not used).
    fn uses_event_bus(&self) -> bool {
        false
    }

    /// The Debian packages the service runs besides the binary (the event
    /// bus runs `nats-server`): an exported image installs them.
    fn system_packages(&self) -> &'static [&'static str] {
        &[]
    }

    /// The service's configuration as the standalone TOML its
    /// `<component>-server` reads, which loads back as the same spec.
    fn export_config(&self, ctx: &ExportContext) -> Result<String, ExportError> {
        let _ = ctx;
        Err(ExportError::NoSchema {
            kind: self.declare().kind(),
        })
    }

    /// Fills this instance's empty state directory from a backup taken
    /// from a running instance (`deploy-x restore`, `<component>-server
    /// --restore FILE`), with the service stopped; returns what was
    /// restored, in a line. The default: the service has nothing to
    /// restore.
    fn restore(&self, ctx: &RestoreContext) -> Result<String, ServiceError> {
        let _ = ctx;
        Err(format!(
            "`{}` keeps no state that a backup restores",
            self.declare().kind()
        )
        .into())
    }

    /// When this service stops its node by itself ([`Lifetime`]): what an
    /// export of the node's other services carries (`stop_after_ms`).
    ///
    /// [`Lifetime`]: photon_dsl::Lifetime
    fn stops_node_after(&self) -> Option<Duration> {
        None
    }

    /// For `roll`: before `node` restarts (`drain` true), stop sending it
    /// new traffic and wait for what it has in flight to finish; once it is
    /// back (`drain` false), send it traffic again and wait until it takes
    /// some. Returns how many backends changed. The default: this service
    /// routes no one's traffic (a load balancer does).
    fn roll_traffic<'a>(
        &'a self,
        resolver: &'a Resolver,
        node: NodeName,
        drain: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<usize, ServiceError>> {
        let _ = (resolver, node, drain, timeout);
        Box::pin(async { Ok(0) })
    }
}

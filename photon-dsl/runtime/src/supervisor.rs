//! Starts a topology's services in dependency order, waits for what each one
//! needs, and stops them in reverse order on a signal or when a node's
//! lifetime ends.

use std::sync::Arc;
use std::time::Duration;

use photon_dsl::{NodeName, Resolver, Topology};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::service::{NodeStopper, Placement, StartContext, resolve_socket};
use crate::{ModeReport, Running, Service, ServiceError};

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The nodes this process runs (all of them for `up`, one for `run`).
    pub nodes: Vec<NodeName>,
    /// Where every node is.
    pub resolver: Arc<Resolver>,
    /// How long a service waits for a dependency before the run fails.
    pub dependency_timeout: Duration,
    /// How long a service may take to stop before it is aborted.
    pub stop_timeout: Duration,
    /// Under which directory services keep their data
    /// (`<root>/<deployment>/<node>/<service>`).
    pub state_root: std::path::PathBuf,
    /// Set when a `<component>-server` runs its one service from text.
    pub standalone: Option<StandaloneRun>,
    /// What a service does with calls from nodes running another
    /// configuration.
    pub skew: crate::skew::SkewPolicy,
}

/// What a standalone server's configuration says that a topology does not:
/// it applies to the run's one service.
#[derive(Debug, Clone)]
pub struct StandaloneRun {
    /// Listeners bound elsewhere than the node's address, by listener name.
    pub listen_ips: Vec<(String, std::net::IpAddr)>,
    /// Where the service keeps its data (its `data_dir`), if not under
    /// `state_root`.
    pub state_dir: Option<std::path::PathBuf>,
    /// The instance's name (`component_id`).
    pub instance: String,
    /// The mode it settled on, for `/health`.
    pub mode: ModeReport,
    /// The other members of its cluster, from the configuration.
    pub peers: Vec<crate::service::Peer>,
    /// Where it keeps its state, when it joined the platform.
    pub state_store: Option<crate::service::StateStore>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The topology is invalid (checked before anything listens).
    #[error(transparent)]
    Topology(#[from] photon_dsl::TopologyError),
    /// A service could not start.
    #[error("{service} failed to start")]
    Start {
        /// `node/kind`.
        service: String,
        /// Why.
        #[source]
        source: ServiceError,
    },
    /// A dependency never became reachable.
    #[error(
        "{service} waited {waited:?} for `{slot}` ({protocol} at node `{node}`, {addr}) and it never answered"
    )]
    DependencyTimeout {
        /// `node/kind` of the waiting service.
        service: String,
        /// The spec field.
        slot: &'static str,
        /// The protocol.
        protocol: &'static str,
        /// The target node.
        node: NodeName,
        /// The address tried.
        addr: String,
        /// How long it waited.
        waited: Duration,
    },
    /// A dependency's address could not be found.
    #[error("{service}: cannot find `{slot}` at node `{node}`")]
    Resolve {
        /// `node/kind`.
        service: String,
        /// The spec field.
        slot: &'static str,
        /// The target node.
        node: NodeName,
        /// Why.
        #[source]
        source: crate::service::ConnectError,
    },
    /// One or more services failed while running.
    #[error("{count} service(s) failed while running: {services}")]
    Failed {
        /// How many.
        count: usize,
        /// Which (`node/kind`, comma-separated).
        services: String,
    },
    /// Secrets of this run's services cannot be read (checked before
    /// anything listens).
    #[error("cannot read {} secret(s), so nothing was started:\n  - {}", problems.len(), problems.join("\n  - "))]
    Secrets {
        /// One line per unreadable secret: service, spec field, reference, why.
        problems: Vec<String>,
    },
    /// The process could not install its signal handlers.
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

impl RunError {
    /// The process's exit code for it: 2 for configuration the node lacks
    /// (nothing was started), 1 for a service that failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Secrets { .. } | RunError::Topology(_) => 2,
            _ => 1,
        }
    }
}

struct Task {
    token: CancellationToken,
    handle: JoinHandle<Result<(), ServiceError>>,
}

enum Event {
    Signal(&'static str),
    StopNode(NodeName),
    Exited(usize),
}

/// Reads every secret the services in `order` declare, so a missing one
/// stops the run before anything listens, with every problem listed at once.
/// The values are dropped (and wiped) here; each service reads its own again.
fn check_secrets(topology: &Topology<dyn Service>, order: &[usize]) -> Result<(), RunError> {
    let mut problems = Vec::new();
    for &i in order {
        for decl in topology.services()[i].decl.secrets() {
            if let Err(e) = crate::secret::read_secret(&decl.secret) {
                problems.push(format!(
                    "{} `{}`: {}",
                    topology.label(i),
                    decl.slot,
                    error_chain(&e)
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RunError::Secrets { problems })
    }
}

/// Says how to reach what runs: each listener's address and protocol, and
/// where each secret is read from (never its value).
fn announce(topology: &Topology<dyn Service>, order: &[usize], resolver: &Resolver) {
    for &i in order {
        let decl = &topology.services()[i].decl;
        let node = decl.node();
        let Ok(address) = resolver.resolve(node) else {
            continue;
        };
        for listener in decl.listeners() {
            tracing::info!(
                %node,
                service = %decl.kind(),
                listener = listener.name,
                protocol = listener.protocol,
                at = %address.with_port(listener.port.get()),
                "reach"
            );
        }
        for secret in decl.secrets() {
            tracing::info!(%node, service = %decl.kind(), slot = secret.slot, from = %secret.secret, "secret");
        }
    }
}

/// Runs the selected nodes of `topology` until they have all stopped.
pub async fn run(topology: &Topology<dyn Service>, options: RunOptions) -> Result<(), RunError> {
    topology.check()?;
    let order: Vec<usize> = topology
        .start_order()?
        .into_iter()
        .filter(|&i| options.nodes.contains(&topology.services()[i].decl.node()))
        .collect();
    check_secrets(topology, &order)?;
    let mut run = Supervision::new(topology, &options)?;
    let Some(deferred) = run.start_all(&order).await? else {
        return Ok(());
    };
    tracing::info!(services = run.started.len(), "all services started");
    announce(topology, &order, &options.resolver);
    let failed = run.until_stopped(deferred).await;
    if failed.is_empty() {
        tracing::info!("all services stopped");
        Ok(())
    } else {
        Err(RunError::Failed {
            count: failed.len(),
            services: failed.join(", "),
        })
    }
}

/// One run's state: the services started so far, their tasks, and the
/// events (signals, lifetimes, exits) that steer them.
struct Supervision<'t> {
    topology: &'t Topology<dyn Service>,
    options: &'t RunOptions,
    events: mpsc::UnboundedReceiver<Event>,
    events_tx: mpsc::UnboundedSender<Event>,
    stop_tx: mpsc::UnboundedSender<NodeName>,
    placements: Arc<[Placement]>,
    tasks: Vec<Option<Task>>,
    started: Vec<usize>,
}

impl<'t> Supervision<'t> {
    /// Listens for signals and for nodes that stop themselves.
    fn new(topology: &'t Topology<dyn Service>, options: &'t RunOptions) -> Result<Self, RunError> {
        let (events_tx, events) = mpsc::unbounded_channel::<Event>();
        let (stop_tx, mut stop_rx) = mpsc::unbounded_channel::<NodeName>();
        spawn_signal_listener(events_tx.clone())?;
        {
            let events_tx = events_tx.clone();
            tokio::spawn(async move {
                while let Some(node) = stop_rx.recv().await {
                    if events_tx.send(Event::StopNode(node)).is_err() {
                        break;
                    }
                }
            });
        }
        let placements: Arc<[Placement]> = topology
            .services()
            .iter()
            .map(|p| Placement::of(&p.decl))
            .collect();
        Ok(Supervision {
            topology,
            options,
            events,
            events_tx,
            stop_tx,
            placements,
            tasks: (0..topology.services().len()).map(|_| None).collect(),
            started: Vec::new(),
        })
    }

    /// Stops the services started so far, in reverse start order.
    async fn stop_started(&mut self) -> Vec<String> {
        stop_all(
            self.topology,
            &mut self.tasks,
            &self.started,
            self.options.stop_timeout,
        )
        .await
    }

    /// Starts the services in `order`, each once its dependencies answer.
    /// `None` if a signal came first (what had started is stopped);
    /// otherwise the events that arrived meanwhile, to handle next.
    async fn start_all(&mut self, order: &[usize]) -> Result<Option<Vec<Event>>, RunError> {
        let mut deferred: Vec<Event> = Vec::new();
        for &i in order {
            // Keep waiting through any event but a signal; the others (a
            // lifetime that ran out, say) are handled once everything has
            // started.
            let wait = wait_for_dependencies(self.topology, i, self.options);
            tokio::pin!(wait);
            let outcome = loop {
                tokio::select! {
                    r = &mut wait => break r,
                    Some(event) = self.events.recv() => match event {
                        Event::Signal(name) => {
                            tracing::info!(signal = name, "stopping before every service started");
                            self.stop_started().await;
                            return Ok(None);
                        }
                        other => deferred.push(other),
                    },
                }
            };
            if let Err(e) = outcome {
                self.stop_started().await;
                return Err(e);
            }
            if let Err(e) = self.start_service(i).await {
                self.stop_started().await;
                return Err(e);
            }
        }
        Ok(Some(deferred))
    }

    /// Starts service `i` and spawns what it serves, in its span.
    async fn start_service(&mut self, i: usize) -> Result<(), RunError> {
        let placed = &self.topology.services()[i];
        let token = CancellationToken::new();
        let stopper = NodeStopper {
            node: placed.decl.node(),
            tx: self.stop_tx.clone(),
        };
        let span =
            tracing::info_span!("service", node = %placed.decl.node(), kind = %placed.decl.kind());
        let running = start_one(
            self.topology,
            i,
            self.options,
            &self.placements,
            token.clone(),
            stopper,
        )
        .instrument(span.clone())
        .await
        .map_err(|source| RunError::Start {
            service: self.topology.label(i),
            source,
        })?;
        span.in_scope(|| tracing::debug!("started"));
        let exited = self.events_tx.clone();
        let handle = tokio::spawn(
            async move {
                let result = running.await;
                let _ = exited.send(Event::Exited(i));
                result
            }
            .instrument(span),
        );
        self.tasks[i] = Some(Task { token, handle });
        self.started.push(i);
        Ok(())
    }

    /// Handles events (`deferred` first) until every service has stopped;
    /// returns the services that failed.
    async fn until_stopped(&mut self, deferred: Vec<Event>) -> Vec<String> {
        let mut failed: Vec<String> = Vec::new();
        let mut deferred = deferred.into_iter();
        while self.tasks.iter().any(Option::is_some) {
            let event = match deferred.next() {
                Some(event) => event,
                None => match self.events.recv().await {
                    Some(event) => event,
                    None => break,
                },
            };
            failed.extend(self.handle(event).await);
        }
        failed
    }

    /// One event while serving: a signal stops everything, a node's
    /// lifetime stops that node, a service that ends on its own is
    /// reported and the rest keep running.
    async fn handle(&mut self, event: Event) -> Vec<String> {
        match event {
            Event::Signal(name) => {
                tracing::info!(
                    signal = name,
                    "stopping every service in reverse start order"
                );
                self.stop_started().await
            }
            Event::StopNode(node) => {
                tracing::info!(%node, "stopping node in reverse start order");
                let on_node: Vec<usize> = self
                    .started
                    .iter()
                    .copied()
                    .filter(|&i| self.topology.services()[i].decl.node() == node)
                    .collect();
                stop_all(
                    self.topology,
                    &mut self.tasks,
                    &on_node,
                    self.options.stop_timeout,
                )
                .await
            }
            Event::Exited(i) => {
                let Some(task) = self.tasks[i].take() else {
                    return Vec::new();
                };
                let label = self.topology.label(i);
                match task.handle.await {
                    Ok(Ok(())) => {
                        tracing::warn!(service = %label, "service ended on its own");
                        Vec::new()
                    }
                    Ok(Err(e)) => {
                        tracing::error!(service = %label, error = %error_chain(&*e), "service failed");
                        vec![label]
                    }
                    Err(e) => {
                        tracing::error!(service = %label, error = %e, "service panicked");
                        vec![label]
                    }
                }
            }
        }
    }
}

/// Starts service `i`: its context, its mode (joining the platform first
/// when its spec is integrated), then its own `start`. The future it
/// returns serves, and leaves the platform once the service has stopped.
async fn start_one(
    topology: &Topology<dyn Service>,
    i: usize,
    options: &RunOptions,
    placements: &Arc<[Placement]>,
    shutdown: CancellationToken,
    stopper: NodeStopper,
) -> Result<Running, ServiceError> {
    let placed = &topology.services()[i];
    let node = placed.decl.node();
    let standalone = options.standalone.as_ref();
    let mut ctx = StartContext {
        node,
        mode: ModeReport::standalone(),
        instance: standalone.map_or_else(|| node.to_string(), |s| s.instance.clone()),
        service: placed.decl.kind().to_string(),
        cluster: topology.name().to_string(),
        bind_ip: options.resolver.bind_ip(node)?,
        listen_ips: standalone.map(|s| s.listen_ips.clone()).unwrap_or_default(),
        listeners: placed.decl.listeners().copied().collect(),
        sockets: Default::default(),
        peers: standalone.map(|s| s.peers.clone()).unwrap_or_default(),
        state_store: standalone.and_then(|s| s.state_store.clone()),
        resolver: options.resolver.clone(),
        shutdown,
        stopper,
        state_dir: standalone
            .and_then(|s| s.state_dir.clone())
            .unwrap_or_else(|| {
                state_dir_of(
                    &options.state_root,
                    topology.name().as_str(),
                    node.as_str(),
                    placed.decl.kind().as_str(),
                )
            }),
        placements: placements.clone(),
        config: {
            let own = crate::admin::ConfigIdentity {
                deployment: topology.name().to_string(),
                version: topology.version().to_string(),
                fingerprint: topology.fingerprint().full_hex(),
            };
            match standalone {
                Some(_) => crate::skew::ConfigCheck::standalone(own),
                // beside the node's services' directories
                None => crate::skew::ConfigCheck::keeping_windows(
                    own,
                    options.skew,
                    Some(
                        options
                            .state_root
                            .join(topology.name().as_str())
                            .join(node.as_str())
                            .join(format!(".roll-window-{}", placed.decl.kind())),
                    ),
                ),
            }
        },
    };
    ctx.bind_declared().await?;
    let mut joined = None;
    ctx.mode = match (standalone, placed.decl.integration()) {
        // A standalone server's runner settled its mode (and joined).
        (Some(standalone), _) => standalone.mode.clone(),
        (None, Some(integration)) => {
            let plan = join_plan(
                &ctx,
                placed.decl.kind(),
                &integration,
                placed.decl.is_hybrid(),
                placed.spec.local_when_integrated(),
                placed.spec.uses_photonauth(),
            )
            .await?;
            ctx.state_store = Some(crate::service::StateStore {
                endpoints: plan.chainfire.clone(),
                cluster: ctx.cluster.clone(),
            });
            let done =
                crate::join::join(plan, ctx.listen_addresses(), ctx.config.presenter()).await?;
            let report = done.report.clone();
            joined = Some(done);
            report
        }
        // Several members of one cluster are the platform's state store.
        (None, None) => match placed.decl.cluster() {
            Some(cluster)
                if topology
                    .services()
                    .iter()
                    .filter(|p| p.decl.cluster() == Some(cluster))
                    .count()
                    > 1 =>
            {
                ModeReport::clustered()
            }
            _ => ModeReport::standalone(),
        },
    };
    let running = placed.spec.start(ctx).await?;
    Ok(match joined {
        None => running,
        Some(joined) => Box::pin(async move {
            let result = running.await;
            joined.leave().await;
            result
        }),
    })
}

/// How a compiled integrated service joins: its state store's members,
/// the deployment as its cluster, its node as its id.
async fn join_plan(
    ctx: &StartContext,
    kind: photon_dsl::ServiceKind,
    integration: &photon_dsl::Integration,
    hybrid: bool,
    local: Option<&'static str>,
    uses_photonauth: bool,
) -> Result<crate::join::JoinPlan, ServiceError> {
    let mut chainfire = Vec::new();
    for dep in integration.state_store {
        chainfire.push(format!(
            "http://{}",
            ctx.address_of(dep.node(), dep.port()).await?
        ));
    }
    // A hybrid service says which backends are local; an integrated one
    // what it cannot yet move to the platform.
    let mut note: Vec<String> = if hybrid {
        let by_photonauth = matches!(integration.auth, photon_dsl::Auth::PhotonAuth(_));
        vec![photon_dsl::Hybrid::note(by_photonauth).to_owned()]
    } else {
        local.map(str::to_owned).into_iter().collect()
    };
    if let photon_dsl::Auth::PhotonAuth(auth) = integration.auth
        && !uses_photonauth
    {
        note.push(format!(
            "photonauth at {} is not used: its client is not built yet",
            ctx.address_of(auth.node(), auth.port()).await?
        ));
    }
    Ok(crate::join::JoinPlan {
        chainfire,
        control_plane: None,
        // The state store started first (it is a dependency), so this is
        // how long it may take to elect a leader.
        timeout: crate::join::DEFAULT_INTERVAL,
        registration: Some(crate::join::RegistrationPlan {
            cluster_id: ctx.cluster.clone(),
            component: kind.as_str(),
            component_id: ctx.instance.clone(),
            metadata: Default::default(),
            heartbeat: crate::join::DEFAULT_INTERVAL,
        }),
        note: (!note.is_empty()).then(|| note.join("; ")),
        hybrid,
    })
}

/// Stops `which` (indices in start order) in reverse, each within the timeout;
/// returns the labels of the ones that failed.
async fn stop_all(
    topology: &Topology<dyn Service>,
    tasks: &mut [Option<Task>],
    which: &[usize],
    timeout: Duration,
) -> Vec<String> {
    let mut failed = Vec::new();
    for &i in which.iter().rev() {
        let Some(task) = tasks[i].take() else {
            continue;
        };
        let label = topology.label(i);
        task.token.cancel();
        let mut handle = task.handle;
        match tokio::time::timeout(timeout, &mut handle).await {
            Ok(Ok(Ok(()))) => tracing::debug!(service = %label, "stopped"),
            Ok(Ok(Err(e))) => {
                tracing::error!(service = %label, error = %error_chain(&*e), "service failed while stopping");
                failed.push(label);
            }
            Ok(Err(e)) => {
                tracing::error!(service = %label, error = %e, "service panicked");
                failed.push(label);
            }
            Err(_) => {
                tracing::error!(service = %label, ?timeout, "service did not stop in time: aborted");
                handle.abort();
                failed.push(label);
            }
        }
    }
    failed
}

/// Waits until every TCP dependency of service `i` accepts connections
/// (unless it starts before them).
async fn wait_for_dependencies(
    topology: &Topology<dyn Service>,
    i: usize,
    options: &RunOptions,
) -> Result<(), RunError> {
    let placed = &topology.services()[i];
    if !placed.decl.waits_for_deps() {
        return Ok(());
    }
    // A standalone server that fell back from integrated mode runs without
    // the platform: its state store and photonauth are not waited for.
    let fell_back = options
        .standalone
        .as_ref()
        .is_some_and(|s| s.state_store.is_none());
    for dep in placed.decl.deps() {
        if !dep.transport.has_tcp() || (fell_back && matches!(dep.slot, "state_store" | "auth")) {
            continue;
        }
        let label = topology.label(i);
        let addr = resolve_socket(&options.resolver, dep.node, dep.port)
            .await
            .map_err(|source| RunError::Resolve {
                service: label.clone(),
                slot: dep.slot,
                node: dep.node,
                source,
            })?;
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(20);
        let mut next_report = started;
        loop {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => break,
                Err(e) => {
                    if started.elapsed() >= options.dependency_timeout {
                        return Err(RunError::DependencyTimeout {
                            service: label,
                            slot: dep.slot,
                            protocol: dep.protocol,
                            node: dep.node,
                            addr: addr.to_string(),
                            waited: options.dependency_timeout,
                        });
                    }
                    if tokio::time::Instant::now() >= next_report {
                        tracing::info!(service = %label, slot = dep.slot, node = %dep.node, %addr, error = %e, "waiting for dependency");
                        next_report += Duration::from_secs(5);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
            }
        }
    }
    Ok(())
}

fn spawn_signal_listener(events: mpsc::UnboundedSender<Event>) -> Result<(), RunError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = interrupt.recv() => "SIGINT",
                Some(()) = terminate.recv() => "SIGTERM",
                else => break,
            };
            if events.send(Event::Signal(name)).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Where a service keeps its data: `<state root>/<deployment>/<node>/<kind>`.
pub(crate) fn state_dir_of(
    root: &std::path::Path,
    deployment: &str,
    node: &str,
    kind: &str,
) -> std::path::PathBuf {
    root.join(deployment).join(node).join(kind)
}

/// `error: cause: cause`, for logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

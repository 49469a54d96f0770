//! The scheduler as a service: it asks each candidate node's agent for
//! `/health` every second, and places (or moves) resources in passes:
//! every `resync_seconds`, and whenever the bus says a resource of a
//! placed kind changed. Each placement is written into the resource's
//! record, guarded by the placement it read (another scheduler's decision
//! is never overwritten), then told on the bus so the agents of both
//! nodes hear of it at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use photon_bus::{Bus, Subscription};
use photon_dsl::Node;
use photon_dsl::events::Subject;
use photon_runtime::admin::{Checks, Metrics, Report};
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};
use resource_manager::ResourceChanged;
use resource_manager::model::Kind;
use resource_manager::store::{Resource, ResourceStore, State, Status};
use tokio_util::sync::CancellationToken;

use crate::place::{Candidate, Decision, decide, why_waiting};
use crate::spec::{AdminListener, Scheduler};

/// How often each candidate's agent is asked.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// One node that may serve a kind: where its agent answers `/health`,
/// and when it last did.
#[derive(Debug)]
struct Agent {
    kind: Kind,
    node: String,
    admin: SocketAddr,
    last_ok: Mutex<Option<Instant>>,
}

/// What the scheduler knows and has done.
#[derive(Debug)]
struct Placer {
    store: ResourceStore,
    bus: Bus,
    subject: Subject<ResourceChanged>,
    agents: Vec<Arc<Agent>>,
    away_after: Duration,
    capacity: u32,
    counts: Arc<Counts>,
}

/// For `/health` and `/metrics`.
#[derive(Debug, Default)]
struct Counts {
    placed: AtomicU64,
    moved: AtomicU64,
    waiting: AtomicU64,
    passes: AtomicU64,
}

impl Agent {
    fn live(&self, away_after: Duration) -> bool {
        self.last_ok
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < away_after)
    }

    /// Asks its `/health` every second until `stop`.
    async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(PROBE_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let answered =
                photon_runtime::http::get(self.admin, "/health", Duration::from_millis(900)).await;
            if answered.is_ok_and(|a| a.status.is_success()) {
                *self.last_ok.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
        }
    }
}

impl Placer {
    /// The kinds placed here.
    fn kinds(&self) -> Vec<Kind> {
        let mut kinds: Vec<Kind> = self.agents.iter().map(|a| a.kind).collect();
        kinds.dedup();
        kinds
    }

    /// Looks at every resource of the placed kinds once.
    async fn pass(&self) {
        let resources = match self.store.list(None, &self.kinds()).await {
            Ok(resources) => resources,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list resources");
                return;
            }
        };
        // Each node's load, per kind, as placed now.
        let mut load: HashMap<(Kind, String), u32> = HashMap::new();
        for r in &resources {
            if let Some(node) = &r.record.placement {
                *load.entry((r.key.kind, node.clone())).or_default() += 1;
            }
        }
        // Which resource has each port of each node's address: the first
        // in key order of those placed there (a later one sharing it,
        // placed before ports were weighed or by a racing scheduler,
        // moves).
        // Each resource's ports, read from its spec once.
        let needed: Vec<Vec<u16>> = resources
            .iter()
            .map(|r| r.key.kind.node_ports(&r.record.spec))
            .collect();
        let mut ports: HashMap<(String, u16), String> = HashMap::new();
        for (r, needs) in resources.iter().zip(&needed) {
            if let Some(node) = &r.record.placement {
                for port in needs {
                    ports
                        .entry((node.clone(), *port))
                        .or_insert_with(|| r.key.to_string());
                }
            }
        }
        let mut waiting = 0;
        for (resource, needs) in resources.into_iter().zip(needed) {
            let kind = resource.key.kind;
            let me = resource.key.to_string();
            let candidates: Vec<Candidate> = self
                .agents
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| Candidate {
                    node: a.node.clone(),
                    live: a.live(self.away_after),
                    load: load.get(&(kind, a.node.clone())).copied().unwrap_or(0),
                    port_taken: needs.iter().any(|port| {
                        ports
                            .get(&(a.node.clone(), *port))
                            .is_some_and(|holder| *holder != me)
                    }),
                })
                .collect();
            let current = resource.record.placement.as_deref();
            let node = match decide(current, &candidates, self.capacity) {
                Decision::Stay => continue,
                Decision::Wait => {
                    waiting += 1;
                    if current.is_none() && !resource.record.deleting {
                        self.tell_waiting(
                            &resource,
                            why_waiting(&candidates, self.capacity, &needs),
                        )
                        .await;
                    }
                    continue;
                }
                Decision::Place(node) => node,
            };
            let key = &resource.key;
            match self.store.place(key, current, &node).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(resource = %key, error = %e, "cannot place");
                    continue;
                }
            }
            *load.entry((kind, node.clone())).or_default() += 1;
            for port in &needs {
                if let Some(from) = current
                    && ports.get(&(from.to_owned(), *port)) == Some(&me)
                {
                    ports.remove(&(from.to_owned(), *port));
                }
                ports.insert((node.clone(), *port), me.clone());
            }
            match current {
                Some(from) => {
                    if let Some(n) = load.get_mut(&(kind, from.to_owned())) {
                        *n = n.saturating_sub(1);
                    }
                    self.counts.moved.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(resource = %key, %from, to = %node, "moved off a node that is away or where its port is taken");
                }
                None => {
                    self.counts.placed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(resource = %key, %node, "placed");
                }
            }
            let event = ResourceChanged {
                tenant: key.tenant.clone(),
                kind: kind.as_str().to_owned(),
                name: key.name.clone(),
                generation: resource.record.generation,
                deleting: resource.record.deleting,
            };
            let id = format!("{key}@{}-on-{node}", resource.record.generation);
            if let Err(e) = self.bus.publish(&self.subject, &id, &event).await {
                // The agents find it on their next pass anyway.
                tracing::debug!(resource = %key, error = %e, "placement not told on the bus");
            }
        }
        self.counts.waiting.store(waiting, Ordering::Relaxed);
        self.counts.passes.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes into `resource`'s status why it is not placed (once per
    /// reason): the tenant sees it waiting, not lost. Its agent's status
    /// replaces it once it is placed and served.
    async fn tell_waiting(&self, resource: &Resource, why: String) {
        let generation = resource.record.generation;
        if resource
            .status
            .as_ref()
            .is_some_and(|s| s.observed_generation == generation && s.message == why)
        {
            return;
        }
        let status = Status {
            agent: "scheduler".to_owned(),
            observed_generation: generation,
            state: State::Pending,
            message: why,
            outputs: Default::default(),
        };
        match self.store.report(&resource.key, &status).await {
            Ok(_) => tracing::info!(resource = %resource.key, why = %status.message, "not placed"),
            Err(e) => {
                tracing::debug!(resource = %resource.key, error = %e, "cannot say why it waits")
            }
        }
    }

    /// Places until `stop`: a pass every `resync`, and one after each
    /// change of a placed kind the bus tells of.
    async fn run(self, resync: Duration, stop: CancellationToken) {
        let mut subscription: Option<Subscription<ResourceChanged>> = None;
        let mut passes = tokio::time::interval(resync);
        passes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let kinds = self.kinds();
        loop {
            if subscription.is_none() {
                match self.bus.subscribe(&self.subject, "scheduler").await {
                    Ok(s) => subscription = Some(s),
                    Err(e) => {
                        tracing::debug!(error = %e, "not subscribed yet; placing on each pass meanwhile")
                    }
                }
            }
            let next = async {
                match subscription.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                _ = passes.tick() => self.pass().await,
                delivery = next => match delivery {
                    None => subscription = None,
                    Some(Err(e)) => tracing::warn!(error = %e, "resource changes"),
                    Some(Ok(delivery)) => {
                        if Kind::parse(&delivery.message.kind).is_ok_and(|k| kinds.contains(&k)) {
                            self.pass().await;
                        }
                        if let Err(e) = delivery.ack().await {
                            tracing::debug!(error = %e, "acknowledging an event");
                        }
                    }
                },
            }
        }
    }
}

/// `/health` and `/metrics`.
struct Reported {
    agents: Vec<Arc<Agent>>,
    away_after: Duration,
    counts: Arc<Counts>,
}

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        let (live, away): (Vec<_>, Vec<_>) =
            self.agents.iter().partition(|a| a.live(self.away_after));
        let names = |agents: &[&Arc<Agent>]| {
            agents
                .iter()
                .map(|a| format!("{}@{}", a.kind, a.node))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Not failing: the scheduler itself works, and moves what it can.
        checks.ok(
            "nodes",
            if away.is_empty() {
                format!("ok: {} serving", names(&live))
            } else {
                format!("{} away; {} serving", names(&away), names(&live))
            },
        );
        let c = &self.counts;
        checks.ok(
            "placements",
            format!(
                "ok: {} placed, {} moved, {} waiting for room",
                c.placed.load(Ordering::Relaxed),
                c.moved.load(Ordering::Relaxed),
                c.waiting.load(Ordering::Relaxed)
            ),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        let c = &self.counts;
        out.counter(
            "scheduler_placements_total",
            "Resources placed for the first time.",
        )
        .value(c.placed.load(Ordering::Relaxed));
        out.counter(
            "scheduler_moves_total",
            "Resources moved off a node that was away.",
        )
        .value(c.moved.load(Ordering::Relaxed));
        out.gauge(
            "scheduler_waiting",
            "Resources with no live node with room.",
        )
        .value(c.waiting.load(Ordering::Relaxed));
        out.counter(
            "scheduler_passes_total",
            "Passes over every placed resource.",
        )
        .value(c.passes.load(Ordering::Relaxed));
        let mut up = out.gauge("scheduler_node_up", "Whether a node's agent answers.");
        for a in &self.agents {
            up.labelled(
                &[("kind", a.kind.as_str()), ("node", &a.node)],
                u64::from(a.live(self.away_after)),
            );
        }
    }
}

impl<N: Node> Service for Scheduler<N> {
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &["async_nats"]
    }

    fn uses_event_bus(&self) -> bool {
        true
    }

    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc =
            crate::standalone::export(self, &agents_placed(&ctx.placements, &ctx.resolver)?, ctx)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            // The candidates: where the topology puts each placed kind's
            // agent, and its admin listener.
            let agents = agents_placed(&ctx.placements, &ctx.resolver)?;
            run(spec, ctx, agents).await
        })
    }
}

/// One agent the scheduler asks: the kind it serves, its node, and
/// where its admin listener answers (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAt {
    /// The kind it serves.
    pub kind: Kind,
    /// Its node: the name placements are written with.
    pub node: String,
    /// Its `/health`, `host:port`.
    pub admin: String,
}

/// The agents of placed kinds among `placements`, where `resolver`
/// reaches them.
fn agents_placed(
    placements: &[photon_runtime::Placement],
    resolver: &photon_dsl::Resolver,
) -> Result<Vec<AgentAt>, photon_runtime::ExportError> {
    let mut agents = Vec::new();
    for kind in Kind::ALL {
        let Some(service) = kind.agent_service() else {
            continue;
        };
        for placement in placements.iter().filter(|p| p.kind.as_str() == service) {
            let Some(admin) = placement.listeners.iter().find(|l| l.name == "admin") else {
                return Err(photon_runtime::ExportError::MemberWithoutListener {
                    member: format!("{service} on {}", placement.node),
                    listener: "admin",
                });
            };
            agents.push(AgentAt {
                kind,
                node: placement.node.to_string(),
                admin: resolver
                    .resolve(placement.node)?
                    .with_port(admin.port.get()),
            });
        }
    }
    Ok(agents)
}

/// Runs `spec`, placing on `agents`.
pub(crate) async fn run<N: Node>(
    spec: Scheduler<N>,
    ctx: StartContext,
    candidates: Vec<AgentAt>,
) -> Result<Running, ServiceError> {
    let (client, cluster) = ctx.state_store_only("scheduler").await?;
    let mut agents = Vec::new();
    for AgentAt { kind, node, admin } in candidates {
        let addr = tokio::net::lookup_host(admin.as_str())
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                format!("the {kind} agent of node `{node}` at `{admin}`: no such address")
            })?;
        agents.push(Arc::new(Agent {
            kind,
            node,
            admin: addr,
            last_ok: Mutex::new(None),
        }));
    }
    if agents.is_empty() {
        return Err("the topology runs no agent of a kind the scheduler places (lb-agent): there is nothing to schedule".into());
    }
    let bus_at = resource_manager::bus_address(&ctx, &spec.changes).await?;
    let bus = Bus::connect(&bus_at, &format!("scheduler-{}", ctx.instance)).await?;
    let admin = ctx.tcp(AdminListener, &spec)?;
    let counts = Arc::new(Counts::default());
    let away_after = Duration::from_secs(u64::from(spec.away_after_seconds));
    tracing::info!(
        admin = %admin.local_addr()?,
        bus = %bus_at,
        candidates = %agents.iter().map(|a| format!("{}@{}", a.kind, a.node)).collect::<Vec<_>>().join(", "),
        "scheduler placing"
    );
    let surface = Arc::new(ctx.admin(
        env!("CARGO_PKG_VERSION"),
        Reported {
            agents: agents.clone(),
            away_after,
            counts: counts.clone(),
        },
    ));
    let stop = ctx.shutdown.clone();
    for agent in &agents {
        tokio::spawn(agent.clone().watch(stop.clone()));
    }
    // One probe round before the first pass, so live nodes are
    // known when it places.
    tokio::time::sleep(PROBE_EVERY + Duration::from_millis(200)).await;
    let placer = Placer {
        store: ResourceStore::new(client, &cluster),
        bus,
        subject: spec.changes,
        agents,
        away_after,
        capacity: spec.capacity_per_node,
        counts,
    };
    let resync = Duration::from_secs(u64::from(spec.resync_seconds));
    Ok(Box::pin(async move {
        tokio::join!(
            placer.run(resync, stop.clone()),
            photon_runtime::http::serve_admin(admin, stop.clone(), surface),
        );
        tracing::info!("scheduler stopped");
        Ok(())
    }) as Running)
}

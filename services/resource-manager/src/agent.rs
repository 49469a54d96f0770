//! A component's agent: the loop that makes the component what tenants'
//! resources say (the Kubernetes controller pattern). Each component
//! supplies a [`Reconciler`]; this module runs it.
//!
//! Level-triggered: an event on the bus only says which resource to look
//! at, and every resource of the agent's kinds is looked at again every
//! `resync` period anyway, so a lost event, an agent restarted mid-change
//! or the bus being away only delay a change. Reconciling reads the
//! resource from chainfire and makes the component match it: `ensure` for
//! a live resource (idempotent: what exists already is left as it is),
//! `remove` for one being deleted, then the agent's finalizer comes off
//! and the resource is gone. A status is written only for the generation
//! reconciled, so a slow agent never marks a newer spec ready.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use photon_bus::{Bus, Subscription};
use photon_dsl::events::Subject;
use photon_runtime::admin::{Checks, Metrics, Report};
use photon_runtime::{BoxFuture, Running, ServiceError, StartContext};
use tokio_util::sync::CancellationToken;

use crate::model::Kind;
use crate::spec::ResourceChanged;
use crate::store::{Resource, ResourceKey, ResourceStore, State, Status};

/// What a reconciler made, for the tenant (shown in the status).
pub type Outputs = serde_json::Map<String, serde_json::Value>;

/// How a component makes resources real.
pub trait Reconciler: Send + Sync + 'static {
    /// The agent's name: the finalizer its resources carry
    /// ([`Kind::agent`]).
    fn agent(&self) -> &'static str;

    /// The kinds it makes.
    fn kinds(&self) -> &'static [Kind];

    /// Makes `resource` as its spec says. Idempotent: it may exist
    /// already, wholly or partly (an agent stopped mid-change).
    fn ensure<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<Outputs, String>>;

    /// Removes what `resource` made. Idempotent: gone already is done.
    fn remove<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), String>>;

    /// The node this agent serves, when its kinds are placed by the
    /// scheduler ([`Kind::placed`]): it then makes only the resources
    /// placed on it. `None` (the default): every resource is its own.
    fn node(&self) -> Option<&str> {
        None
    }

    /// Lets go, here only, of what it made of `resource`, now placed on
    /// another node (whose agent makes it and reports on it). No status,
    /// no finalizer: the resource lives on elsewhere.
    fn forget<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, ()> {
        let _ = resource;
        Box::pin(async {})
    }
}

/// What an agent has done, for `/health` and `/metrics`.
#[derive(Debug, Default)]
pub struct AgentCounts {
    /// Resources made ready.
    pub ready: AtomicU64,
    /// Reconciles that failed.
    pub failed: AtomicU64,
    /// Resources removed (finalizer released).
    pub removed: AtomicU64,
    /// Events heard.
    pub events: AtomicU64,
    /// Whether the bus subscription is up (1) or being retried (0).
    pub subscribed: AtomicU64,
    /// Full passes over every resource.
    pub resyncs: AtomicU64,
}

/// An agent: a reconciler, its resources in chainfire, and the subject
/// the resource manager publishes changes on.
pub struct Agent<R: Reconciler> {
    reconciler: R,
    store: ResourceStore,
    bus: Bus,
    subject: Subject<ResourceChanged>,
    resync: Duration,
    counts: Arc<AgentCounts>,
}

impl<R: Reconciler> std::fmt::Debug for Agent<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("agent", &self.reconciler.agent())
            .field("resync", &self.resync)
            .finish_non_exhaustive()
    }
}

impl<R: Reconciler> Agent<R> {
    /// An agent running `reconciler` over `store`, hearing of changes on
    /// `subject` through `bus`, and looking at everything every `resync`.
    pub fn new(
        reconciler: R,
        store: ResourceStore,
        bus: Bus,
        subject: Subject<ResourceChanged>,
        resync: Duration,
    ) -> Agent<R> {
        Agent {
            reconciler,
            store,
            bus,
            subject,
            resync,
            counts: Arc::default(),
        }
    }

    /// What it has done, for `/health` and `/metrics`.
    pub fn counts(&self) -> Arc<AgentCounts> {
        self.counts.clone()
    }

    /// The durable subscriber name: replicas of one agent share it, so
    /// each event goes to one of them (but see below).
    fn subscriber(&self) -> String {
        match self.reconciler.node() {
            // Placed kinds: each node's agent hears every event, as a
            // placement concerns the node it leaves and the one it takes.
            Some(node) => format!("agent-{}-{node}", self.reconciler.agent()),
            None => format!("agent-{}", self.reconciler.agent()),
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut subscription: Option<Subscription<ResourceChanged>> = None;
        let mut resync = tokio::time::interval(self.resync);
        let mut resubscribe = tokio::time::Instant::now();
        loop {
            if subscription.is_none() && tokio::time::Instant::now() >= resubscribe {
                match self.bus.subscribe(&self.subject, &self.subscriber()).await {
                    Ok(s) => {
                        self.counts.subscribed.store(1, Ordering::Relaxed);
                        subscription = Some(s);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "not subscribed to resource changes yet; looking at every resource meanwhile");
                        resubscribe = tokio::time::Instant::now() + Duration::from_secs(2);
                    }
                }
            }
            let waiting = subscription.is_none();
            let next = async {
                match subscription.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = resync.tick() => self.resync_all().await,
                () = tokio::time::sleep_until(resubscribe), if waiting => {}
                delivery = next => match delivery {
                    None => {
                        self.counts.subscribed.store(0, Ordering::Relaxed);
                        subscription = None;
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "resource changes"),
                    Some(Ok(delivery)) => {
                        self.counts.events.fetch_add(1, Ordering::Relaxed);
                        let event = &delivery.message;
                        let handled = match Kind::parse(&event.kind) {
                            Ok(kind) if self.reconciler.kinds().contains(&kind) => {
                                match ResourceKey::new(&event.tenant, &event.kind, &event.name) {
                                    Ok(key) => self.reconcile_key(&key).await,
                                    Err(e) => {
                                        tracing::warn!(error = %e, "an event names no resource");
                                        true
                                    }
                                }
                            }
                            _ => true,
                        };
                        let acked = if handled {
                            delivery.ack().await
                        } else {
                            delivery.retry_in(Duration::from_secs(1)).await
                        };
                        if let Err(e) = acked {
                            tracing::debug!(error = %e, "answering an event");
                        }
                    }
                },
            }
        }
    }

    /// Looks at every resource of the agent's kinds.
    async fn resync_all(&self) {
        match self.store.list(None, self.reconciler.kinds()).await {
            Ok(resources) => {
                for resource in resources {
                    self.reconcile(resource).await;
                }
                self.counts.resyncs.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "cannot list resources"),
        }
    }

    /// Reconciles `key` as chainfire has it now; whether it is done with
    /// (false: try again soon).
    async fn reconcile_key(&self, key: &ResourceKey) -> bool {
        match self.store.get(key).await {
            Ok(Some(resource)) => self.reconcile(resource).await,
            // Gone: nothing of ours holds it (our finalizer was off).
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(resource = %key, error = %e, "cannot read");
                false
            }
        }
    }

    async fn reconcile(&self, resource: Resource) -> bool {
        let agent = self.reconciler.agent();
        let key = &resource.key;
        if let Some(here) = self.reconciler.node()
            && key.kind.placed()
        {
            match resource.record.placement.as_deref() {
                Some(node) if node == here => {}
                // Never placed and being deleted: nothing was made of it
                // anywhere, so any agent may let it go.
                None if resource.record.deleting => {}
                // Not placed yet: the scheduler's event brings it back.
                None => return true,
                Some(_) => {
                    self.reconciler.forget(&resource).await;
                    return true;
                }
            }
        }
        if resource.record.deleting {
            if !resource.record.finalizers.iter().any(|f| f == agent) {
                return true;
            }
            return match self.reconciler.remove(&resource).await {
                Ok(()) => match self.store.release(key, agent).await {
                    Ok(_) => {
                        self.counts.removed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(resource = %key, "removed");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(resource = %key, error = %e, "removed, but its finalizer stays for now");
                        false
                    }
                },
                Err(why) => {
                    self.counts.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(resource = %key, error = %why, "cannot remove yet");
                    false
                }
            };
        }
        let generation = resource.record.generation;
        let (state, message, outputs) = match self.reconciler.ensure(&resource).await {
            Ok(outputs) => (State::Ready, String::new(), outputs),
            Err(why) => (State::Failed, why, Outputs::new()),
        };
        let status = Status {
            agent: agent.to_owned(),
            observed_generation: generation,
            state,
            message,
            outputs,
        };
        // Unchanged status: nothing to write.
        if resource.status.as_ref() != Some(&status) {
            match self.store.report(key, &status).await {
                Ok(true) if state == State::Ready => {
                    self.counts.ready.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(resource = %key, generation, "ready");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(resource = %key, error = %e, "cannot report");
                    return false;
                }
            }
        }
        if state == State::Failed {
            self.counts.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(resource = %key, generation, error = %status.message, "not ready");
            return false;
        }
        true
    }
}

/// An agent's `/health` and `/metrics`.
#[derive(Debug)]
pub struct AgentReport {
    /// The agent's name, for metric labels.
    pub agent: &'static str,
    /// What it has done.
    pub counts: Arc<AgentCounts>,
}

impl Report for AgentReport {
    fn health(&self, checks: &mut Checks) {
        let c = &self.counts;
        checks.ok(
            "agent",
            format!(
                "ok: {} made ready, {} removed, {} failed attempts, {} passes over every resource",
                c.ready.load(Ordering::Relaxed),
                c.removed.load(Ordering::Relaxed),
                c.failed.load(Ordering::Relaxed),
                c.resyncs.load(Ordering::Relaxed),
            ),
        );
        if c.subscribed.load(Ordering::Relaxed) == 1 {
            checks.ok("events", "ok: subscribed");
        } else {
            // Not failing: every resource is still looked at each resync.
            checks.ok(
                "events",
                "not subscribed yet (the bus is away); resyncing meanwhile",
            );
        }
    }

    fn metrics(&self, out: &mut Metrics) {
        let c = &self.counts;
        let labels = [("agent", self.agent)];
        out.counter("agent_resources_ready_total", "Resources made ready.")
            .labelled(&labels, c.ready.load(Ordering::Relaxed));
        out.counter("agent_resources_removed_total", "Resources removed.")
            .labelled(&labels, c.removed.load(Ordering::Relaxed));
        out.counter("agent_reconcile_failures_total", "Reconciles that failed.")
            .labelled(&labels, c.failed.load(Ordering::Relaxed));
        out.counter("agent_events_total", "Resource change events heard.")
            .labelled(&labels, c.events.load(Ordering::Relaxed));
        out.counter("agent_resyncs_total", "Passes over every resource.")
            .labelled(&labels, c.resyncs.load(Ordering::Relaxed));
        out.gauge("agent_subscribed", "Whether the bus subscription is up.")
            .labelled(&labels, c.subscribed.load(Ordering::Relaxed));
    }
}

/// What every agent service does once its component's reconciler is
/// made: connects to the bus `changes` is on, runs the loop over `store`
/// with a pass every `resync_seconds`, and serves `/health` and
/// `/metrics` on `admin` until the service is told to stop.
pub async fn serve<R: Reconciler>(
    ctx: StartContext,
    reconciler: R,
    store: ResourceStore,
    changes: Subject<ResourceChanged>,
    resync_seconds: u32,
    admin: tokio::net::TcpListener,
) -> Result<Running, ServiceError> {
    let name = reconciler.agent();
    let bus_at = crate::bus_address(&ctx, &changes).await?;
    let bus = Bus::connect(&bus_at, &format!("agent-{name}-{}", ctx.instance)).await?;
    let kinds: Vec<&str> = reconciler.kinds().iter().map(|k| k.as_str()).collect();
    let agent = Agent::new(
        reconciler,
        store,
        bus,
        changes,
        Duration::from_secs(u64::from(resync_seconds)),
    );
    tracing::info!(
        admin = %admin.local_addr()?,
        bus = %bus_at,
        kinds = %kinds.join(", "),
        "agent `{name}` reconciling"
    );
    let surface = Arc::new(ctx.admin(
        env!("CARGO_PKG_VERSION"),
        AgentReport {
            agent: name,
            counts: agent.counts(),
        },
    ));
    Ok(Box::pin(async move {
        let shutdown = ctx.shutdown.clone();
        tokio::join!(
            agent.run(shutdown.clone()),
            photon_runtime::http::serve_admin(admin, shutdown, surface),
        );
        tracing::info!("agent `{name}` stopped");
        Ok(())
    }))
}

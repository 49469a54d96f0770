//! The load-balancer agent: tenants' `load-balancer` resources made L4
//! (TCP) balancers, served by this agent itself with fiberlb's pools
//! (round robin), health checks (HAProxy's defaults) and kernel splicing.
//!
//! A balancer is served by the agent of the node the scheduler placed it
//! on (another agent that served it before lets it go), on that node's
//! address and the port its spec names, which must be in the range the
//! operator gave tenants. The
//! balancers live in the agent's process: when it starts, its first pass
//! over every load-balancer resource (the agent loop's resync, at once)
//! brings them all back. Ensuring is idempotent (a balancer serving the
//! spec already is left alone; a changed spec replaces it); removing stops
//! it, and open connections finish.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};
use resource_manager::agent::{Outputs, Reconciler};
use resource_manager::model::{Kind, LoadBalancerSpec};
use resource_manager::store::{Resource, ResourceStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::l4::{self, L4Balancer};
use crate::agent::{AgentAdminListener, LbAgent};
use crate::pool::{BackendState, Pool};
use crate::spec::{Health, Method};

/// How long a tenant's connection may sit idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long open connections may run on after the agent stops.
const DRAIN: Duration = Duration::from_secs(10);

/// A balancer being served.
struct Serving {
    spec: LoadBalancerSpec,
    addr: SocketAddr,
    stop: CancellationToken,
}

/// Makes load-balancer resources placed on `node` balancers on `ip`.
struct Balancers {
    node: String,
    ip: IpAddr,
    ports: std::ops::RangeInclusive<u16>,
    serving: Mutex<HashMap<String, Serving>>,
    /// The agent's own stop: every balancer's is a child of it.
    stop: CancellationToken,
    connections: TaskTracker,
}

fn outputs(addr: SocketAddr, spec: &LoadBalancerSpec) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("address".into(), addr.to_string().into());
    outputs.insert("backends".into(), spec.backends.len().into());
    outputs
}

impl Balancers {
    /// Binds `addr`, waiting a moment for a balancer just stopped there
    /// to let go of it.
    async fn bind(&self, addr: SocketAddr) -> Result<TcpListener, String> {
        let mut tries = 0;
        loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => return Ok(listener),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(format!(
                        "port {} on {} is taken (another balancer or service holds it): choose another in {}-{}",
                        addr.port(),
                        addr.ip(),
                        self.ports.start(),
                        self.ports.end()
                    ));
                }
                Err(e) => return Err(format!("cannot listen on {addr}: {e}")),
            }
        }
    }

    /// Stops the balancer of `key`, if one is served.
    fn stop(&self, key: &str) {
        let stopped = self
            .serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if let Some(serving) = stopped {
            serving.stop.cancel();
            tracing::info!(balancer = key, address = %serving.addr, "balancer stopped");
        }
    }
}

impl Reconciler for Balancers {
    fn agent(&self) -> &'static str {
        Kind::LoadBalancer.agent()
    }

    fn kinds(&self) -> &'static [Kind] {
        &[Kind::LoadBalancer]
    }

    fn ensure<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<Outputs, String>> {
        Box::pin(async move {
            let spec: LoadBalancerSpec = serde_json::from_value(resource.record.spec.clone())
                .map_err(|e| format!("the stored spec is not a load balancer's: {e}"))?;
            if !self.ports.contains(&spec.port) {
                return Err(format!(
                    "port {} is not one tenants' balancers may take here: choose one in {}-{}",
                    spec.port,
                    self.ports.start(),
                    self.ports.end()
                ));
            }
            let key = resource.key.to_string();
            let addr = SocketAddr::new(self.ip, spec.port);
            {
                let serving = self.serving.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(current) = serving.get(&key)
                    && current.spec == spec
                {
                    return Ok(outputs(current.addr, &spec));
                }
            }
            // A changed spec: the old balancer goes, the new one comes.
            self.stop(&key);
            let listener = self.bind(addr).await?;
            let backends: Vec<Arc<BackendState>> = spec
                .backends
                .iter()
                .map(|backend| BackendState::new(*backend, 1))
                .collect();
            let name: Arc<str> = key.as_str().into();
            let balancer = Arc::new(L4Balancer::new(
                name.clone(),
                Pool::new(backends.clone(), Method::RoundRobin),
                IDLE_TIMEOUT,
                false,
            ));
            let stop = self.stop.child_token();
            tokio::spawn(l4::serve(
                listener,
                balancer,
                stop.clone(),
                self.connections.clone(),
            ));
            for backend in backends {
                tokio::spawn(super::health::watch(
                    backend,
                    Health::DEFAULT,
                    name.clone(),
                    "tcp",
                    stop.clone(),
                ));
            }
            tracing::info!(balancer = %key, %addr, backends = ?spec.backends, "balancer listening");
            let made = outputs(addr, &spec);
            self.serving
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, Serving { spec, addr, stop });
            Ok(made)
        })
    }

    fn remove<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.stop(&resource.key.to_string());
            Ok(())
        })
    }

    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }

    fn forget<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.stop(&resource.key.to_string()) })
    }
}

impl<N: Node> Service for LbAgent<N> {
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &["async_nats"]
    }

    fn uses_event_bus(&self) -> bool {
        true
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let (client, cluster) = ctx.state_store_only("lb-agent").await?;
            let ip = ctx.address_of(ctx.node, spec.admin_port).await?.ip();
            let admin = ctx.tcp(AgentAdminListener, &spec)?;
            let ports = spec.ports.first.get()..=spec.ports.last.get();
            tracing::info!(%ip, first = ports.start(), last = ports.end(), "load-balancer resources become balancers here");
            let connections = TaskTracker::new();
            let balancers = Balancers {
                node: ctx.node.to_string(),
                ip,
                ports,
                serving: Mutex::default(),
                stop: ctx.shutdown.child_token(),
                connections: connections.clone(),
            };
            let running = resource_manager::agent::serve(
                ctx,
                balancers,
                ResourceStore::new(client, &cluster),
                spec.changes,
                spec.resync_seconds,
                admin,
            )
            .await?;
            Ok(Box::pin(async move {
                running.await?;
                connections.close();
                if tokio::time::timeout(DRAIN, connections.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        ?DRAIN,
                        "tenants' connections still open after the drain period; closing them"
                    );
                }
                Ok(())
            }) as Running)
        })
    }
}

//! fiberlb as a PhotonCloud service: each balancer of the spec on the
//! socket the runtime bound for it, its backends resolved through the
//! runtime, checked on their schedule, and reported on the admin listener
//! (`/health`, `/metrics`).
//!
//! Built so far: L4 over TCP and UDP (flows). An L7 balancer is refused
//! at start with what is missing (issue 19).

mod admin_api;
mod health;
mod l4;
mod udp;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use photon_dsl::{Node, Transport};
use photon_runtime::admin::{Checks, Metrics, Report};
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};
use tokio_util::task::TaskTracker;

use crate::pool::{BackendState, Pool};
use crate::spec::{AdminListener, Balancer, FiberLb, L4Stickiness, Layer, Target};
use l4::L4Balancer;

/// How long open connections may run on after a stop.
const DRAIN: Duration = Duration::from_secs(10);

/// The balancers, for `/health` and `/metrics`.
struct Status {
    balancers: Vec<Arc<L4Balancer>>,
}

impl Report for Status {
    /// Healthy while every balancer has a backend that may take traffic.
    fn health(&self, checks: &mut Checks) {
        for balancer in &self.balancers {
            let backends = balancer.pool.backends();
            let up = backends.iter().filter(|b| b.eligible()).count();
            checks.check(
                balancer.name,
                if up > 0 {
                    Ok(format!("ok: {up} of {} backends up", backends.len()))
                } else {
                    Err(format!("no backend up (of {})", backends.len()))
                },
            );
        }
    }

    fn metrics(&self, out: &mut Metrics) {
        let each = |out: &mut Metrics,
                    name: &'static str,
                    help: &str,
                    counter: bool,
                    value: &dyn Fn(&BackendState) -> u64| {
            let mut family = if counter {
                out.counter(name, help)
            } else {
                out.gauge(name, help)
            };
            for balancer in &self.balancers {
                for backend in balancer.pool.backends() {
                    family.labelled(
                        &[("balancer", balancer.name), ("backend", &backend.name)],
                        value(backend),
                    );
                }
            }
        };
        each(
            out,
            "fiberlb_backend_up",
            "Whether the backend may take new traffic (healthy, not drained).",
            false,
            &|b| u64::from(b.eligible()),
        );
        each(
            out,
            "fiberlb_backend_active_connections",
            "Connections open to the backend.",
            false,
            &|b| b.active(),
        );
        each(
            out,
            "fiberlb_backend_connections_total",
            "Connections the backend took.",
            true,
            &|b| b.connections(),
        );
        each(
            out,
            "fiberlb_backend_failures_total",
            "Connections the backend refused or did not accept in time.",
            true,
            &|b| b.failures(),
        );
        let mut refused = out.counter(
            "fiberlb_refused_connections_total",
            "Connections no backend could take (closed at once).",
        );
        for balancer in &self.balancers {
            refused.labelled(
                &[("balancer", balancer.name)],
                balancer.refused.load(Ordering::Relaxed),
            );
        }
    }
}

/// The admin REST API's answer (JSON), or 404 naming what there is.
fn api_answer<B>(
    balancers: &[Arc<L4Balancer>],
    request: &hyper::Request<B>,
) -> hyper::Response<Full<Bytes>> {
    let (status, body) = admin_api::answer(balancers, request.method(), request.uri().path())
        .unwrap_or_else(|| {
            (
                hyper::StatusCode::NOT_FOUND,
                serde_json::json!({ "error": "not found: /health, /metrics, /balancers" }),
            )
        });
    let mut response = hyper::Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// What a balancer of this spec cannot do yet, if anything.
fn not_built(balancer: &Balancer) -> Option<String> {
    match balancer.layer {
        Layer::L7 { .. } => Some(format!(
            "balancer `{}`: L7 (HTTP) balancing is not built yet; an L4 balancer forwards HTTP byte for byte",
            balancer.name
        )),
        Layer::L4 { .. } => None,
    }
}

impl<N: Node> Service for FiberLb<N> {
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let admin_listener = ctx.tcp(AdminListener, &spec)?;
            let mut running = Vec::new();
            for balancer in spec.balancers {
                if let Some(missing) = not_built(balancer) {
                    return Err(missing.into());
                }
                let Layer::L4 {
                    idle_timeout,
                    stickiness,
                } = balancer.layer
                else {
                    unreachable!("refused above");
                };
                let mut backends = Vec::new();
                for i in 0..balancer.backend_count() {
                    let backend = balancer.backend(i);
                    let addr = match backend.target {
                        Target::Topology(dep) => ctx.address_of(dep.node, dep.port).await?,
                        Target::Outside(addr) => addr,
                    };
                    backends.push(BackendState::new(addr, u32::from(backend.weight)));
                }
                let tcp = if balancer.transport.has_tcp() {
                    Some(ctx.tcp_named(balancer.name)?)
                } else {
                    None
                };
                let udp = if balancer.transport != Transport::Tcp {
                    Some(ctx.udp_named(balancer.name)?)
                } else {
                    None
                };
                tracing::info!(
                    balancer = balancer.name,
                    port = balancer.port.get(),
                    transport = %balancer.transport,
                    backends = ?backends.iter().map(|b| &b.name).collect::<Vec<_>>(),
                    method = ?balancer.method,
                    "balancer listening"
                );
                running.push((
                    (tcp, udp),
                    Arc::new(L4Balancer::new(
                        balancer.name,
                        Pool::new(backends, balancer.method),
                        idle_timeout,
                        stickiness == L4Stickiness::SourceIp,
                    )),
                    balancer.health,
                ));
            }
            let balancers: Arc<[Arc<L4Balancer>]> =
                running.iter().map(|(_, b, _)| b.clone()).collect();
            let admin = ctx.admin(
                env!("CARGO_PKG_VERSION"),
                Status {
                    balancers: balancers.to_vec(),
                },
            );
            let served: Running = Box::pin(async move {
                let stop = ctx.shutdown.clone();
                let connections = TaskTracker::new();
                let mut tasks = tokio::task::JoinSet::new();
                for ((tcp, udp), balancer, health) in running {
                    for backend in balancer.pool.backends() {
                        tasks.spawn(health::watch(
                            backend.clone(),
                            health,
                            balancer.name,
                            stop.clone(),
                        ));
                    }
                    if let Some(udp) = udp {
                        tasks.spawn(udp::serve(udp, balancer.clone(), stop.clone()));
                    }
                    if let Some(tcp) = tcp {
                        tasks.spawn(l4::serve(tcp, balancer, stop.clone(), connections.clone()));
                    }
                }
                let handler = move |request: hyper::Request<hyper::body::Incoming>| {
                    let answer = admin
                        .answer::<_, Full<Bytes>>(&request)
                        .unwrap_or_else(|| api_answer(&balancers, &request));
                    async move { answer }
                };
                photon_runtime::http::serve_http1(admin_listener, stop.clone(), DRAIN, handler)
                    .await;
                while tasks.join_next().await.is_some() {}
                connections.close();
                if tokio::time::timeout(DRAIN, connections.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        open = connections.len(),
                        "connections still open after the drain period; closing them"
                    );
                }
                tracing::info!("fiberlb stopped");
                Ok(())
            });
            Ok(served)
        })
    }
}

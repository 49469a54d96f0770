//! fiberlb as a PhotonCloud service: each balancer of the spec on the
//! socket the runtime bound for it, its backends resolved through the
//! runtime, checked on their schedule, and reported on the admin listener
//! (`/health`, `/metrics`).
//!
//! L4 balancers forward TCP connections and UDP flows byte for byte
//! (`l4`, `udp`); L7 balancers serve HTTP/1.1 and HTTP/2 and forward each
//! request (`l7`, over `upstream`'s kept connections).

mod admin_api;
mod health;
mod l4;
mod l7;
mod probe;
mod publish;
mod splice;
mod tenants;
mod tls;
mod udp;
mod upstream;

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
use crate::spec::{
    AdminListener, BackendDecl, Balancer, FiberLb, HttpStickiness, L4Stickiness, Layer, Publish,
    Target,
};
use l4::L4Balancer;
use l7::L7Balancer;

/// How long open connections may run on after a stop.
const DRAIN: Duration = Duration::from_secs(10);

/// A running balancer of either layer, as the admin API and `/metrics`
/// see it.
#[derive(Debug, Clone)]
enum Front {
    L4(Arc<L4Balancer>),
    L7(Arc<L7Balancer>),
}

impl Front {
    fn name(&self) -> &str {
        match self {
            Front::L4(b) => &b.name,
            Front::L7(b) => b.name,
        }
    }

    fn layer(&self) -> &'static str {
        match self {
            Front::L4(_) => "l4",
            Front::L7(_) => "l7",
        }
    }

    /// Every backend, an L7 balancer's routes' included.
    fn backends(&self) -> Vec<&Arc<BackendState>> {
        match self {
            Front::L4(b) => b.pool.backends().iter().collect(),
            Front::L7(b) => b.backends().collect(),
        }
    }

    /// Connections closed (L4) or requests answered 503 (L7) because no
    /// backend could take them.
    fn refused(&self) -> u64 {
        match self {
            Front::L4(b) => b.refused.load(Ordering::Relaxed),
            Front::L7(b) => b.refused.load(Ordering::Relaxed),
        }
    }
}

/// The balancers, for `/health` and `/metrics`.
struct Status {
    balancers: Vec<Front>,
    /// How publishing the balancers' names last went, if they are.
    published: Option<Arc<std::sync::Mutex<Result<String, String>>>>,
}

impl Report for Status {
    /// Healthy while every balancer has a backend that may take traffic
    /// and, when their names are published, the last write went through.
    fn health(&self, checks: &mut Checks) {
        if let Some(published) = &self.published {
            let outcome = published.lock().unwrap_or_else(|e| e.into_inner()).clone();
            checks.check("publish", outcome);
        }
        for balancer in &self.balancers {
            let backends = balancer.backends();
            let up = backends.iter().filter(|b| b.eligible()).count();
            checks.check(
                balancer.name().to_owned(),
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
                for backend in balancer.backends() {
                    family.labelled(
                        &[("balancer", balancer.name()), ("backend", &backend.name)],
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
            "Connections (L4) or requests (L7) the backend took.",
            true,
            &|b| b.connections(),
        );
        each(
            out,
            "fiberlb_backend_failures_total",
            "Connections or requests the backend refused, did not accept in time, broke off or left unanswered past the timeout.",
            true,
            &|b| b.failures(),
        );
        let mut answers = out.counter(
            "fiberlb_backend_responses_total",
            "Answers the backend gave (L7), by status class.",
        );
        for balancer in &self.balancers {
            if let Front::L7(_) = balancer {
                for backend in balancer.backends() {
                    for class in 1..=5 {
                        let code = format!("{class}xx");
                        answers.labelled(
                            &[
                                ("balancer", balancer.name()),
                                ("backend", &backend.name),
                                ("code", &code),
                            ],
                            backend.answers(class),
                        );
                    }
                }
            }
        }
        let mut latency = out.histogram(
            "fiberlb_backend_response_seconds",
            "How long the backend took to accept a connection (L4) or to answer a request's headers (L7).",
        );
        for balancer in &self.balancers {
            for backend in balancer.backends() {
                latency.histogram(
                    &[("balancer", balancer.name()), ("backend", &backend.name)],
                    &backend.latency,
                );
            }
        }
        let mut refused = out.counter(
            "fiberlb_refused_connections_total",
            "Connections (L4, closed at once) or requests (L7, answered 503 at once) no backend could take.",
        );
        for balancer in &self.balancers {
            refused.labelled(&[("balancer", balancer.name())], balancer.refused());
        }
    }
}

/// The admin REST API's answer (JSON), or 404 naming what there is.
fn api_answer<B>(balancers: &[Front], request: &hyper::Request<B>) -> hyper::Response<Full<Bytes>> {
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

/// A pool's backends, resolved through the runtime.
async fn backends_of(
    ctx: &StartContext,
    decls: &[BackendDecl],
) -> Result<Vec<Arc<BackendState>>, ServiceError> {
    let mut backends = Vec::with_capacity(decls.len());
    for backend in decls {
        let addr = match backend.target {
            Target::Topology(dep) => ctx.address_of(dep.node, dep.port).await?,
            Target::Outside(addr) => addr,
        };
        backends.push(BackendState::new(addr, u32::from(backend.weight)));
    }
    Ok(backends)
}

/// The address `balancer`'s name points at: where it listens, or, when it
/// listens on every address, its node's.
async fn published_ip(
    ctx: &StartContext,
    ready: &Ready,
    balancer: &Balancer,
) -> Result<std::net::IpAddr, ServiceError> {
    let bound = match ready {
        Ready::L4 { tcp: Some(tcp), .. } | Ready::L7 { tcp, .. } => tcp.local_addr()?,
        Ready::L4 { udp: Some(udp), .. } => udp.local_addr()?,
        Ready::L4 { .. } => {
            return Err(format!("balancer `{}` has no socket", balancer.name).into());
        }
    };
    if !bound.ip().is_unspecified() {
        return Ok(bound.ip());
    }
    let node = ctx.address_of(ctx.node, balancer.port).await?.ip();
    if node.is_unspecified() {
        return Err(format!(
            "balancer `{}` listens on every address ({bound}), so there is no one address to publish as its name: give it its own address (`vip`)",
            balancer.name
        )
        .into());
    }
    Ok(node)
}

/// The publisher of the balancers' names into `zone`, its first
/// publication done.
async fn publisher(
    ctx: &StartContext,
    zone: &'static str,
    server: photon_dsl::Dep<photon_dsl::protocol::Dns>,
    balancers: Vec<(Front, std::net::IpAddr)>,
) -> Result<publish::Publisher, ServiceError> {
    let Some(state) = ctx.state_store.clone() else {
        return Err(
            "fiberlb publishes names through chainfire: it runs joined to its state store only"
                .into(),
        );
    };
    let client = ctx
        .state_store_client()
        .await
        .map_err(|e| format!("chainfire, to publish into zone {zone}: {e}"))?
        .ok_or("no state store to connect to")?;
    let name_server = ctx.address_of(server.node(), server.port()).await?.ip();
    let publisher = publish::Publisher::new(client, &state.cluster, zone, name_server, balancers)?;
    publisher.first().await?;
    tracing::info!(zone = %publisher.zone(), cluster = %state.cluster, "balancers' names published");
    Ok(publisher)
}

/// A balancer ready to serve, with its sockets.
enum Ready {
    L4 {
        tcp: Option<tokio::net::TcpListener>,
        udp: Option<tokio::net::UdpSocket>,
        balancer: Arc<L4Balancer>,
    },
    L7 {
        tcp: tokio::net::TcpListener,
        balancer: Arc<L7Balancer>,
        /// The certificates (reloaded on SIGHUP) and the TLS
        /// configuration that asks them.
        tls: Option<(Arc<tls::Certificates>, Arc<rustls::ServerConfig>)>,
    },
}

impl Ready {
    fn front(&self) -> Front {
        match self {
            Ready::L4 { balancer, .. } => Front::L4(balancer.clone()),
            Ready::L7 { balancer, .. } => Front::L7(balancer.clone()),
        }
    }
}

/// Resolves `balancer`'s backends and takes its sockets.
async fn prepare(ctx: &StartContext, balancer: &Balancer) -> Result<Ready, ServiceError> {
    let ready = match balancer.layer {
        Layer::L4 {
            idle_timeout,
            stickiness,
        } => {
            let backends = backends_of(ctx, &balancer.default_pool()).await?;
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
            Ready::L4 {
                tcp,
                udp,
                balancer: Arc::new(L4Balancer::new(
                    balancer.name,
                    Pool::new(backends, balancer.method),
                    idle_timeout,
                    stickiness == L4Stickiness::SourceIp,
                )),
            }
        }
        Layer::L7 {
            stickiness,
            tls,
            request_timeout,
        } => {
            let tls = match tls {
                None => None,
                Some(front) => {
                    let certificates = tls::Certificates::load(balancer.name, front.certificates)
                        .map_err(|e| format!("balancer `{}`: {e}", balancer.name))?;
                    let config = certificates.server_config()?;
                    Some((certificates, config))
                }
            };
            let default = Pool::new(
                backends_of(ctx, &balancer.default_pool()).await?,
                balancer.method,
            );
            let mut routes = Vec::new();
            for route in balancer.routes() {
                routes.push(l7::Route {
                    host: route.host,
                    path: route.path,
                    pool: Pool::new(
                        backends_of(ctx, &balancer.pool_of(&route)).await?,
                        balancer.method,
                    ),
                });
            }
            let cookie = match stickiness {
                HttpStickiness::None => None,
                HttpStickiness::Cookie(name) => Some(name),
            };
            Ready::L7 {
                tcp: ctx.tcp_named(balancer.name)?,
                balancer: Arc::new(L7Balancer::new(
                    balancer.name,
                    default,
                    routes,
                    cookie,
                    request_timeout,
                    if tls.is_some() { "https" } else { "http" },
                )),
                tls,
            }
        }
    };
    let front = ready.front();
    tracing::info!(
        balancer = balancer.name,
        layer = front.layer(),
        port = balancer.port.get(),
        transport = %balancer.transport,
        backends = ?front.backends().iter().map(|b| &b.name).collect::<Vec<_>>(),
        method = ?balancer.method,
        "balancer listening"
    );
    Ok(ready)
}

/// Re-reads every TLS balancer's certificates on SIGHUP until `stop`.
async fn reload_on_hangup(
    certificates: Vec<Arc<tls::Certificates>>,
    stop: tokio_util::sync::CancellationToken,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => hangup,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch for SIGHUP: certificates will not be reloaded");
            return;
        }
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = hangup.recv() => {}
        }
        for set in &certificates {
            match set.reload() {
                Ok(()) => {
                    tracing::info!(balancer = set.balancer(), "SIGHUP: certificates reloaded")
                }
                Err(e) => {
                    tracing::error!(balancer = set.balancer(), error = %e, "SIGHUP: certificates not reloaded; the ones in use are kept")
                }
            }
        }
    }
}

impl<N: Node> Service for FiberLb<N> {
    /// Drains (or enables) every backend of its balancers on `node`
    /// through its own admin API, then waits until the drained ones have
    /// no connection left, or the enabled ones are healthy and take new
    /// traffic.
    fn roll_traffic<'a>(
        &'a self,
        resolver: &'a photon_dsl::Resolver,
        node: photon_dsl::NodeName,
        drain: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<usize, ServiceError>> {
        Box::pin(async move {
            let mut targets = Vec::new();
            for balancer in self.balancers {
                for i in 0..balancer.backend_count() {
                    if let crate::spec::Target::Topology(dep) = balancer.backend(i).target
                        && dep.node == node
                    {
                        let addr = photon_runtime::resolve_socket(resolver, node, dep.port).await?;
                        targets.push((balancer.name, addr.to_string()));
                    }
                }
            }
            targets.sort();
            targets.dedup();
            if targets.is_empty() {
                return Ok(0);
            }
            let admin = photon_runtime::resolve_socket(resolver, N::NAME, self.admin_port).await?;
            let action = if drain { "drain" } else { "enable" };
            for (balancer, backend) in &targets {
                let path = format!("/balancers/{balancer}/backends/{backend}/{action}");
                let answer = photon_runtime::http::request(
                    admin,
                    hyper::Method::POST,
                    &path,
                    Duration::from_secs(2),
                )
                .await?;
                if !answer.status.is_success() {
                    return Err(format!(
                        "fiberlb at {admin}: POST {path}: {} {}",
                        answer.status,
                        answer.body.trim()
                    )
                    .into());
                }
            }
            let deadline = std::time::Instant::now() + timeout;
            loop {
                let answer =
                    photon_runtime::http::get(admin, "/balancers", Duration::from_secs(2)).await?;
                let listed: serde_json::Value = serde_json::from_str(&answer.body)
                    .map_err(|e| format!("fiberlb at {admin}: GET /balancers: {e}"))?;
                let settled = targets.iter().all(|(balancer, backend)| {
                    listed
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|b| b["name"] == *balancer)
                        .flat_map(|b| b["backends"].as_array().into_iter().flatten())
                        .filter(|b| b["backend"] == backend.as_str())
                        .all(|b| {
                            if drain {
                                b["active_connections"] == 0
                            } else {
                                b["healthy"] == true && b["takes_new_traffic"] == true
                            }
                        })
                });
                if settled {
                    return Ok(targets.len());
                }
                if std::time::Instant::now() >= deadline {
                    let wanted = if drain {
                        "finish its connections"
                    } else {
                        "be healthy again"
                    };
                    return Err(format!("fiberlb at {admin}: a backend on `{node}` did not {wanted} within {timeout:?}").into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }

    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let reach = |node| ctx.resolver.resolve(node);
        let doc = crate::standalone::export(
            self,
            ctx.bind_ip,
            &ctx.component_id_in(self.mode),
            &reach,
            &ctx.cluster,
            &|node, port| ctx.reach(node, port),
        )?;
        Ok(photon_config::to_toml(&doc)?)
    }

    /// An L7 balancer is asked through: its health check's path (or `/`)
    /// must be answered by a backend, not by fiberlb's own 502, 503 or
    /// 504. Other listeners as every service's are.
    fn probe<'a>(
        &'a self,
        target: photon_runtime::ProbeTarget<'a>,
    ) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async move {
            let balancer = self
                .balancers
                .iter()
                .find(|b| b.name == target.listener.name);
            let Some(balancer) = balancer else {
                return photon_runtime::default_probe(target).await;
            };
            let Layer::L7 { tls: None, .. } = balancer.layer else {
                return photon_runtime::default_probe(target).await;
            };
            let path = match balancer.health.check {
                crate::spec::Check::Http { path, .. } => path,
                _ => "/",
            };
            let answer = photon_runtime::http::get(target.addr, path, target.timeout).await?;
            match answer.status.as_u16() {
                502..=504 => Err(format!(
                    "GET {path} through the balancer: {} from fiberlb: {}",
                    answer.status,
                    answer.body.trim_end()
                )
                .into()),
                status => Ok(format!(
                    "GET {path} through the balancer: {status} from a backend"
                )),
            }
        })
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let admin_listener = ctx.tcp(AdminListener, &spec)?;
            let mut running = Vec::new();
            for balancer in spec.balancers {
                running.push((prepare(&ctx, balancer).await?, balancer));
            }
            let balancers: Arc<[Front]> = running.iter().map(|(ready, _)| ready.front()).collect();
            let publisher = match spec.publish {
                Publish::Off => None,
                Publish::Dns { zone, server } => {
                    let mut named = Vec::with_capacity(running.len());
                    for (ready, balancer) in &running {
                        named.push((ready.front(), published_ip(&ctx, ready, balancer).await?));
                    }
                    Some(publisher(&ctx, zone, server, named).await?)
                }
            };
            let admin = ctx.admin(
                env!("CARGO_PKG_VERSION"),
                Status {
                    balancers: balancers.to_vec(),
                    published: publisher.as_ref().map(publish::Publisher::status),
                },
            );
            let served: Running = Box::pin(async move {
                let stop = ctx.shutdown.clone();
                let connections = TaskTracker::new();
                let mut tasks = tokio::task::JoinSet::new();
                let mut reloads = Vec::new();
                for (ready, balancer) in running {
                    let front = ready.front();
                    if balancer.transport.has_tcp() {
                        for backend in front.backends() {
                            tasks.spawn(health::watch(
                                backend.clone(),
                                balancer.health,
                                front.name().into(),
                                balancer.protocol,
                                stop.clone(),
                            ));
                        }
                    } else {
                        // UDP alone has no connection to check, nor a
                        // question every protocol on it answers.
                        tracing::info!(
                            balancer = front.name(),
                            "UDP backends are not health-checked; each is taken as up"
                        );
                    }
                    match ready {
                        Ready::L4 { tcp, udp, balancer } => {
                            if let Some(udp) = udp {
                                tasks.spawn(udp::serve(udp, balancer.clone(), stop.clone()));
                            }
                            if let Some(tcp) = tcp {
                                tasks.spawn(l4::serve(
                                    tcp,
                                    balancer,
                                    stop.clone(),
                                    connections.clone(),
                                ));
                            }
                        }
                        Ready::L7 { tcp, balancer, tls } => {
                            let config = tls.map(|(certificates, config)| {
                                reloads.push(certificates);
                                config
                            });
                            tasks.spawn(l7::serve(tcp, balancer, config, stop.clone(), DRAIN));
                        }
                    }
                }
                if !reloads.is_empty() {
                    tasks.spawn(reload_on_hangup(reloads, stop.clone()));
                }
                if let Some(publisher) = publisher {
                    tasks.spawn(publisher.run(stop.clone()));
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

//! lightningstor as a PhotonCloud service: the S3 API on its port, with
//! `/health` and `/metrics` beside it, data in the runtime's state
//! directory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use photon_dsl::Node;
use photon_runtime::{
    BoxFuture, ExposeSecret, ProbeTarget, Running, Service, ServiceError, StartContext,
};
use s3s::Body;
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::LightningStor;
use crate::admin::AdminService;
use crate::auth::KeyRing;
use crate::auth::sts::StsRoute;
pub use crate::s3::RESERVED_BUCKETS;
use crate::s3::{LightningS3, VirtualHosts};
use crate::store::Store;

/// How long open connections get to finish after a stop request.
const DRAIN: Duration = Duration::from_secs(10);

/// Request counters by status class, for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    by_class: [AtomicU64; 6],
}

impl Counters {
    fn count(&self, status: StatusCode) {
        let class = (status.as_u16() / 100) as usize;
        if let Some(counter) = self.by_class.get(class) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Everything a connection needs.
struct Shared {
    s3: S3Service,
    virtual_hosts: Option<VirtualHosts>,
    store: Store,
    counters: Counters,
    mode: photon_runtime::ModeReport,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// `/health`, in the design's shape.
fn health(shared: &Shared) -> Response<Body> {
    let metadata = shared
        .store
        .buckets()
        .map(|_| ())
        .map_err(|e| e.to_string());
    let (status, body) = shared.mode.health(
        "lightningstor",
        env!("CARGO_PKG_VERSION"),
        metadata.is_ok(),
        [
            ("storage", "ok".into()),
            (
                "metadata",
                metadata.err().unwrap_or_else(|| "ok".to_owned()).into(),
            ),
        ],
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, "application/json", body)
}

/// `/metrics`, in Prometheus' text format.
fn metrics(shared: &Shared) -> Response<Body> {
    let mut out = String::new();
    out.push_str("# HELP lightningstor_requests_total S3 requests answered, by status class.\n");
    out.push_str("# TYPE lightningstor_requests_total counter\n");
    for (class, counter) in shared.counters.by_class.iter().enumerate().skip(1) {
        out.push_str(&format!(
            "lightningstor_requests_total{{class=\"{class}xx\"}} {}\n",
            counter.load(Ordering::Relaxed)
        ));
    }
    if let Ok(buckets) = shared.store.buckets() {
        out.push_str("# HELP lightningstor_buckets Buckets that exist.\n");
        out.push_str("# TYPE lightningstor_buckets gauge\n");
        out.push_str(&format!("lightningstor_buckets {}\n", buckets.len()));
    }
    text(StatusCode::OK, "text/plain; version=0.0.4", out)
}

/// Whether the request addresses a bucket by its host name, where
/// `/health` is an object key like any other.
fn virtual_hosted(shared: &Shared, request: &Request<Incoming>) -> bool {
    let Some(hosts) = &shared.virtual_hosts else {
        return false;
    };
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| hosts.bucket_of(host).is_some())
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    if request.method() == Method::GET
        && request.uri().query().is_none()
        && !virtual_hosted(&shared, &request)
    {
        match request.uri().path() {
            "/health" => return health(&shared),
            "/metrics" => return metrics(&shared),
            _ => {}
        }
    }
    let response = match hyper::service::Service::call(&shared.s3, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = ?e, "S3 request failed outside the protocol");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "internal error\n".to_owned(),
            )
        }
    };
    shared.counters.count(response.status());
    response
}

/// Serves the S3 API (and `/health`, `/metrics`) on `listener` until
/// `shutdown`; buckets are also host names under `base_domain`, if given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    auth: KeyRing,
    base_domain: Option<&str>,
    mode: photon_runtime::ModeReport,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let virtual_hosts = base_domain.map(VirtualHosts::new);
    let mut builder = S3ServiceBuilder::new(LightningS3::new(store.clone()));
    if let Some(hosts) = &virtual_hosts {
        builder.set_host(hosts.clone());
    }
    builder.set_route(StsRoute::new(auth.clone()));
    builder.set_access(auth.clone());
    builder.set_auth(auth);
    let shared = Arc::new(Shared {
        s3: builder.build(),
        virtual_hosts,
        store,
        counters: Counters::default(),
        mode,
    });
    let handler = move |req: Request<Incoming>| handle(shared.clone(), req);
    photon_runtime::http::serve_http1(listener, shutdown, DRAIN, handler).await;
}

/// Registers a compiled integrated lightningstor in its state store (every
/// member the spec lists, started before it), under the deployment's name.
async fn join<N: Node>(
    ctx: &StartContext,
    integration: &photon_dsl::Integration,
    spec: &LightningStor<N>,
) -> Result<(photon_runtime::ModeReport, photon_integration::Registered), ServiceError> {
    let mut endpoints = Vec::new();
    for dep in integration.state_store {
        endpoints.push(format!(
            "http://{}",
            ctx.address_of(dep.node(), dep.port()).await?
        ));
    }
    let deadline = std::time::Instant::now() + JOIN_TIMEOUT;
    let client = photon_integration::reach_chainfire(&endpoints, deadline).await?;
    let listeners = [("s3", spec.s3_port), ("admin", spec.admin_port)]
        .into_iter()
        .map(|(name, port)| {
            (
                name.to_owned(),
                std::net::SocketAddr::new(ctx.ip_for(name), port.get()).to_string(),
            )
        })
        .collect();
    let registered = photon_integration::register(
        client,
        photon_integration::Registration {
            cluster_id: ctx.cluster.clone(),
            component: "lightningstor",
            component_id: ctx.instance.clone(),
            version: env!("CARGO_PKG_VERSION"),
            listeners,
            metadata: Default::default(),
            heartbeat: HEARTBEAT,
        },
    )
    .await?;
    let mut note = vec![
        "metadata and keys stay local: the chainfire metadata and photonauth backends are not built yet",
    ];
    if let photon_dsl::Auth::PhotonAuth(_) = integration.auth {
        note.push("photonauth is not asked: its client is not built yet");
    }
    let report = photon_runtime::ModeReport::integrated(Some(note.join("; ")), registered.status());
    Ok((report, registered))
}

/// How long a compiled integrated lightningstor waits for its state store
/// (already started: the supervisor starts dependencies first).
const JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Its registration's heartbeat (the design's default).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

impl<N: Node> Service for LightningStor<N> {
    fn export_config(&self, ctx: &photon_runtime::ExportContext) -> Result<String, String> {
        let reach = |node, port: photon_dsl::Port| {
            ctx.resolver
                .resolve(node)
                .map(|address| address.with_port(port.get()))
                .map_err(|e| e.to_string())
        };
        // Integrated, it registers as its node does in the deployment.
        let component_id = match self.mode {
            photon_dsl::Mode::Integrated(_) => ctx.node.to_string(),
            photon_dsl::Mode::Standalone => ctx.component_id.clone(),
        };
        let doc = crate::standalone::export(
            self,
            ctx.bind_ip,
            &component_id,
            &ctx.state_dir,
            &ctx.cluster,
            &reach,
        )?;
        photon_config::to_toml(&doc)
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let secret = photon_runtime::read_secret(&spec.access_key.secret)?;
            let listener = ctx.bind_tcp("s3", spec.s3_port).await?;
            let admin_listener = ctx.bind_tcp("admin", spec.admin_port).await?;
            let dir = |configured: Option<&str>, default: &str| match configured {
                Some(path) => std::path::PathBuf::from(path),
                None => ctx.state_dir.join(default),
            };
            let meta = dir(spec.storage.meta_dir, "meta");
            let data = dir(spec.storage.data_dir, "data");
            let cache = spec
                .storage
                .cache_size_mb
                .map(|mb| usize::try_from(mb).unwrap_or(usize::MAX / (1 << 20)) << 20);
            let store = {
                let (meta, data) = (meta.clone(), data.clone());
                tokio::task::spawn_blocking(move || Store::open_with_cache(&meta, &data, cache))
                    .await??
            };
            let auth = KeyRing::new(spec.access_key.id, secret.expose_secret(), store.clone());
            tracing::info!(
                s3 = %listener.local_addr()?,
                admin = %admin_listener.local_addr()?,
                access_key = spec.access_key.id,
                secret = %spec.access_key.secret,
                data = %data.display(),
                meta = %meta.display(),
                "lightningstor listening"
            );
            // What it actually runs as: a standalone server's runner says
            // what it settled on. An integrated spec registers in its
            // chainfire; its metadata and keys stay local until the chainfire
            // and photonauth backends exist, and `/health` says so.
            let (mode, registered) = match (ctx.mode_report.clone(), spec.mode) {
                // The standalone runner has logged what it settled on.
                (Some(report), _) => (report, None),
                (None, photon_dsl::Mode::Standalone) => {
                    (photon_runtime::ModeReport::standalone(), None)
                }
                (None, photon_dsl::Mode::Integrated(integration)) => {
                    let (report, registered) = join(&ctx, &integration, &spec).await?;
                    (report, Some(registered))
                }
            };
            let running: Running = Box::pin(async move {
                let admin = tonic::transport::Server::builder()
                    .add_service(AdminService::server(store.clone(), auth.clone()))
                    .serve_with_incoming_shutdown(
                        photon_runtime::grpc::incoming(admin_listener),
                        ctx.shutdown.clone().cancelled_owned(),
                    );
                let (_, admin) = tokio::join!(
                    serve(
                        listener,
                        store,
                        auth,
                        spec.base_domain,
                        mode,
                        ctx.shutdown.clone()
                    ),
                    admin
                );
                if let Some(registered) = registered {
                    registered.leave().await;
                }
                admin?;
                tracing::info!("lightningstor stopped");
                Ok(())
            });
            Ok(running)
        })
    }

    fn probe<'a>(&'a self, target: ProbeTarget<'a>) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async move {
            if target.listener.name != "s3" {
                tokio::net::TcpStream::connect(target.addr).await?;
                return Ok("accepts connections".to_owned());
            }
            let answer = photon_runtime::http::get(target.addr, "/health", target.timeout).await?;
            if answer.status == StatusCode::OK {
                Ok("/health answers healthy".to_owned())
            } else {
                Err(format!("/health answered {}: {}", answer.status, answer.body).into())
            }
        })
    }
}

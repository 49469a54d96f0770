//! lightningstor as a PhotonCloud service: the S3 API on its port, with
//! `/health` and `/metrics` beside it, data in the runtime's state
//! directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use photon_dsl::{HostName, Hybrid, Integration, Mode, Node};
use photon_runtime::admin::{Checks, Metrics, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{
    Admin, BoxFuture, ExposeSecret, Running, Service, ServiceError, StartContext,
};
use s3s::Body;
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::LightningStor;
use crate::admin::AdminService;
use crate::auth::KeyRing;
use crate::auth::mismatch::{self, RequestHead};
use crate::auth::sts::StsRoute;
use crate::operation;
pub use crate::s3::RESERVED_BUCKETS;
use crate::s3::{LightningS3, VirtualHosts};
use crate::spec::{AdminListener, S3Listener};
use crate::store::Store;

/// How long open connections get to finish after a stop request.
const DRAIN: Duration = Duration::from_secs(10);

/// Everything a connection needs.
struct Shared {
    s3: S3Service,
    virtual_hosts: Option<VirtualHosts>,
    counters: Arc<Operations>,
    admin: Admin,
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

/// What `/health` and `/metrics` report.
struct Health {
    meta: Arc<MetaProbe>,
    data_dir: PathBuf,
    counters: Arc<Operations>,
}

/// How often the metadata store is read for `/health` and `/metrics`.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// The last look at the metadata store: how many buckets, or why it could
/// not be read. `/health` is answered without waiting on chainfire, so a
/// probe reads it in the background.
struct MetaProbe {
    location: String,
    last: std::sync::Mutex<Result<usize, String>>,
}

impl MetaProbe {
    /// Reads the store once now, then every [`PROBE_EVERY`] until
    /// `shutdown`.
    async fn start(store: Store, shutdown: tokio_util::sync::CancellationToken) -> Arc<MetaProbe> {
        let probe = Arc::new(MetaProbe {
            location: store.meta().location(),
            last: std::sync::Mutex::new(Err("not read yet".into())),
        });
        probe.read(&store).await;
        let looking = probe.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(PROBE_EVERY) => looking.read(&store).await,
                }
            }
        });
        probe
    }

    async fn read(&self, store: &Store) {
        let seen = store
            .buckets()
            .await
            .map(|buckets| buckets.len())
            .map_err(|e| e.to_string());
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = seen;
    }

    fn last(&self) -> Result<usize, String> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Report for Health {
    fn health(&self, checks: &mut Checks) {
        // The blob directory must still be there to write into.
        checks.check(
            "storage",
            match std::fs::metadata(&self.data_dir) {
                Ok(meta) if meta.is_dir() => Ok("ok"),
                Ok(_) => Err(format!("{} is not a directory", self.data_dir.display())),
                Err(e) => Err(format!("{}: {e}", self.data_dir.display())),
            },
        );
        checks.check(
            "metadata",
            self.meta
                .last()
                .map(|_| format!("ok: {}", self.meta.location)),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        self.counters.write(
            out,
            (
                "lightningstor_requests_total",
                "S3 requests answered, by operation and status class.",
            ),
            (
                "lightningstor_request_duration_seconds",
                "How long S3 requests took until their answer's headers, by operation.",
            ),
        );
        if let Ok(buckets) = self.meta.last() {
            out.gauge("lightningstor_buckets", "Buckets that exist.")
                .value(buckets);
        }
    }
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
    // Under a bucket's host name, or with a query, `/health` is S3's;
    // `roll`'s window (`/_photon/...`) is no bucket's (`_` is not allowed).
    let admin_call = (request.method() == Method::GET && request.uri().query().is_none())
        || request.uri().path() == photon_runtime::admin::ROLL_PATH;
    if admin_call
        && !virtual_hosted(&shared, &request)
        && let Some(answer) = shared.admin.answer::<_, Body>(&request)
    {
        return answer;
    }
    let started = std::time::Instant::now();
    let operation = operation::name(
        request.method(),
        operation::Target::of(request.uri().path(), virtual_hosted(&shared, &request)),
        request.uri().query(),
        request.headers(),
    );
    let head = RequestHead::of(&request);
    // A URI clone shares its bytes: no copy on the hot path.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let mut response = match hyper::service::Service::call(&shared.s3, request).await {
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
    let status = response.status();
    if status == StatusCode::FORBIDDEN
        && let Some(sent) = response.body().bytes()
        && let Some(explained) = mismatch::explain(&sent, head.as_ref())
    {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, explained.len().into());
        *response.body_mut() = Body::from(explained);
    }
    // A client's mistake is not the server's: answered, counted in
    // /metrics, and logged at debug only, so no client can flood the log.
    if status.is_server_error() {
        tracing::warn!(%method, path = uri.path(), %status, "S3 request failed");
    } else if status.is_client_error() {
        tracing::debug!(%method, path = uri.path(), %status, "S3 request refused");
    }
    shared
        .counters
        .record_http(operation, status, started.elapsed());
    response
}

/// Serves the S3 API (and `admin`'s `/health`, `/metrics`) on `listener`
/// until `shutdown`, counting responses in `counters`; buckets are also
/// host names under `base_domain`, if given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    auth: KeyRing,
    base_domain: Option<HostName>,
    admin: Admin,
    counters: Arc<Operations>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let virtual_hosts = base_domain.map(|domain| VirtualHosts::new(domain.as_str()));
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
        admin,
        counters,
    });
    let handler = move |req: Request<Incoming>| handle(shared.clone(), req);
    photon_runtime::http::serve_http1(listener, shutdown, DRAIN, handler).await;
}

/// chainfire, when the service joined the platform.
async fn chainfire(ctx: &StartContext) -> Result<Option<etcd_client::Client>, ServiceError> {
    Ok(ctx
        .state_store_client()
        .await
        .map_err(|e| format!("lightningstor's metadata in chainfire: {e}"))?)
}

/// Opens the store: metadata in chainfire, under this instance's prefix,
/// when the service joined the platform (and does not run hybrid, which
/// keeps it local); else RocksDB at `meta`.
async fn open_store(
    ctx: &StartContext,
    mode: Mode,
    chainfire: Option<&etcd_client::Client>,
    meta: &std::path::Path,
    data: &std::path::Path,
    cache: Option<usize>,
) -> Result<Store, ServiceError> {
    let store = match (chainfire, &ctx.state_store) {
        (Some(client), Some(state)) if !matches!(mode, Mode::Hybrid(_)) => {
            let meta = crate::store::chainfire::ChainfireMeta::new(
                client.clone(),
                crate::store::chainfire::instance_prefix(&state.cluster, &ctx.instance),
            );
            Store::with_meta(Arc::new(meta), data).await
        }
        _ => Store::open_local(meta, data, cache).await,
    };
    Ok(store?)
}

/// Who checks access keys: photonauth when the spec says so and the
/// service joined the platform (its service secret read from chainfire),
/// else lightningstor itself.
async fn key_ring<N: Node>(
    spec: &LightningStor<N>,
    ctx: &StartContext,
    chainfire: Option<&etcd_client::Client>,
    operator_secret: &str,
    store: Store,
) -> Result<KeyRing, ServiceError> {
    let operator = spec.access_key.id;
    let auth = match spec.mode {
        Mode::Standalone => photon_dsl::Auth::Local,
        Mode::Integrated(Integration { auth, .. }) | Mode::Hybrid(Hybrid { auth, .. }) => auth,
    };
    let (photon_dsl::Auth::PhotonAuth(photonauth), Some(client), Some(state)) =
        (auth, chainfire, &ctx.state_store)
    else {
        return Ok(KeyRing::new(operator, operator_secret, store));
    };
    let endpoint = format!(
        "http://{}",
        ctx.address_of(photonauth.node(), photonauth.port()).await?
    );
    let service_secret = photonauth::store::AuthStore::new(client.clone(), &state.cluster)
        .service_secret()
        .await?;
    let tenants =
        crate::auth::tenants::Tenants::new(&endpoint, &service_secret, ctx.config.clone())?;
    Ok(KeyRing::with_photonauth(
        operator,
        operator_secret,
        store,
        tenants,
    ))
}

impl<N: Node> Service for LightningStor<N> {
    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc = crate::standalone::export(
            self,
            ctx.bind_ip,
            &ctx.component_id_in(self.mode),
            &ctx.state_dir,
            &ctx.cluster,
            &|node, port| ctx.reach(node, port),
        )?;
        Ok(photon_config::to_toml(&doc)?)
    }

    /// s3s logs every refused request at `error` ("failed to prepare",
    /// "op returns error"): a client's mistake, which `handle` counts and
    /// logs at debug; our own failures are logged where they happen.
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &["s3s::ops=off"]
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let secret = photon_runtime::read_secret(&spec.access_key.secret)?;
            let listener = ctx.tcp(S3Listener, &spec)?;
            let admin_listener = ctx.tcp(AdminListener, &spec)?;
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
            let chainfire = chainfire(&ctx).await?;
            let store =
                open_store(&ctx, spec.mode, chainfire.as_ref(), &meta, &data, cache).await?;
            let auth = key_ring(
                &spec,
                &ctx,
                chainfire.as_ref(),
                secret.expose_secret(),
                store.clone(),
            )
            .await?;
            tracing::info!(
                s3 = %listener.local_addr()?,
                admin = %admin_listener.local_addr()?,
                access_key = spec.access_key.id,
                secret = %spec.access_key.secret,
                data = %data.display(),
                meta = %store.meta().location(),
                keys_checked_by = auth.photonauth().map_or("lightningstor", |t| t.endpoint()),
                "lightningstor listening"
            );
            let counters = Arc::new(Operations::http());
            let admin = ctx.admin(
                env!("CARGO_PKG_VERSION"),
                Health {
                    meta: MetaProbe::start(store.clone(), ctx.shutdown.clone()).await,
                    data_dir: data,
                    counters: counters.clone(),
                },
            );
            let running: Running = Box::pin(async move {
                let admin_api = tonic::transport::Server::builder()
                    .add_service(AdminService::server(store.clone(), auth.clone()))
                    .serve_with_incoming_shutdown(
                        photon_runtime::grpc::incoming(admin_listener),
                        ctx.shutdown.clone().cancelled_owned(),
                    );
                let (_, admin_api) = tokio::join!(
                    serve(
                        listener,
                        store,
                        auth,
                        spec.base_domain,
                        admin,
                        counters,
                        ctx.shutdown.clone()
                    ),
                    admin_api
                );
                admin_api?;
                tracing::info!("lightningstor stopped");
                Ok(())
            });
            Ok(running)
        })
    }

    fn uses_photonauth(&self) -> bool {
        true
    }
}

//! The gateway as a service of a deployment: always integrated (it
//! registers in chainfire, tenants are photonauth's), its HTTP API on its
//! port with `/health` and `/metrics` beside it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::admin::{Checks, LastLook, Metrics, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{BoxFuture, ExposeSecret, Running, Service, ServiceError, StartContext};

use crate::routes::Gateway;
use crate::spec::{ApiGateway, HttpListener};
use crate::upstream::Upstreams;

/// How often the upstreams' `/health` is asked.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// How long open requests may finish after the gateway is told to stop.
const DRAIN: Duration = Duration::from_secs(10);

/// What `/health` and `/metrics` say.
struct Reported {
    /// The resource manager's health when last asked.
    resources: Arc<LastLook<String>>,
    /// creditservice's.
    credits: Arc<LastLook<String>>,
    /// The requests answered.
    operations: Arc<Operations>,
}

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        checks.check("resource_manager", self.resources.last());
        checks.check("creditservice", self.credits.last());
    }

    fn metrics(&self, out: &mut Metrics) {
        self.operations.write(
            out,
            (
                "api_gateway_requests_total",
                "Requests answered, by operation and status class.",
            ),
            (
                "api_gateway_request_duration_seconds",
                "How long requests took, by operation.",
            ),
        );
    }
}

/// A look at the `/health` of the upstream at `addr` (which serves it
/// beside its gRPC API).
async fn probe(addr: SocketAddr) -> Result<String, String> {
    let answer = photon_runtime::http::get(addr, "/health", Duration::from_secs(2))
        .await
        .map_err(|e| format!("not answering at {addr}: {e}"))?;
    if answer.status.is_success() {
        Ok(format!("ok at {addr}"))
    } else {
        Err(format!("unhealthy at {addr}: {}", answer.body.trim()))
    }
}

/// Starts the gateway: upstreams at `resources` and `credits`, photonauth
/// at `auth`, serving on `listener` until `ctx` stops.
pub(crate) async fn run(
    ctx: &StartContext,
    listener: tokio::net::TcpListener,
    tokens: [&photon_dsl::Secret; 3],
    auth: SocketAddr,
    resources: SocketAddr,
    credits: SocketAddr,
) -> Result<Running, ServiceError> {
    let [admin_token, resources_token, credits_token] = tokens;
    let auth_url = format!("http://{auth}");
    let key = photonauth::api::public_key(&auth_url, &ctx.config).await?;
    let upstreams = Upstreams::new(
        &format!("http://{resources}"),
        photon_runtime::read_secret(resources_token)?.expose_secret(),
        &format!("http://{credits}"),
        photon_runtime::read_secret(credits_token)?.expose_secret(),
    )?;
    let gateway = Gateway::new(
        upstreams,
        photon_runtime::read_secret(admin_token)?.expose_secret(),
        key,
    );
    tracing::info!(
        http = %listener.local_addr()?,
        %admin_token,
        photonauth = %auth_url,
        resource_manager = %resources,
        creditservice = %credits,
        "API gateway listening"
    );
    let reported = Reported {
        resources: LastLook::every(PROBE_EVERY, ctx.shutdown.clone(), move || probe(resources))
            .await,
        credits: LastLook::every(PROBE_EVERY, ctx.shutdown.clone(), move || probe(credits)).await,
        operations: gateway.operations.clone(),
    };
    let admin = Arc::new(ctx.admin(env!("CARGO_PKG_VERSION"), reported));
    let shutdown = ctx.shutdown.clone();
    Ok(Box::pin(async move {
        photon_runtime::http::serve_http1(listener, shutdown, DRAIN, move |request| {
            let (gateway, admin) = (gateway.clone(), admin.clone());
            async move {
                match admin.answer(&request) {
                    Some(answered) => answered,
                    None => gateway.answer(request).await,
                }
            }
        })
        .await;
        tracing::info!("API gateway stopped");
        Ok(())
    }))
}

impl<N: Node> Service for ApiGateway<N> {
    fn uses_photonauth(&self) -> bool {
        true
    }

    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc = crate::standalone::export(
            self,
            ctx.bind_ip,
            ctx.node.as_ref(),
            &ctx.cluster,
            &|node, port| ctx.reach(node, port),
        )?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            // Registered in chainfire like every integrated component.
            let _ = ctx.state_store_only("api-gateway").await?;
            let listener = ctx.tcp(HttpListener, &spec)?;
            let auth = ctx.address_of(spec.auth.node(), spec.auth.port()).await?;
            let resources = ctx
                .address_of(spec.resources.node(), spec.resources.port())
                .await?;
            let credits = ctx
                .address_of(spec.credits.node(), spec.credits.port())
                .await?;
            run(
                &ctx,
                listener,
                [
                    &spec.admin_token,
                    &spec.resources_token,
                    &spec.credits_token,
                ],
                auth,
                resources,
                credits,
            )
            .await
        })
    }
}

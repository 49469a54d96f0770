//! photonauth as a service of a deployment: always integrated (its state
//! is in chainfire), its gRPC API on its port, with `GET /health` and
//! `/metrics` beside it on the same port.

use std::sync::Arc;
use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::admin::{Checks, LastLook, Metrics, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{BoxFuture, ExposeSecret, Running, Service, ServiceError, StartContext};

use crate::PhotonAuth;
use crate::api::AuthApi;
use crate::spec::ApiListener;
use crate::store::AuthStore;

/// How often the state store is read for `/health` and `/metrics`.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// The last look at the state in chainfire: how many tenants, or why it
/// could not be read, as the runtime's admin surface reports it; and the
/// gRPC calls answered.
struct Reported(Arc<LastLook<usize>>, Arc<Operations>);

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        checks.check(
            "state",
            self.0
                .last()
                .map(|tenants| format!("ok: {tenants} tenants in chainfire")),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        if let Ok(tenants) = self.0.last() {
            out.gauge("photonauth_tenants", "Tenants that exist.")
                .value(tenants);
        }
        self.1.write(
            out,
            (
                "photonauth_requests_total",
                "gRPC calls answered, by method and code.",
            ),
            (
                "photonauth_request_duration_seconds",
                "How long gRPC calls took, by method.",
            ),
        );
    }
}

impl<N: Node> Service for PhotonAuth<N> {
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
            let token = photon_runtime::read_secret(&spec.admin_token)?;
            let (client, cluster) = ctx.state_store_only("photonauth").await?;
            let store = AuthStore::new(client, &cluster);
            let listener = ctx.tcp(ApiListener, &spec)?;
            tracing::info!(
                grpc = %listener.local_addr()?,
                admin_token = %spec.admin_token,
                %cluster,
                "photonauth listening"
            );
            let signer = crate::token::Signer::from_pkcs8(&store.signing_key().await?)?;
            let service_secret = store.service_secret().await?;
            let look = {
                let store = store.clone();
                move || {
                    let store = store.clone();
                    async move {
                        store
                            .tenants()
                            .await
                            .map(|t| t.len())
                            .map_err(|e| e.to_string())
                    }
                }
            };
            let health = LastLook::every(PROBE_EVERY, ctx.shutdown.clone(), look).await;
            let operations = Arc::new(Operations::grpc());
            let admin = ctx.admin(
                env!("CARGO_PKG_VERSION"),
                Reported(health, operations.clone()),
            );
            let api = AuthApi::server(store, token.expose_secret(), &service_secret, signer);
            Ok(photon_runtime::grpc::serve_api(
                &ctx,
                listener,
                admin,
                operations,
                |routes| routes.add_service(api),
                "photonauth",
            ))
        })
    }
}

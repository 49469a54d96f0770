//! creditservice as a service of a deployment: always integrated (its
//! state is in chainfire), its gRPC API on its port, with `GET /health`
//! and `/metrics` beside it on the same port.

use std::sync::Arc;
use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::admin::{Checks, LastLook, Metrics, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{BoxFuture, ExposeSecret, Running, Service, ServiceError, StartContext};

use crate::api::CreditApi;
use crate::spec::{ApiListener, CreditService};
use crate::store::{CreditStore, Defaults};

/// How often the state is read for `/health` and `/metrics`.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// What `/health` and `/metrics` say: the last look at the state
/// ((accounts, reservations), or why it could not be read).
struct Reported {
    census: Arc<LastLook<(i64, i64)>>,
    /// The gRPC calls answered.
    operations: Arc<Operations>,
}

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        checks.check(
            "state",
            self.census.last().map(|(accounts, reservations)| {
                format!("ok: {accounts} accounts, {reservations} reservations in chainfire")
            }),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        self.operations.write(
            out,
            (
                "creditservice_requests_total",
                "gRPC calls answered, by method and code.",
            ),
            (
                "creditservice_request_duration_seconds",
                "How long gRPC calls took, by method.",
            ),
        );
        if let Ok((accounts, reservations)) = self.census.last() {
            out.gauge("creditservice_accounts", "Tenants' accounts that exist.")
                .value(accounts);
            out.gauge(
                "creditservice_reservations",
                "Reservations held (committed or not).",
            )
            .value(reservations);
        }
    }
}

/// The store's defaults from the spec's.
pub(crate) fn defaults(limits: &crate::spec::DefaultLimits) -> Defaults {
    Defaults {
        limits: limits
            .kinds
            .iter()
            .map(|(kind, limit)| ((*kind).to_owned(), *limit))
            .collect(),
        other: limits.other,
    }
}

impl<N: Node> Service for CreditService<N> {
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

    fn uses_photonauth(&self) -> bool {
        true
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let token = photon_runtime::read_secret(&spec.admin_token)?;
            let (client, cluster) = ctx.state_store_only("creditservice").await?;
            let store = CreditStore::new(client, &cluster, defaults(&spec.limits));
            let auth = format!(
                "http://{}",
                ctx.address_of(spec.auth.node(), spec.auth.port()).await?
            );
            let key = photonauth::api::public_key(&auth, &ctx.config).await?;
            let listener = ctx.tcp(ApiListener, &spec)?;
            tracing::info!(
                grpc = %listener.local_addr()?,
                admin_token = %spec.admin_token,
                %cluster,
                photonauth = %auth,
                "creditservice listening"
            );
            let look = {
                let store = store.clone();
                move || {
                    let store = store.clone();
                    async move { store.census().await.map_err(|e| e.to_string()) }
                }
            };
            let reported = Reported {
                census: LastLook::every(PROBE_EVERY, ctx.shutdown.clone(), look).await,
                operations: Arc::new(Operations::grpc()),
            };
            let operations = reported.operations.clone();
            let admin = ctx.admin(env!("CARGO_PKG_VERSION"), reported);
            Ok(photon_runtime::grpc::serve_api(
                &ctx,
                listener,
                admin,
                operations,
                |routes| routes.add_service(CreditApi::server(store, token.expose_secret(), key)),
                "creditservice",
            ))
        })
    }
}

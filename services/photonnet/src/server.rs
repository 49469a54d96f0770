//! photonnet as a service of a deployment: always integrated (its state,
//! and the VPC zone, are in chainfire), its gRPC API on its port, with
//! `GET /health` and `/metrics` beside it on the same port.

use std::sync::Arc;
use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::admin::{Checks, LastLook, Metrics, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{BoxFuture, ExposeSecret, Running, Service, ServiceError, StartContext};

use crate::api::NetApi;
use crate::spec::{ApiListener, PhotonNet, VpcDns};
use crate::store::NetStore;

/// How often the state is read for `/health` and `/metrics`.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// What `/health` and `/metrics` say: the last look at the state
/// ((tenants with VPCs, VPCs), or why it could not be read), and where
/// names are published.
struct Reported {
    census: Arc<LastLook<(usize, usize)>>,
    zone: Option<String>,
    /// The gRPC calls answered.
    operations: Arc<Operations>,
}

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        checks.check(
            "state",
            self.census.last().map(|(tenants, vpcs)| {
                format!("ok: {vpcs} VPCs of {tenants} tenants in chainfire")
            }),
        );
        checks.check(
            "dns",
            Ok::<_, String>(match &self.zone {
                Some(zone) => format!("ok: names published into {zone}"),
                None => "ok: VPC DNS off".to_owned(),
            }),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        self.operations.write(
            out,
            (
                "photonnet_requests_total",
                "gRPC calls answered, by method and code.",
            ),
            (
                "photonnet_request_duration_seconds",
                "How long gRPC calls took, by method.",
            ),
        );
        if let Ok((tenants, vpcs)) = self.census.last() {
            out.gauge("photonnet_vpcs", "VPCs that exist.").value(vpcs);
            out.gauge("photonnet_tenants", "Tenants with at least one VPC.")
                .value(tenants);
        }
    }
}

impl<N: Node> Service for PhotonNet<N> {
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
            let (client, cluster) = ctx.state_store_only("photonnet").await?;
            let mut store = NetStore::new(client, &cluster);
            if let VpcDns::Zone { zone, server } = spec.dns {
                let server = ctx.address_of(server.node(), server.port()).await?;
                store = store.with_dns(&cluster, zone, server.ip()).await?;
            }
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
                zone = store.zone().as_deref().unwrap_or("(off)"),
                "photonnet listening"
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
                zone: store.zone(),
                operations: Arc::new(Operations::grpc()),
            };
            let operations = reported.operations.clone();
            let admin = ctx.admin(env!("CARGO_PKG_VERSION"), reported);
            Ok(photon_runtime::grpc::serve_api(
                &ctx,
                listener,
                admin,
                operations,
                |routes| routes.add_service(NetApi::server(store, token.expose_secret(), key)),
                "photonnet",
            ))
        })
    }
}

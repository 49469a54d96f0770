//! The resource manager as a service of a deployment: always integrated
//! (its state is in chainfire), its gRPC API on its port, with `GET
//! /health` and `/metrics` beside it on the same port, publishing every
//! change on the event bus.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::admin::{Checks, LastLook, Metrics, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{BoxFuture, ExposeSecret, Running, Service, ServiceError, StartContext};

use crate::api::{PublishCounts, Publisher, ResourceApi};
use crate::spec::{ApiListener, ResourceManager};
use crate::store::ResourceStore;

/// How often the state is read for `/health` and `/metrics`.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// What `/health` and `/metrics` say.
struct Reported {
    /// Resources held, or why they could not be counted.
    census: Arc<LastLook<i64>>,
    /// The gRPC calls answered.
    operations: Arc<Operations>,
    /// Events published.
    events: Arc<PublishCounts>,
}

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        checks.check(
            "state",
            self.census
                .last()
                .map(|resources| format!("ok: {resources} resources in chainfire")),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        self.operations.write(
            out,
            (
                "resource_manager_requests_total",
                "gRPC calls answered, by method and code.",
            ),
            (
                "resource_manager_request_duration_seconds",
                "How long gRPC calls took, by method.",
            ),
        );
        if let Ok(resources) = self.census.last() {
            out.gauge("resource_manager_resources", "Resources that exist.")
                .value(resources);
        }
        out.counter(
            "resource_manager_events_published_total",
            "Change events the bus stored.",
        )
        .value(self.events.published.load(Ordering::Relaxed));
        out.counter(
            "resource_manager_events_dropped_total",
            "Change events given up on while the bus was away (agents find those changes when they next look).",
        )
        .value(self.events.dropped.load(Ordering::Relaxed));
    }
}

/// `host:port` of the bus `subject` is on.
pub async fn bus_address<M: photon_dsl::events::Message>(
    ctx: &StartContext,
    subject: &photon_dsl::events::Subject<M>,
) -> Result<String, ServiceError> {
    let bus = subject.bus();
    Ok(ctx.address_of(bus.node(), bus.port()).await?.to_string())
}

impl<N: Node> Service for ResourceManager<N> {
    fn uses_photonauth(&self) -> bool {
        true
    }

    fn uses_event_bus(&self) -> bool {
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

    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &["async_nats"]
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let token = photon_runtime::read_secret(&spec.admin_token)?;
            let (client, cluster) = ctx.state_store_only("resource-manager").await?;
            let store = ResourceStore::new(client, &cluster);
            let auth = format!(
                "http://{}",
                ctx.address_of(spec.auth.node(), spec.auth.port()).await?
            );
            let key = photonauth::api::public_key(&auth, &ctx.config).await?;
            let bus_at = bus_address(&ctx, &spec.events).await?;
            let bus =
                photon_bus::Bus::connect(&bus_at, &format!("resource-manager-{}", ctx.instance))
                    .await?;
            let publisher = Publisher::new(bus, spec.events);
            let listener = ctx.tcp(ApiListener, &spec)?;
            tracing::info!(
                grpc = %listener.local_addr()?,
                admin_token = %spec.admin_token,
                %cluster,
                photonauth = %auth,
                bus = %bus_at,
                subject = spec.events.name(),
                "resource manager listening"
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
                events: publisher.counts.clone(),
            };
            let operations = reported.operations.clone();
            let admin = ctx.admin(env!("CARGO_PKG_VERSION"), reported);
            Ok(photon_runtime::grpc::serve_api(
                &ctx,
                listener,
                admin,
                operations,
                |routes| {
                    routes.add_service(ResourceApi::server(
                        store,
                        publisher,
                        token.expose_secret(),
                        key,
                    ))
                },
                "resource manager",
            ))
        })
    }
}

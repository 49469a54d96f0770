//! photonauth as a service of a deployment: always integrated (its state
//! is in chainfire), its gRPC API on its port.

use photon_dsl::Node;
use photon_runtime::{BoxFuture, ExposeSecret, Running, Service, ServiceError, StartContext};

use crate::PhotonAuth;
use crate::api::AuthApi;
use crate::spec::ApiListener;
use crate::store::AuthStore;

impl<N: Node> Service for PhotonAuth<N> {
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let token = photon_runtime::read_secret(&spec.admin_token)?;
            let Some(state) = ctx.state_store.clone() else {
                return Err(
                    "photonauth keeps its state in chainfire: it runs joined to its state store only"
                        .into(),
                );
            };
            let client = etcd_client::Client::connect(&state.endpoints, None)
                .await
                .map_err(|e| format!("photonauth's state in chainfire: {e}"))?;
            let store = AuthStore::new(client, &state.cluster);
            let listener = ctx.tcp(ApiListener, &spec)?;
            tracing::info!(
                grpc = %listener.local_addr()?,
                admin_token = %spec.admin_token,
                cluster = %state.cluster,
                "photonauth listening"
            );
            let api = AuthApi::server(store, token.expose_secret());
            let running: Running = Box::pin(async move {
                tonic::transport::Server::builder()
                    .add_service(api)
                    .serve_with_incoming_shutdown(
                        photon_runtime::grpc::incoming(listener),
                        ctx.shutdown.clone().cancelled_owned(),
                    )
                    .await?;
                tracing::info!("photonauth stopped");
                Ok(())
            });
            Ok(running)
        })
    }
}

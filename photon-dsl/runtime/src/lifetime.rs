//! Runs [`Lifetime`]: stops its node after the configured time.

use photon_dsl::{Lifetime, Node};

use crate::{BoxFuture, Running, Service, ServiceError, StartContext};

impl<N: Node> Service for Lifetime<N> {
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let after = self.after;
        Box::pin(async move {
            tracing::info!(?after, "node stops by itself after its lifetime");
            let running: Running = Box::pin(async move {
                tokio::select! {
                    () = tokio::time::sleep(after) => {
                        tracing::info!(?after, "lifetime reached: stopping node");
                        ctx.stopper.stop_node();
                        // Keep running until the supervisor stops us, like every other service.
                        ctx.shutdown.cancelled().await;
                    }
                    () = ctx.shutdown.cancelled() => {}
                }
                Ok(())
            });
            Ok(running)
        })
    }

    fn probe<'a>(
        &'a self,
        _: crate::ProbeTarget<'a>,
    ) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async { Ok("no listeners".to_owned()) })
    }

    fn stops_node_after(&self) -> Option<std::time::Duration> {
        Some(self.after)
    }

    fn export_config(&self, ctx: &crate::ExportContext) -> Result<String, crate::ExportError> {
        let _ = ctx;
        Err(crate::ExportError::NoServer)
    }
}

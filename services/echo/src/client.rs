//! The echo client: polls its dependency and logs each reply.

use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::{BoxFuture, ProbeTarget, Running, Service, ServiceError, StartContext};

use crate::EchoClient;
use crate::http::EchoHttp;

impl<N: Node> Service for EchoClient<N> {
    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let at = ctx
            .resolver
            .resolve(self.echo.node())?
            .with_port(self.echo.port().get());
        let url = match self.echo.path() {
            Some(path) => format!("http://{at}/{}", path.trimmed()),
            None => format!("http://{at}"),
        };
        let doc =
            crate::standalone::export_client(self, &ctx.component_id, url, ctx.stops_node_after)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let http = EchoHttp::new().presenting(&ctx.config);
            let token = spec
                .token
                .as_ref()
                .map(photon_runtime::read_secret)
                .transpose()?;
            let prefix = spec.echo.path().map(|p| p.trimmed()).unwrap_or("");
            let timeout = spec.poll_interval.max(Duration::from_secs(1));
            tracing::info!(
                node = %spec.echo.node(),
                port = %spec.echo.port(),
                every = ?spec.poll_interval,
                test_message = spec.test_message,
                token = ?spec.token,
                "echo client polling"
            );
            let running: Running = Box::pin(async move {
                // The first request goes out one interval after start, as in the article.
                let mut ticks = tokio::time::interval_at(
                    tokio::time::Instant::now() + spec.poll_interval,
                    spec.poll_interval,
                );
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut sent: u64 = 0;
                loop {
                    tokio::select! {
                        () = ctx.shutdown.cancelled() => break,
                        _ = ticks.tick() => {}
                    }
                    sent += 1;
                    let result = async {
                        let addr = ctx.address_of(spec.echo.node(), spec.echo.port()).await?;
                        let reply = http
                            .echo(addr, prefix, spec.test_message, token.as_ref(), timeout)
                            .await?;
                        Ok::<_, ServiceError>(reply)
                    };
                    tokio::select! {
                        () = ctx.shutdown.cancelled() => break,
                        r = result => match r {
                            Ok(reply) => tracing::info!(n = sent, %reply, "echo reply"),
                            Err(e) => tracing::warn!(n = sent, error = %photon_runtime::error_chain(&*e), "echo request failed"),
                        },
                    }
                }
                tracing::info!(requests = sent, "echo client stopped");
                Ok(())
            });
            Ok(running)
        })
    }

    fn probe<'a>(&'a self, _: ProbeTarget<'a>) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async { Ok("no listeners".to_owned()) })
    }
}

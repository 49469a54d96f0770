//! Health checks: each backend asked on its own schedule; `rise`
//! successes in a row bring it back, `fall` failures take it out.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::pool::BackendState;
use crate::spec::{Check, Health};

/// Asks `backend` (speaking `protocol`) as `health` says until `stop`,
/// and records the verdict in its state.
pub async fn watch(
    backend: Arc<BackendState>,
    health: Health,
    balancer: std::sync::Arc<str>,
    protocol: &'static str,
    stop: CancellationToken,
) {
    let mut streak: i32 = 0;
    let mut ticks = tokio::time::interval(health.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let outcome = check(&backend, health.check, protocol, health.timeout).await;
        // A positive streak counts successes, a negative one failures.
        streak = match (&outcome, streak) {
            (Ok(()), s) if s >= 0 => s.saturating_add(1),
            (Ok(()), _) => 1,
            (Err(_), s) if s <= 0 => s.saturating_sub(1),
            (Err(_), _) => -1,
        };
        let healthy = backend.is_healthy();
        if !healthy && streak >= i32::from(health.rise) {
            backend.set_healthy(true);
            tracing::info!(balancer = %balancer, backend = %backend.name, "backend is up");
        } else if healthy && streak <= -i32::from(health.fall) {
            backend.set_healthy(false);
            let why = outcome.err().unwrap_or_default();
            tracing::warn!(balancer = %balancer, backend = %backend.name, %why, "backend is down");
        }
    }
}

/// One check; the reason when it fails.
async fn check(
    backend: &BackendState,
    check: Check,
    protocol: &str,
    timeout: Duration,
) -> Result<(), String> {
    match check {
        Check::Connect => {
            match tokio::time::timeout(timeout, TcpStream::connect(backend.addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect: {e}")),
                Err(_) => Err(format!("connect: no answer within {timeout:?}")),
            }
        }
        Check::Protocol => {
            match tokio::time::timeout(timeout, super::probe::ask(protocol, backend.addr, timeout))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("{protocol}: no answer within {timeout:?}")),
            }
        }
        Check::Http { path, status } => {
            match photon_runtime::http::get(backend.addr, path, timeout).await {
                Ok(answer) if answer.status.as_u16() == status => Ok(()),
                Ok(answer) => Err(format!(
                    "GET {path} answered {}, expected {status}",
                    answer.status
                )),
                Err(e) => Err(format!("GET {path}: {e}")),
            }
        }
    }
}

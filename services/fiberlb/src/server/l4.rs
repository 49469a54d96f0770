//! L4 over TCP: each accepted connection goes to the backend the pool
//! picks (the next one if that one refuses), and bytes are copied both
//! ways until either side closes or the connection sits idle.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pool::{BackendState, Pool};

/// How long a backend may take to accept a connection before the next one
/// is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One L4 balancer at run time.
#[derive(Debug)]
pub struct L4Balancer {
    /// Its name.
    pub name: &'static str,
    /// Its backends and method.
    pub pool: Pool,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Connections no backend would take.
    pub refused: AtomicU64,
}

/// Accepts until `stop`, then leaves the open connections to `tracker`
/// (which the caller waits on, up to its drain time).
pub async fn serve(
    listener: TcpListener,
    balancer: Arc<L4Balancer>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    let balancer = balancer.clone();
                    tracker.spawn(async move { proxy(client, peer, &balancer).await });
                }
                Err(e) => {
                    tracing::warn!(balancer = balancer.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn proxy(client: TcpStream, peer: SocketAddr, balancer: &L4Balancer) {
    let _ = client.set_nodelay(true);
    let mut tried: Vec<Arc<BackendState>> = Vec::new();
    loop {
        let Some(backend) = balancer.pool.pick_except(peer.ip(), &tried).cloned() else {
            // Nothing can take it: close at once rather than hang.
            balancer.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(balancer = balancer.name, %peer, "no backend can take the connection");
            return;
        };
        let guard = backend.open();
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend.addr)).await;
        let upstream = match connected {
            Ok(Ok(upstream)) => upstream,
            Ok(Err(e)) => {
                backend.count_failure();
                tracing::debug!(balancer = balancer.name, backend = %backend.name, error = %e, "backend refused; trying the next");
                tried.push(backend);
                continue;
            }
            Err(_) => {
                backend.count_failure();
                tracing::debug!(balancer = balancer.name, backend = %backend.name, "backend did not accept in time; trying the next");
                tried.push(backend);
                continue;
            }
        };
        let _ = upstream.set_nodelay(true);
        backend.count_connection();
        copy_until_idle(client, upstream, balancer.idle_timeout).await;
        drop(guard);
        return;
    }
}

/// Copies both ways until either side is done, or nothing moved for
/// `idle`.
async fn copy_until_idle(client: TcpStream, upstream: TcpStream, idle: Duration) {
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut client = Activity {
        inner: client,
        last: last.clone(),
        started,
    };
    let mut upstream = Activity {
        inner: upstream,
        last: last.clone(),
        started,
    };
    let watchdog = async {
        loop {
            let since = Duration::from_millis(last.load(Ordering::Relaxed));
            let quiet = started.elapsed().saturating_sub(since);
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = copied {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = watchdog => tracing::debug!("idle connection closed"),
    }
}

/// A stream that records when bytes last moved (ms since `started`).
struct Activity {
    inner: TcpStream,
    last: Arc<AtomicU64>,
    started: Instant,
}

impl Activity {
    fn touch(&self) {
        self.last
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Activity {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Activity {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

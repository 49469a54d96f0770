//! L4 over TCP: each accepted connection goes to the backend the pool
//! picks (the next one if that one refuses), and bytes move both ways
//! (spliced in the kernel, see `splice`) until both sides close or the
//! connection sits idle.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// How long a client's stickiness outlives its last connection or flow.
const STICK_FOR: Duration = Duration::from_secs(30 * 60);
/// Clients remembered before expired entries are swept.
const STICKY_SWEEP_AT: usize = 100_000;

/// Each remembered client's backend, and until when it is remembered.
pub type StickTable = HashMap<IpAddr, (Arc<BackendState>, Instant)>;

/// One L4 balancer at run time.
#[derive(Debug)]
pub struct L4Balancer {
    /// Its name (the spec's, or a tenant balancer's `<tenant>/<name>`).
    pub name: Arc<str>,
    /// Its backends and method.
    pub pool: Pool,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Connections no backend would take.
    pub refused: AtomicU64,
    /// With source-IP stickiness: each client's backend, until when.
    pub sticky: Option<Mutex<StickTable>>,
}

impl L4Balancer {
    /// A balancer over `pool`; `sticky` remembers each client's backend.
    pub fn new(
        name: impl Into<Arc<str>>,
        pool: Pool,
        idle_timeout: Duration,
        sticky: bool,
    ) -> L4Balancer {
        L4Balancer {
            name: name.into(),
            pool,
            idle_timeout,
            refused: AtomicU64::new(0),
            sticky: sticky.then(Mutex::default),
        }
    }

    /// The backend for new traffic from `client`, leaving out `tried`:
    /// with stickiness, the one it had while that one takes traffic (then
    /// the pool's pick becomes its own); without, the pool's pick.
    pub fn choose(&self, client: IpAddr, tried: &[Arc<BackendState>]) -> Option<Arc<BackendState>> {
        let Some(table) = &self.sticky else {
            return self.pool.pick_except(client, tried).cloned();
        };
        let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some((backend, until)) = table.get_mut(&client)
            && *until > now
            && backend.eligible()
            && !tried.iter().any(|t| Arc::ptr_eq(t, backend))
        {
            *until = now + STICK_FOR;
            return Some(backend.clone());
        }
        let backend = self.pool.pick_except(client, tried)?.clone();
        if table.len() >= STICKY_SWEEP_AT {
            table.retain(|_, (_, until)| *until > now);
        }
        table.insert(client, (backend.clone(), now + STICK_FOR));
        Some(backend)
    }
}

/// Accepts until `stop`, then leaves the open connections to `tracker`
/// (which the caller waits on, up to its drain time).
pub async fn serve(
    listener: TcpListener,
    balancer: Arc<L4Balancer>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    while let Some((client, peer)) = photon_runtime::accept::next(&listener, &stop).await {
        let balancer = balancer.clone();
        tracker.spawn(async move { proxy(client, peer, &balancer).await });
    }
}

async fn proxy(client: TcpStream, peer: SocketAddr, balancer: &L4Balancer) {
    let mut tried: Vec<Arc<BackendState>> = Vec::new();
    loop {
        let Some(backend) = balancer.choose(peer.ip(), &tried) else {
            // Nothing can take it: close at once rather than hang.
            balancer.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(balancer = %balancer.name, %peer, "no backend can take the connection");
            return;
        };
        let guard = backend.open();
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend.addr))
            .await
            .map_err(|_| format!("no accept within {CONNECT_TIMEOUT:?}"))
            .and_then(|connected| connected.map_err(|e| e.to_string()));
        let upstream = match connected {
            Ok(upstream) => upstream,
            Err(why) => {
                backend.count_failure();
                tracing::debug!(balancer = %balancer.name, backend = %backend.name, %why, "backend did not take the connection; trying the next");
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

/// Moves bytes both ways until both sides are done, or nothing moved for
/// `idle`: with splice(2) when two pipes can be had, else copied through
/// user space.
async fn copy_until_idle(mut client: TcpStream, mut upstream: TcpStream, idle: Duration) {
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
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
    let moved = async {
        match (super::splice::Pipe::new(), super::splice::Pipe::new()) {
            (Ok(up), Ok(down)) => tokio::try_join!(
                super::splice::one_way(&client, &upstream, up, &last, started),
                super::splice::one_way(&upstream, &client, down, &last, started),
            )
            .map(drop),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "no pipe for splice: copying through user space");
                let mut client = Activity {
                    inner: &mut client,
                    last: last.clone(),
                    started,
                };
                let mut upstream = Activity {
                    inner: &mut upstream,
                    last: last.clone(),
                    started,
                };
                tokio::io::copy_bidirectional(&mut client, &mut upstream)
                    .await
                    .map(drop)
            }
        }
    };
    tokio::select! {
        moved = moved => {
            if let Err(e) = moved {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = watchdog => tracing::debug!("idle connection closed"),
    }
}

/// A stream that records when bytes last moved (ms since `started`).
struct Activity<'a> {
    inner: &'a mut TcpStream,
    last: Arc<AtomicU64>,
    started: Instant,
}

impl Activity<'_> {
    fn touch(&self) {
        self.last
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Activity<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Activity<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Method;

    fn balancer(sticky: bool) -> L4Balancer {
        let backends = (1..=3)
            .map(|i| BackendState::new(format!("10.0.0.{i}:80").parse().unwrap(), 1))
            .collect();
        L4Balancer::new(
            "web",
            Pool::new(backends, Method::RoundRobin),
            Duration::from_secs(60),
            sticky,
        )
    }

    fn client(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_sticky_client_keeps_its_backend_until_it_stops_taking_traffic() {
        let lb = balancer(true);
        let first = lb.choose(client(1), &[]).unwrap();
        for _ in 0..10 {
            assert!(Arc::ptr_eq(&lb.choose(client(1), &[]).unwrap(), &first));
        }
        // Other clients still take turns.
        let others: Vec<String> = (2..=4)
            .map(|c| lb.choose(client(c), &[]).unwrap().name.clone())
            .collect();
        assert_eq!(
            others
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            3,
            "{others:?}"
        );
        first.set_drained(true);
        let moved = lb.choose(client(1), &[]).unwrap();
        assert!(!Arc::ptr_eq(&moved, &first));
        first.set_drained(false);
        assert!(
            Arc::ptr_eq(&lb.choose(client(1), &[]).unwrap(), &moved),
            "it stays where it moved"
        );
        // A backend that refused this connection is left out, sticky or not.
        let next = lb.choose(client(1), std::slice::from_ref(&moved)).unwrap();
        assert!(!Arc::ptr_eq(&next, &moved));
    }

    #[test]
    fn without_stickiness_a_client_takes_turns_like_everyone() {
        let lb = balancer(false);
        let names: Vec<String> = (0..3)
            .map(|_| lb.choose(client(1), &[]).unwrap().name.clone())
            .collect();
        assert_eq!(
            names.iter().collect::<std::collections::HashSet<_>>().len(),
            3,
            "{names:?}"
        );
    }
}

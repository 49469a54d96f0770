//! L4 over UDP: each client address is a flow, sent to the backend the
//! pool picked for its first datagram; the backend's replies go back from
//! the balancer's socket. A flow quiet for the idle timeout is forgotten.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::l4::L4Balancer;
use crate::pool::ActiveGuard;

/// Largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;

/// One client's flow: its socket to the backend, and when it last moved.
struct Flow {
    upstream: Arc<UdpSocket>,
    last: Arc<AtomicU64>,
}

type Flows = Arc<Mutex<HashMap<SocketAddr, Flow>>>;

/// Relays datagrams until `stop`.
pub async fn serve(socket: UdpSocket, balancer: Arc<L4Balancer>, stop: CancellationToken) {
    let socket = Arc::new(socket);
    let flows: Flows = Arc::default();
    let started = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = tokio::select! {
            () = stop.cancelled() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(e) => {
                    tracing::debug!(balancer = %balancer.name, error = %e, "receive failed");
                    continue;
                }
            },
        };
        let existing = flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&client)
            .map(|flow| (flow.upstream.clone(), flow.last.clone()));
        let (upstream, last) = match existing {
            Some(flow) => flow,
            None => match open_flow(&socket, &balancer, &flows, client, started, &stop).await {
                Some(flow) => flow,
                None => continue,
            },
        };
        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        if let Err(e) = upstream.send(&buf[..n]).await {
            tracing::debug!(balancer = %balancer.name, %client, error = %e, "relaying to the backend failed");
        }
    }
}

/// Picks a backend for `client`, connects a socket to it and starts
/// relaying its replies; `None` when no backend may take the flow.
async fn open_flow(
    socket: &Arc<UdpSocket>,
    balancer: &Arc<L4Balancer>,
    flows: &Flows,
    client: SocketAddr,
    started: Instant,
    stop: &CancellationToken,
) -> Option<(Arc<UdpSocket>, Arc<AtomicU64>)> {
    let Some(backend) = balancer.choose(client.ip(), &[]) else {
        balancer.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(balancer = %balancer.name, %client, "no backend can take the flow");
        return None;
    };
    let local: SocketAddr = if backend.addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let upstream = match UdpSocket::bind(local).await {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(balancer = %balancer.name, error = %e, "cannot open a socket for a flow");
            return None;
        }
    };
    if let Err(e) = upstream.connect(backend.addr).await {
        backend.count_failure();
        tracing::debug!(balancer = %balancer.name, backend = %backend.name, error = %e, "cannot reach the backend");
        return None;
    }
    backend.count_connection();
    let upstream = Arc::new(upstream);
    let last = Arc::new(AtomicU64::new(started.elapsed().as_millis() as u64));
    flows.lock().unwrap_or_else(|e| e.into_inner()).insert(
        client,
        Flow {
            upstream: upstream.clone(),
            last: last.clone(),
        },
    );
    tokio::spawn(relay_replies(
        socket.clone(),
        upstream.clone(),
        client,
        last.clone(),
        started,
        balancer.idle_timeout,
        flows.clone(),
        backend.open(),
        stop.clone(),
    ));
    Some((upstream, last))
}

/// Sends the backend's replies to `client` until the flow is idle.
#[allow(clippy::too_many_arguments)]
async fn relay_replies(
    socket: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    client: SocketAddr,
    last: Arc<AtomicU64>,
    started: Instant,
    idle: Duration,
    flows: Flows,
    _active: ActiveGuard,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let quiet = started
            .elapsed()
            .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
        if quiet >= idle {
            break;
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(idle - quiet) => continue,
            received = upstream.recv(&mut buf) => match received {
                Ok(n) => {
                    last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    if let Err(e) = socket.send_to(&buf[..n], client).await {
                        tracing::debug!(%client, error = %e, "relaying a reply failed");
                    }
                }
                // The backend's port is closed (ICMP unreachable): the
                // next datagram may find it back, or the flow idles out.
                Err(e) => tracing::debug!(%client, error = %e, "the backend refused a datagram"),
            },
        }
    }
    flows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&client);
}

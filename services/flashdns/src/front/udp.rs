//! DNS over UDP: a few tasks share the listener's socket, each receiving
//! datagrams in a loop and answering them in place (no task per query).

use std::io::ErrorKind;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::Front;

/// The largest datagram read (a query is far smaller; a larger one is
/// read whole so that it is answered FORMERR rather than misread).
const RECEIVE_BUFFER: usize = 65_535;

/// Datagrams answered in a row before the task lets others run (the
/// receive loop does not wait while datagrams are queued).
const BATCH: usize = 64;

/// The socket's kernel receive buffer: room for a burst while the tasks
/// are busy, so that a burst is answered rather than dropped.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Serves `socket` with one receiving task per core until `shutdown`, or
/// until the socket fails.
pub async fn serve(
    socket: UdpSocket,
    front: Arc<Front>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Err(error) = socket2::SockRef::from(&socket).set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        tracing::warn!(%error, "cannot enlarge the DNS socket's receive buffer");
    }
    let socket = Arc::new(socket);
    let tasks = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut receivers = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        receivers.spawn(receive(socket.clone(), front.clone(), shutdown.clone()));
    }
    while let Some(ended) = receivers.join_next().await {
        if let Ok(Err(error)) = ended {
            shutdown.cancel();
            return Err(error);
        }
    }
    Ok(())
}

async fn receive(
    socket: Arc<UdpSocket>,
    front: Arc<Front>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut query = vec![0; RECEIVE_BUFFER];
    let mut response = Vec::with_capacity(usize::from(crate::dns::UDP_PAYLOAD));
    let mut answered = 0;
    loop {
        let (len, src) = match socket.try_recv_from(&mut query) {
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    ready = socket.readable() => ready?,
                }
                continue;
            }
            // An ICMP error for an earlier response, or a signal: the
            // socket itself is fine.
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::Interrupted
                ) =>
            {
                tracing::debug!(%error, "receiving a DNS datagram");
                continue;
            }
            Err(error) => return Err(error),
        };
        if front
            .answer_datagram(&query[..len], src, &mut response)
            .await
            && let Err(error) = socket.send_to(&response, src).await
        {
            tracing::debug!(%error, %src, "cannot send a DNS response");
        }
        answered += 1;
        if answered % BATCH == 0 {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
    }
}

//! Accepting TCP connections the way every server here does: until the
//! service is told to stop, riding out accept errors (out of file
//! descriptors, a connection reset before it was taken) instead of
//! ending the service.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How long to wait after a failed accept before the next: the error is
/// usually a resource that frees up shortly.
const BACKOFF: Duration = Duration::from_millis(50);

/// The next connection on `listener`, with Nagle's delay off (servers here
/// answer in small exchanges), or `None` once `stop` is cancelled.
pub async fn next(
    listener: &TcpListener,
    stop: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(BACKOFF).await;
                }
            },
        }
    }
}

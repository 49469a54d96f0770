//! Kept-alive HTTP/1.1 connections to one backend, reused across requests.
//!
//! A connection is taken for one exchange and given back once the answer's
//! body has been read to its end; one given back half-read is dropped
//! (hyper cannot reuse it). Connecting happens before the request is
//! handed over, so a backend that refuses the connection leaves the
//! request whole, body and all, for the next backend.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::l7::ProxyBody;

/// How long a backend may take to accept a connection before the next one
/// is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an unused connection is kept: under the usual keep-alive of
/// servers (nginx 75 s, Apache 5 s is the short end), so fiberlb rarely
/// sends on a connection the backend is closing.
const IDLE_FOR: Duration = Duration::from_secs(4);
/// How long a kept connection may take to be ready for the next request.
const READY_WITHIN: Duration = Duration::from_millis(100);
/// Unused connections kept per backend; more are closed when given back.
const MAX_IDLE: usize = 256;

/// One backend's unused connections.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    idle: Mutex<Vec<(SendRequest<ProxyBody>, Instant)>>,
}

/// The backend refused the connection or did not accept it in time.
#[derive(Debug, thiserror::Error)]
#[error("connect to {addr}: {why}")]
pub struct ConnectError {
    /// The backend.
    pub addr: SocketAddr,
    /// What went wrong.
    pub why: String,
}

impl Upstream {
    /// None kept yet for the backend at `addr`.
    pub fn new(addr: SocketAddr) -> Upstream {
        Upstream {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A kept connection ready for a request, if one is still open and
    /// not too old. (The backend may still be closing it this instant: a
    /// request it was not sent on comes back, see `l7`.)
    pub async fn take_idle(&self) -> Option<SendRequest<ProxyBody>> {
        loop {
            let (mut sender, since) = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.pop()?
            };
            if since.elapsed() >= IDLE_FOR || sender.is_closed() {
                continue;
            }
            // Ready at once unless the last answer is still being wound up.
            if sender.is_ready() {
                return Some(sender);
            }
            if let Ok(Ok(())) = tokio::time::timeout(READY_WITHIN, sender.ready()).await {
                return Some(sender);
            }
        }
    }

    /// A new TCP connection to the backend.
    pub async fn connect_tcp(&self) -> Result<TcpStream, ConnectError> {
        let failed = |why: String| ConnectError {
            addr: self.addr,
            why,
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| failed(format!("no accept within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| failed(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// A new connection.
    pub async fn connect(&self) -> Result<SendRequest<ProxyBody>, ConnectError> {
        let stream = self.connect_tcp().await?;
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ConnectError {
                    addr: self.addr,
                    why: e.to_string(),
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "backend connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Gives back a connection whose exchange is over.
    pub fn give_back(&self, sender: SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Kept oldest first: the expired ones are at the front.
        let expired = idle.partition_point(|(_, since)| now.duration_since(*since) >= IDLE_FOR);
        idle.drain(..expired);
        if idle.len() < MAX_IDLE {
            idle.push((sender, now));
        }
    }
}

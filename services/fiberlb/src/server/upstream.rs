//! Kept-alive HTTP/1.1 connections to one backend, reused across requests.
//!
//! Two kinds are kept, one per client path: plain connections ([`Conn`])
//! for the balancer's own HTTP/1 path, and hyper's senders for requests
//! that came over HTTP/2. A connection is taken for one exchange and given
//! back once the answer's body has been read to its end; one left
//! half-read is dropped. Connecting happens before the request is handed
//! over, so a backend that refuses the connection leaves the request
//! whole, body and all, for the next backend.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::BytesMut;
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
/// Unused connections kept per backend and kind; more are closed when
/// given back.
const MAX_IDLE: usize = 256;

/// A plain connection to a backend and what was read from it but not yet
/// used (nothing, while it is kept).
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read past what has been handled.
    pub buf: BytesMut,
}

/// Unused connections, oldest first.
#[derive(Debug)]
struct Kept<T>(Mutex<Vec<(T, Instant)>>);

impl<T> Kept<T> {
    fn new() -> Kept<T> {
        Kept(Mutex::new(Vec::new()))
    }

    /// The newest one that has not been kept too long.
    fn take(&self) -> Option<T> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (conn, since) = idle.pop()?;
        if since.elapsed() >= IDLE_FOR {
            // All the others are older.
            idle.clear();
            return None;
        }
        Some(conn)
    }

    fn put(&self, conn: T) {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let expired = idle.partition_point(|(_, since)| now.duration_since(*since) >= IDLE_FOR);
        idle.drain(..expired);
        if idle.len() < MAX_IDLE {
            idle.push((conn, now));
        }
    }
}

/// One backend's unused connections, kept per worker thread: a
/// connection is driven by its worker's event loop, so it is reused only
/// there.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    plain: Box<[Kept<Conn>]>,
    senders: Box<[Kept<SendRequest<ProxyBody>>]>,
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
    /// None kept yet for the backend at `addr`, by any of `workers`.
    pub fn new(addr: SocketAddr, workers: usize) -> Upstream {
        Upstream {
            addr,
            plain: (0..workers).map(|_| Kept::new()).collect(),
            senders: (0..workers).map(|_| Kept::new()).collect(),
        }
    }

    /// A kept plain connection the backend has not closed meanwhile. (It
    /// may still be closing it this instant: a request without a body
    /// that gets nothing back is sent again on a new one, see `l7::h1`.)
    pub fn take_conn(&self, worker: usize) -> Option<Conn> {
        loop {
            let conn = self.plain[worker].take()?;
            // No system call unless the socket has had an event since the
            // last read: then it was a close (or bytes nobody asked for).
            match conn.stream.try_read(&mut [0u8; 1]) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(conn),
                _ => continue,
            }
        }
    }

    /// A new plain connection.
    pub async fn connect_conn(&self) -> Result<Conn, ConnectError> {
        Ok(Conn {
            stream: self.connect_tcp().await?,
            buf: BytesMut::with_capacity(8 * 1024),
        })
    }

    /// Gives back a plain connection whose exchange is over and fully
    /// read.
    pub fn give_back_conn(&self, worker: usize, conn: Conn) {
        self.plain[worker].put(conn);
    }

    /// A kept sender ready for a request, if one is still open. (The
    /// backend may still be closing it this instant: a request it was not
    /// sent on comes back, see `l7::h2`.)
    pub async fn take_idle(&self, worker: usize) -> Option<SendRequest<ProxyBody>> {
        loop {
            let mut sender = self.senders[worker].take()?;
            if sender.is_closed() {
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

    /// A new sender, its connection driven by a task of its own.
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

    /// Gives back a sender whose exchange is over.
    pub fn give_back(&self, worker: usize, sender: SendRequest<ProxyBody>) {
        if !sender.is_closed() {
            self.senders[worker].put(sender);
        }
    }
}

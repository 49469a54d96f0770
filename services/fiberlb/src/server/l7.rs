//! L7: HTTP/1.1 and HTTP/2 from clients, each request routed by host and
//! path prefix to a pool and sent to the pool's pick over a kept-alive
//! HTTP/1.1 connection, its body and the answer's streamed through, never
//! held whole. HTTP/1 clients are served by fiberlb's own path ([`h1`],
//! on [`wire`]); HTTP/2 ones (by ALPN behind TLS, by the client's preface
//! without) through hyper ([`h2`]).
//!
//! What the backend sees: the client's request with hop-by-hop headers
//! removed and `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded`
//! (RFC 7239) added. What the client sees: the backend's answer, or
//! fiberlb's own when no backend can give one: 503 when none may take the
//! request (at once, never a wait), 502 when the chosen one broke off, 504
//! when it kept the request waiting past `request_timeout`. A request to
//! switch protocols (WebSocket) goes to the backend on a connection of its
//! own and, when the backend agrees, becomes a tunnel.

mod h1;
mod h2;
mod wire;

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::header::HeaderValue;
use photon_dsl::{HostName, UrlPathPrefix};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::upstream::Upstream;
use crate::pool::{BackendState, Pool};

/// An error from either side of a proxied exchange.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A body passed through: the client's request, or a backend's answer.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// The largest request head a client may send (request line and headers);
/// more is answered 431, as HAProxy's `tune.bufsize` does.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Requests for a host and/or path prefix, and their pool.
#[derive(Debug)]
pub struct Route {
    /// The `Host` it matches, if any.
    pub host: Option<HostName>,
    /// The path prefix it matches, if any.
    pub path: Option<UrlPathPrefix>,
    /// Its backends.
    pub pool: Pool,
}

/// One L7 balancer at run time.
#[derive(Debug)]
pub struct L7Balancer {
    /// Its name.
    pub name: &'static str,
    /// Where requests no route matches go.
    pub default: Pool,
    /// Requests matched by host or path, tried in order.
    pub routes: Vec<Route>,
    /// The stickiness cookie's name, if clients keep their backend.
    pub cookie: Option<&'static str>,
    /// How long a request may keep a client's headers or a backend's
    /// answer waiting (and an answer's body idle).
    pub timeout: Duration,
    /// `http`, or `https` behind TLS: what `X-Forwarded-Proto` says.
    pub scheme: &'static str,
    /// Requests answered 503 because no backend could take them.
    pub refused: AtomicU64,
    /// Each backend's kept connections (by its place in [`backends`](Self::backends)).
    upstreams: Vec<(Arc<BackendState>, Arc<Upstream>)>,
    /// Threads serving clients, each with an event loop of its own.
    workers: usize,
}

impl L7Balancer {
    /// A balancer over `default` and `routes`.
    pub fn new(
        name: &'static str,
        default: Pool,
        routes: Vec<Route>,
        cookie: Option<&'static str>,
        timeout: Duration,
        scheme: &'static str,
    ) -> L7Balancer {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let upstreams = std::iter::once(&default)
            .chain(routes.iter().map(|r| &r.pool))
            .flat_map(|pool| pool.backends())
            .map(|b| (b.clone(), Arc::new(Upstream::new(b.addr, workers))))
            .collect();
        L7Balancer {
            name,
            default,
            routes,
            cookie,
            timeout,
            scheme,
            refused: AtomicU64::new(0),
            upstreams,
            workers,
        }
    }

    /// Every backend, its routes' included.
    pub fn backends(&self) -> impl Iterator<Item = &Arc<BackendState>> {
        self.upstreams.iter().map(|(b, _)| b)
    }

    fn upstream(&self, backend: &Arc<BackendState>) -> &Arc<Upstream> {
        self.upstreams
            .iter()
            .find(|(b, _)| Arc::ptr_eq(b, backend))
            .map(|(_, u)| u)
            .expect("every backend of a pool has an upstream")
    }

    /// The pool for a request to `host` (no port) and `path`: the first
    /// route that matches, or the default.
    fn pool_for(&self, host: Option<&str>, path: &str) -> &Pool {
        self.routes
            .iter()
            .find(|route| {
                route
                    .host
                    .is_none_or(|want| host.is_some_and(|h| h.eq_ignore_ascii_case(want.as_str())))
                    && route.path.is_none_or(|prefix| under(path, prefix))
            })
            .map_or(&self.default, |route| &route.pool)
    }

    /// The backend for this request: the one its cookie names while that
    /// one takes traffic, else the pool's pick; `None` when none may take
    /// it.
    fn choose(
        &self,
        pool: &Pool,
        client: IpAddr,
        sticky: Option<&str>,
        tried: &[Arc<BackendState>],
    ) -> Option<Arc<BackendState>> {
        if let Some(id) = sticky
            && let Some(backend) = pool.backends().iter().find(|b| {
                cookie_id(b) == id && b.eligible() && !tried.iter().any(|t| Arc::ptr_eq(t, b))
            })
        {
            return Some(backend.clone());
        }
        pool.pick_except(client, tried).cloned()
    }
}

/// The `Set-Cookie` value that keeps a client on `backend`, unless its
/// cookie (`sticky`) names that backend already.
fn set_cookie(
    name: &str,
    backend: &BackendState,
    sticky: Option<&str>,
    scheme: &str,
) -> Option<String> {
    let id = cookie_id(backend);
    if sticky == Some(id.as_str()) {
        return None;
    }
    let secure = if scheme == "https" { "; Secure" } else { "" };
    Some(format!("{name}={id}; Path=/; HttpOnly{secure}"))
}

/// What the stickiness cookie says for `backend`: a hash of its address
/// (FNV-1a), so the cookie names no address and survives a restart.
fn cookie_id(backend: &BackendState) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in backend.name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether `path` is `prefix` or under it (`/v1` and `/v1/...` for `v1`).
fn under(path: &str, prefix: UrlPathPrefix) -> bool {
    let prefix = prefix.trimmed();
    if prefix.is_empty() {
        return true;
    }
    path.strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(prefix))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `host` without its port (`[::1]:80` -> `::1`, `a.example:80` ->
/// `a.example`).
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// A client connection's address as the forwarding headers write it,
/// worked out once per connection rather than per request.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its address (an IPv4-mapped IPv6 address as IPv4).
    pub ip: IpAddr,
    /// The address as text: `X-Forwarded-For`'s element.
    xff: HeaderValue,
    /// `Forwarded`'s `for=` node: the address, an IPv6 one quoted in
    /// brackets (RFC 7239).
    node: String,
}

impl Peer {
    /// The client at `addr`.
    pub fn new(addr: SocketAddr) -> Peer {
        let ip = addr.ip().to_canonical();
        let text = ip.to_string();
        let node = match ip {
            IpAddr::V4(_) => text.clone(),
            IpAddr::V6(_) => format!("\"[{text}]\""),
        };
        Peer {
            ip,
            xff: HeaderValue::from_str(&text).expect("an address is a header value"),
            node,
        }
    }
}

/// This hop's `Forwarded` element (RFC 7239): the client, the scheme and
/// the host it asked for.
fn forwarded_element(client: &Peer, host: Option<&str>, scheme: &str) -> String {
    let mut element = format!("for={};proto={scheme}", client.node);
    if let Some(host) = host {
        // Quoted, so what a quote or a control byte would break is left out.
        let clean = |c: char| !c.is_control() && c != '"' && c != '\\';
        element.push_str(";host=\"");
        element.extend(host.chars().filter(|c| clean(*c)));
        element.push('"');
    }
    element
}

/// How an HTTP/2 connection starts (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Accepts until `stop`, serving HTTP/1.1 and HTTP/2 (by ALPN behind
/// `tls`, by the client's preface without); then lets open exchanges
/// finish for up to `drain` (HTTP/1.1 connections close after their
/// current answer, HTTP/2 ones get a GOAWAY).
///
/// Clients are served by one thread per core, each with an event loop of
/// its own, as HAProxy's threads are: a connection's events, its backend
/// connections' included, are handled where it lives, and a thread kept
/// off its core holds up only its own connections. (One work-stealing
/// runtime for all gave a p99 latency twice HAProxy's under load on two
/// cores.) Each accepted connection goes to the worker serving the fewest.
pub async fn serve(
    listener: TcpListener,
    balancer: Arc<L7Balancer>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: CancellationToken,
    drain: Duration,
) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut workers = Vec::new();
    for worker in 0..balancer.workers {
        let (balancer, tls, stop) = (balancer.clone(), tls.clone(), stop.clone());
        let (hand, accepted) = tokio::sync::mpsc::unbounded_channel();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let load = Arc::new(AtomicUsize::new(0));
        let counted = load.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("fiberlb-l7-{worker}"))
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(serve_worker(
                        worker, accepted, counted, balancer, tls, stop, drain,
                    )),
                    Err(e) => {
                        tracing::error!(balancer = balancer.name, worker, error = %e, "an L7 worker cannot start");
                    }
                }
                let _ = done.send(());
            });
        match spawned {
            Ok(_) => workers.push((hand, load, finished)),
            Err(e) => tracing::error!(error = %e, "cannot start an L7 worker thread"),
        }
    }
    let mut turn = 0;
    while let Some((stream, peer)) = photon_runtime::accept::next(&listener, &stop).await {
        // The least loaded worker, ties taken in turn.
        turn += 1;
        let Some((hand, load, _)) = (0..workers.len())
            .map(|i| &workers[(turn + i) % workers.len()])
            .min_by_key(|(_, load, _)| load.load(Ordering::Relaxed))
        else {
            break;
        };
        match stream.into_std() {
            Ok(stream) => {
                load.fetch_add(1, Ordering::Relaxed);
                if hand.send((stream, peer)).is_err() {
                    load.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "an accepted connection could not be handed over")
            }
        }
    }
    drop(listener);
    // Every worker drains at once.
    let finished: Vec<_> = workers
        .into_iter()
        .map(|(_, _, finished)| finished)
        .collect();
    for finished in finished {
        // An error only says the worker ended without saying so: it ended.
        let _ = finished.await;
    }
}

/// One worker: serves the connections it is handed until the acceptor
/// stops, then gives open exchanges `drain` to finish; what is still open
/// then is closed with the worker's event loop. `load` counts its open
/// connections.
async fn serve_worker(
    worker: usize,
    mut accepted: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    load: Arc<AtomicUsize>,
    balancer: Arc<L7Balancer>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: CancellationToken,
    drain: Duration,
) {
    let open = tokio_util::task::TaskTracker::new();
    while let Some((stream, peer)) = accepted.recv().await {
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                load.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!(%peer, error = %e, "a connection could not join its worker");
                continue;
            }
        };
        let (balancer, tls, stop, load) =
            (balancer.clone(), tls.clone(), stop.clone(), load.clone());
        open.spawn(async move {
            let served = match tls {
                None => serve_plain(stream, peer, worker, balancer, stop).await,
                Some(tls) => {
                    // A client that stalls its handshake is cut off like
                    // one that stalls its headers.
                    match tokio::time::timeout(balancer.timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                                h2::serve(stream, peer, worker, balancer, stop).await
                            } else {
                                let client = Peer::new(peer);
                                h1::serve(
                                    stream,
                                    BytesMut::new(),
                                    &client,
                                    worker,
                                    &balancer,
                                    &stop,
                                )
                                .await
                            }
                        }
                        Ok(Err(e)) => Err(format!("TLS handshake: {e}").into()),
                        Err(_) => Err("TLS handshake: too slow".into()),
                    }
                }
            };
            load.fetch_sub(1, Ordering::Relaxed);
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "client connection ended with an error");
            }
        });
    }
    open.close();
    if tokio::time::timeout(drain, open.wait()).await.is_err() {
        tracing::warn!(
            balancer = balancer.name,
            worker,
            ?drain,
            "requests still open after the drain period; closing them"
        );
    }
}

/// A connection without TLS: HTTP/2 when it opens with the HTTP/2
/// preface, HTTP/1 otherwise.
async fn serve_plain(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    worker: usize,
    balancer: Arc<L7Balancer>,
    stop: CancellationToken,
) -> Result<(), BoxError> {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let deadline = tokio::time::Instant::now() + balancer.timeout;
    while buf.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(&buf) {
        let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf));
        tokio::select! {
            read = read => match read {
                Ok(Ok(0)) | Err(_) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            },
            () = stop.cancelled() => return Ok(()),
        }
    }
    if buf.starts_with(H2_PREFACE) {
        let read = Prefixed {
            prefix: buf.freeze(),
            io: stream,
        };
        return h2::serve(read, peer, worker, balancer, stop).await;
    }
    let client = Peer::new(peer);
    h1::serve(stream, buf, &client, worker, &balancer, &stop).await
}

/// A connection whose first bytes were read already: they are read again
/// first.
struct Prefixed<S> {
    prefix: Bytes,
    io: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(out.remaining());
            out.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use photon_dsl::path;

    #[test]
    fn a_path_prefix_matches_itself_and_what_is_under_it() {
        assert!(under("/v1", path!("v1")));
        assert!(under("/v1/objects", path!("/v1/")));
        assert!(!under("/v10", path!("v1")));
        assert!(!under("/", path!("v1")));
        assert!(under("/anything", path!("")));
    }

    #[test]
    fn ports_come_off_hosts() {
        assert_eq!(strip_port("api.example.com:8080"), "api.example.com");
        assert_eq!(strip_port("api.example.com"), "api.example.com");
        assert_eq!(strip_port("[2001:db8::1]:443"), "2001:db8::1");
    }
}

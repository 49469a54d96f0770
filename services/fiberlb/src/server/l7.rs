//! L7: HTTP/1.1 and HTTP/2 from clients (hyper), each request routed by
//! host and path prefix to a pool, sent to the pool's pick over a kept-alive
//! HTTP/1.1 connection ([`Upstream`]), its body and the answer's streamed
//! through frame by frame, never held whole.
//!
//! What the backend sees: the client's request with hop-by-hop headers
//! removed and `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded`
//! (RFC 7239) added. What the client sees: the backend's answer, or
//! fiberlb's own when no backend can give one: 503 when none may take the
//! request (at once, never a wait), 502 when the chosen one broke off, 504
//! when it kept the request waiting past `request_timeout`. A request to
//! switch protocols (WebSocket) goes to the backend on a connection of its
//! own and, when the backend agrees, becomes a tunnel.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use photon_dsl::{HostName, UrlPathPrefix};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::upstream::Upstream;
use crate::pool::{ActiveGuard, BackendState, Pool};

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
        let upstreams = std::iter::once(&default)
            .chain(routes.iter().map(|r| &r.pool))
            .flat_map(|pool| pool.backends())
            .map(|b| (b.clone(), Arc::new(Upstream::new(b.addr))))
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

    /// Forwards one request and answers it.
    pub async fn handle(&self, request: Request<Incoming>, peer: &Peer) -> Response<ProxyBody> {
        if asks_upgrade(request.headers()) {
            return self.upgrade(request, peer).await;
        }
        let client = peer.ip;
        let Forward {
            mut request,
            pool,
            sticky,
            version,
        } = self.forward(request, peer);

        let mut tried: Vec<Arc<BackendState>> = Vec::new();
        let mut last_failure = None;
        loop {
            let Some(backend) = self.choose(pool, client, sticky.as_deref(), &tried) else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                let why = match last_failure {
                    None => "no backend is available".to_owned(),
                    Some(why) => format!("no backend could take the request; the last: {why}"),
                };
                return own_answer(StatusCode::SERVICE_UNAVAILABLE, &why);
            };
            let guard = backend.open();
            let upstream = self.upstream(&backend);
            let started = Instant::now();
            let sent = match send(upstream, request, self.timeout).await {
                Sent::Answer(answer, sender) => (answer, sender),
                Sent::NotConnected(unsent, why) => {
                    // Nothing was sent: the next backend gets the request whole.
                    backend.count_failure();
                    tracing::debug!(balancer = self.name, backend = %backend.name, %why, "backend did not take the connection; trying the next");
                    last_failure = Some(why);
                    request = unsent;
                    tried.push(backend);
                    continue;
                }
                Sent::Failed(status, why) => {
                    backend.count_failure();
                    backend.count_answer(status.as_u16());
                    tracing::debug!(balancer = self.name, backend = %backend.name, %why, "request failed");
                    return own_answer(status, &why);
                }
            };
            let (answer, sender) = sent;
            backend.latency.observe(started.elapsed().as_secs_f64());
            backend.count_connection();
            backend.count_answer(answer.status().as_u16());
            let (mut answer_parts, answer_body) = answer.into_parts();
            strip_hop_by_hop(&mut answer_parts.headers);
            answer_parts.version = version;
            if let Some(name) = self.cookie {
                let id = cookie_id(&backend);
                if sticky.as_deref() != Some(id.as_str()) {
                    let secure = if self.scheme == "https" {
                        "; Secure"
                    } else {
                        ""
                    };
                    if let Ok(value) =
                        HeaderValue::from_str(&format!("{name}={id}; Path=/; HttpOnly{secure}"))
                    {
                        answer_parts.headers.append(header::SET_COOKIE, value);
                    }
                }
            }
            let body = Streamed {
                inner: answer_body,
                idle: self.timeout,
                timer: None,
                finished: false,
                keep: Some(Keep {
                    sender,
                    upstream: upstream.clone(),
                    _guard: guard,
                }),
            };
            return Response::from_parts(answer_parts, body.boxed_unsync());
        }
    }
}

impl L7Balancer {
    /// A request to switch protocols (WebSocket's `Upgrade: websocket`):
    /// sent on a connection of its own, and when the backend agrees (101),
    /// both connections become one tunnel, bytes copied both ways until
    /// either side closes.
    async fn upgrade(&self, mut request: Request<Incoming>, peer: &Peer) -> Response<ProxyBody> {
        let client_side = hyper::upgrade::on(&mut request);
        let protocol = request.headers().get(header::UPGRADE).cloned();
        let Forward {
            request: mut upstream_request,
            pool,
            sticky,
            version,
        } = self.forward(request, peer);
        // This hop's switch is the backend's too.
        if let Some(protocol) = protocol {
            let headers = upstream_request.headers_mut();
            headers.insert(header::UPGRADE, protocol);
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        let Some(backend) = self.choose(pool, peer.ip, sticky.as_deref(), &[]) else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return own_answer(StatusCode::SERVICE_UNAVAILABLE, "no backend is available");
        };

        let guard = backend.open();
        let failed = |status: StatusCode, why: String| {
            backend.count_failure();
            tracing::debug!(balancer = self.name, backend = %backend.name, %why, "upgrade failed");
            own_answer(status, &why)
        };
        let stream = match self.upstream(&backend).connect_tcp().await {
            Ok(stream) => stream,
            Err(e) => return failed(StatusCode::BAD_GATEWAY, e.to_string()),
        };
        let (mut sender, connection) =
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(handshake) => handshake,
                Err(e) => return failed(StatusCode::BAD_GATEWAY, e.to_string()),
            };
        tokio::spawn(connection.with_upgrades());
        let mut answer =
            match tokio::time::timeout(self.timeout, sender.send_request(upstream_request)).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => {
                    return failed(
                        StatusCode::BAD_GATEWAY,
                        format!("the backend broke off: {e}"),
                    );
                }
                Err(_) => {
                    return failed(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("the backend did not answer within {:?}", self.timeout),
                    );
                }
            };
        backend.count_connection();
        backend.count_answer(answer.status().as_u16());
        if answer.status() == StatusCode::SWITCHING_PROTOCOLS {
            let backend_side = hyper::upgrade::on(&mut answer);
            let (balancer, name) = (self.name, backend.name.clone());
            tokio::spawn(async move {
                let _guard = guard;
                match tokio::try_join!(client_side, backend_side) {
                    Ok((client, backend)) => {
                        let (mut client, mut backend) =
                            (TokioIo::new(client), TokioIo::new(backend));
                        if let Err(e) =
                            tokio::io::copy_bidirectional(&mut client, &mut backend).await
                        {
                            tracing::debug!(balancer, backend = %name, error = %e, "upgraded connection ended with an error");
                        }
                    }
                    Err(e) => {
                        tracing::debug!(balancer, backend = %name, error = %e, "upgrade not completed")
                    }
                }
            });
        }
        // The answer keeps its Upgrade and Connection headers: the client
        // switches too.
        let (mut answer_parts, answer_body) = answer.into_parts();
        answer_parts.version = version;
        Response::from_parts(
            answer_parts,
            answer_body.map_err(BoxError::from).boxed_unsync(),
        )
    }
}

/// A client's request made the backend's, and what choosing a backend for
/// it takes.
struct Forward<'a> {
    /// HTTP/1.1 in origin form, this hop's headers out, the forwarding
    /// headers in. Built once: a backend that takes no connection hands it
    /// back whole for the next.
    request: Request<ProxyBody>,
    /// The pool its host and path route it to.
    pool: &'a Pool,
    /// The backend its stickiness cookie names, if any.
    sticky: Option<String>,
    /// The HTTP version the client spoke, which its answer speaks.
    version: hyper::Version,
}

impl L7Balancer {
    fn forward(&self, request: Request<Incoming>, peer: &Peer) -> Forward<'_> {
        let (mut parts, body) = request.into_parts();
        let host = request_host(&parts);
        let pool = self.pool_for(host.as_deref().map(strip_port), parts.uri.path());
        let sticky = self
            .cookie
            .and_then(|name| cookie_value(&parts.headers, name));
        let mut headers = std::mem::take(&mut parts.headers);
        strip_hop_by_hop(&mut headers);
        headers.remove(header::EXPECT);
        if let Some(host) = &host
            && !headers.contains_key(header::HOST)
            && let Ok(value) = HeaderValue::from_str(host)
        {
            headers.insert(header::HOST, value);
        }
        add_forwarded(&mut headers, peer, host.as_deref(), self.scheme);
        let mut request = Request::new(body.map_err(BoxError::from).boxed_unsync());
        *request.method_mut() = std::mem::take(&mut parts.method);
        *request.uri_mut() = match parts.uri.path_and_query() {
            Some(target) => hyper::Uri::from(target.clone()),
            None => hyper::Uri::from_static("/"),
        };
        *request.headers_mut() = headers;
        Forward {
            request,
            pool,
            sticky,
            version: parts.version,
        }
    }
}

/// Whether an HTTP/1.1 request asks to switch protocols: `Upgrade` with
/// `upgrade` among its `Connection` tokens.
fn asks_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// What became of one attempt.
enum Sent {
    /// The backend answered (the connection comes back with the answer).
    Answer(Response<Incoming>, SendRequest<ProxyBody>),
    /// No connection: the request was not sent and comes back whole.
    NotConnected(Request<ProxyBody>, String),
    /// Sent, and it broke off (502) or the answer took too long (504).
    Failed(StatusCode, String),
}

/// One attempt on `upstream`: a kept connection if there is one, a new one
/// otherwise (and when the kept one turns out closed before the request
/// went out).
async fn send(upstream: &Upstream, request: Request<ProxyBody>, timeout: Duration) -> Sent {
    let mut request = request;
    let mut kept = upstream.take_idle().await;
    loop {
        let reused = kept.is_some();
        let mut sender = match kept.take() {
            Some(sender) => sender,
            None => match upstream.connect().await {
                Ok(sender) => sender,
                Err(e) => return Sent::NotConnected(request, e.to_string()),
            },
        };
        let exchange = sender.try_send_request(request);
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                return Sent::Failed(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("the backend did not answer within {timeout:?}"),
                );
            }
            Ok(Ok(answer)) => return Sent::Answer(answer, sender),
            Ok(Err(mut e)) => match e.take_message() {
                // A kept connection closed before the request went out: a
                // new connection.
                Some(unsent) if reused => request = unsent,
                Some(_) | None => {
                    return Sent::Failed(
                        StatusCode::BAD_GATEWAY,
                        format!("the backend broke off: {}", e.error()),
                    );
                }
            },
        }
    }
}

/// What an answer's body holds until it is done: the connection to give
/// back and the backend's count of open requests.
struct Keep {
    sender: SendRequest<ProxyBody>,
    upstream: Arc<Upstream>,
    _guard: ActiveGuard,
}

/// A backend's answer body passed through frame by frame. It fails when
/// the backend sends nothing for `idle`; once read to its end the
/// connection is given back for the next request (one dropped half-read
/// is closed).
struct Streamed {
    inner: Incoming,
    idle: Duration,
    /// Set when the backend first keeps the body waiting (most answers
    /// never do, and need no timer).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    finished: bool,
    keep: Option<Keep>,
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(timer) = &mut this.timer {
                    timer
                        .as_mut()
                        .reset(tokio::time::Instant::now() + this.idle);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.keep = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.keep = None;
                    return Poll::Ready(Some(Err(format!(
                        "the backend sent nothing for {:?}",
                        this.idle
                    )
                    .into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Some(keep) = self.keep.take()
            && (self.finished || self.inner.is_end_stream())
        {
            keep.upstream.give_back(keep.sender);
        }
    }
}

/// fiberlb's own answer: `status` with `why` as plain text.
fn own_answer(status: StatusCode, why: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(format!("{why}\n")))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut answer = Response::new(body);
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
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

/// The host the client asked for, as it wrote it: the URI's authority
/// (HTTP/2, absolute form) or the `Host` header.
fn request_host(parts: &hyper::http::request::Parts) -> Option<String> {
    if let Some(authority) = parts.uri.authority() {
        return Some(authority.as_str().to_owned());
    }
    parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
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

/// Removes the headers that describe one connection, not the message
/// (RFC 9110 7.6.1): the standard ones and those `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names finds out before
    // any removal (each of which hashes).
    let hop_by_hop = |name: &HeaderName| {
        *name == header::CONNECTION
            || *name == header::TE
            || *name == header::TRAILER
            || *name == header::TRANSFER_ENCODING
            || *name == header::UPGRADE
            || *name == header::PROXY_AUTHORIZATION
            || name.as_str() == "keep-alive"
            || name.as_str() == "proxy-connection"
    };
    if !headers.keys().any(hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let present: Vec<HeaderName> = headers.keys().filter(|n| hop_by_hop(n)).cloned().collect();
    for name in present {
        headers.remove(name);
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

/// Appends the client to `X-Forwarded-For` and `Forwarded`, and sets
/// `X-Forwarded-Proto`.
fn add_forwarded(headers: &mut HeaderMap, client: &Peer, host: Option<&str>, scheme: &'static str) {
    // `earlier, this` when earlier proxies wrote some, else `this`.
    let chain = |headers: &HeaderMap, name: &HeaderName, this: &str| -> Option<String> {
        let mut earlier = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .peekable();
        earlier.peek()?;
        let mut joined: Vec<&str> = earlier.collect();
        joined.push(this);
        Some(joined.join(", "))
    };
    let xff_name = HeaderName::from_static("x-forwarded-for");
    let xff = match chain(headers, &xff_name, client.xff.to_str().unwrap_or_default()) {
        None => Some(client.xff.clone()),
        Some(joined) => HeaderValue::from_str(&joined).ok(),
    };
    let mut element = format!("for={};proto={scheme}", client.node);
    if let Some(host) = host {
        // Quoted, so what a quote or a control byte would break is left out.
        let clean = |c: char| !c.is_control() && c != '"' && c != '\\';
        if host.chars().all(clean) {
            element.push_str(";host=\"");
            element.push_str(host);
            element.push('"');
        } else {
            let quoted: String = host.chars().filter(|c| clean(*c)).collect();
            element.push_str(&format!(";host=\"{quoted}\""));
        }
    }
    let forwarded = chain(headers, &header::FORWARDED, &element).unwrap_or(element);
    if let Some(xff) = xff {
        headers.insert(xff_name, xff);
    }
    if let Ok(forwarded) = HeaderValue::from_str(&forwarded) {
        headers.insert(header::FORWARDED, forwarded);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(scheme),
    );
}

/// The value of cookie `name` among the request's cookies.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
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

/// Accepts until `stop`, serving HTTP/1.1 and HTTP/2 (by ALPN behind
/// `tls`, by the client's preface without); then lets open exchanges
/// finish for up to `drain` (HTTP/1.1 connections close after their
/// current answer, HTTP/2 ones get a GOAWAY).
pub async fn serve(
    listener: TcpListener,
    balancer: Arc<L7Balancer>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: CancellationToken,
    drain: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(balancer.timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32);
    let builder = Arc::new(builder);
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let open = tokio_util::task::TaskTracker::new();
    while let Some((stream, peer)) = photon_runtime::accept::next(&listener, &stop).await {
        let (balancer, builder, tls) = (balancer.clone(), builder.clone(), tls.clone());
        let watcher = stop.clone();
        open.spawn(async move {
            let served = match tls {
                None => serve_connection(stream, peer, balancer, &builder, watcher).await,
                Some(tls) => {
                    // A client that stalls its handshake is cut off like
                    // one that stalls its headers.
                    match tokio::time::timeout(balancer.timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, balancer, &builder, watcher).await
                        }
                        Ok(Err(e)) => Err(format!("TLS handshake: {e}").into()),
                        Err(_) => Err("TLS handshake: too slow".into()),
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "client connection ended with an error");
            }
        });
    }
    drop(listener);
    open.close();
    if tokio::time::timeout(drain, open.wait()).await.is_err() {
        tracing::warn!(
            balancer = balancer.name,
            ?drain,
            "requests still open after the drain period; closing them"
        );
    }
}

/// Serves one client connection until it closes; on `stop`, the current
/// exchanges finish and the connection then closes (HTTP/1.1 after its
/// answer, HTTP/2 with a GOAWAY).
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    balancer: Arc<L7Balancer>,
    builder: &auto::Builder<TokioExecutor>,
    stop: CancellationToken,
) -> Result<(), BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let client = Arc::new(Peer::new(peer));
    let service = hyper::service::service_fn(move |request| {
        let (balancer, client) = (balancer.clone(), client.clone());
        async move { Ok::<_, Infallible>(balancer.handle(request, &client).await) }
    });
    let mut connection =
        std::pin::pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
    tokio::select! {
        served = connection.as_mut() => served,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
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

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_go() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("secret"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key(header::ACCEPT));
    }

    #[test]
    fn forwarding_headers_extend_what_earlier_proxies_wrote() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        add_forwarded(
            &mut headers,
            &Peer::new("[2001:db8::5]:4000".parse().unwrap()),
            Some("www.example.com:8080"),
            "https",
        );
        assert_eq!(headers["x-forwarded-for"], "203.0.113.7, 2001:db8::5");
        assert_eq!(
            headers[header::FORWARDED],
            "for=\"[2001:db8::5]\";proto=https;host=\"www.example.com:8080\""
        );
        assert_eq!(headers["x-forwarded-proto"], "https");
    }

    #[test]
    fn the_stickiness_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; SRV=abc; b=2"),
        );
        assert_eq!(cookie_value(&headers, "SRV").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&headers, "srv"), None);
    }
}

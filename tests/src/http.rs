//! Small real HTTP servers (hyper) to put behind a balancer, each saying
//! who it is and remembering what it was sent, and an HTTP/1.1 and HTTP/2
//! client (hyper) to drive the balancer with.
//!
//! A backend answers by path:
//!
//! | path | answer |
//! |---|---|
//! | `/health` | the status [`Backend::set_health`] gave (200 at first) |
//! | `/slow/<ms>` | its name, after `<ms>` milliseconds |
//! | `/bytes/<n>` | `n` bytes of [`crate::s3::pattern`], streamed 64 KiB at a time |
//! | `/chunked/<n>` | the same bytes without a length: chunked over HTTP/1.1 |
//! | `/refuse` | 413 at once, the request body left unread |
//! | `/hang` | nothing, ever |
//! | `/upgrade` with `Upgrade: <p>` | `101 Switching Protocols` to `<p>`, then every byte it is sent, back |
//! | anything else | its name; a request body is read as it comes and its length and MD5 given back (`<name> <len> <md5>`) |
//!
//! Every answer carries `x-backend: <name>`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use md5::{Digest as _, Md5};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// What a backend was sent.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// The path and query.
    pub target: String,
    /// The headers.
    pub headers: HeaderMap,
}

/// A running backend; it stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct Backend {
    /// Its name, which it answers with.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    health: Arc<AtomicU16>,
    connections: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Starts backend `name` on `addr` (`127.0.0.1:0` for any port).
    pub async fn start(name: &str, addr: &str) -> Backend {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("backend {name} cannot bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let health = Arc::new(AtomicU16::new(200));
        let connections = Arc::new(AtomicU16::new(0));
        let task = tokio::spawn(serve(
            listener,
            name.to_owned(),
            seen.clone(),
            health.clone(),
            connections.clone(),
        ));
        Backend {
            name: name.to_owned(),
            addr,
            seen,
            health,
            connections,
            task,
        }
    }

    /// Every request it was sent so far, health checks left out.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.target != "/health")
            .cloned()
            .collect()
    }

    /// Requests it was sent so far, health checks left out.
    pub fn requests(&self) -> usize {
        self.seen().len()
    }

    /// TCP connections it accepted so far.
    pub fn connections(&self) -> u16 {
        self.connections.load(Ordering::Relaxed)
    }

    /// What `/health` answers from now on.
    pub fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::Relaxed);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    name: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    health: Arc<AtomicU16>,
    connections: Arc<AtomicU16>,
) {
    // Dropped with this task, which aborts every connection's task.
    let mut open = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        connections.fetch_add(1, Ordering::Relaxed);
        let (name, seen, health) = (name.clone(), seen.clone(), health.clone());
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let (name, seen, health) = (name.clone(), seen.clone(), health.clone());
            async move { Ok::<_, Infallible>(answer(request, &name, &seen, &health).await) }
        });
        open.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
        while open.try_join_next().is_some() {}
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    mut request: Request<Incoming>,
    name: &str,
    seen: &Mutex<Vec<Seen>>,
    health: &AtomicU16,
) -> Response<Body> {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    seen.lock().unwrap().push(Seen {
        method: request.method().to_string(),
        target: target.clone(),
        headers: request.headers().clone(),
    });
    let path = request.uri().path().to_owned();
    let text = |status: u16, text: String| {
        Response::builder()
            .status(status)
            .header("x-backend", name)
            .body(Full::new(Bytes::from(text)).boxed())
            .unwrap()
    };
    if path == "/health" {
        return text(health.load(Ordering::Relaxed), name.to_owned());
    }
    if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        return text(200, name.to_owned());
    }
    if path == "/hang" {
        std::future::pending::<()>().await;
    }
    if path == "/upgrade"
        && let Some(protocol) = request.headers().get("upgrade").cloned()
    {
        let upgraded = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgraded.await {
                let (mut read, mut write) = tokio::io::split(TokioIo::new(upgraded));
                let _ = tokio::io::copy(&mut read, &mut write).await;
            }
        });
        return Response::builder()
            .status(101)
            .header("upgrade", protocol)
            .header("connection", "upgrade")
            .header("x-backend", name)
            .body(Full::new(Bytes::new()).boxed())
            .unwrap();
    }
    if path == "/refuse" {
        // Answered before the body is read (as a server refusing an
        // upload too large does).
        return text(413, name.to_owned());
    }
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .or_else(|| path.strip_prefix("/chunked/"))
    {
        let total: usize = n.parse().unwrap_or(0);
        // `/chunked/<n>` gives no length: HTTP/1.1 sends it in chunks.
        let length = path.starts_with("/bytes/").then(|| total.to_string());
        let chunk = chunk();
        let chunks = (0..total.div_ceil(chunk.len())).map(move |i| {
            let len = chunk.len().min(total - i * chunk.len());
            Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
        });
        let mut answer = Response::builder().header("x-backend", name);
        if let Some(length) = length {
            answer = answer.header("content-length", length);
        }
        return answer
            .body(StreamBody::new(futures::stream::iter(chunks)).boxed())
            .unwrap();
    }
    let mut body = request.into_body();
    let (mut len, mut md5) = (0u64, Md5::new());
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return text(400, "the body broke off".to_owned());
        };
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
            md5.update(data);
        }
    }
    if len == 0 {
        text(200, name.to_owned())
    } else {
        text(200, format!("{name} {len} {}", hex::encode(md5.finalize())))
    }
}

/// An answer as the client read it.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Which backend answered (`x-backend`), if one did.
    pub fn backend(&self) -> Option<&str> {
        self.headers.get("x-backend").and_then(|v| v.to_str().ok())
    }
}

/// Which HTTP a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 over cleartext (prior knowledge, as `curl --http2-prior-knowledge`).
    Http2,
}

/// A client connection (HTTP/1.1 kept alive, or HTTP/2).
#[derive(Debug)]
pub enum Client {
    /// HTTP/1.1.
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    /// HTTP/2.
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr, version: Version) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client::over(stream, version).await
    }

    /// Connects to `addr` from `source` (any loopback address is this
    /// machine's, so one test can be many clients).
    pub async fn connect_from(
        addr: SocketAddr,
        source: std::net::IpAddr,
        version: Version,
    ) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Client::over(stream, version).await
    }

    async fn over(stream: TcpStream, version: Version) -> Client {
        Client::handshake(stream, version)
            .await
            .unwrap_or_else(|e| panic!("{version:?} handshake: {e}"))
    }

    /// The HTTP `version` handshake over `io` (TCP, or TLS over it).
    async fn handshake<I>(io: I, version: Version) -> Result<Client, hyper::Error>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        Ok(match version {
            Version::Http1 => {
                let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
                tokio::spawn(connection);
                Client::Http1(sender)
            }
            Version::Http2 => {
                let (sender, connection) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(connection);
                Client::Http2(sender)
            }
        })
    }

    /// Sends `method path` for `host` with `headers` and `body`; the
    /// answer read whole, or the error that ended the exchange.
    pub async fn send(
        &mut self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, hyper::Error> {
        let mut builder = Request::builder().method(method);
        builder = match self {
            Client::Http1(_) => builder.uri(path).header("host", host),
            Client::Http2(_) => builder.uri(format!("http://{host}{path}")),
        };
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body)).unwrap();
        let response = match self {
            Client::Http1(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Client::Http2(sender) => sender.send_request(request).await?,
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// `GET path` for `host`.
    pub async fn get(&mut self, host: &str, path: &str) -> Answer {
        self.send("GET", host, path, &[], Bytes::new())
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

/// `GET path` on a new HTTP/1.1 connection to `addr`, `Host: host`.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Answer {
    Client::connect(addr, Version::Http1)
        .await
        .get(host, path)
        .await
}

/// The 64 KiB chunk `/bytes/<n>` repeats.
fn chunk() -> Bytes {
    Bytes::from(crate::s3::pattern(64 * 1024, 7))
}

/// The MD5 (hex) of what `/bytes/<total>` (and `/chunked/<total>`) sends.
pub fn pattern_md5(total: usize) -> String {
    let chunk = chunk();
    let mut md5 = Md5::new();
    let mut left = total;
    while left > 0 {
        let len = chunk.len().min(left);
        md5.update(&chunk[..len]);
        left -= len;
    }
    hex::encode(md5.finalize())
}

/// `GET path` for `host` on a new connection to `addr`, the body read as
/// it comes and never held: (status, length, MD5 in hex).
pub async fn download(
    addr: SocketAddr,
    version: Version,
    host: &str,
    path: &str,
) -> (u16, u64, String) {
    let request = |uri: String| {
        Request::get(uri)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let response = match Client::connect(addr, version).await {
        Client::Http1(mut sender) => sender.send_request(request(path.to_owned())).await,
        Client::Http2(mut sender) => {
            let mut request = request(format!("http://{host}{path}"));
            request.headers_mut().remove("host");
            sender.send_request(request).await
        }
    }
    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let (mut len, mut md5) = (0u64, Md5::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap_or_else(|e| panic!("GET {path}: the body broke off: {e}"));
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
            md5.update(data);
        }
    }
    (status, len, hex::encode(md5.finalize()))
}

/// A client's view of a TLS connection: which certificate the server
/// presented.
#[derive(Debug)]
pub struct Tls {
    /// The server's certificate (DER).
    pub certificate: Vec<u8>,
    /// The protocol agreed by ALPN.
    pub alpn: Option<Vec<u8>>,
}

impl Client {
    /// Connects to `addr` over TLS asking for `name` (SNI), trusting only
    /// `roots`, offering `version` by ALPN.
    pub async fn connect_tls(
        addr: SocketAddr,
        name: &str,
        roots: rustls::RootCertStore,
        version: Version,
    ) -> Result<(Client, Tls), std::io::Error> {
        // The ring provider by name: the tests also build aws-lc-rs.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![match version {
            Version::Http1 => b"http/1.1".to_vec(),
            Version::Http2 => b"h2".to_vec(),
        }];
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let stream = TcpStream::connect(addr).await?;
        let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())
            .map_err(std::io::Error::other)?;
        let stream = connector.connect(server_name, stream).await?;
        let (_, session) = stream.get_ref();
        let tls = Tls {
            certificate: session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|c| c.to_vec())
                .unwrap_or_default(),
            alpn: session.alpn_protocol().map(<[u8]>::to_vec),
        };
        let client = Client::handshake(stream, version)
            .await
            .map_err(std::io::Error::other)?;
        Ok((client, tls))
    }
}

//! The HTTP/1.1 accept loop every HTTP service shares: accept until the
//! service is told to stop, serve each connection on its own task, then
//! give open connections a drain period before closing them.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `handler` on `listener` until `shutdown`; then waits up to
/// `drain` for open connections to finish.
pub async fn serve_http1<H, F, B>(
    listener: TcpListener,
    shutdown: CancellationToken,
    drain: Duration,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    while let Some((stream, peer)) = crate::accept::next(&listener, &shutdown).await {
        let handler = handler.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let reply = handler(req);
            async move { Ok::<_, Infallible>(reply.await) }
        });
        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "connections still open after the drain period; closing them"
        );
    }
}

/// Serves `admin`'s `/health` and `/metrics` (and nothing else: 404) on
/// `listener` until `shutdown`: the whole HTTP surface of a service whose
/// own protocol is not HTTP (the event bus, an agent).
pub async fn serve_admin(
    listener: TcpListener,
    shutdown: CancellationToken,
    admin: std::sync::Arc<crate::Admin>,
) {
    serve_http1(listener, shutdown, Duration::from_secs(2), move |request| {
        let admin = admin.clone();
        async move {
            admin.answer(&request).unwrap_or_else(|| {
                let mut response = hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"not found: this port has /health and /metrics\n"),
                ));
                *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                response
            })
        }
    })
    .await
}

/// The answer to a probe's `GET`.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: hyper::StatusCode,
    /// The body, as text (lossily).
    pub body: String,
}

/// `GET path` from the HTTP/1.1 server at `addr`, within `timeout`: what a
/// probe uses to ask a service's `/health`. Bodies over 64 KiB are refused.
pub async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<Answer, crate::ServiceError> {
    request(addr, hyper::Method::GET, path, timeout).await
}

/// `method path` (no body) to the HTTP/1.1 server at `addr`, within
/// `timeout`: for admin calls such as `roll`'s. Bodies over 64 KiB are
/// refused.
pub async fn request(
    addr: std::net::SocketAddr,
    method: hyper::Method,
    path: &str,
    timeout: Duration,
) -> Result<Answer, crate::ServiceError> {
    send(addr, method, path, &[], bytes::Bytes::new(), timeout).await
}

/// `method path` with `headers` and `body` to the HTTP/1.1 server at
/// `addr`, within `timeout`: for a tool calling an HTTP API (`photonctl
/// cloud`). Bodies over 64 KiB are refused.
pub async fn send(
    addr: std::net::SocketAddr,
    method: hyper::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: bytes::Bytes,
    timeout: Duration,
) -> Result<Answer, crate::ServiceError> {
    use http_body_util::{BodyExt as _, Full, Limited};
    let shown = format!("{method} {path}");
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status();
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await?
            .to_bytes();
        driver.abort();
        Ok::<_, crate::ServiceError>(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{shown} to {addr}: no answer within {timeout:?}"))?
}

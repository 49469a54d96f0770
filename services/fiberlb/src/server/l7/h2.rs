//! HTTP/2 clients, through hyper: each request routed like an HTTP/1 one
//! and sent to the pool's pick over a kept-alive HTTP/1.1 connection
//! ([`Upstream`]'s senders), its body and the answer's streamed through
//! frame by frame, never held whole.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;

use super::{
    BoxError, L7Balancer, MAX_HEAD_BYTES, Peer, ProxyBody, forwarded_element, set_cookie,
    strip_port,
};
use crate::pool::{ActiveGuard, BackendState, Pool};
use crate::server::upstream::Upstream;

impl L7Balancer {
    /// Forwards one request and answers it.
    async fn handle(
        &self,
        request: Request<Incoming>,
        peer: &Peer,
        worker: usize,
    ) -> Response<ProxyBody> {
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
            let sent = match send(upstream, worker, request, self.timeout).await {
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
            if let Some(line) = self
                .cookie
                .and_then(|name| set_cookie(name, &backend, sticky.as_deref(), self.scheme))
                && let Ok(value) = HeaderValue::from_str(&line)
            {
                answer_parts.headers.append(header::SET_COOKIE, value);
            }
            let body = Streamed {
                inner: answer_body,
                idle: self.timeout,
                timer: None,
                finished: false,
                keep: Some(Keep {
                    sender,
                    upstream: upstream.clone(),
                    worker,
                    _guard: guard,
                }),
            };
            return Response::from_parts(answer_parts, body.boxed_unsync());
        }
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
async fn send(
    upstream: &Upstream,
    worker: usize,
    request: Request<ProxyBody>,
    timeout: Duration,
) -> Sent {
    let mut request = request;
    let mut kept = upstream.take_idle(worker).await;
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
    worker: usize,
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
            keep.upstream.give_back(keep.worker, keep.sender);
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
    let element = forwarded_element(client, host, scheme);
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

/// Serves one HTTP/2 client connection until it closes; on `stop`, the
/// open streams finish after a GOAWAY.
pub async fn serve<I>(
    io: I,
    peer: SocketAddr,
    worker: usize,
    balancer: Arc<L7Balancer>,
    stop: CancellationToken,
) -> Result<(), BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let client = Arc::new(Peer::new(peer));
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32);
    let service = hyper::service::service_fn(move |request| {
        let (balancer, client) = (balancer.clone(), client.clone());
        async move { Ok::<_, std::convert::Infallible>(balancer.handle(request, &client, worker).await) }
    });
    let mut connection = std::pin::pin!(builder.serve_connection(TokioIo::new(io), service));
    tokio::select! {
        served = connection.as_mut() => served?,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

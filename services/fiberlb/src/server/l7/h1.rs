//! The balancer's own HTTP/1.1 path: a client connection served in one
//! task, each request's head parsed once ([`wire`]), written out for the
//! backend on a kept connection, and the answer's head and body copied
//! back from the backend's socket buffer to the client's in as few writes
//! as the sizes allow. HTTP/1 is what almost every client of a balancer
//! speaks; doing it here rather than through hyper on both sides took
//! fiberlb from 0.66x to 0.9x HAProxy's requests/s (`cargo bench -p
//! fiberlb`, whose doc comment has the steps).
//!
//! Requests follow one another on a connection, pipelined ones included;
//! a request with a body has it streamed to the backend while the backend
//! may answer early (then the client's connection closes after the
//! answer, its body unread).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use super::wire::{self, AnswerContext, AnswerHead, ChunkError, Chunks, Length, RequestHead};
use super::{BoxError, L7Balancer, Peer, set_cookie};
use crate::pool::{BackendState, Pool};
use crate::server::upstream::{Conn, Upstream};

/// Each read asks for at least this much room.
const READ_ROOM: usize = 16 * 1024;
/// A head is written together with the first of its body up to this size.
const COALESCE: usize = 64 * 1024;
/// A connection's buffer grown past this (by a large head or body) is
/// given back between requests.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Serves one client connection until it closes, `buf` holding what was
/// already read from it; on `stop`, the current exchange finishes and the
/// connection then closes.
pub async fn serve<S>(
    io: S,
    buf: BytesMut,
    peer: &Peer,
    worker: usize,
    balancer: &L7Balancer,
    stop: &CancellationToken,
) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = Client {
        io,
        buf,
        peer,
        worker,
        balancer,
        stop,
    };
    loop {
        let Some(request) = client.next_request().await? else {
            break;
        };
        let keep = if request.upgrade {
            client.upgrade(request).await?;
            false
        } else {
            client.exchange(request).await?
        };
        if !keep || stop.is_cancelled() {
            break;
        }
        if client.buf.is_empty() && client.buf.capacity() > KEEP_CAPACITY {
            client.buf = BytesMut::new();
        }
    }
    let _ = client.io.shutdown().await;
    Ok(())
}

struct Client<'a, S> {
    io: S,
    /// Read from the client and not yet handled.
    buf: BytesMut,
    peer: &'a Peer,
    /// The worker thread it is served on, whose kept backend connections
    /// it uses.
    worker: usize,
    balancer: &'a L7Balancer,
    stop: &'a CancellationToken,
}

/// What became of one attempt on one backend.
enum Attempt {
    /// No connection: nothing was sent, the next backend may be tried.
    NotConnected(String),
    /// The exchange is over: whether the client's connection goes on.
    Done(Result<bool, BoxError>),
}

/// Why no answer head came back.
enum NoAnswer {
    /// The backend closed or reset the connection; `silent` when it sent
    /// nothing at all.
    Closed { silent: bool, why: String },
    /// Nothing within the balancer's timeout.
    Timeout,
    /// An answer no client should be handed.
    Malformed(wire::HeadError),
}

/// A body copy that stopped short.
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error("reading: {0}")]
    Read(std::io::Error),
    #[error("{0}")]
    Chunks(#[from] ChunkError),
    #[error("writing: {0}")]
    Write(std::io::Error),
}

impl<'a, S> Client<'a, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The next request's head, or `None` when the connection is over:
    /// the client closed it, kept it idle past the timeout or past
    /// `stop`, or sent a head that was answered with an error.
    async fn next_request(&mut self) -> Result<Option<RequestHead<&'a Pool>>, BoxError> {
        let balancer = self.balancer;
        let deadline = tokio::time::Instant::now() + balancer.timeout;
        loop {
            if !self.buf.is_empty() {
                let context = wire::ForwardContext {
                    peer: self.peer,
                    scheme: balancer.scheme,
                    cookie: balancer.cookie,
                };
                match wire::parse_request(&self.buf, &context, |host, path| {
                    balancer.pool_for(host, path)
                }) {
                    Ok(Some(head)) => {
                        self.buf.advance(head.len);
                        return Ok(Some(head));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let (status, reason) = e.status();
                        tracing::debug!(peer = %self.peer.ip, error = %e, "request refused");
                        self.answer(status, reason, &e.to_string(), true).await?;
                        return Ok(None);
                    }
                }
            }
            if self.buf.capacity() - self.buf.len() < READ_ROOM / 4 {
                self.buf.reserve(READ_ROOM);
            }
            let idle = self.buf.is_empty();
            let read = tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf));
            let read = if idle {
                tokio::select! {
                    read = read => read,
                    () = self.stop.cancelled() => return Ok(None),
                }
            } else {
                read.await
            };
            match read {
                Err(_) if idle => return Ok(None),
                Err(_) => {
                    let why = format!("the request head took over {:?}", balancer.timeout);
                    self.answer(408, "Request Timeout", &why, true).await?;
                    return Ok(None);
                }
                Ok(Ok(0)) => return Ok(None),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Writes fiberlb's own answer.
    async fn answer(
        &mut self,
        status: u16,
        reason: &str,
        why: &str,
        close: bool,
    ) -> Result<(), BoxError> {
        let answer = wire::own_answer(status, reason, why, close);
        write_all(&mut self.io, &answer, self.balancer.timeout).await?;
        Ok(())
    }

    /// Forwards one request and relays its answer; whether the client's
    /// connection goes on.
    async fn exchange(&mut self, request: RequestHead<&'a Pool>) -> Result<bool, BoxError> {
        let balancer = self.balancer;
        let mut tried: Vec<Arc<BackendState>> = Vec::new();
        let mut last_failure = None;
        loop {
            let Some(backend) = balancer.choose(
                request.route,
                self.peer.ip,
                request.sticky.as_deref(),
                &tried,
            ) else {
                balancer.refused.fetch_add(1, Ordering::Relaxed);
                let why = match last_failure {
                    None => "no backend is available".to_owned(),
                    Some(why) => format!("no backend could take the request; the last: {why}"),
                };
                // A body left unread ends the connection.
                let close = !request.keep_alive || request.length.has_body();
                self.answer(503, "Service Unavailable", &why, close).await?;
                return Ok(!close);
            };
            let _guard = backend.open();
            match self.attempt(&request, &backend).await {
                Attempt::NotConnected(why) => {
                    backend.count_failure();
                    tracing::debug!(balancer = balancer.name, backend = %backend.name, %why, "backend did not take the connection; trying the next");
                    last_failure = Some(why);
                    tried.push(backend);
                }
                Attempt::Done(keep) => return keep,
            }
        }
    }

    /// One backend's turn: a kept connection if there is one (a new one
    /// when a kept one turns out closed and the request can be sent
    /// again), the request sent, the answer relayed.
    async fn attempt(
        &mut self,
        request: &RequestHead<&'a Pool>,
        backend: &Arc<BackendState>,
    ) -> Attempt {
        let upstream = self.balancer.upstream(backend);
        let timeout = self.balancer.timeout;
        let cookie = self.balancer.cookie.and_then(|name| {
            set_cookie(
                name,
                backend,
                request.sticky.as_deref(),
                self.balancer.scheme,
            )
        });
        let mut kept = upstream.take_conn(self.worker);
        loop {
            let reused = kept.is_some();
            let mut conn = match kept.take() {
                Some(conn) => conn,
                None => match upstream.connect_conn().await {
                    Ok(conn) => conn,
                    Err(e) => return Attempt::NotConnected(e.to_string()),
                },
            };
            let started = Instant::now();
            let (sent_whole, send_failure) = match self.send(request, &mut conn).await {
                Ok(whole) => (whole, None),
                Err(Sending::Client(e)) => {
                    return Attempt::Done(self.client_broke(e, backend).await);
                }
                Err(Sending::Backend(e)) => (false, Some(e)),
            };
            let context = AnswerContext {
                head_method: request.head_method,
                minor: request.minor,
                close: !request.keep_alive || !sent_whole || self.stop.is_cancelled(),
                set_cookie: cookie.as_deref(),
            };
            let mut answer = match read_answer(&mut conn, context, timeout).await {
                Ok(answer) => answer,
                Err(NoAnswer::Closed { silent: true, .. })
                    if reused && !request.length.has_body() =>
                {
                    // Closed by the backend while kept: sent again, once
                    // on a connection of its own.
                    continue;
                }
                Err(failure) => {
                    let (status, reason, why) = match (failure, send_failure) {
                        (NoAnswer::Timeout, _) => (
                            504,
                            "Gateway Timeout",
                            format!("the backend did not answer within {timeout:?}"),
                        ),
                        (NoAnswer::Closed { .. }, Some(e)) => {
                            (502, "Bad Gateway", format!("the backend broke off: {e}"))
                        }
                        (NoAnswer::Closed { why, .. }, None) => {
                            (502, "Bad Gateway", format!("the backend broke off: {why}"))
                        }
                        (NoAnswer::Malformed(e), _) => {
                            (502, "Bad Gateway", format!("the backend's answer: {e}"))
                        }
                    };
                    backend.count_failure();
                    backend.count_answer(status);
                    tracing::debug!(balancer = self.balancer.name, backend = %backend.name, %why, "request failed");
                    let close = context.close || request.length.has_body();
                    return Attempt::Done(
                        self.answer(status, reason, &why, close)
                            .await
                            .map(|()| !close),
                    );
                }
            };
            backend.latency.observe(started.elapsed().as_secs_f64());
            backend.count_connection();
            backend.count_answer(answer.status);
            // A body cut short leaves the connection mid-request.
            answer.backend_keeps &= sent_whole;
            return Attempt::Done(self.relay(conn, answer, backend, upstream).await);
        }
    }

    /// Sends the request's head and body on `conn`; whether the body went
    /// whole (it does not when the backend answered before taking it all).
    async fn send(
        &mut self,
        request: &RequestHead<&'a Pool>,
        conn: &mut Conn,
    ) -> Result<bool, Sending> {
        let timeout = self.balancer.timeout;
        if !request.length.has_body() {
            write_all(&mut conn.stream, &request.forward, timeout)
                .await
                .map_err(Sending::Backend)?;
            return Ok(true);
        }
        if request.expect_continue && request.minor == 1 {
            write_all(&mut self.io, b"HTTP/1.1 100 Continue\r\n\r\n", timeout)
                .await
                .map_err(|e| Sending::Client(CopyError::Write(e)))?;
        }
        let (mut from_backend, mut to_backend) = conn.stream.split();
        let body = copy_body(
            &mut self.io,
            &mut self.buf,
            &mut to_backend,
            request.forward.clone(),
            request.length,
            false,
            timeout,
        );
        let mut peek = [0u8; 1];
        tokio::select! {
            copied = body => match copied {
                Ok(()) => Ok(true),
                Err(CopyError::Write(e)) => Err(Sending::Backend(e)),
                Err(e) => Err(Sending::Client(e)),
            },
            // The backend answers (or closes) before the body is all
            // there: its answer is relayed, the rest of the body is not.
            _ = from_backend.peek(&mut peek) => Ok(false),
        }
    }

    /// The client broke off its body or sent a malformed one: answered 400
    /// when it is only malformed, and the connection ends.
    async fn client_broke(
        &mut self,
        e: CopyError,
        backend: &BackendState,
    ) -> Result<bool, BoxError> {
        tracing::debug!(balancer = self.balancer.name, backend = %backend.name, error = %e, "the client's body broke off");
        if let CopyError::Chunks(e) = e {
            self.answer(400, "Bad Request", &e.to_string(), true)
                .await?;
        }
        Ok(false)
    }

    /// Relays an answer from `conn`, head and body. The connection goes
    /// back to `upstream` when the backend keeps it.
    async fn relay(
        &mut self,
        mut conn: Conn,
        answer: AnswerHead,
        backend: &BackendState,
        upstream: &Upstream,
    ) -> Result<bool, BoxError> {
        conn.buf.advance(answer.len);
        let timeout = self.balancer.timeout;
        match copy_body(
            &mut conn.stream,
            &mut conn.buf,
            &mut self.io,
            answer.forward,
            answer.length,
            answer.dechunk,
            timeout,
        )
        .await
        {
            Ok(()) => {}
            Err(CopyError::Write(e)) => {
                tracing::debug!(error = %e, "the client went away during the answer");
                return Ok(false);
            }
            Err(e) => {
                backend.count_failure();
                return Err(format!("the backend's answer broke off: {e}").into());
            }
        }
        if answer.backend_keeps && conn.buf.is_empty() {
            upstream.give_back_conn(self.worker, conn);
        }
        Ok(!answer.close)
    }

    /// A request to switch protocols (WebSocket's `Upgrade: websocket`):
    /// sent on a connection of its own, and when the backend agrees (101),
    /// both connections become one tunnel, bytes copied both ways until
    /// either side closes or the balancer stops.
    async fn upgrade(&mut self, request: RequestHead<&'a Pool>) -> Result<(), BoxError> {
        let balancer = self.balancer;
        let Some(backend) =
            balancer.choose(request.route, self.peer.ip, request.sticky.as_deref(), &[])
        else {
            balancer.refused.fetch_add(1, Ordering::Relaxed);
            return self
                .answer(503, "Service Unavailable", "no backend is available", true)
                .await;
        };
        let _guard = backend.open();
        let upstream = balancer.upstream(&backend);
        let timeout = balancer.timeout;
        let failed = |status: u16, why: String| {
            backend.count_failure();
            tracing::debug!(balancer = balancer.name, backend = %backend.name, %why, "upgrade failed");
            (status, why)
        };
        let mut conn = match upstream.connect_conn().await {
            Ok(conn) => conn,
            Err(e) => {
                let (status, why) = failed(502, e.to_string());
                return self.answer(status, "Bad Gateway", &why, true).await;
            }
        };
        if let Err(e) = write_all(&mut conn.stream, &request.forward, timeout).await {
            let (status, why) = failed(502, format!("the backend broke off: {e}"));
            return self.answer(status, "Bad Gateway", &why, true).await;
        }
        let context = AnswerContext {
            head_method: request.head_method,
            minor: request.minor,
            close: true,
            set_cookie: None,
        };
        let answer = match read_answer(&mut conn, context, timeout).await {
            Ok(answer) => answer,
            Err(NoAnswer::Timeout) => {
                let why = format!("the backend did not answer within {timeout:?}");
                let (status, why) = failed(504, why);
                return self.answer(status, "Gateway Timeout", &why, true).await;
            }
            Err(NoAnswer::Closed { why, .. }) => {
                let (status, why) = failed(502, format!("the backend broke off: {why}"));
                return self.answer(status, "Bad Gateway", &why, true).await;
            }
            Err(NoAnswer::Malformed(e)) => {
                let (status, why) = failed(502, format!("the backend's answer: {e}"));
                return self.answer(status, "Bad Gateway", &why, true).await;
            }
        };
        backend.count_connection();
        backend.count_answer(answer.status);
        if answer.status != 101 {
            self.relay(conn, answer, &backend, upstream).await?;
            return Ok(());
        }
        // The switch and whatever followed it on each side, then the
        // tunnel.
        conn.buf.advance(answer.len);
        let mut head = answer.forward;
        head.extend_from_slice(&conn.buf);
        conn.buf.clear();
        write_all(&mut self.io, &head, timeout).await?;
        if !self.buf.is_empty() {
            write_all(&mut conn.stream, &self.buf, timeout).await?;
            self.buf.clear();
        }
        tokio::select! {
            tunnel = tokio::io::copy_bidirectional(&mut self.io, &mut conn.stream) => {
                if let Err(e) = tunnel {
                    tracing::debug!(balancer = balancer.name, backend = %backend.name, error = %e, "upgraded connection ended with an error");
                }
            }
            () = self.stop.cancelled() => {}
        }
        Ok(())
    }
}

/// A send that failed on one side.
enum Sending {
    /// The client's body broke off or was malformed.
    Client(CopyError),
    /// The backend's connection did.
    Backend(std::io::Error),
}

/// Reads an answer head from `conn` (1xx interim answers are skipped).
async fn read_answer(
    conn: &mut Conn,
    context: AnswerContext<'_>,
    timeout: Duration,
) -> Result<AnswerHead, NoAnswer> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut silent = true;
    loop {
        if !conn.buf.is_empty() {
            silent = false;
            match wire::parse_answer(&conn.buf, context) {
                Ok(Some(head)) if (100..200).contains(&head.status) && head.status != 101 => {
                    // An interim answer (103 Early Hints, a 100 the client
                    // did not ask of this hop): not relayed.
                    conn.buf.advance(head.len);
                    continue;
                }
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(e) => return Err(NoAnswer::Malformed(e)),
            }
        }
        if conn.buf.capacity() - conn.buf.len() < READ_ROOM / 4 {
            conn.buf.reserve(READ_ROOM);
        }
        match tokio::time::timeout_at(deadline, conn.stream.read_buf(&mut conn.buf)).await {
            Err(_) => return Err(NoAnswer::Timeout),
            Ok(Ok(0)) => {
                return Err(NoAnswer::Closed {
                    silent,
                    why: "connection closed".to_owned(),
                });
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(NoAnswer::Closed {
                    silent,
                    why: e.to_string(),
                });
            }
        }
    }
}

/// `write_all` that gives up when the reader takes nothing for `idle`.
async fn write_all<W: AsyncWrite + Unpin>(
    dst: &mut W,
    bytes: &[u8],
    idle: Duration,
) -> std::io::Result<()> {
    match tokio::time::timeout(idle, dst.write_all(bytes)).await {
        Ok(written) => written,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("nothing taken for {idle:?}"),
        )),
    }
}

/// Copies a body that ends as `length` says from `src` (what `buf`
/// already holds first) to `dst`, `head` written before it, together with
/// the first of the body when that is small: one write for most
/// exchanges. With `dechunk`, only the chunks' data is written (for an
/// HTTP/1.0 client). A source that sends nothing for `idle`, or closes
/// before the end, fails the copy.
async fn copy_body<R, W>(
    src: &mut R,
    buf: &mut BytesMut,
    dst: &mut W,
    head: Vec<u8>,
    length: Length,
    dechunk: bool,
    idle: Duration,
) -> Result<(), CopyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = Out {
        dst,
        head: Some(head),
        idle,
    };
    match length {
        Length::None => {}
        Length::Exactly(mut left) => {
            while left > 0 {
                if buf.is_empty() {
                    fill(src, buf, idle, true).await?;
                }
                let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                out.put(&buf[..n]).await?;
                buf.advance(n);
                left -= n as u64;
            }
        }
        Length::Chunked => {
            let mut chunks = Chunks::default();
            let mut runs = Vec::new();
            while !chunks.done() {
                if buf.is_empty() {
                    fill(src, buf, idle, true).await?;
                }
                runs.clear();
                let used = chunks.scan(buf, |run| {
                    if dechunk {
                        runs.push(run);
                    }
                })?;
                if dechunk {
                    for run in runs.drain(..) {
                        out.put(&buf[run]).await?;
                    }
                } else {
                    out.put(&buf[..used]).await?;
                }
                buf.advance(used);
            }
        }
        Length::UntilClose => loop {
            if buf.is_empty() && fill(src, buf, idle, false).await? == 0 {
                break;
            }
            out.put(&buf[..]).await?;
            buf.clear();
        },
    }
    out.finish().await
}

/// Reads more into `buf`; with `must`, the source closing is an error.
async fn fill<R: AsyncRead + Unpin>(
    src: &mut R,
    buf: &mut BytesMut,
    idle: Duration,
    must: bool,
) -> Result<usize, CopyError> {
    if buf.capacity() - buf.len() < READ_ROOM / 4 {
        buf.reserve(READ_ROOM);
    }
    let n = match tokio::time::timeout(idle, src.read_buf(buf)).await {
        Err(_) => {
            return Err(CopyError::Read(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("nothing sent for {idle:?}"),
            )));
        }
        Ok(read) => read.map_err(CopyError::Read)?,
    };
    if n == 0 && must {
        return Err(CopyError::Read(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(n)
}

/// The writing side of a body copy: the head goes out with the first
/// bytes.
struct Out<'w, W> {
    dst: &'w mut W,
    head: Option<Vec<u8>>,
    idle: Duration,
}

impl<W: AsyncWrite + Unpin> Out<'_, W> {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), CopyError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let written = match self.head.take() {
            Some(mut head) if head.len() + bytes.len() <= COALESCE => {
                head.extend_from_slice(bytes);
                write_all(self.dst, &head, self.idle).await
            }
            Some(head) => match write_all(self.dst, &head, self.idle).await {
                Ok(()) => write_all(self.dst, bytes, self.idle).await,
                Err(e) => Err(e),
            },
            None => write_all(self.dst, bytes, self.idle).await,
        };
        written.map_err(CopyError::Write)
    }

    async fn finish(mut self) -> Result<(), CopyError> {
        if let Some(head) = self.head.take() {
            write_all(self.dst, &head, self.idle)
                .await
                .map_err(CopyError::Write)?;
        }
        self.dst.flush().await.map_err(CopyError::Write)
    }
}

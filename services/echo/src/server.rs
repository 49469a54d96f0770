//! The echo server over hyper.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use percent_encoding::percent_decode_str;
use photon_dsl::Node;
use photon_runtime::admin::{Checks, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{
    BoxFuture, ExposeSecret, ProbeTarget, Running, SecretString, Service, ServiceError,
    StartContext,
};
use subtle::ConstantTimeEq as _;

use crate::EchoServer;
use crate::http::EchoHttp;
use crate::spec::EchoListener;

/// How long open connections get to finish after a stop request.
const DRAIN: Duration = Duration::from_secs(5);

/// Whether `request` carries `Authorization: Bearer <token>`, compared in
/// constant time so the answer's timing says nothing about the token.
fn authorized(token: Option<&SecretString>, request: &Request<Incoming>) -> bool {
    let Some(token) = token else { return true };
    let Some(presented) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    bool::from(presented.ct_eq(token.expose_secret().as_bytes()))
}

/// Answers one request: the echo, or a plain-text error saying what is expected.
/// Whether `request` is a `GET` of a message under `prefix` (the one
/// operation the server has), whatever its answer.
fn asks_echo(prefix: &str, request: &Request<Incoming>) -> bool {
    let path = request.uri().path().trim_start_matches('/');
    request.method() == Method::GET
        && (prefix.is_empty()
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/')))
}

fn respond(
    prefix: &str,
    token: Option<&SecretString>,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    let usage = if prefix.is_empty() {
        "GET /<message>".to_owned()
    } else {
        format!("GET /{prefix}/<message>")
    };
    if !authorized(token, request) {
        let mut r = text(
            StatusCode::UNAUTHORIZED,
            "this echo server needs `Authorization: Bearer <token>`\n".to_owned(),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"echo\""),
        );
        return r;
    }
    if request.method() != Method::GET {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("the echo service answers {usage}\n"),
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
        return r;
    }
    let path = request.uri().path();
    let rest = if prefix.is_empty() {
        path.strip_prefix('/')
    } else {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(prefix))
            .and_then(|p| p.strip_prefix('/'))
    };
    let Some(raw) = rest.filter(|m| !m.is_empty() && !m.contains('/')) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no such path `{path}`: the echo service answers {usage}\n"),
        );
    };
    match percent_decode_str(raw).decode_utf8() {
        Ok(message) => text(StatusCode::OK, message.into_owned()),
        Err(_) => text(
            StatusCode::BAD_REQUEST,
            "the message is not UTF-8 once percent-decoded\n".to_owned(),
        ),
    }
}

/// What `/metrics` reports: requests answered, by operation (`echo` for a
/// message, `other` for anything else asked) and status class. The echo
/// server holds no state, so `/health` has no check of its own that
/// could fail.
struct Metrics(Arc<Operations>);

impl Report for Metrics {
    fn health(&self, _: &mut Checks) {}

    fn metrics(&self, out: &mut photon_runtime::admin::Metrics) {
        self.0.write(
            out,
            (
                "echo_requests_total",
                "Echo requests answered, by operation and status class.",
            ),
            (
                "echo_request_duration_seconds",
                "How long echo requests took, by operation.",
            ),
        );
    }
}

impl<N: Node> Service for EchoServer<N> {
    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc = crate::standalone::export_server(self, ctx.bind_ip, &ctx.component_id)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let prefix = self.prefix.trimmed();
        let token_ref = self.token;
        Box::pin(async move {
            let token = token_ref
                .as_ref()
                .map(photon_runtime::read_secret)
                .transpose()?
                .map(Arc::new);
            let listener = ctx.tcp(EchoListener, self)?;
            let local = listener.local_addr()?;
            tracing::info!(addr = %local, prefix, token = ?token_ref, "echo server listening");
            let counters = Arc::new(Operations::http());
            // `/health` and `/metrics` first: with an empty prefix, they are
            // where the messages `health` and `metrics` would echo.
            let admin = ctx.admin(env!("CARGO_PKG_VERSION"), Metrics(counters.clone()));
            let running: Running = Box::pin(async move {
                let config = ctx.config.clone();
                let handler = move |req: Request<Incoming>| {
                    let reply = admin.answer(&req).unwrap_or_else(|| {
                        let started = std::time::Instant::now();
                        let reply = match config.admit(req.headers()) {
                            Ok(()) => respond(prefix, token.as_deref(), &req),
                            Err(refused) => photon_runtime::skew::refusal(&refused),
                        };
                        let operation = if asks_echo(prefix, &req) {
                            "echo"
                        } else {
                            "other"
                        };
                        counters.record_http(operation, reply.status(), started.elapsed());
                        reply
                    });
                    async move { reply }
                };
                photon_runtime::http::serve_http1(listener, ctx.shutdown.clone(), DRAIN, handler)
                    .await;
                tracing::info!("echo server stopped");
                Ok(())
            });
            Ok(running)
        })
    }

    fn probe<'a>(&'a self, target: ProbeTarget<'a>) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async move {
            let nonce = format!("photon-check-{}", std::process::id());
            let token = self
                .token
                .as_ref()
                .map(photon_runtime::read_secret)
                .transpose()?;
            let reply = EchoHttp::new()
                .echo(
                    target.addr,
                    self.prefix.trimmed(),
                    &nonce,
                    token.as_ref(),
                    target.timeout,
                )
                .await?;
            if reply == nonce {
                Ok(format!("echo answered `{reply}`"))
            } else {
                Err(format!("echo answered `{reply}` instead of `{nonce}`").into())
            }
        })
    }
}

//! What every gRPC server here needs from its listener.

/// Connections accepted on `listener`, with Nagle's algorithm off: gRPC
/// writes small frames and waits for answers, which Nagle plus delayed ACKs
/// would hold back by ~40 ms each.
pub fn incoming(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// `GET /health` and `GET /metrics` as routes to serve beside a gRPC API
/// on one port (`tonic::service::Routes::from(admin_routes(admin))`, the
/// server accepting HTTP/1.1 too), as etcd answers both on its client
/// port; anything else is 404.
#[cfg(feature = "grpc-admin")]
pub fn admin_routes(admin: crate::Admin) -> axum::Router {
    let answer = move |request: axum::extract::Request| {
        let admin = admin.clone();
        async move {
            admin
                .answer::<_, axum::body::Body>(&request)
                .unwrap_or_else(|| {
                    let mut response = axum::response::Response::new(axum::body::Body::empty());
                    *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
                    response
                })
        }
    };
    axum::Router::new()
        .route("/health", axum::routing::get(answer.clone()))
        .route("/metrics", axum::routing::get(answer.clone()))
        .route(crate::admin::ROLL_PATH, axum::routing::post(answer))
}

/// Serves a component's gRPC API as every one here is served: on
/// `listener`, with `admin`'s `GET /health` and `/metrics` beside it
/// (HTTP/1.1 accepted too), each call counted into `operations` (which
/// `admin`'s report writes out), callers built from another configuration
/// noticed, until `ctx` shuts down. `api` adds the component's services;
/// `component` names it in the last log line.
#[cfg(feature = "grpc-admin")]
pub fn serve_api(
    ctx: &crate::StartContext,
    listener: tokio::net::TcpListener,
    admin: crate::Admin,
    operations: std::sync::Arc<crate::operations::Operations>,
    api: impl FnOnce(tonic::service::Routes) -> tonic::service::Routes,
    component: &'static str,
) -> crate::Running {
    let routes = api(tonic::service::Routes::from(admin_routes(admin)));
    let (config, shutdown) = (ctx.config.clone(), ctx.shutdown.clone());
    Box::pin(async move {
        tonic::transport::Server::builder()
            .accept_http1(true)
            .layer(MetricsLayer(operations))
            .layer(SkewLayer(config))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming(listener), shutdown.cancelled_owned())
            .await?;
        tracing::info!("{component} stopped");
        Ok(())
    })
}

/// A layer counting every gRPC call into `Operations` (made with
/// [`Operations::grpc`](crate::operations::Operations::grpc)) by method and
/// status code, timed until its response ends: add it with
/// `Server::builder().layer(...)`. Calls to methods the server does not
/// have are counted as `unknown`, so made-up names cannot grow `/metrics`;
/// HTTP/1.1 requests beside the API (`/health`) are not counted.
#[cfg(feature = "grpc-admin")]
#[derive(Debug, Clone)]
pub struct MetricsLayer(pub std::sync::Arc<crate::operations::Operations>);

#[cfg(feature = "grpc-admin")]
impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            operations: self.0.clone(),
        }
    }
}

/// The service [`MetricsLayer`] makes.
#[cfg(feature = "grpc-admin")]
#[derive(Debug, Clone)]
pub struct Metered<S> {
    inner: S,
    operations: std::sync::Arc<crate::operations::Operations>,
}

#[cfg(feature = "grpc-admin")]
impl<S, B, R> tower_service::Service<hyper::Request<B>> for Metered<S>
where
    S: tower_service::Service<hyper::Request<B>, Response = hyper::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = hyper::Response<MeteredBody<R>>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<B>) -> Self::Future {
        let grpc = request
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let method = grpc.then(|| request.uri().path().trim_start_matches('/').to_owned());
        let operations = self.operations.clone();
        let started = std::time::Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let call = method.map(|method| Call {
                operations,
                method,
                started,
                // an error answered at once is in the headers
                code: grpc_status(response.headers()),
            });
            Ok(response.map(|inner| MeteredBody { inner, call }))
        })
    }
}

#[cfg(feature = "grpc-admin")]
fn grpc_status(headers: &hyper::HeaderMap) -> Option<usize> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// One call being counted; counted when its body ends or is dropped.
#[cfg(feature = "grpc-admin")]
#[derive(Debug)]
struct Call {
    operations: std::sync::Arc<crate::operations::Operations>,
    method: String,
    started: std::time::Instant,
    code: Option<usize>,
}

#[cfg(feature = "grpc-admin")]
impl Call {
    /// Counts it: with its status, or as canceled when the body was
    /// dropped before it ended (`ended` false), or unknown without one.
    fn finish(self, ended: bool) {
        const CANCELED: usize = 1;
        const UNKNOWN: usize = 2;
        const UNIMPLEMENTED: usize = 12;
        let code = self.code.unwrap_or(if ended { UNKNOWN } else { CANCELED });
        let method = if code == UNIMPLEMENTED {
            "unknown"
        } else {
            &self.method
        };
        self.operations.record(method, code, self.started.elapsed());
    }
}

/// A response body that counts its call when it ends.
#[cfg(feature = "grpc-admin")]
#[derive(Debug)]
pub struct MeteredBody<B> {
    inner: B,
    call: Option<Call>,
}

#[cfg(feature = "grpc-admin")]
impl<B: hyper::body::Body + Unpin> hyper::body::Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let (Some(trailers), Some(call)) = (frame.trailers_ref(), self.call.as_mut())
                    && let Some(code) = grpc_status(trailers)
                {
                    call.code = Some(code);
                }
            }
            std::task::Poll::Ready(None) => {
                if let Some(call) = self.call.take() {
                    call.finish(true);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(feature = "grpc-admin")]
impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            // hyper may stop polling once it saw the end of the stream
            let ended = call.code.is_some();
            call.finish(ended);
        }
    }
}

/// A layer judging every gRPC call by the configuration its caller
/// presents (`photon-config` metadata, see [`crate::skew`]): a call from
/// another configuration is counted and, under `refuse`, answered at once
/// with `FAILED_PRECONDITION` and the reason. Add it inside
/// [`MetricsLayer`] so refused calls are counted by method too.
#[cfg(feature = "grpc-admin")]
#[derive(Debug, Clone)]
pub struct SkewLayer(pub std::sync::Arc<crate::skew::ConfigCheck>);

#[cfg(feature = "grpc-admin")]
impl<S> tower_layer::Layer<S> for SkewLayer {
    type Service = Judged<S>;

    fn layer(&self, inner: S) -> Judged<S> {
        Judged {
            inner,
            check: self.0.clone(),
        }
    }
}

/// The service [`SkewLayer`] makes.
#[cfg(feature = "grpc-admin")]
#[derive(Debug, Clone)]
pub struct Judged<S> {
    inner: S,
    check: std::sync::Arc<crate::skew::ConfigCheck>,
}

#[cfg(feature = "grpc-admin")]
impl<S, B, R> tower_service::Service<hyper::Request<B>> for Judged<S>
where
    S: tower_service::Service<hyper::Request<B>, Response = hyper::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = hyper::Response<R>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<B>) -> Self::Future {
        // `/health` and `/metrics` beside the API are observation, not calls.
        let grpc = request
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        if !grpc {
            return Box::pin(self.inner.call(request));
        }
        match self.check.admit(request.headers()) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(refused) => {
                let answer = refused_call(&refused);
                Box::pin(std::future::ready(Ok(answer)))
            }
        }
    }
}

/// A trailers-only gRPC answer: `FAILED_PRECONDITION` (9) and the reason,
/// percent-encoded as the gRPC spec wants `grpc-message`.
#[cfg(feature = "grpc-admin")]
fn refused_call<R: Default>(refused: &crate::skew::Refused) -> hyper::Response<R> {
    use hyper::header::HeaderValue;
    let mut message = String::new();
    for b in refused.to_string().bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            message.push(b as char);
        } else {
            message.push_str(&format!("%{b:02X}"));
        }
    }
    let mut answer = hyper::Response::new(R::default());
    let headers = answer.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from_static("9"));
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", value);
    }
    answer
}

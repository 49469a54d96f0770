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
        .route("/metrics", axum::routing::get(answer))
}

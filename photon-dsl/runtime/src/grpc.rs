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

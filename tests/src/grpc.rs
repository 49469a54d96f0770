//! gRPC as bytes on an HTTP/2 stream (the `h2` crate, no gRPC library in
//! between): what a proxy, a log or a hand-written client sees, such as the
//! exact `grpc-message` header and the status for a malformed frame.

use bytes::Bytes;

/// What came back for one call: the HTTP status, and `grpc-status` and
/// `grpc-message` as sent (from the headers of a trailers-only answer, else
/// from the trailers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// The HTTP status (200 for every gRPC answer, errors included).
    pub http: u16,
    /// `grpc-status`, as its decimal text.
    pub status: Option<String>,
    /// `grpc-message`, byte for byte, not percent-decoded.
    pub message: Option<Vec<u8>>,
}

impl RawAnswer {
    /// The status as a number (`None` if missing or not a number).
    pub fn code(&self) -> Option<i32> {
        self.status.as_deref()?.parse().ok()
    }

    /// The message as text, undecoded.
    pub fn message_text(&self) -> String {
        String::from_utf8_lossy(self.message.as_deref().unwrap_or_default()).into_owned()
    }
}

/// A gRPC message frame: no compression, a big-endian length, `message`.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// POSTs `body` (frames, or any bytes) to `path` (`/etcdserverpb.KV/Range`)
/// at `addr` over cleartext HTTP/2 and reads the answer to its end.
pub async fn call(addr: &str, path: &str, body: Vec<u8>) -> RawAnswer {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .expect("an HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.expect("a stream to open");
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a request");
    let (response, mut send) = client
        .send_request(request, false)
        .expect("the request is sent");
    send.send_data(Bytes::from(body), true)
        .expect("the body is sent");
    let response = response.await.expect("an answer");
    let http = response.status().as_u16();
    let (head, mut body) = response.into_parts();
    let field = |map: &http::HeaderMap, name: &str| map.get(name).map(|v| v.as_bytes().to_vec());
    if let Some(status) = field(&head.headers, "grpc-status") {
        return RawAnswer {
            http,
            status: Some(String::from_utf8_lossy(&status).into_owned()),
            message: field(&head.headers, "grpc-message"),
        };
    }
    while let Some(data) = body.data().await {
        let data = data.expect("the body arrives");
        let _ = body.flow_control().release_capacity(data.len());
    }
    let trailers = body
        .trailers()
        .await
        .expect("the trailers arrive")
        .unwrap_or_default();
    RawAnswer {
        http,
        status: field(&trailers, "grpc-status").map(|s| String::from_utf8_lossy(&s).into_owned()),
        message: field(&trailers, "grpc-message"),
    }
}

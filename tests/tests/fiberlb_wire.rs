//! fiberlb's own HTTP/1.1 path at the byte level, where a general client
//! hides what matters: raw requests written to the balancer and answers
//! read back as bytes, in front of `e2e::http::Backend`. Pipelined
//! requests, HEAD, an HTTP/1.0 client given a chunked answer, a chunked
//! upload waiting for `100 Continue`, a backend answering before the body
//! ends, and the request-smuggling shapes, which must never reach a
//! backend as a request of their own.

use std::net::SocketAddr;
use std::time::Duration;

use e2e::Loopback;
use e2e::http::Backend;
use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// fiberlb with one L7 balancer on `.1:8080` over `backend`.
fn start(net: &Loopback, backend: &Backend) -> (e2e::Running, tempfile::TempDir) {
    let config = format!(
        "[[standalone.loadbalancers]]\nname = \"web\"\nvip = \"{}\"\nport = 8080\nprotocol = \"http\"\nrequest_timeout_sec = 3\n{}",
        net.ip(1),
        e2e::fiberlb::backend(backend, 1)
    );
    e2e::fiberlb::start(net, &config)
}

fn front(net: &Loopback) -> SocketAddr {
    net.addr(1, 8080).parse().unwrap()
}

/// An answer read off the wire: its head (lowercased) and body.
#[derive(Debug)]
struct Raw {
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }
}

/// Reads one answer from `stream` (what follows stays in `buf`): the
/// body by its `content-length`, none for `head_method` answers.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>, head_method: bool) -> Raw {
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buf).await;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
    buf.drain(..end);
    let length: usize = if head_method {
        0
    } else {
        head.lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    while buf.len() < length {
        read_more(stream, buf).await;
    }
    let body = buf.drain(..length).collect();
    Raw { head, body }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut more = [0u8; 16 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut more))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    assert!(n > 0, "closed mid-answer: {}", String::from_utf8_lossy(buf));
    buf.extend_from_slice(&more[..n]);
}

/// Whether the balancer closes `stream` (reading nothing more) within 5 s.
async fn closes(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_and_a_close_ends_the_connection() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (_lb, _dir) = start(&net, &a);
    let mut stream = TcpStream::connect(front(&net)).await.unwrap();
    // Three requests in one write: the slow one first, a HEAD between.
    stream
        .write_all(
            b"GET /slow/100 HTTP/1.1\r\nHost: www.example.com\r\n\r\n\
              HEAD /bytes/1000 HTTP/1.1\r\nHost: www.example.com\r\n\r\n\
              GET /last HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    let slow = read_answer(&mut stream, &mut buf, false).await;
    assert_eq!(
        (slow.status(), slow.body.as_slice()),
        (200, b"a".as_slice()),
        "{slow:?}"
    );
    let head = read_answer(&mut stream, &mut buf, true).await;
    assert_eq!(head.status(), 200, "{head:?}");
    assert!(head.head.contains("content-length: 1000\r\n"), "{head:?}");
    let last = read_answer(&mut stream, &mut buf, false).await;
    assert_eq!(
        (last.status(), last.body.as_slice()),
        (200, b"a".as_slice()),
        "{last:?}"
    );
    assert!(last.head.contains("connection: close\r\n"), "{last:?}");
    assert!(buf.is_empty(), "nothing after the last answer: {buf:?}");
    assert!(closes(&mut stream).await);
    let targets: Vec<String> = a.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/slow/100", "/bytes/1000", "/last"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_answer_reaches_http_1_1_in_chunks_and_http_1_0_as_plain_bytes() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (_lb, _dir) = start(&net, &a);
    const SIZE: usize = 300_000;

    // HTTP/1.1: a reader of chunks (hyper's) gets the body whole.
    let (status, len, md5) = e2e::http::download(
        front(&net),
        e2e::http::Version::Http1,
        "www.example.com",
        &format!("/chunked/{SIZE}"),
    )
    .await;
    assert_eq!(
        (status, len, md5),
        (200, SIZE as u64, e2e::http::pattern_md5(SIZE))
    );

    // HTTP/1.0 cannot read chunks: the data alone, ended by the close.
    let mut stream = TcpStream::connect(front(&net)).await.unwrap();
    stream
        .write_all(
            format!("GET /chunked/{SIZE} HTTP/1.0\r\nHost: www.example.com\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut all))
        .await
        .expect("closed within 5 s")
        .unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body = &all[end..];
    assert_eq!(body.len(), SIZE);
    assert_eq!(hex::encode(Md5::digest(body)), e2e::http::pattern_md5(SIZE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_waiting_for_100_continue_reaches_the_backend_whole() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (_lb, _dir) = start(&net, &a);
    let mut stream = TcpStream::connect(front(&net)).await.unwrap();
    stream
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: www.example.com\r\nExpect: 100-continue\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    let go_on = read_answer(&mut stream, &mut buf, true).await;
    assert_eq!(go_on.head, "http/1.1 100 continue\r\n\r\n");
    stream
        .write_all(b"5;note=x\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut stream, &mut buf, false).await;
    assert_eq!(answer.status(), 200, "{answer:?}");
    let want = format!("a 11 {}", hex::encode(Md5::digest(b"hello world")));
    assert_eq!(String::from_utf8_lossy(&answer.body), want);
    let seen = a.seen().pop().unwrap();
    assert_eq!(seen.headers["transfer-encoding"], "chunked");
    assert!(!seen.headers.contains_key("expect"), "{:?}", seen.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_body_ends_is_relayed_and_ends_the_connection() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (_lb, _dir) = start(&net, &a);
    let mut stream = TcpStream::connect(front(&net)).await.unwrap();
    stream
        .write_all(
            b"POST /refuse HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 100000000\r\n\r\n",
        )
        .await
        .unwrap();
    stream.write_all(&[7u8; 4096]).await.unwrap();
    let mut buf = Vec::new();
    let refused = read_answer(&mut stream, &mut buf, false).await;
    assert_eq!(refused.status(), 413, "{refused:?}");
    assert!(
        refused.head.contains("connection: close\r\n"),
        "{refused:?}"
    );
    assert!(closes(&mut stream).await);
    // The backend connection cut mid-request is not used again.
    for _ in 0..5 {
        let answer = e2e::http::get(front(&net), "www.example.com", "/").await;
        assert_eq!((answer.status, answer.text().as_str()), (200, "a"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_smuggling_shapes_are_refused_and_never_reach_a_backend_as_requests() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (_lb, _dir) = start(&net, &a);
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    let cases = [
        // CL.TE and TE.CL: the two lengths could be read either way.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n{smuggled}"
            ),
            400,
        ),
        // Differing lengths; a coding only the next hop might know.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\nContent-Length: 48\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: xchunked\r\n\r\n{smuggled}"
            ),
            501,
        ),
        // A folded Transfer-Encoding line.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            400,
        ),
    ];
    for (request, status) in &cases {
        let mut stream = TcpStream::connect(front(&net)).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let answer = read_answer(&mut stream, &mut buf, false).await;
        assert_eq!(answer.status(), *status, "{request:?}: {answer:?}");
        assert!(closes(&mut stream).await, "{request:?}");
    }
    assert_eq!(a.requests(), 0, "{:?}", a.seen());

    // A chunk size that is not one: the head went ahead, the body stops
    // at the bad size, and what follows is no request.
    let mut stream = TcpStream::connect(front(&net)).await.unwrap();
    stream
        .write_all(
            format!("POST /upload HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nZZ\r\n{smuggled}").as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    let answer = read_answer(&mut stream, &mut buf, false).await;
    assert_eq!(answer.status(), 400, "{answer:?}");
    assert!(
        String::from_utf8_lossy(&answer.body).contains("malformed chunked body"),
        "{answer:?}"
    );
    assert!(closes(&mut stream).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let targets: Vec<String> = a.seen().into_iter().map(|s| s.target).collect();
    assert!(!targets.iter().any(|t| t == "/smuggled"), "{targets:?}");
}

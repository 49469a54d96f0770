//! [`Check::Protocol`](crate::spec::Check::Protocol): each backend asked
//! in its own protocol, so a server that accepts connections but no longer
//! answers (or answers something else) is taken out.
//!
//! | protocol | asked | healthy when |
//! |---|---|---|
//! | `s3`, `http-get`, `prom-query`, `prom-scrape` | `GET /health` (PhotonCloud's servers all serve it) | 200 |
//! | `http` | `GET /` | any answer below 500 |
//! | `dns` | `. NS` over UDP | a DNS answer to that question, whatever its code |
//! | `etcd-v3` | `Maintenance/Status` over gRPC | `grpc-status: 0` |
//! | anything else (`tcp`, `nats`, ...) | a TCP connect | accepted |

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpStream, UdpSocket};

/// Asks the backend at `addr`, speaking `protocol` (by name), once; the
/// caller bounds the whole by `timeout` too.
pub async fn ask(protocol: &str, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    match protocol {
        "s3" | "http-get" | "prom-query" | "prom-scrape" => {
            let answer = photon_runtime::http::get(addr, "/health", timeout)
                .await
                .map_err(|e| format!("GET /health: {e}"))?;
            if answer.status == hyper::StatusCode::OK {
                Ok(())
            } else {
                Err(format!("GET /health answered {}", answer.status.as_u16()))
            }
        }
        "http" => {
            let answer = photon_runtime::http::get(addr, "/", timeout)
                .await
                .map_err(|e| format!("GET /: {e}"))?;
            if answer.status.is_server_error() {
                Err(format!("GET / answered {}", answer.status.as_u16()))
            } else {
                Ok(())
            }
        }
        "dns" => dns(addr).await,
        "etcd-v3" => etcd_status(addr).await,
        _ => TcpStream::connect(addr)
            .await
            .map(drop)
            .map_err(|e| format!("connect: {e}")),
    }
}

/// A DNS question for the root's NS records, id `id`, no recursion asked.
fn root_ns_query(id: u16) -> [u8; 17] {
    let [hi, lo] = id.to_be_bytes();
    [
        hi, lo, 0, 0, // flags: a standard query
        0, 1, 0, 0, 0, 0, 0, 0, // one question
        0, // the root name
        0, 2, // NS
        0, 1, // IN
    ]
}

/// Sends `. NS` over UDP and waits for the answer to it.
async fn dns(addr: SocketAddr) -> Result<(), String> {
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("an address")
    } else {
        "[::]:0".parse().expect("an address")
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("DNS: {e}"))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| format!("DNS: {e}"))?;
    let id = rand_id();
    socket
        .send(&root_ns_query(id))
        .await
        .map_err(|e| format!("DNS: {e}"))?;
    let mut answer = [0u8; 512];
    loop {
        let n = socket
            .recv(&mut answer)
            .await
            .map_err(|e| format!("DNS: {e}"))?;
        // The same id, the response bit set: an answer to this question
        // (a stray datagram is skipped).
        if n >= 12 && answer[..2] == id.to_be_bytes() && answer[2] & 0x80 != 0 {
            return Ok(());
        }
    }
}

/// A query id that differs from probe to probe.
fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16)) as u16
}

/// Calls etcd's `Maintenance/Status` over gRPC (HTTP/2 with prior
/// knowledge) with an empty request.
async fn etcd_status(addr: SocketAddr) -> Result<(), String> {
    let failed = |what: &dyn std::fmt::Display| format!("etcd Status: {what}");
    let stream = TcpStream::connect(addr).await.map_err(|e| failed(&e))?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
    let driver = tokio::spawn(connection);
    let exchange = async {
        // One gRPC message: not compressed, 0 bytes (StatusRequest has no
        // fields).
        let request =
            hyper::Request::post(format!("http://{addr}/etcdserverpb.Maintenance/Status"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
                .map_err(|e| failed(&e))?;
        let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
        if response.status() != hyper::StatusCode::OK {
            return Err(failed(&format!("HTTP {}", response.status().as_u16())));
        }
        // grpc-status comes in the trailers, or in the headers of an
        // answer with no body.
        let head_status = response.headers().get("grpc-status").cloned();
        let collected = response
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(&e))?;
        let status = collected
            .trailers()
            .and_then(|t| t.get("grpc-status").cloned())
            .or(head_status);
        match status.as_ref().map(|s| s.as_bytes()) {
            Some(b"0") => Ok(()),
            Some(other) => Err(failed(&format!(
                "grpc-status {}",
                String::from_utf8_lossy(other)
            ))),
            None => Err(failed(&"no grpc-status: not a gRPC server")),
        }
    };
    let outcome = exchange.await;
    driver.abort();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dns_question_is_root_ns_in_class_in() {
        let query = root_ns_query(0xabcd);
        assert_eq!(&query[..2], &[0xab, 0xcd]);
        assert_eq!(query[5], 1, "one question");
        assert_eq!(&query[12..], &[0, 0, 2, 0, 1]);
    }
}

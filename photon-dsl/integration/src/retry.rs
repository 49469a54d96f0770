//! Requests to chainfire that ride out a leader election: every component
//! keeping state in chainfire needs the same rule for "not now" against
//! "no", so it is written once here.

use std::future::Future;
use std::time::Duration;

/// How long a request is tried again while chainfire elects a leader or a
/// member is unreachable (the client moves to another member).
pub const RETRY_FOR: Duration = Duration::from_secs(10);

/// Whether `e` says "not now" rather than "no": no leader, a member gone,
/// an answer that timed out.
pub fn transient(e: &etcd_client::Error) -> bool {
    match e {
        // gRPC's UNAVAILABLE (14) and DEADLINE_EXCEEDED (4); and CANCELLED
        // (1) or UNKNOWN (2) carrying a cause, which is how tonic reports a
        // connection lost mid-request (a member killed: hyper's "connection
        // closed" comes as CANCELLED, a reset as UNKNOWN); a status a
        // server sent has no cause.
        etcd_client::Error::GRpcStatus(status) => {
            matches!(i32::from(status.code()), 4 | 14)
                || (matches!(i32::from(status.code()), 1 | 2)
                    && std::error::Error::source(status).is_some())
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

/// `request` until it succeeds, fails for good, or [`RETRY_FOR`] passes.
///
/// A write whose answer was lost may have been applied: the caller must
/// make writes it retries safe to repeat (a transaction guarded by a
/// compare that the first application makes false, then read again).
pub async fn retried<T, F, Fut>(mut request: F) -> Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut pause = Duration::from_millis(50);
    loop {
        match request().await {
            Ok(answer) => return Ok(answer),
            Err(e) if transient(&e) && tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "chainfire not ready; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The end of the range of keys starting with `prefix` (etcd's
/// `range_end` for a prefix).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff: to the end of the key space.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::{prefix_end, transient};
    use etcd_client::Error;

    #[test]
    fn a_connection_lost_mid_request_is_tried_again_and_a_refusal_is_not() {
        use std::io::{Error as Io, ErrorKind};
        let reset = Io::new(ErrorKind::ConnectionReset, "connection reset by peer");
        let lost = Error::GRpcStatus(tonic::Status::from_error(Box::new(reset)));
        assert!(transient(&lost), "{lost:?}");
        // A connection closed under a request in flight: tonic's CANCELLED
        // with the transport's error as its cause.
        let closed = Io::new(ErrorKind::BrokenPipe, "connection closed");
        let mut cancelled = tonic::Status::new(tonic::Code::Cancelled, "operation was canceled");
        cancelled.set_source(std::sync::Arc::new(closed));
        let cancelled = Error::GRpcStatus(cancelled);
        assert!(transient(&cancelled), "{cancelled:?}");
        for code in [tonic::Code::Unavailable, tonic::Code::DeadlineExceeded] {
            assert!(transient(&Error::GRpcStatus(tonic::Status::new(code, "x"))));
        }
        for code in [
            tonic::Code::Cancelled,
            tonic::Code::Unknown,
            tonic::Code::InvalidArgument,
            tonic::Code::FailedPrecondition,
        ] {
            let refused = Error::GRpcStatus(tonic::Status::new(code, "no"));
            assert!(!transient(&refused), "{refused:?}");
        }
    }

    #[test]
    fn a_prefix_ends_where_the_next_prefix_begins() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}

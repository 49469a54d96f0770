//! What goes on the wire exactly as etcd (grpc-go) sends it, where tonic
//! differs in ways a client that decodes does not see but a raw HTTP/2
//! client, a proxy or a log does.
//!
//! - `grpc-message`: the gRPC spec percent-encodes only bytes outside
//!   printable ASCII and `%` itself, which is what grpc-go does; tonic also
//!   encodes spaces and some punctuation (`etcdserver:%20mvcc:%20...`).
//!   grpc-go also sends an empty one with a success.
//! - A malformed request frame: tonic answers a truncated one with
//!   Internal and an oversized one with OutOfRange, each in its own words;
//!   grpc-go answers Unknown "unexpected EOF" and ResourceExhausted.
//!
//! The layer rewrites the status, in the response head of a trailers-only
//! answer and in the trailers of any other.

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Response};
use http_body::{Body, Frame, SizeHint};

/// Wraps a gRPC service so its status is written as etcd writes it.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcdWireLayer;

impl<S> tower_layer::Layer<S> for EtcdWireLayer {
    type Service = EtcdWire<S>;

    fn layer(&self, inner: S) -> EtcdWire<S> {
        EtcdWire { inner }
    }
}

/// The service [`EtcdWireLayer`] makes.
#[derive(Debug, Clone)]
pub struct EtcdWire<S> {
    inner: S,
}

impl<S, Request, B> tower_service::Service<Request> for EtcdWire<S>
where
    S: tower_service::Service<Request, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<EtcdWireBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            as_etcd_sends(response.headers_mut());
            Ok(response.map(|inner| EtcdWireBody { inner }))
        })
    }
}

/// A response body whose trailers get [`as_etcd_sends`].
#[derive(Debug)]
pub struct EtcdWireBody<B> {
    inner: B,
}

impl<B: Body + Unpin> Body for EtcdWireBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx).map(|frame| {
            frame.map(|frame| {
                frame.map(|frame| match frame.into_trailers() {
                    Ok(mut trailers) => {
                        as_etcd_sends(&mut trailers);
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Rewrites the gRPC status in `headers`, if there is one, as grpc-go
/// (etcd) writes it.
fn as_etcd_sends(headers: &mut HeaderMap) {
    let Some(code) = headers.get("grpc-status").cloned() else {
        return;
    };
    let message = headers
        .get("grpc-message")
        .map(|value| String::from_utf8_lossy(&percent_decoded(value.as_bytes())).into_owned())
        .unwrap_or_default();
    let (code, message) = match framing_error(code.as_bytes(), &message) {
        Some((code, message)) => (HeaderValue::from_static(code), message),
        None => (code, message),
    };
    headers.insert("grpc-status", code);
    if let Ok(value) = HeaderValue::from_str(&spec_encoded(message.as_bytes())) {
        headers.insert("grpc-message", value);
    }
}

/// tonic's answer to a malformed request frame, as grpc-go's code and words.
fn framing_error(code: &[u8], message: &str) -> Option<(&'static str, String)> {
    match code {
        b"13" if message == "Unexpected EOF decoding stream." => {
            Some(("2", "unexpected EOF".to_owned()))
        }
        b"13" if message.starts_with("protocol error: received message with compressed-flag") => {
            Some((
                "13",
                "grpc: compressed flag set with identity or empty encoding".to_owned(),
            ))
        }
        b"11" => {
            let sizes = message.strip_prefix("Error, decoded message length too large: found ")?;
            let (found, limit) = sizes.split_once(" bytes, the limit is: ")?;
            let limit = limit.strip_suffix(" bytes")?;
            Some((
                "8",
                format!("grpc: received message larger than max ({found} vs. {limit})"),
            ))
        }
        _ => None,
    }
}

/// `%XX` sequences as bytes; anything else as it is.
fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    percent_encoding::percent_decode(bytes).collect()
}

/// What the gRPC spec percent-encodes in `grpc-message`: control bytes and
/// `%` (bytes past ASCII always are).
const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// The spec's encoding: printable ASCII but `%` as it is, every other
/// byte as `%XX`.
fn spec_encoded(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, GRPC_MESSAGE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(code: &'static str, sent: &str) -> (String, String) {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(code));
        headers.insert("grpc-message", HeaderValue::from_str(sent).unwrap());
        as_etcd_sends(&mut headers);
        let text = |name: &str| headers[name].to_str().unwrap().to_owned();
        (text("grpc-status"), text("grpc-message"))
    }

    fn message(sent: &str) -> String {
        rewritten("9", sent).1
    }

    #[test]
    fn printable_ascii_is_sent_as_it_is_and_the_rest_encoded() {
        assert_eq!(
            message("etcdserver:%20mvcc:%20required%20revision%20is%20a%20future%20revision"),
            "etcdserver: mvcc: required revision is a future revision"
        );
        assert_eq!(message("100%25 \"sure\"%3F"), "100%25 \"sure\"?");
        assert_eq!(message("caf%C3%A9%0A"), "caf%C3%A9%0A");
        // A lone `%` that encodes nothing is written as the spec says.
        assert_eq!(message("50% off"), "50%25 off");
    }

    #[test]
    fn a_success_carries_an_empty_message_and_headers_without_status_are_left_alone() {
        let mut ok = HeaderMap::new();
        ok.insert("grpc-status", HeaderValue::from_static("0"));
        as_etcd_sends(&mut ok);
        assert_eq!(ok["grpc-message"], "");
        let mut head = HeaderMap::new();
        head.insert("content-type", HeaderValue::from_static("application/grpc"));
        as_etcd_sends(&mut head);
        assert_eq!(head.len(), 1);
    }

    #[test]
    fn malformed_frames_get_grpc_gos_codes_and_words() {
        assert_eq!(
            rewritten("13", "Unexpected%20EOF%20decoding%20stream."),
            ("2".to_owned(), "unexpected EOF".to_owned())
        );
        assert_eq!(
            rewritten(
                "11",
                "Error,%20decoded%20message%20length%20too%20large:%20found%204294967295%20bytes,%20the%20limit%20is:%202097152%20bytes"
            ),
            (
                "8".to_owned(),
                "grpc: received message larger than max (4294967295 vs. 2097152)".to_owned()
            )
        );
        // Another Internal keeps its code and words.
        assert_eq!(
            rewritten("13", "etcdserver:%20corrupt"),
            ("13".to_owned(), "etcdserver: corrupt".to_owned())
        );
    }
}

//! What S3 tells a client whose signature does not match: a message that
//! says so, and what the server signed (the canonical request and the
//! string to sign, as text and as bytes) beside the signature the client
//! sent, so the two sides can be compared. s3s answers `SignatureDoesNotMatch`
//! with no message at all, which the AWS CLI prints as "Unknown".
//!
//! The canonical request is rebuilt here from the request as it arrived,
//! by the SigV4 rules for S3 (path as sent, query sorted and encoded, the
//! signed headers trimmed, the payload hash the client declared), for
//! requests signed in the `Authorization` header.

use std::fmt::Write as _;

use bytes::Bytes;
use hyper::{HeaderMap, Method, Request, Uri};
use sha2::{Digest as _, Sha256};

/// S3's words for a signature that does not match.
const MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";

/// A copy of a signed request's head, kept while the request is served in
/// case its signature turns out not to match.
#[derive(Debug, Clone)]
pub struct RequestHead {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl RequestHead {
    /// The head of `request`, if it is signed in its `Authorization` header.
    pub fn of<B>(request: &Request<B>) -> Option<RequestHead> {
        request
            .headers()
            .contains_key(hyper::header::AUTHORIZATION)
            .then(|| RequestHead {
                method: request.method().clone(),
                uri: request.uri().clone(),
                headers: request.headers().clone(),
            })
    }
}

/// What a header-signed request says it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signed {
    access_key: String,
    signature: String,
    canonical_request: String,
    string_to_sign: String,
}

impl Signed {
    /// The SigV4 parts of `request`, if it is signed in its
    /// `Authorization` header with SigV4.
    fn of(request: &RequestHead) -> Option<Signed> {
        let authorization = request.headers.get("authorization")?.to_str().ok()?;
        let fields = authorization.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let field = |name: &str| {
            fields
                .split(',')
                .map(str::trim)
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        };
        let (access_key, scope) = field("Credential")?.split_once('/')?;
        let signed_headers = field("SignedHeaders")?;
        let signature = field("Signature")?;
        let header = |name: &str| -> String {
            let values: Vec<String> = request
                .headers
                .get_all(name)
                .iter()
                .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            values.join(",")
        };
        let mut canonical = String::new();
        let _ = writeln!(canonical, "{}", request.method);
        let _ = writeln!(canonical, "{}", request.uri.path());
        let _ = writeln!(canonical, "{}", canonical_query(request.uri.query()));
        for name in signed_headers.split(';') {
            let value = if name == "host" && request.headers.get("host").is_none() {
                request
                    .uri
                    .authority()
                    .map_or_else(String::new, |a| a.to_string())
            } else {
                header(name)
            };
            let _ = writeln!(canonical, "{name}:{value}");
        }
        let _ = writeln!(canonical);
        let _ = writeln!(canonical, "{signed_headers}");
        canonical.push_str(&header("x-amz-content-sha256"));
        let date = header("x-amz-date");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        Some(Signed {
            access_key: access_key.to_owned(),
            signature: signature.to_owned(),
            canonical_request: canonical,
            string_to_sign,
        })
    }
}

/// A `SignatureDoesNotMatch` error body (`sent`) with S3's message where
/// it has none, and, when the request (`head`) was signed in its header,
/// what S3 adds: the access key, the string to sign, the signature
/// provided and the canonical request. `None` for any other body.
pub fn explain(sent: &[u8], head: Option<&RequestHead>) -> Option<Bytes> {
    let text = std::str::from_utf8(sent).ok()?;
    if !text.contains("<Code>SignatureDoesNotMatch</Code>") {
        return None;
    }
    let signed = head.and_then(Signed::of);
    let inner = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&format!("</{tag}>"))?;
        Some(&text[start..end])
    };
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code>",
    );
    let message = inner("Message").filter(|m| !m.is_empty());
    // Already escaped as it was sent.
    let _ = write!(body, "<Message>{}</Message>", message.unwrap_or(MESSAGE));
    if let Some(signed) = &signed {
        let element = |body: &mut String, tag: &str, value: &str| {
            let _ = write!(body, "<{tag}>{}</{tag}>", escape(value));
        };
        element(&mut body, "AWSAccessKeyId", &signed.access_key);
        element(&mut body, "StringToSign", &signed.string_to_sign);
        element(&mut body, "SignatureProvided", &signed.signature);
        element(
            &mut body,
            "StringToSignBytes",
            &spaced_hex(signed.string_to_sign.as_bytes()),
        );
        element(&mut body, "CanonicalRequest", &signed.canonical_request);
        element(
            &mut body,
            "CanonicalRequestBytes",
            &spaced_hex(signed.canonical_request.as_bytes()),
        );
    }
    if let Some(id) = inner("RequestId") {
        let _ = write!(body, "<RequestId>{id}</RequestId>");
    }
    body.push_str("</Error>");
    Some(Bytes::from(body))
}

/// The query, each name and value percent-encoded as SigV4 wants
/// (unreserved characters as they are, the rest `%XX`), sorted.
fn canonical_query(query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(name), reencode(value))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What SigV4 percent-encodes in a query: everything but the unreserved
/// characters (RFC 3986 section 2.3).
const SIGV4_QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` as sent (percent-encoded, perhaps differently) in SigV4's
/// encoding.
fn reencode(text: &str) -> String {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(text).collect();
    percent_encoding::percent_encode(&bytes, SIGV4_QUERY).to_string()
}

/// A header value as SigV4 signs it: trimmed, runs of spaces as one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Bytes as S3 shows them: two hex digits each, separated by spaces.
fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own SigV4 example for S3 (a GET of `/test.txt` with a range),
    /// from the S3 API reference: its canonical request and string to sign.
    #[test]
    fn the_canonical_request_of_the_s3_reference_example() {
        let request = hyper::Request::get("/test.txt")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("range", "bytes=0-9")
            .header(
                "x-amz-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            )
            .header("x-amz-date", "20130524T000000Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            )
            .body(())
            .unwrap();
        let signed = Signed::of(&RequestHead::of(&request).unwrap()).unwrap();
        assert_eq!(
            signed.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signed.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        assert_eq!(signed.access_key, "AKIAIOSFODNN7EXAMPLE");
    }

    #[test]
    fn queries_are_sorted_and_encoded_once() {
        assert_eq!(
            canonical_query(Some("prefix=a%2Fb&list-type=2&delimiter=/")),
            "delimiter=%2F&list-type=2&prefix=a%2Fb"
        );
        assert_eq!(canonical_query(Some("uploads")), "uploads=");
        assert_eq!(canonical_query(None), "");
    }

    #[test]
    fn only_a_signature_mismatch_is_explained_and_a_message_kept() {
        assert_eq!(
            explain(b"<Error><Code>NoSuchKey</Code></Error>", None),
            None
        );
        let bare = explain(
            b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><RequestId>r1</RequestId></Error>",
            None,
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&bare).unwrap(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code><Message>{MESSAGE}</Message><RequestId>r1</RequestId></Error>"
            )
        );
        let said = explain(
            b"<Error><Code>SignatureDoesNotMatch</Code><Message>credential scope date does not match x-amz-date</Message></Error>",
            None,
        )
        .unwrap();
        assert!(
            std::str::from_utf8(&said)
                .unwrap()
                .contains("<Message>credential scope date does not match x-amz-date</Message>")
        );
    }
}

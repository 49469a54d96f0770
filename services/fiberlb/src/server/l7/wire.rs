//! HTTP/1.1 messages on the wire (RFC 9112) for the balancer's own HTTP/1
//! path: a head parsed by httparse and written out again for the next hop,
//! and where a body ends worked out so that no two hops can disagree on it
//! (request smuggling): a request with both `Content-Length` and
//! `Transfer-Encoding`, with differing lengths, with a transfer coding
//! other than `chunked`, or with a folded header line is refused, and
//! chunked bodies are checked chunk by chunk as they pass.

use std::io::Write as _;

use super::{MAX_HEAD_BYTES, Peer, forwarded_element, strip_port};

/// Headers a head may carry; more is answered 431.
pub const MAX_HEADERS: usize = 128;
/// The longest chunk-size line (size and extensions) and trailer section
/// a chunked body may carry.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;

/// Where a message's body ends (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// There is none.
    None,
    /// After this many bytes.
    Exactly(u64),
    /// At the last chunk and its trailers.
    Chunked,
    /// When the sender closes (answers only).
    UntilClose,
}

impl Length {
    /// Whether a body follows the head at all.
    pub fn has_body(self) -> bool {
        !matches!(self, Length::None | Length::Exactly(0))
    }
}

/// Why a head is refused: for a client's request, the status it is
/// answered with; for a backend's answer, a 502.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`] (431).
    #[error("the head is over {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers")]
    TooLarge,
    /// Not HTTP/1.x as RFC 9112 writes it, or framed ambiguously (400).
    #[error("malformed head: {0}")]
    Malformed(&'static str),
    /// A transfer coding fiberlb does not decode (501).
    #[error("transfer coding {0:?} is not supported; only chunked is")]
    Unsupported(String),
    /// A method a reverse proxy does not serve (405).
    #[error("method {0} is not served by a reverse proxy")]
    Method(String),
}

impl HeadError {
    /// The status and reason a client is answered with.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            HeadError::TooLarge => (431, "Request Header Fields Too Large"),
            HeadError::Malformed(_) => (400, "Bad Request"),
            HeadError::Unsupported(_) => (501, "Not Implemented"),
            HeadError::Method(_) => (405, "Method Not Allowed"),
        }
    }
}

impl From<httparse::Error> for HeadError {
    fn from(e: httparse::Error) -> HeadError {
        match e {
            httparse::Error::TooManyHeaders => HeadError::TooLarge,
            httparse::Error::HeaderName => HeadError::Malformed("invalid header name"),
            httparse::Error::HeaderValue => HeadError::Malformed("invalid header value"),
            httparse::Error::NewLine => HeadError::Malformed("invalid line ending"),
            httparse::Error::Status => HeadError::Malformed("invalid status"),
            httparse::Error::Token => HeadError::Malformed("invalid token"),
            httparse::Error::Version => HeadError::Malformed("not HTTP/1.0 or HTTP/1.1"),
        }
    }
}

/// What the balancer needs to forward a client's request.
pub struct ForwardContext<'a> {
    /// The client.
    pub peer: &'a Peer,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The stickiness cookie's name, if any.
    pub cookie: Option<&'static str>,
}

/// A client's request head, read and made the backend's.
#[derive(Debug)]
pub struct RequestHead<R> {
    /// Its bytes in the client's buffer (the body follows).
    pub len: usize,
    /// The head the backend is sent: HTTP/1.1 in origin form, this hop's
    /// headers out, the forwarding headers and the body's framing in.
    pub forward: Vec<u8>,
    /// Where its body ends.
    pub length: Length,
    /// What routing made of its host and path.
    pub route: R,
    /// The backend its stickiness cookie names, if any.
    pub sticky: Option<String>,
    /// `HTTP/1.<minor>`.
    pub minor: u8,
    /// Whether the client keeps the connection open after the answer.
    pub keep_alive: bool,
    /// Whether it asks to switch protocols (`Upgrade`, WebSocket).
    pub upgrade: bool,
    /// Whether it waits for `100 Continue` before sending its body.
    pub expect_continue: bool,
    /// Whether it is a HEAD request (whose answer has no body).
    pub head_method: bool,
}

/// Headers that describe one connection (RFC 9110 7.6.1), never
/// forwarded; `Content-Length` and `Transfer-Encoding` are written again
/// from the framing, and `Expect` is answered here.
fn hop_by_hop(name: &str) -> bool {
    const NAMES: [&str; 10] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "content-length",
        "expect",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The comma-separated tokens of a header value, trimmed and non-empty.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Folds `value` (digits only) into the length seen so far; lengths that
/// differ are ambiguous.
fn one_length(seen: Option<u64>, value: &[u8]) -> Result<Option<u64>, HeadError> {
    let mut length: u64 = 0;
    let mut any = false;
    for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
        if token.is_empty() || token.len() > 19 || !token.iter().all(u8::is_ascii_digit) {
            return Err(HeadError::Malformed("invalid Content-Length"));
        }
        let n = token.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if any && n != length {
            return Err(HeadError::Malformed("differing Content-Length values"));
        }
        (length, any) = (n, true);
    }
    match seen {
        Some(earlier) if earlier != length => {
            Err(HeadError::Malformed("differing Content-Length values"))
        }
        _ => Ok(Some(length)),
    }
}

/// Parses a request head at the start of `buf`: `Ok(None)` while it is
/// incomplete. `route` is given the host (without port) and path.
pub fn parse_request<R>(
    buf: &[u8],
    context: &ForwardContext<'_>,
    route: impl FnOnce(Option<&str>, &str) -> R,
) -> Result<Option<RequestHead<R>>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf)? {
        httparse::Status::Partial if buf.len() >= MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(len) if len > MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        httparse::Status::Complete(len) => len,
    };
    let method = request.method.unwrap_or_default();
    let target = request.path.unwrap_or_default();
    let minor = request.version.unwrap_or_default();
    if method == "CONNECT" {
        return Err(HeadError::Method(method.to_owned()));
    }

    // What the headers say about this hop and the body.
    let mut host_header: Option<&[u8]> = None;
    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut coding: Option<&[u8]> = None;
    let mut codings = 0;
    let mut connection: Vec<&[u8]> = Vec::new();
    let mut upgrade: Option<&[u8]> = None;
    let mut expect_continue = false;
    let mut sticky = None;
    let mut xff: Vec<&[u8]> = Vec::new();
    let mut forwarded: Vec<&[u8]> = Vec::new();
    for header in request.headers.iter() {
        let (name, value) = (header.name, header.value);
        if name.eq_ignore_ascii_case("host") {
            host_header = Some(value);
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = one_length(length, value)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for token in tokens(value) {
                coding = Some(token);
                codings += 1;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            connection.extend(tokens(value));
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade = Some(value);
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            xff.push(value);
        } else if name.eq_ignore_ascii_case("forwarded") {
            forwarded.push(value);
        } else if name.eq_ignore_ascii_case("cookie")
            && let Some(cookie) = context.cookie
            && sticky.is_none()
        {
            sticky = cookie_in(value, cookie);
        }
    }
    let named = |token: &[u8]| connection.iter().any(|t| t.eq_ignore_ascii_case(token));

    // Where the body ends (RFC 9112 6.1-6.3), refusing what two hops could
    // read differently.
    let length = match (coding, length) {
        (Some(_), _) if minor == 0 => {
            return Err(HeadError::Malformed(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(HeadError::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        (Some(last), None) if last.eq_ignore_ascii_case(b"chunked") && codings == 1 => {
            Length::Chunked
        }
        (Some(last), None) if last.eq_ignore_ascii_case(b"chunked") => {
            return Err(HeadError::Unsupported(
                "a coding besides chunked".to_owned(),
            ));
        }
        (Some(last), None) => {
            return Err(HeadError::Unsupported(
                String::from_utf8_lossy(last).into_owned(),
            ));
        }
        (None, None) => Length::None,
        // `Content-Length: 0` is kept: a signed request (S3's SigV4)
        // may have signed it.
        (None, Some(n)) => Length::Exactly(n),
    };

    // The host: an absolute-form target's authority wins over `Host`
    // (RFC 9112 3.2.2); HTTP/1.1 needs exactly one `Host`.
    let (authority, origin) = split_target(target)?;
    if minor == 1 && hosts != 1 {
        return Err(HeadError::Malformed(
            "HTTP/1.1 needs exactly one Host header",
        ));
    }
    let host = match authority {
        Some(authority) => Some(authority),
        None => match host_header {
            Some(value) => Some(
                std::str::from_utf8(value)
                    .map_err(|_| HeadError::Malformed("invalid Host"))?
                    .trim(),
            ),
            None => None,
        },
    };
    let path = origin.split('?').next().unwrap_or(origin);
    let route = route(host.map(strip_port), path);
    let upgrade = match upgrade {
        Some(protocol) if minor == 1 && named(b"upgrade") => Some(protocol),
        _ => None,
    };
    let keep_alive = if minor == 1 {
        !named(b"close")
    } else {
        named(b"keep-alive")
    };

    // The backend's head.
    let mut forward = Vec::with_capacity(len + 256);
    forward.extend_from_slice(method.as_bytes());
    forward.push(b' ');
    forward.extend_from_slice(origin.as_bytes());
    forward.extend_from_slice(b" HTTP/1.1\r\n");
    let mut wrote_host = false;
    for header in request.headers.iter() {
        let name = header.name;
        if hop_by_hop(name)
            || named(name.as_bytes())
            || name.eq_ignore_ascii_case("x-forwarded-for")
            || name.eq_ignore_ascii_case("forwarded")
            || name.eq_ignore_ascii_case("x-forwarded-proto")
        {
            continue;
        }
        if name.eq_ignore_ascii_case("host") {
            if wrote_host {
                continue;
            }
            wrote_host = true;
            if let Some(authority) = authority {
                header_line(&mut forward, "host", authority.as_bytes());
                continue;
            }
        }
        header_line(&mut forward, name, header.value);
    }
    if !wrote_host && let Some(host) = host {
        header_line(&mut forward, "host", host.as_bytes());
    }
    // `earlier, this` when earlier proxies wrote some, else `this`.
    let chain = |forward: &mut Vec<u8>, name: &str, earlier: &[&[u8]], this: &[u8]| {
        forward.extend_from_slice(name.as_bytes());
        forward.extend_from_slice(b": ");
        for value in earlier {
            forward.extend_from_slice(value);
            forward.extend_from_slice(b", ");
        }
        forward.extend_from_slice(this);
        forward.extend_from_slice(b"\r\n");
    };
    chain(
        &mut forward,
        "x-forwarded-for",
        &xff,
        context.peer.xff.as_bytes(),
    );
    let element = forwarded_element(context.peer, host, context.scheme);
    chain(&mut forward, "forwarded", &forwarded, element.as_bytes());
    header_line(&mut forward, "x-forwarded-proto", context.scheme.as_bytes());
    match length {
        Length::Exactly(n) => {
            let _ = write!(forward, "content-length: {n}\r\n");
        }
        Length::Chunked => forward.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Length::None | Length::UntilClose => {}
    }
    if let Some(protocol) = upgrade {
        header_line(&mut forward, "upgrade", protocol);
        forward.extend_from_slice(b"connection: upgrade\r\n");
    }
    forward.extend_from_slice(b"\r\n");

    Ok(Some(RequestHead {
        len,
        forward,
        length,
        route,
        sticky,
        minor,
        keep_alive,
        upgrade: upgrade.is_some(),
        expect_continue,
        head_method: method == "HEAD",
    }))
}

/// A request target as (authority, origin form): `/p?q` as is,
/// `http://h/p?q` as (`h`, `/p?q`), `*` as is.
fn split_target(target: &str) -> Result<(Option<&str>, &str), HeadError> {
    if target.starts_with('/') || target == "*" {
        return Ok((None, target));
    }
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| {
            target
                .get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .map(|_| &target[scheme.len()..])
        })
        .ok_or(HeadError::Malformed("invalid request target"))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, origin) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(HeadError::Malformed(
            "invalid authority in the request target",
        ));
    }
    Ok((
        Some(authority),
        if origin.is_empty() { "/" } else { origin },
    ))
}

/// The value of cookie `name` in one `Cookie` header.
pub fn cookie_in(value: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(value)
        .ok()?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How the client's side of an answer is written.
#[derive(Debug, Clone, Copy)]
pub struct AnswerContext<'a> {
    /// Whether the request was HEAD (its answer has no body).
    pub head_method: bool,
    /// The client's `HTTP/1.<minor>`.
    pub minor: u8,
    /// Whether the connection to the client closes after this answer
    /// whatever the answer says.
    pub close: bool,
    /// A `Set-Cookie` value to add (stickiness).
    pub set_cookie: Option<&'a str>,
}

/// A backend's answer head, made the client's.
#[derive(Debug)]
pub struct AnswerHead {
    /// Its bytes in the backend connection's buffer.
    pub len: usize,
    /// Its status.
    pub status: u16,
    /// The head the client is sent.
    pub forward: Vec<u8>,
    /// Where the backend's body ends.
    pub length: Length,
    /// Whether the body is sent to the client without its chunk framing
    /// (an HTTP/1.0 client), ending when the connection closes.
    pub dechunk: bool,
    /// Whether the backend keeps the connection open for another request.
    pub backend_keeps: bool,
    /// Whether the client's connection closes after this answer.
    pub close: bool,
}

/// Parses an answer head at the start of `buf`: `Ok(None)` while it is
/// incomplete.
pub fn parse_answer(
    buf: &[u8],
    context: AnswerContext<'_>,
) -> Result<Option<AnswerHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut headers);
    let len = match answer.parse(buf)? {
        httparse::Status::Partial if buf.len() >= MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(len) => len,
    };
    let status = answer.code.unwrap_or_default();
    let minor = answer.version.unwrap_or_default();
    let mut length: Option<u64> = None;
    let mut coding: Option<&[u8]> = None;
    let mut connection: Vec<&[u8]> = Vec::new();
    for header in answer.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = one_length(length, header.value)?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            coding = tokens(header.value).last().or(coding);
        } else if header.name.eq_ignore_ascii_case("connection") {
            connection.extend(tokens(header.value));
        }
    }
    let named = |token: &[u8]| connection.iter().any(|t| t.eq_ignore_ascii_case(token));
    let bodiless =
        context.head_method || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = match (coding, length) {
        _ if bodiless => Length::None,
        (Some(last), _) if last.eq_ignore_ascii_case(b"chunked") => Length::Chunked,
        (Some(_), _) => Length::UntilClose,
        (None, Some(n)) => Length::Exactly(n),
        (None, None) => Length::UntilClose,
    };
    // A length given twice over (coding and Content-Length) is not
    // trusted for the connection's next answer.
    let backend_keeps = framing != Length::UntilClose
        && !(coding.is_some() && length.is_some())
        && if minor == 1 {
            !named(b"close")
        } else {
            named(b"keep-alive")
        };
    let dechunk = framing == Length::Chunked && context.minor == 0;
    let close = context.close || framing == Length::UntilClose || dechunk || status == 101;

    let mut forward = Vec::with_capacity(len + 128);
    let _ = write!(
        forward,
        "HTTP/1.1 {status} {}\r\n",
        answer.reason.unwrap_or_default()
    );
    for header in answer.headers.iter() {
        let name = header.name;
        let keep = if status == 101 {
            // The switch is the client's too.
            true
        } else if name.eq_ignore_ascii_case("content-length") {
            // A HEAD or 304 answer's length describes the body it omits.
            bodiless && coding.is_none()
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            framing != Length::None && !dechunk
        } else {
            !hop_by_hop(name) && !named(name.as_bytes())
        };
        if keep {
            header_line(&mut forward, name, header.value);
        }
    }
    if let Length::Exactly(n) = framing {
        let _ = write!(forward, "content-length: {n}\r\n");
    }
    if let Some(cookie) = context.set_cookie
        && status >= 200
    {
        header_line(&mut forward, "set-cookie", cookie.as_bytes());
    }
    if status >= 200 && status != 101 {
        if close {
            forward.extend_from_slice(b"connection: close\r\n");
        } else if context.minor == 0 {
            forward.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    forward.extend_from_slice(b"\r\n");
    Ok(Some(AnswerHead {
        len,
        status,
        forward,
        length: framing,
        dechunk,
        backend_keeps,
        close,
    }))
}

/// fiberlb's own answer: `status` with `why` as plain text.
pub fn own_answer(status: u16, reason: &str, why: &str, close: bool) -> Vec<u8> {
    let mut answer = Vec::with_capacity(128 + why.len());
    let _ = write!(
        answer,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{}\r\n{why}\n",
        why.len() + 1,
        if close { "connection: close\r\n" } else { "" },
    );
    answer
}

/// Where a chunked body stands, fed the bytes as they pass: it finds the
/// body's end and each chunk's data, and refuses what is not a chunked
/// body (RFC 9112 7.1), CR LF strictly.
#[derive(Debug, Default)]
pub struct Chunks {
    state: ChunkState,
    /// The current chunk's size, then what is left of its data.
    size: u64,
    /// Bytes of the current size line, or of the trailers.
    line: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// In the size's hex digits (none yet when `line` is 0).
    #[default]
    Size,
    /// After the size: extensions, up to CR.
    Extension,
    /// After the size line's CR.
    SizeLf,
    /// In the data.
    Data,
    /// After the data: CR.
    DataCr,
    /// After the data's CR.
    DataLf,
    /// At the start of a trailer line (or of the final CR LF).
    TrailerStart,
    /// In a trailer line.
    Trailer,
    /// After a trailer line's CR.
    TrailerLf,
    /// After the final CR.
    EndLf,
    /// Past the body.
    Done,
}

/// A chunked body that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body: {0}")]
pub struct ChunkError(&'static str);

impl Chunks {
    /// Whether the whole body has passed.
    pub fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Reads `input` up to the body's end; returns how much of it belongs
    /// to the body, and calls `data` with each run of chunk data in it.
    pub fn scan(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(std::ops::Range<usize>),
    ) -> Result<usize, ChunkError> {
        use ChunkState::*;
        let mut i = 0;
        while i < input.len() {
            let byte = input[i];
            match self.state {
                Size => match (byte as char).to_digit(16) {
                    Some(digit) => {
                        if self.line >= 16 {
                            return Err(ChunkError("chunk size too large"));
                        }
                        self.size = self.size * 16 + u64::from(digit);
                        self.line += 1;
                    }
                    None if self.line == 0 => return Err(ChunkError("no chunk size")),
                    None if byte == b'\r' => self.state = SizeLf,
                    None if matches!(byte, b';' | b' ' | b'\t') => self.state = Extension,
                    None => return Err(ChunkError("invalid chunk size")),
                },
                Extension => {
                    self.line += 1;
                    if self.line > MAX_CHUNK_LINE {
                        return Err(ChunkError("chunk extensions too long"));
                    }
                    match byte {
                        b'\r' => self.state = SizeLf,
                        b'\t' => {}
                        _ if byte < 0x20 || byte == 0x7f => {
                            return Err(ChunkError("control byte in a chunk extension"));
                        }
                        _ => {}
                    }
                }
                SizeLf => {
                    if byte != b'\n' {
                        return Err(ChunkError("size line not ended by CR LF"));
                    }
                    self.line = 0;
                    self.state = if self.size == 0 { TrailerStart } else { Data };
                }
                Data => {
                    let take =
                        (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                    data(i..i + take);
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                DataCr => {
                    if byte != b'\r' {
                        return Err(ChunkError("chunk data longer than its size"));
                    }
                    self.state = DataLf;
                }
                DataLf => {
                    if byte != b'\n' {
                        return Err(ChunkError("chunk data not ended by CR LF"));
                    }
                    self.state = Size;
                }
                TrailerStart => {
                    self.state = if byte == b'\r' { EndLf } else { Trailer };
                    self.count_trailer()?;
                    if byte == b'\n' {
                        return Err(ChunkError("bare LF in the trailers"));
                    }
                }
                Trailer => {
                    self.count_trailer()?;
                    match byte {
                        b'\r' => self.state = TrailerLf,
                        b'\n' => return Err(ChunkError("bare LF in the trailers")),
                        _ => {}
                    }
                }
                TrailerLf => {
                    if byte != b'\n' {
                        return Err(ChunkError("trailer line not ended by CR LF"));
                    }
                    self.state = TrailerStart;
                }
                EndLf => {
                    if byte != b'\n' {
                        return Err(ChunkError("body not ended by CR LF"));
                    }
                    self.state = Done;
                    return Ok(i + 1);
                }
                Done => return Ok(i),
            }
            i += 1;
        }
        Ok(i)
    }

    fn count_trailer(&mut self) -> Result<(), ChunkError> {
        self.line += 1;
        if self.line > MAX_TRAILERS {
            return Err(ChunkError("trailers too long"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peer() -> Peer {
        Peer::new("192.0.2.7:5000".parse().unwrap())
    }

    /// What routing was given: the host and the path.
    type Routed = (Option<String>, String);

    fn request(text: &str) -> Result<Option<RequestHead<Routed>>, HeadError> {
        let peer = peer();
        let context = ForwardContext {
            peer: &peer,
            scheme: "http",
            cookie: Some("SRV"),
        };
        parse_request(text.as_bytes(), &context, |host, path| {
            (host.map(str::to_owned), path.to_owned())
        })
    }

    fn forwarded(text: &str) -> String {
        String::from_utf8(request(text).unwrap().unwrap().forward).unwrap()
    }

    #[test]
    fn a_request_is_made_the_backends_with_this_hop_out_and_the_forwarding_headers_in() {
        let text = "GET http://www.example.com:8080/page?q=1 HTTP/1.1\r\nHost: other\r\n\
             Connection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n\
             X-Forwarded-For: 203.0.113.9\r\nCookie: a=1; SRV=abc\r\nAccept: */*\r\n\r\nrest";
        let head = request(text).unwrap().unwrap();
        assert_eq!(
            head.len,
            text.len() - "rest".len(),
            "the head ends at its blank line"
        );
        assert_eq!(
            head.route,
            (Some("www.example.com".to_owned()), "/page".to_owned())
        );
        assert_eq!(head.sticky.as_deref(), Some("abc"));
        assert!(head.keep_alive);
        assert_eq!(head.length, Length::None);
        assert_eq!(
            String::from_utf8(head.forward).unwrap(),
            "GET /page?q=1 HTTP/1.1\r\nhost: www.example.com:8080\r\nCookie: a=1; SRV=abc\r\n\
             Accept: */*\r\nx-forwarded-for: 203.0.113.9, 192.0.2.7\r\n\
             forwarded: for=192.0.2.7;proto=http;host=\"www.example.com:8080\"\r\n\
             x-forwarded-proto: http\r\n\r\n"
        );
    }

    #[test]
    fn the_body_length_is_written_again_and_zero_is_kept() {
        let text = forwarded("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
        assert!(text.contains("content-length: 7\r\n"), "{text}");
        let text = forwarded("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert!(text.contains("content-length: 0\r\n"), "{text}");
        let text = forwarded("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
        let head = request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.length, Length::Exactly(5));
    }

    #[test]
    fn what_two_hops_could_read_differently_is_refused() {
        let refused = |text: &str| request(text).err().map(|e| e.status().0);
        // Both lengths: the classic CL.TE / TE.CL smuggling shapes.
        assert_eq!(
            refused(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            Some(400)
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Some(501)
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Some(501)
        );
        // A folded header line (obs-fold), a space before the colon.
        assert_eq!(
            refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"),
            Some(400)
        );
        assert_eq!(refused("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), Some(400));
        // HTTP/1.1 needs one Host, not none or two.
        assert_eq!(refused("GET / HTTP/1.1\r\n\r\n"), Some(400));
        assert_eq!(
            refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            refused("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(405)
        );
        assert_eq!(refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), Some(400));
        assert_eq!(
            refused("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(400)
        );
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        assert_eq!(
            refused(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            Some(431)
        );
    }

    #[test]
    fn a_head_is_read_only_once_whole_and_not_past_the_limit() {
        assert!(request("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        let endless = format!("GET / HTTP/1.1\r\nX-A: {}", "x".repeat(MAX_HEAD_BYTES));
        assert_eq!(request(&endless).err(), Some(HeadError::TooLarge));
    }

    #[test]
    fn http_1_0_keeps_the_connection_only_when_asked_and_upgrades_need_1_1() {
        let head = request("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive);
        let head = request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(head.keep_alive);
        let head = request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!head.keep_alive);
        let head = request(
            "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(head.upgrade);
        let text = String::from_utf8(head.forward).unwrap();
        assert!(
            text.ends_with("upgrade: websocket\r\nconnection: upgrade\r\n\r\n"),
            "{text}"
        );
        // Upgrade without the Connection token is only a header, and not
        // this hop's to pass on.
        let head = request("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!head.upgrade);
        assert!(
            !String::from_utf8(head.forward)
                .unwrap()
                .contains("websocket")
        );
    }

    fn answer(text: &str, head_method: bool, minor: u8) -> AnswerHead {
        let context = AnswerContext {
            head_method,
            minor,
            close: false,
            set_cookie: Some("SRV=1; Path=/"),
        };
        parse_answer(text.as_bytes(), context).unwrap().unwrap()
    }

    #[test]
    fn an_answer_ends_where_rfc_9112_says() {
        let plain = answer(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: x-a\r\nX-A: 1\r\n\r\nabc",
            false,
            1,
        );
        assert_eq!(
            (plain.length, plain.backend_keeps, plain.close),
            (Length::Exactly(3), true, false)
        );
        assert_eq!(
            String::from_utf8(plain.forward).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nset-cookie: SRV=1; Path=/\r\n\r\n"
        );
        // A HEAD answer's length describes the body it leaves out.
        let head = answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true, 1);
        assert_eq!(head.length, Length::None);
        assert!(
            String::from_utf8(head.forward)
                .unwrap()
                .contains("Content-Length: 3\r\n")
        );
        for status in ["204 No Content", "304 Not Modified"] {
            let empty = answer(&format!("HTTP/1.1 {status}\r\n\r\n"), false, 1);
            assert_eq!(empty.length, Length::None, "{status}");
        }
        let chunked = answer(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
            1,
        );
        assert_eq!(
            (chunked.length, chunked.dechunk, chunked.close),
            (Length::Chunked, false, false)
        );
        // An HTTP/1.0 client cannot read chunks: it gets the data, and the
        // close ends it.
        let old = answer(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
            0,
        );
        assert_eq!((old.dechunk, old.close), (true, true));
        assert!(
            !String::from_utf8(old.forward)
                .unwrap()
                .to_lowercase()
                .contains("transfer-encoding")
        );
        let unframed = answer("HTTP/1.1 200 OK\r\n\r\n", false, 1);
        assert_eq!(
            (unframed.length, unframed.backend_keeps, unframed.close),
            (Length::UntilClose, false, true)
        );
        // Both lengths: the coding wins and the connection is not reused.
        let both = answer(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            false,
            1,
        );
        assert_eq!((both.length, both.backend_keeps), (Length::Chunked, false));
        assert!(
            !String::from_utf8(both.forward)
                .unwrap()
                .contains("ength: 9")
        );
        let closing = answer(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            false,
            1,
        );
        assert!(!closing.backend_keeps && !closing.close);
        let context = AnswerContext {
            head_method: false,
            minor: 1,
            close: false,
            set_cookie: None,
        };
        assert!(
            parse_answer(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                context
            )
            .is_err()
        );
    }

    /// `data` as a chunked body cut into chunks of `sizes`, with an
    /// extension and a trailer.
    fn encode(data: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        let mut turn = 0;
        while !rest.is_empty() {
            let n = sizes[turn % sizes.len()].clamp(1, rest.len());
            turn += 1;
            out.extend_from_slice(format!("{n:X};name=\"v\"\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\nX-Checksum: 1\r\n\r\n");
        out
    }

    proptest! {
        #[test]
        fn a_chunked_body_is_found_whole_however_it_arrives(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            sizes in proptest::collection::vec(1usize..300, 1..5),
            cuts in proptest::collection::vec(1usize..64, 1..8),
        ) {
            let mut body = encode(&data, &sizes);
            let end = body.len();
            body.extend_from_slice(b"GET /next");
            let (mut chunks, mut got, mut at, mut turn) = (Chunks::default(), Vec::new(), 0, 0);
            while !chunks.done() {
                let piece = &body[at..(at + cuts[turn % cuts.len()]).min(body.len())];
                turn += 1;
                let used = chunks.scan(piece, |run| got.extend_from_slice(&piece[run])).unwrap();
                at += used;
            }
            prop_assert_eq!(at, end);
            prop_assert_eq!(got, data);
        }
    }

    #[test]
    fn what_is_not_a_chunked_body_is_refused() {
        let scan = |text: &str| Chunks::default().scan(text.as_bytes(), |_| {}).err();
        assert!(scan("x\r\n").is_some(), "no size");
        assert!(scan("5\nhello\r\n").is_some(), "bare LF after the size");
        assert!(
            scan("3\r\nhello\r\n").is_some(),
            "data longer than its size"
        );
        assert!(
            scan("11111111111111111\r\n").is_some(),
            "a size over 64 bits"
        );
        assert!(
            scan("5;a\x01\r\n").is_some(),
            "a control byte in an extension"
        );
        assert!(
            scan("0\r\nX-A: b\n\r\n").is_some(),
            "bare LF in the trailers"
        );
        assert_eq!(scan("-1\r\n"), Some(ChunkError("no chunk size")));
    }

    #[test]
    fn own_answers_say_their_length_and_whether_the_connection_ends() {
        let answer =
            String::from_utf8(own_answer(503, "Service Unavailable", "none", true)).unwrap();
        assert_eq!(
            answer,
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: 5\r\nconnection: close\r\n\r\nnone\n"
        );
    }
}

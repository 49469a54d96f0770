//! The dashboard nightlight serves at `/`: one page, no outside scripts
//! (it must work where nightlight runs, offline): type a query or pick a
//! metric, choose a range, see a line chart with its legend, the targets
//! with their health and last error, and the alerts. It uses the same
//! HTTP API as any client.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, header};

const PAGE: &str = include_str!("dashboard/index.html");

/// The page for `request`, if it is one of the dashboard's.
pub fn page<B>(request: &Request<B>) -> Option<Response<Full<Bytes>>> {
    if request.method() != Method::GET || !matches!(request.uri().path(), "/" | "/graph") {
        return None;
    }
    let mut r = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Some(r)
}

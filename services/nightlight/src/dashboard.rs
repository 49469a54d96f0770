//! The dashboard nightlight serves at `/`: not written yet.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

/// The page for `request`, if it is one of the dashboard's.
pub fn page<B>(_request: &Request<B>) -> Option<Response<Full<Bytes>>> {
    None
}

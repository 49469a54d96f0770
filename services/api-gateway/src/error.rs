//! The one shape every refusal takes:
//!
//! ```json
//! {"error": {"status": 403, "code": "quota_exceeded", "message": "quota exceeded: ..."}}
//! ```
//!
//! `code` is for programs (a fixed set, listed in the OpenAPI document),
//! `message` for people (it names what was wrong), `status` repeats the
//! HTTP status so a logged body says it all.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode, header};
use tonic::Code;

/// A refusal, or a failure, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for programs.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong (a name, a spec, a body).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401: no token, or one that is not good.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403: a good token that does not reach this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such resource, or no such route.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405: the route exists, not with this method.
    pub fn method_not_allowed(allowed: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this path takes {allowed}"),
        )
    }

    /// 413: a body over the limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a resource's spec is at most {limit} bytes"),
        )
    }

    /// 415: a body that is not said to be JSON.
    pub fn not_json(sent: Option<&str>) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            match sent {
                Some(sent) => format!("the body must be `application/json`, not `{sent}`"),
                None => "send the spec as JSON with `content-type: application/json`".into(),
            },
        )
    }

    /// 503: an upstream is away; asking again later may work.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 502: an upstream failed or refused the gateway itself (its
    /// tokens): the operator's to fix, never the caller's.
    pub fn bad_gateway(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, "upstream_failed", message)
    }

    /// What `upstream` (`the resource manager`, `creditservice`)
    /// answering `status` means for the caller.
    pub fn from_upstream(upstream: &str, status: &tonic::Status) -> ApiError {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange => ApiError::invalid(message),
            Code::NotFound => ApiError::not_found(message),
            Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            Code::ResourceExhausted => {
                ApiError::new(StatusCode::FORBIDDEN, "quota_exceeded", message)
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                ApiError::unavailable(format!("{upstream} is not answering: {message}"))
            }
            Code::Unauthenticated | Code::PermissionDenied => {
                tracing::error!(%upstream, %message, "an upstream refused the gateway's token");
                ApiError::bad_gateway(format!(
                    "{upstream} refused the gateway's token: the operator must give the gateway {upstream}'s admin token"
                ))
            }
            _ => {
                tracing::error!(%upstream, code = ?status.code(), %message, "an upstream failed");
                ApiError::bad_gateway(format!("{upstream} failed; see the gateway's log"))
            }
        }
    }

    /// The refusal creditservice gives when credits run out: 403 like a
    /// quota, with its own code.
    pub fn insufficient_credits(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "insufficient_credits", message)
    }

    /// The error as its JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "status": self.status.as_u16(),
                "code": self.code,
                "message": self.message,
            }
        })
    }

    /// The error as the response that carries it.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut response = json(self.status, &self.body());
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"photoncloud\""),
            );
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// `value` as a JSON response with `status`.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(value).expect("JSON values serialise");
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_codes_become_the_documented_codes() {
        let cases = [
            (Code::InvalidArgument, 400, "invalid_request"),
            (Code::NotFound, 404, "not_found"),
            (Code::FailedPrecondition, 409, "conflict"),
            (Code::Aborted, 409, "conflict"),
            (Code::ResourceExhausted, 403, "quota_exceeded"),
            (Code::Unavailable, 503, "unavailable"),
            (Code::Unauthenticated, 502, "upstream_failed"),
            (Code::Internal, 502, "upstream_failed"),
        ];
        for (code, status, name) in cases {
            let e = ApiError::from_upstream("creditservice", &tonic::Status::new(code, "why"));
            assert_eq!((e.status.as_u16(), e.code), (status, name), "{code:?}");
        }
    }

    #[test]
    fn every_error_has_one_shape() {
        let e = ApiError::invalid("bucket `x y`: not a name");
        assert_eq!(
            e.body(),
            serde_json::json!({"error": {"status": 400, "code": "invalid_request", "message": "bucket `x y`: not a name"}})
        );
        let response = ApiError::unauthenticated("send a token").response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}

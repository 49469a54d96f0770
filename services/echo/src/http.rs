//! The client half of the echo protocol, shared by the client and the probe.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{self, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use photon_runtime::{ExposeSecret, SecretString};

/// Replies larger than this are an error, not an allocation.
pub const MAX_REPLY: usize = 64 * 1024;

/// Characters kept as-is in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why an echo request failed.
#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    /// Connection or HTTP failure.
    #[error("request to {url} failed")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        source: hyper_util::client::legacy::Error,
    },
    /// The server wants a bearer token and did not accept ours (or we sent none).
    #[error("{url} refused the request: the bearer token is missing or wrong")]
    Unauthorized {
        /// The URL.
        url: String,
    },
    /// The server refused a caller running another configuration of the
    /// deployment (`--config-skew refuse`).
    #[error("{url} refused the call: {reason}")]
    Skew {
        /// The URL.
        url: String,
        /// The server's explanation.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: hyper::StatusCode,
    },
    /// The body could not be read, or was too large.
    #[error("reading the reply from {url} failed: {reason}")]
    Body {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No reply in time.
    #[error("{url} did not answer within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        timeout: Duration,
    },
}

/// A reusable HTTP/1 client for echo requests.
#[derive(Debug, Clone)]
pub struct EchoHttp {
    client: Client<HttpConnector, Empty<Bytes>>,
    /// This node's configuration, sent on every request (`photon-config`).
    presented: Option<std::sync::Arc<photon_runtime::skew::ConfigCheck>>,
}

impl EchoHttp {
    /// A client with keep-alive connections.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        EchoHttp {
            client: Client::builder(TokioExecutor::new()).build(connector),
            presented: None,
        }
    }

    /// The same client, presenting `config` (this node's configuration)
    /// on every request.
    pub fn presenting(
        mut self,
        config: &std::sync::Arc<photon_runtime::skew::ConfigCheck>,
    ) -> Self {
        self.presented = Some(config.clone());
        self
    }

    /// `GET http://addr/<prefix>/<message>`: the reply body as text.
    pub async fn echo(
        &self,
        addr: SocketAddr,
        prefix: &str,
        message: &str,
        token: Option<&SecretString>,
        timeout: Duration,
    ) -> Result<String, EchoError> {
        let prefix = prefix.trim_matches('/');
        let encoded = utf8_percent_encode(message, SEGMENT);
        let url = if prefix.is_empty() {
            format!("http://{addr}/{encoded}")
        } else {
            format!("http://{addr}/{prefix}/{encoded}")
        };
        let uri: hyper::Uri = match url.parse() {
            Ok(uri) => uri,
            Err(e) => {
                return Err(EchoError::Body {
                    url,
                    reason: format!("not a valid URI: {e}"),
                });
            }
        };
        let request = async {
            let mut request = hyper::Request::get(uri);
            if let Some(value) = self.presented.as_ref().and_then(|c| c.presented()) {
                request = request.header(photon_runtime::skew::HEADER, value);
            }
            if let Some(token) = token {
                let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| EchoError::Body {
                        url: url.clone(),
                        reason: "the token cannot be sent in an HTTP header".into(),
                    })?;
                // Keeps the value out of hyper's debug logs.
                value.set_sensitive(true);
                request = request.header(header::AUTHORIZATION, value);
            }
            let request = request.body(Empty::new()).map_err(|e| EchoError::Body {
                url: url.clone(),
                reason: e.to_string(),
            })?;
            let response =
                self.client
                    .request(request)
                    .await
                    .map_err(|source| EchoError::Request {
                        url: url.clone(),
                        source,
                    })?;
            if response.status() == hyper::StatusCode::UNAUTHORIZED {
                return Err(EchoError::Unauthorized { url: url.clone() });
            }
            if response.status() == photon_runtime::skew::REFUSED_STATUS {
                let body = Limited::new(response.into_body(), MAX_REPLY)
                    .collect()
                    .await;
                return Err(EchoError::Skew {
                    url: url.clone(),
                    reason: body
                        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_owned())
                        .unwrap_or_default(),
                });
            }
            if !response.status().is_success() {
                return Err(EchoError::Status {
                    url: url.clone(),
                    status: response.status(),
                });
            }
            let body = Limited::new(response.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|e| EchoError::Body {
                    url: url.clone(),
                    reason: e.to_string(),
                })?
                .to_bytes();
            String::from_utf8(body.to_vec()).map_err(|_| EchoError::Body {
                url: url.clone(),
                reason: "the reply is not UTF-8".into(),
            })
        };
        match tokio::time::timeout(timeout, request).await {
            Ok(result) => result,
            Err(_) => Err(EchoError::Timeout { url, timeout }),
        }
    }
}

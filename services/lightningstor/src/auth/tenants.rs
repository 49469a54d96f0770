//! Access keys checked by photonauth (integrated, `Auth::PhotonAuth`).
//!
//! lightningstor asks photonauth for a key's owner, secret and policies
//! (`ResolveKey`, over a channel opened with the cluster's service secret)
//! and checks the request itself, rather than sending each request to
//! photonauth to judge, because:
//! - SigV4 is an HMAC over the request: checking it needs the secret, and
//!   an aws-chunked upload is checked chunk by chunk while its body
//!   streams here, which photonauth cannot see;
//! - a PUT must not wait on a second round trip: answers are kept for
//!   [`FRESH_FOR`], so a busy key costs one call every few seconds.
//!
//! The price is that revoking a key, or changing its policies, reaches a
//! running lightningstor within [`FRESH_FOR`], not at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use photonauth::api::proto::ResolveKeyRequest;
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonauth::policy::{Decision, Policy, decide};
use s3s::auth::SecretKey;
use s3s::{S3Result, s3_error};
use tonic::transport::Channel;

/// How long photonauth's answer about a key is used before asking again:
/// the longest a revoked key keeps working here.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// Keys remembered at most; past it, the stale ones are forgotten (so a
/// flood of made-up key ids cannot grow memory without bound).
const MAX_REMEMBERED: usize = 10_000;

/// Whose a key is and what it may do, as photonauth said.
#[derive(Debug)]
pub struct Principal {
    /// Its tenant.
    pub tenant: Arc<str>,
    /// Its user.
    pub user: String,
    secret: SecretKey,
    policies: Vec<(String, Policy)>,
}

impl Principal {
    /// The key's secret, for checking signatures.
    pub fn secret(&self) -> SecretKey {
        self.secret.clone()
    }

    /// What its policies say of `action` on `resource`.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        decide(
            self.policies.iter().map(|(name, p)| (name.as_str(), p)),
            action,
            resource,
        )
    }

    /// `AccessDenied`, saying which action on what and why, unless its
    /// policies allow `action` on `resource`.
    pub fn allow(&self, action: &str, resource: &str) -> S3Result<()> {
        let why = match self.decide(action, resource) {
            Decision::Allowed => return Ok(()),
            Decision::Denied(policy) => format!("denied by policy {policy}"),
            Decision::NotAllowed => "no policy allows it".to_owned(),
        };
        Err(s3_error!(
            AccessDenied,
            "{action} on {resource} is not allowed for user {} of {}: {why}",
            self.user,
            self.tenant
        ))
    }
}

/// What photonauth said of each key asked about, and when.
type Remembered = HashMap<String, (Instant, Option<Arc<Principal>>)>;

/// photonauth, as lightningstor asks it about keys.
#[derive(Debug)]
pub struct Tenants {
    client: PhotonAuthClient<Channel>,
    endpoint: String,
    bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    /// This node's configuration, presented on every call (`photon-config`).
    presented: std::sync::Arc<photon_runtime::skew::ConfigCheck>,
    remembered: Mutex<Remembered>,
}

/// photonauth could not be set up as the checker.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    /// The endpoint is not a URL.
    #[error("photonauth endpoint `{0}`: {1}")]
    Endpoint(String, String),
    /// The service secret is not a header value.
    #[error("the service secret is not text a request header can carry")]
    Secret,
}

impl Tenants {
    /// photonauth at `endpoint` (`http://host:port`), asked with the
    /// cluster's `service_secret`, presenting `presented` (this node's
    /// configuration) on every call. Connects when first asked, so
    /// lightningstor may start before photonauth does.
    pub fn new(
        endpoint: &str,
        service_secret: &str,
        presented: std::sync::Arc<photon_runtime::skew::ConfigCheck>,
    ) -> Result<Tenants, TenantsError> {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| TenantsError::Endpoint(endpoint.to_owned(), e.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        let bearer = format!("Bearer {service_secret}")
            .parse()
            .map_err(|_| TenantsError::Secret)?;
        Ok(Tenants {
            client: PhotonAuthClient::new(channel),
            endpoint: endpoint.to_owned(),
            bearer,
            presented,
            remembered: Mutex::new(HashMap::new()),
        })
    }

    /// Where photonauth is.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whose key `id` is: `None` when photonauth knows no such key.
    pub async fn principal(&self, id: &str) -> S3Result<Option<Arc<Principal>>> {
        if let Some((at, known)) = self.lock().get(id)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(known.clone());
        }
        let known = self.ask(id).await?;
        let mut remembered = self.lock();
        if remembered.len() >= MAX_REMEMBERED {
            remembered.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(id.to_owned(), (Instant::now(), known.clone()));
        Ok(known)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn ask(&self, id: &str) -> S3Result<Option<Arc<Principal>>> {
        let mut request = tonic::Request::new(ResolveKeyRequest {
            access_key_id: id.to_owned(),
        });
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        if let Some(config) = self
            .presented
            .presented()
            .and_then(|v| tonic::metadata::MetadataValue::try_from(v.as_bytes()).ok())
        {
            request
                .metadata_mut()
                .insert(photon_runtime::skew::HEADER, config);
        }
        let answer = match self.client.clone().resolve_key(request).await {
            Ok(answer) => answer.into_inner(),
            Err(status) => {
                return Err(match status.code() {
                    tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Cancelled => {
                        tracing::warn!(photonauth = %self.endpoint, error = %status.message(), "photonauth did not answer");
                        s3_error!(
                            ServiceUnavailable,
                            "The service that checks access keys is unavailable; try again."
                        )
                    }
                    _ => {
                        tracing::error!(photonauth = %self.endpoint, code = ?status.code(), error = %status.message(), "photonauth refused to resolve a key");
                        s3_error!(
                            InternalError,
                            "Access keys cannot be checked; see lightningstor's log."
                        )
                    }
                });
            }
        };
        if !answer.found {
            return Ok(None);
        }
        let mut policies = Vec::with_capacity(answer.policies.len());
        for named in answer.policies {
            match Policy::parse(&named.document) {
                Ok(policy) => policies.push((named.name, policy)),
                Err(e) => {
                    tracing::error!(policy = %named.name, tenant = %answer.tenant, error = %e, "photonauth sent a policy that does not parse");
                    return Err(s3_error!(
                        InternalError,
                        "Access keys cannot be checked; see lightningstor's log."
                    ));
                }
            }
        }
        Ok(Some(Arc::new(Principal {
            tenant: answer.tenant.into(),
            user: answer.user,
            secret: SecretKey::from(answer.secret_access_key),
            policies,
        })))
    }
}

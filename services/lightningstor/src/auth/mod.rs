//! Who may use the S3 API.
//!
//! The operator's key, from the deployment's `Secret` (never stored),
//! reaches everything. Beside it, checked by lightningstor itself
//! (standalone, or integrated with `auth: Auth::Local`):
//! - permanent keys made through the admin API;
//! - temporary credentials from STS `AssumeRole` ([`sts`]), which also need
//!   their session token on every request and stop working at expiry.
//!
//! Both live in the store, so they survive a restart. Integrated with
//! `auth: Auth::PhotonAuth`, the other keys are photonauth's instead
//! ([`tenants`]): each belongs to a tenant, reaches only its tenant's
//! buckets, and may do only what its policies allow.

pub mod mismatch;
pub mod sts;
pub mod tenants;

use std::sync::Arc;

use hyper::{HeaderMap, Uri};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::dto::CopySource;
use s3s::path::S3Path;
use s3s::{S3Error, S3Result, s3_error};
use subtle::ConstantTimeEq as _;

use crate::store::{AccessKeyRecord, BucketRecord, BucketRef, SessionRecord, Store, StoreError};
use tenants::Tenants;

/// What can go wrong managing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Keys are photonauth's: lightningstor makes none.
    #[error(
        "access keys are photonauth's here (integrated with photonauth): make them with `photonctl auth key create`"
    )]
    CheckedByPhotonAuth,
    /// The operator's key is configured, not managed.
    #[error(
        "`{0}` is the operator's key from the deployment's configuration; change it there, not through the admin API"
    )]
    OperatorKey(String),
    /// The system's random source failed.
    #[error(transparent)]
    Random(#[from] photonauth::keys::NoRandomness),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// New credentials, as handed to whoever asked for them (the only time the
/// secret leaves the server).
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The access key id.
    pub id: String,
    /// The secret key.
    pub secret: String,
    /// The stored record.
    pub record: AccessKeyRecord,
}

/// The access keys the S3 API accepts.
#[derive(Debug, Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    operator_id: String,
    operator_secret: SecretKey,
    store: Store,
    /// photonauth, when it owns the keys.
    tenants: Option<Tenants>,
}

/// Who made a request, as the access check put it in the request's
/// extensions for the operations whose answer depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator's key, or any key lightningstor checks itself: every
    /// bucket.
    Platform,
    /// A photonauth key of this tenant: the tenant's buckets only.
    Tenant(Arc<str>),
}

impl Caller {
    /// The caller of a request, from its extensions.
    pub fn of(extensions: &hyper::http::Extensions) -> Caller {
        extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Platform)
    }

    /// The tenant, if a tenant's key made the request.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Caller::Platform => None,
            Caller::Tenant(tenant) => Some(tenant),
        }
    }

    /// Bucket `name` as this caller reaches it: a tenant only while it
    /// owns it, the platform whoever does.
    pub fn bucket<'a>(&'a self, name: &'a str) -> BucketRef<'a> {
        BucketRef::of(name, self.tenant())
    }

    /// Whether the caller reaches a bucket: a tenant its own, the platform
    /// every one.
    pub fn owns(&self, bucket: &BucketRecord) -> bool {
        match self {
            Caller::Platform => true,
            Caller::Tenant(tenant) => bucket.owner.as_deref() == Some(&**tenant),
        }
    }
}

/// The one answer for a bucket the caller does not own, whoever owns it.
fn not_yours() -> S3Error {
    StoreError::NotYours.into()
}

/// The request header and presigned-URL parameter that carry a session
/// token.
const TOKEN_HEADER: &str = "x-amz-security-token";
const TOKEN_QUERY: &str = "X-Amz-Security-Token";

impl KeyRing {
    /// The operator's key, and whatever keys `store` holds.
    pub fn new(operator_id: &str, operator_secret: &str, store: Store) -> KeyRing {
        KeyRing::checked_by(operator_id, operator_secret, store, None)
    }

    /// The operator's key, and photonauth's keys (through `tenants`).
    pub fn with_photonauth(
        operator_id: &str,
        operator_secret: &str,
        store: Store,
        tenants: Tenants,
    ) -> KeyRing {
        KeyRing::checked_by(operator_id, operator_secret, store, Some(tenants))
    }

    fn checked_by(
        operator_id: &str,
        operator_secret: &str,
        store: Store,
        tenants: Option<Tenants>,
    ) -> KeyRing {
        KeyRing {
            inner: Arc::new(Inner {
                operator_id: operator_id.to_owned(),
                operator_secret: SecretKey::from(operator_secret),
                store,
                tenants,
            }),
        }
    }

    /// photonauth, when it owns the keys.
    pub fn photonauth(&self) -> Option<&Tenants> {
        self.inner.tenants.as_ref()
    }

    fn refuse_when_photonauths(&self) -> Result<(), KeyError> {
        match self.inner.tenants {
            Some(_) => Err(KeyError::CheckedByPhotonAuth),
            None => Ok(()),
        }
    }

    /// The operator's key id.
    pub fn operator_id(&self) -> &str {
        &self.inner.operator_id
    }

    /// Whether `id` and `secret` are the operator's key (the secret compared
    /// in constant time).
    pub fn is_operator(&self, id: &str, secret: &str) -> bool {
        id == self.inner.operator_id
            && bool::from(
                secret
                    .as_bytes()
                    .ct_eq(self.inner.operator_secret.expose().as_bytes()),
            )
    }

    /// Makes a permanent key.
    pub async fn create_key(&self, description: &str) -> Result<IssuedKey, KeyError> {
        self.refuse_when_photonauths()?;
        let record = AccessKeyRecord {
            secret: new_secret()?,
            created_ms: crate::s3::now_ms(),
            description: description.to_owned(),
            session: None,
        };
        self.insert("LK", record).await
    }

    /// Makes temporary credentials for `caller`, valid for `seconds`. A
    /// session asking for another gets one that ends no later than its own
    /// and belongs to the same permanent key, so revoking that key ends
    /// them all.
    pub async fn issue_session(
        &self,
        caller: &str,
        role_arn: &str,
        session_name: &str,
        seconds: u32,
    ) -> Result<IssuedKey, KeyError> {
        self.refuse_when_photonauths()?;
        let now = crate::s3::now_ms();
        // Sessions are short-lived: clear out the dead ones as new ones come.
        self.inner.store.purge_expired_keys(now).await?;
        let mut expires_ms = now + i64::from(seconds) * 1000;
        let mut parent = caller.to_owned();
        if caller != self.inner.operator_id
            && let Some(caller_record) = self.inner.store.access_key(caller).await?
            && let Some(session) = caller_record.session
        {
            expires_ms = expires_ms.min(session.expires_ms);
            parent = session.parent;
        }
        let record = AccessKeyRecord {
            secret: new_secret()?,
            created_ms: now,
            description: session_name.to_owned(),
            session: Some(SessionRecord {
                token: photonauth::keys::new_token::<48>()?,
                expires_ms,
                parent,
                role_arn: role_arn.to_owned(),
            }),
        };
        self.insert("LT", record).await
    }

    async fn insert(&self, prefix: &str, record: AccessKeyRecord) -> Result<IssuedKey, KeyError> {
        loop {
            // 20 characters like AWS's ids: a kind prefix and 72 random bits.
            let id = photonauth::keys::new_id(prefix)?;
            if self.inner.store.insert_access_key(&id, &record).await? {
                let secret = record.secret.clone();
                return Ok(IssuedKey { id, secret, record });
            }
        }
    }

    /// Removes a key and the sessions it issued; whether it existed.
    pub async fn revoke(&self, id: &str) -> Result<bool, KeyError> {
        if id == self.inner.operator_id {
            return Err(KeyError::OperatorKey(id.to_owned()));
        }
        Ok(self.inner.store.delete_access_key(id).await?)
    }

    /// Every stored key (not the operator's), expired sessions left out.
    pub async fn list(&self) -> Result<Vec<(String, AccessKeyRecord)>, KeyError> {
        let now = crate::s3::now_ms();
        let mut keys = self.inner.store.access_keys().await?;
        keys.retain(|(_, record)| !record.expired(now));
        Ok(keys)
    }

    /// The stored record for `id`, refusing expired sessions.
    async fn stored(&self, id: &str) -> S3Result<AccessKeyRecord> {
        let record = self
            .inner
            .store
            .access_key(id)
            .await?
            .ok_or_else(unknown_key)?;
        if record.expired(crate::s3::now_ms()) {
            return Err(s3_error!(ExpiredToken, "The provided token has expired."));
        }
        Ok(record)
    }

    /// Checks what signature checking cannot: that a request made with
    /// temporary credentials carries their session token (signed, as a
    /// header or a presigned-URL parameter) and that they have not expired.
    /// Unsigned requests are refused.
    pub async fn check_request(
        &self,
        credentials: Option<&Credentials>,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> S3Result<()> {
        let Some(credentials) = credentials else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        if credentials.access_key == self.inner.operator_id {
            return Ok(());
        }
        let record = self.stored(&credentials.access_key).await?;
        let Some(session) = record.session else {
            return Ok(());
        };
        let sent = headers
            .get(TOKEN_HEADER)
            .map(|v| v.as_bytes().to_vec())
            .or_else(|| query_value(uri, TOKEN_QUERY).map(String::into_bytes));
        match sent {
            Some(token) if bool::from(token.ct_eq(session.token.as_bytes())) => Ok(()),
            Some(_) => Err(s3_error!(
                InvalidToken,
                "The provided token is malformed or otherwise invalid."
            )),
            None => Err(s3_error!(
                InvalidToken,
                "These are temporary credentials: send their session token (x-amz-security-token)."
            )),
        }
    }
}

fn unknown_key() -> S3Error {
    s3_error!(
        InvalidAccessKeyId,
        "The AWS Access Key Id you provided does not exist in our records."
    )
}

impl KeyRing {
    /// Checks a request made with a photonauth key: its policies allow the
    /// operation on its target (and, for a copy, reading the source), and
    /// every bucket it touches is its tenant's. Records the tenant in the
    /// request for the operations that depend on it.
    async fn check_tenant(&self, tenants: &Tenants, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        if credentials.access_key == self.inner.operator_id {
            return Ok(());
        }
        let id = credentials.access_key.clone();
        let principal = tenants.principal(&id).await?.ok_or_else(unknown_key)?;
        let op = cx.s3_op().name();
        let (bucket, resource) = match cx.s3_path() {
            S3Path::Root => (None, "*".to_owned()),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), bucket.to_string()),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), format!("{bucket}/{key}")),
        };
        // Each (action, resource, bucket) the request touches. A batch
        // delete is judged key by key (`s3:DeleteObject`, as IAM does) where
        // its keys are read, in the operation; here only its bucket.
        let action = (op != "DeleteObjects").then(|| format!("s3:{op}"));
        let mut touched = vec![(action, resource, bucket)];
        if matches!(op, "CopyObject" | "UploadPartCopy")
            && let Some(source) = cx.headers().get("x-amz-copy-source")
        {
            let source = source
                .to_str()
                .ok()
                .and_then(|text| CopySource::parse(text).ok());
            let Some(CopySource::Bucket { bucket, key, .. }) = source else {
                return Err(s3_error!(
                    InvalidArgument,
                    "x-amz-copy-source is not bucket/key"
                ));
            };
            touched.push((
                Some("s3:GetObject".to_owned()),
                format!("{bucket}/{key}"),
                Some(bucket.to_string()),
            ));
        }
        let caller = Caller::Tenant(principal.tenant.clone());
        for (action, resource, bucket) in touched {
            if let Some(action) = action {
                principal.allow(&action, &resource).inspect_err(|_| {
                    tracing::debug!(key = %id, tenant = %principal.tenant, %action, %resource, "S3 request refused by policy");
                })?;
            }
            // A bucket yet to be made is nobody's; one that is must be the
            // caller's (the operation itself answers for a missing one).
            if let Some(bucket) = bucket
                && op != "CreateBucket"
                && let Some(record) = self.inner.store.bucket(&bucket).await?
                && !caller.owns(&record)
            {
                tracing::debug!(key = %id, tenant = %principal.tenant, %bucket, "S3 request for another tenant's bucket refused");
                return Err(not_yours());
            }
        }
        cx.extensions_mut().insert(caller);
        cx.extensions_mut().insert(principal);
        Ok(())
    }
}

/// A query parameter, percent-decoded.
fn query_value(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// 40 characters, 240 random bits, like an AWS secret key: photonauth's
/// key format, so a key moves between them unchanged.
fn new_secret() -> Result<String, KeyError> {
    Ok(photonauth::keys::new_secret()?)
}

impl From<KeyError> for S3Error {
    fn from(error: KeyError) -> S3Error {
        crate::s3::internal(&error)
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyRing {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.inner.operator_id {
            return Ok(self.inner.operator_secret.clone());
        }
        if let Some(tenants) = &self.inner.tenants {
            return match tenants.principal(access_key).await? {
                Some(principal) => Ok(principal.secret()),
                None => Err(unknown_key()),
            };
        }
        Ok(SecretKey::from(self.stored(access_key).await?.secret))
    }
}

#[async_trait::async_trait]
impl S3Access for KeyRing {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        match &self.inner.tenants {
            Some(tenants) => self.check_tenant(tenants, cx).await,
            None => {
                self.check_request(cx.credentials(), cx.headers(), cx.uri())
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ring() -> (tempfile::TempDir, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta"), &dir.path().join("data"))
            .await
            .unwrap();
        (dir, KeyRing::new("OPERATOR", "operator-secret", store))
    }

    fn creds(id: &str) -> Credentials {
        Credentials {
            access_key: id.to_owned(),
            secret_key: SecretKey::from("unused"),
        }
    }

    fn code(result: S3Result<impl std::fmt::Debug>) -> String {
        result.unwrap_err().code().as_str().to_owned()
    }

    #[tokio::test]
    async fn keys_sessions_expiry_and_revocation() {
        let (_dir, ring) = ring().await;
        let uri: Uri = "/".parse().unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            code(ring.check_request(None, &none, &uri).await),
            "AccessDenied"
        );
        assert_eq!(
            ring.get_secret_key("OPERATOR").await.unwrap().expose(),
            "operator-secret"
        );
        assert_eq!(
            code(ring.get_secret_key("NOBODY").await),
            "InvalidAccessKeyId"
        );

        let key = ring.create_key("backups").await.unwrap();
        assert!(key.id.starts_with("LK") && key.id.len() == 20, "{}", key.id);
        assert_eq!(key.secret.len(), 40);
        assert_eq!(
            ring.get_secret_key(&key.id).await.unwrap().expose(),
            key.secret
        );
        ring.check_request(Some(&creds(&key.id)), &none, &uri)
            .await
            .unwrap();

        let session = ring
            .issue_session(&key.id, "role", "s1", 900)
            .await
            .unwrap();
        let token = session.record.session.as_ref().unwrap().token.clone();
        assert_eq!(
            code(
                ring.check_request(Some(&creds(&session.id)), &none, &uri)
                    .await
            ),
            "InvalidToken"
        );
        let mut with_token = HeaderMap::new();
        with_token.insert(TOKEN_HEADER, token.parse().unwrap());
        ring.check_request(Some(&creds(&session.id)), &with_token, &uri)
            .await
            .unwrap();
        let presigned: Uri = format!(
            "/b/k?X-Amz-Security-Token={}",
            percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC)
        )
        .parse()
        .unwrap();
        ring.check_request(Some(&creds(&session.id)), &none, &presigned)
            .await
            .unwrap();

        // A session's session belongs to the permanent key.
        let chained = ring
            .issue_session(&session.id, "role", "s2", 43_200)
            .await
            .unwrap();
        let chained_session = chained.record.session.unwrap();
        assert_eq!(chained_session.parent, key.id);
        assert!(chained_session.expires_ms <= session.record.session.unwrap().expires_ms);

        // Expired credentials are refused, unlisted and purged.
        let mut expired = ring.create_key("x").await.unwrap().record;
        expired.session = Some(SessionRecord {
            token: "t".into(),
            expires_ms: crate::s3::now_ms() - 1,
            parent: key.id.clone(),
            role_arn: "role".into(),
        });
        assert!(
            ring.inner
                .store
                .insert_access_key("LTEXPIRED", &expired)
                .await
                .unwrap()
        );
        assert_eq!(code(ring.get_secret_key("LTEXPIRED").await), "ExpiredToken");
        assert!(
            ring.list()
                .await
                .unwrap()
                .iter()
                .all(|(id, _)| id != "LTEXPIRED")
        );
        assert_eq!(
            ring.inner
                .store
                .purge_expired_keys(crate::s3::now_ms())
                .await
                .unwrap(),
            1
        );

        // Revoking a key ends its sessions too; the operator's is not ours.
        assert!(ring.revoke(&key.id).await.unwrap());
        assert!(!ring.revoke(&key.id).await.unwrap());
        assert_eq!(
            code(ring.get_secret_key(&key.id).await),
            "InvalidAccessKeyId"
        );
        assert_eq!(
            code(ring.get_secret_key(&session.id).await),
            "InvalidAccessKeyId"
        );
        assert_eq!(
            code(ring.get_secret_key(&chained.id).await),
            "InvalidAccessKeyId"
        );
        assert!(matches!(
            ring.revoke("OPERATOR").await,
            Err(KeyError::OperatorKey(_))
        ));
    }
}

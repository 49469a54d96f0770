//! Who may use the S3 API.
//!
//! Three kinds of access key are accepted:
//! - the operator's, from the deployment's `Secret` (never stored);
//! - permanent keys made through the admin API;
//! - temporary credentials from STS `AssumeRole` ([`sts`]), which also need
//!   their session token on every request and stop working at expiry.
//!
//! The last two live in the store, so they survive a restart.

pub mod mismatch;
pub mod sts;

use std::sync::Arc;

use hyper::{HeaderMap, Uri};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::{S3Error, S3Result, s3_error};
use subtle::ConstantTimeEq as _;

use crate::store::{AccessKeyRecord, SessionRecord, Store, StoreError};

/// What can go wrong managing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
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
}

/// The request header and presigned-URL parameter that carry a session
/// token.
const TOKEN_HEADER: &str = "x-amz-security-token";
const TOKEN_QUERY: &str = "X-Amz-Security-Token";

impl KeyRing {
    /// The operator's key, and whatever keys `store` holds.
    pub fn new(operator_id: &str, operator_secret: &str, store: Store) -> KeyRing {
        KeyRing {
            inner: Arc::new(Inner {
                operator_id: operator_id.to_owned(),
                operator_secret: SecretKey::from(operator_secret),
                store,
            }),
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
        let record = self.inner.store.access_key(id).await?.ok_or_else(|| {
            s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )
        })?;
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
        Ok(SecretKey::from(self.stored(access_key).await?.secret))
    }
}

#[async_trait::async_trait]
impl S3Access for KeyRing {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        self.check_request(cx.credentials(), cx.headers(), cx.uri())
            .await
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

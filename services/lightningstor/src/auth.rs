//! Who may use the S3 API: access key ids and their secret keys. The
//! operator's key comes from the deployment's `Secret`; the admin API adds
//! and revokes others at run time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

/// The access keys the S3 API accepts.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Arc<RwLock<HashMap<String, SecretKey>>>,
}

impl KeyRing {
    /// A ring with one key.
    pub fn single(id: &str, secret: &str) -> KeyRing {
        let ring = KeyRing::default();
        ring.insert(id, secret);
        ring
    }

    /// Adds (or replaces) a key.
    pub fn insert(&self, id: &str, secret: &str) {
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), SecretKey::from(secret));
    }

    /// Removes a key; whether it existed.
    pub fn revoke(&self, id: &str) -> bool {
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .is_some()
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyRing {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(access_key).cloned().ok_or_else(|| {
            s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )
        })
    }
}

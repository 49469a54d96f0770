//! photonauth's state in chainfire: tenants, their users, access keys,
//! policies and roles, and which policies and roles each user has.
//!
//! Layout under `/photon/clusters/<cluster>/photonauth/` (JSON values):
//!
//! - `t/<tenant>`: a tenant;
//! - `u/<tenant>/<user>`: a user;
//! - `k/<key id>`: an access key, naming its tenant and user;
//! - `p/<tenant>/<policy>`: a policy document;
//! - `a/<tenant>/<user>/<policy>`: the policy attached to the user;
//! - `r/<tenant>/<role>`: a role, a named set of policies;
//! - `rp/<tenant>/<role>/<policy>`: a policy attached to the role;
//! - `ur/<tenant>/<user>/<role>`: the role given to the user;
//! - `signing-key`, `service-secret`: made once per cluster.
//!
//! Every write is one transaction whose compares keep the tree whole: a
//! user only in an existing tenant, a key only for an existing user, an
//! attachment only of an existing policy of the user's own tenant (names
//! are per tenant, so one tenant can never attach another's policy). A
//! tenant's policies, roles and users are its own; a key grants exactly
//! what its user's policies allow, attached directly or through its roles.

use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::policy::{Decision, Policy, decide};

/// What the store refuses, or why it could not answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A name that cannot be one.
    #[error("{what} `{name}`: {why}")]
    BadName {
        /// Tenant, user or policy.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// It exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// It does not exist.
    #[error("{0} does not exist")]
    Missing(String),
    /// chainfire could not be reached or refused.
    #[error("photonauth's state in chainfire: {0}")]
    Unavailable(String),
    /// A stored value does not decode.
    #[error("corrupt record {0}")]
    Corrupt(String),
    /// No randomness for a new key.
    #[error(transparent)]
    Random(#[from] keys::NoRandomness),
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// A role of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// An access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Its tenant.
    pub tenant: String,
    /// Its user.
    pub user: String,
    /// The secret (SigV4 is a shared-secret HMAC: the checker needs it).
    pub secret: String,
    /// What it is for.
    pub description: String,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// What a key may do: whose it is and the policies that decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The key's record.
    pub key: KeyRecord,
    /// Its user's policies, by name.
    pub policies: Vec<(String, Policy)>,
}

impl Grant {
    /// Whether `action` on `resource` (a name inside the key's tenant) is
    /// allowed.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        decide(
            self.policies.iter().map(|(name, p)| (name.as_str(), p)),
            action,
            resource,
        )
    }
}

/// Checks a tenant, user or policy name: 1 to 64 of `a-z 0-9 - _ .`,
/// starting with a letter or digit (it becomes part of chainfire keys).
pub fn check_name(what: &'static str, name: &str) -> Result<(), AuthError> {
    let bad = |why| AuthError::BadName {
        what,
        name: name.to_owned(),
        why,
    };
    if name.is_empty() || name.len() > 64 {
        return Err(bad("1 to 64 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(bad("must start with a lower-case letter or a digit"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return Err(bad("only lower-case letters, digits, `-`, `_` and `.`"));
    }
    Ok(())
}

/// photonauth's state under one cluster's prefix.
#[derive(Clone)]
pub struct AuthStore {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn exists(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Greater, 0)
}

fn absent(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Equal, 0)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

fn unavailable(e: etcd_client::Error) -> AuthError {
    AuthError::Unavailable(e.to_string())
}

impl AuthStore {
    /// The state of cluster `cluster`, through `client`.
    pub fn new(client: Client, cluster: &str) -> AuthStore {
        AuthStore {
            client,
            prefix: format!("/photon/clusters/{cluster}/photonauth/"),
        }
    }

    fn tenant_key(&self, tenant: &str) -> String {
        format!("{}t/{tenant}", self.prefix)
    }

    fn user_key(&self, tenant: &str, user: &str) -> String {
        format!("{}u/{tenant}/{user}", self.prefix)
    }

    fn access_key(&self, id: &str) -> String {
        format!("{}k/{id}", self.prefix)
    }

    fn policy_key(&self, tenant: &str, policy: &str) -> String {
        format!("{}p/{tenant}/{policy}", self.prefix)
    }

    fn attachment_key(&self, tenant: &str, user: &str, policy: &str) -> String {
        format!("{}a/{tenant}/{user}/{policy}", self.prefix)
    }

    async fn txn(&self, txn: Txn) -> Result<bool, AuthError> {
        let answer = photon_integration::retry::retried(|| {
            let mut kv = self.client.kv_client();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await
        .map_err(unavailable)?;
        Ok(answer.succeeded())
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AuthError> {
        let answer = photon_integration::retry::retried(|| {
            let mut kv = self.client.kv_client();
            async move { kv.get(key, None).await }
        })
        .await
        .map_err(unavailable)?;
        answer
            .kvs()
            .first()
            .map(|kv| {
                serde_json::from_slice(kv.value())
                    .map_err(|e| AuthError::Corrupt(format!("{key}: {e}")))
            })
            .transpose()
    }

    /// The names after `prefix` of every key under it.
    async fn names(&self, prefix: &str) -> Result<Vec<String>, AuthError> {
        let answer = photon_integration::retry::retried(|| {
            let mut kv = self.client.kv_client();
            async move {
                kv.get(
                    prefix,
                    Some(GetOptions::new().with_prefix().with_keys_only()),
                )
                .await
            }
        })
        .await
        .map_err(unavailable)?;
        answer
            .kvs()
            .iter()
            .map(|kv| {
                let key = kv
                    .key_str()
                    .map_err(|_| AuthError::Corrupt("a key is not UTF-8".into()))?;
                Ok(key[prefix.len()..].to_owned())
            })
            .collect()
    }

    /// Why a write guarded by the existence of `checks` (in order) failed.
    async fn first_missing(&self, checks: &[(&str, String)]) -> AuthError {
        for (key, what) in checks {
            match self.get::<serde_json::Value>(key).await {
                Ok(None) => return AuthError::Missing(what.clone()),
                Ok(Some(_)) => {}
                Err(e) => return e,
            }
        }
        AuthError::Unavailable(
            "a write was refused although everything it needs exists; try again".into(),
        )
    }

    /// Creates tenant `name`.
    pub async fn create_tenant(&self, name: &str) -> Result<(), AuthError> {
        check_name("tenant", name)?;
        let key = self.tenant_key(name);
        let record = TenantRecord {
            created_ms: now_ms(),
        };
        let txn = Txn::new().when([absent(&key)]).and_then([TxnOp::put(
            key.as_str(),
            json(&record),
            None,
        )]);
        if self.txn(txn).await? {
            Ok(())
        } else {
            Err(AuthError::Exists(format!("tenant {name}")))
        }
    }

    /// Every tenant.
    pub async fn tenants(&self) -> Result<Vec<String>, AuthError> {
        self.names(&format!("{}t/", self.prefix)).await
    }

    /// Creates user `user` in `tenant`.
    pub async fn create_user(&self, tenant: &str, user: &str) -> Result<(), AuthError> {
        check_name("user", user)?;
        let record = UserRecord {
            created_ms: now_ms(),
        };
        self.create_in_tenant(
            tenant,
            "user",
            user,
            self.user_key(tenant, user),
            json(&record),
        )
        .await
    }

    /// Writes `value` at `key`, the `what` named `name` of `tenant`, if the
    /// tenant exists and the key does not.
    async fn create_in_tenant(
        &self,
        tenant: &str,
        what: &str,
        name: &str,
        key: String,
        value: String,
    ) -> Result<(), AuthError> {
        let tenant_key = self.tenant_key(tenant);
        let txn = Txn::new()
            .when([exists(&tenant_key), absent(&key)])
            .and_then([TxnOp::put(key.as_str(), value, None)]);
        if self.txn(txn).await? {
            return Ok(());
        }
        match self
            .first_missing(&[(&tenant_key, format!("tenant {tenant}"))])
            .await
        {
            AuthError::Unavailable(_) => {
                Err(AuthError::Exists(format!("{what} {name} of {tenant}")))
            }
            other => Err(other),
        }
    }

    /// The users of `tenant`.
    pub async fn users(&self, tenant: &str) -> Result<Vec<String>, AuthError> {
        self.names(&format!("{}u/{tenant}/", self.prefix)).await
    }

    /// Makes a new access key for `user` of `tenant`: its id and record.
    pub async fn create_key(
        &self,
        tenant: &str,
        user: &str,
        description: &str,
    ) -> Result<(String, KeyRecord), AuthError> {
        let user_key = self.user_key(tenant, user);
        let record = KeyRecord {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            secret: keys::new_secret()?,
            description: description.to_owned(),
            created_ms: now_ms(),
        };
        loop {
            let id = keys::new_id("PK")?;
            let key = self.access_key(&id);
            let txn = Txn::new()
                .when([exists(&user_key), absent(&key)])
                .and_then([TxnOp::put(key.as_str(), json(&record), None)]);
            if self.txn(txn).await? {
                return Ok((id, record));
            }
            if self.get::<UserRecord>(&user_key).await?.is_none() {
                return Err(AuthError::Missing(format!("user {user} of {tenant}")));
            }
            // An id taken: 72 random bits make this all but impossible.
        }
    }

    /// Brings an access key made elsewhere (a lightningstor's own, whose
    /// format photonauth shares) to `user` of `tenant` unchanged, so its
    /// holders go on using it: `true` when made, `false` when this very key
    /// (same id, owner and secret) is here already, so an interrupted
    /// import can be run again. A different key under the id is refused.
    pub async fn import_key(
        &self,
        tenant: &str,
        user: &str,
        id: &str,
        secret: &str,
        description: &str,
    ) -> Result<bool, AuthError> {
        let bad = |what: &'static str, name: &str, why| AuthError::BadName {
            what,
            name: name.to_owned(),
            why,
        };
        if id.len() != 20
            || !id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(bad(
                "access key id",
                id,
                "20 upper-case letters and digits, as every PhotonCloud key id",
            ));
        }
        if !(16..=128).contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            // The secret is never echoed, even in a refusal.
            return Err(bad(
                "secret of access key",
                id,
                "16 to 128 printable characters",
            ));
        }
        let (user_key, key) = (self.user_key(tenant, user), self.access_key(id));
        let record = KeyRecord {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            secret: secret.to_owned(),
            description: description.to_owned(),
            created_ms: now_ms(),
        };
        let txn = Txn::new()
            .when([exists(&user_key), absent(&key)])
            .and_then([TxnOp::put(key.as_str(), json(&record), None)]);
        if self.txn(txn).await? {
            return Ok(true);
        }
        match self.get::<KeyRecord>(&key).await? {
            Some(there)
                if there.tenant == record.tenant
                    && there.user == record.user
                    && there.secret == record.secret =>
            {
                Ok(false)
            }
            Some(_) => Err(AuthError::Exists(format!("another access key `{id}`"))),
            None => Err(AuthError::Missing(format!("user {user} of {tenant}"))),
        }
    }

    /// Removes access key `id`; whether there was one.
    pub async fn revoke_key(&self, id: &str) -> Result<bool, AuthError> {
        self.delete_if_there(&self.access_key(id)).await
    }

    /// The ids of `tenant`'s keys, with their records (secrets included:
    /// the caller decides what to show).
    pub async fn keys_of(&self, tenant: &str) -> Result<Vec<(String, KeyRecord)>, AuthError> {
        let mut out = Vec::new();
        for id in self.names(&format!("{}k/", self.prefix)).await? {
            if let Some(record) = self.get::<KeyRecord>(&self.access_key(&id)).await?
                && record.tenant == tenant
            {
                out.push((id, record));
            }
        }
        Ok(out)
    }

    /// Stores policy `name` of `tenant`, replacing one of that name.
    pub async fn put_policy(
        &self,
        tenant: &str,
        name: &str,
        policy: &Policy,
    ) -> Result<(), AuthError> {
        check_name("policy", name)?;
        let tenant_key = self.tenant_key(tenant);
        let key = self.policy_key(tenant, name);
        let txn = Txn::new().when([exists(&tenant_key)]).and_then([TxnOp::put(
            key.as_str(),
            json(policy),
            None,
        )]);
        if self.txn(txn).await? {
            Ok(())
        } else {
            Err(AuthError::Missing(format!("tenant {tenant}")))
        }
    }

    /// Attaches `tenant`'s policy `policy` to its user `user`.
    pub async fn attach(&self, tenant: &str, user: &str, policy: &str) -> Result<(), AuthError> {
        self.link(
            self.attachment_key(tenant, user, policy),
            [
                (
                    self.user_key(tenant, user),
                    format!("user {user} of {tenant}"),
                ),
                (
                    self.policy_key(tenant, policy),
                    format!("policy {policy} of {tenant}"),
                ),
            ],
        )
        .await
    }

    /// Writes the link `key` if both `ends` (key, what it is) exist, in one
    /// transaction; else says which is missing.
    async fn link(&self, key: String, ends: [(String, String); 2]) -> Result<(), AuthError> {
        let txn = Txn::new()
            .when([exists(&ends[0].0), exists(&ends[1].0)])
            .and_then([TxnOp::put(key.as_str(), "{}", None)]);
        if self.txn(txn).await? {
            return Ok(());
        }
        let checks: Vec<(&str, String)> =
            ends.iter().map(|(k, w)| (k.as_str(), w.clone())).collect();
        Err(self.first_missing(&checks).await)
    }

    /// Detaches it; whether it was attached.
    pub async fn detach(&self, tenant: &str, user: &str, policy: &str) -> Result<bool, AuthError> {
        self.delete_if_there(&self.attachment_key(tenant, user, policy))
            .await
    }

    /// The token signing key (PKCS#8), made by the first photonauth to ask
    /// and shared by every replica of the cluster.
    pub async fn signing_key(&self) -> Result<Vec<u8>, AuthError> {
        self.made_once("signing-key", || {
            crate::token::Signer::generate().map_err(|e| AuthError::Unavailable(e.to_string()))
        })
        .await
    }

    /// The service credential: what an integrated service sends photonauth
    /// to learn a key's secret ([`AuthStore::lookup`] over the API). It is
    /// made once per cluster, by photonauth or the first service to ask,
    /// and read from chainfire by both sides, so whoever can read the
    /// platform's state store (the root of trust, as etcd is Kubernetes')
    /// holds it, and nobody else; it is never configured or shown.
    pub async fn service_secret(&self) -> Result<String, AuthError> {
        let bytes = self
            .made_once("service-secret", || {
                Ok(keys::new_token::<32>()?.into_bytes())
            })
            .await?;
        String::from_utf8(bytes).map_err(|_| AuthError::Corrupt("service-secret".into()))
    }

    /// The value at `name` under the prefix, made by `make` and stored
    /// unless one is there: the first writer wins and everyone reads its.
    async fn made_once(
        &self,
        name: &str,
        make: impl FnOnce() -> Result<Vec<u8>, AuthError>,
    ) -> Result<Vec<u8>, AuthError> {
        use base64::Engine as _;
        let key = format!("{}{name}", self.prefix);
        let engine = base64::engine::general_purpose::STANDARD;
        let decode = |text: String| {
            engine
                .decode(text)
                .map_err(|e| AuthError::Corrupt(format!("{key}: {e}")))
        };
        if let Some(text) = self.get::<String>(&key).await? {
            return decode(text);
        }
        let made = make()?;
        let txn = Txn::new().when([absent(&key)]).and_then([TxnOp::put(
            key.as_str(),
            json(&engine.encode(&made)),
            None,
        )]);
        if self.txn(txn).await? {
            return Ok(made);
        }
        // Someone made one first: use it.
        let text = self
            .get::<String>(&key)
            .await?
            .ok_or_else(|| AuthError::Corrupt(format!("{key} vanished")))?;
        decode(text)
    }

    fn role_key(&self, tenant: &str, role: &str) -> String {
        format!("{}r/{tenant}/{role}", self.prefix)
    }

    fn role_policy_key(&self, tenant: &str, role: &str, policy: &str) -> String {
        format!("{}rp/{tenant}/{role}/{policy}", self.prefix)
    }

    fn user_role_key(&self, tenant: &str, user: &str, role: &str) -> String {
        format!("{}ur/{tenant}/{user}/{role}", self.prefix)
    }

    /// Creates role `role` in `tenant`: a named set of policies that users
    /// are given together (an operator changes the role, not every user).
    pub async fn create_role(&self, tenant: &str, role: &str) -> Result<(), AuthError> {
        check_name("role", role)?;
        let record = RoleRecord {
            created_ms: now_ms(),
        };
        self.create_in_tenant(
            tenant,
            "role",
            role,
            self.role_key(tenant, role),
            json(&record),
        )
        .await
    }

    /// The roles of `tenant`.
    pub async fn roles(&self, tenant: &str) -> Result<Vec<String>, AuthError> {
        self.names(&format!("{}r/{tenant}/", self.prefix)).await
    }

    /// Attaches `tenant`'s policy `policy` to its role `role`.
    pub async fn attach_to_role(
        &self,
        tenant: &str,
        role: &str,
        policy: &str,
    ) -> Result<(), AuthError> {
        self.link(
            self.role_policy_key(tenant, role, policy),
            [
                (
                    self.role_key(tenant, role),
                    format!("role {role} of {tenant}"),
                ),
                (
                    self.policy_key(tenant, policy),
                    format!("policy {policy} of {tenant}"),
                ),
            ],
        )
        .await
    }

    /// Detaches it; whether it was attached.
    pub async fn detach_from_role(
        &self,
        tenant: &str,
        role: &str,
        policy: &str,
    ) -> Result<bool, AuthError> {
        self.delete_if_there(&self.role_policy_key(tenant, role, policy))
            .await
    }

    /// Gives `tenant`'s role `role` to its user `user`.
    pub async fn grant_role(&self, tenant: &str, user: &str, role: &str) -> Result<(), AuthError> {
        self.link(
            self.user_role_key(tenant, user, role),
            [
                (
                    self.user_key(tenant, user),
                    format!("user {user} of {tenant}"),
                ),
                (
                    self.role_key(tenant, role),
                    format!("role {role} of {tenant}"),
                ),
            ],
        )
        .await
    }

    /// Takes it back; whether the user had it.
    pub async fn revoke_role(
        &self,
        tenant: &str,
        user: &str,
        role: &str,
    ) -> Result<bool, AuthError> {
        self.delete_if_there(&self.user_role_key(tenant, user, role))
            .await
    }

    async fn delete_if_there(&self, key: &str) -> Result<bool, AuthError> {
        let txn = Txn::new()
            .when([exists(key)])
            .and_then([TxnOp::delete(key, None)]);
        self.txn(txn).await
    }

    /// `tenant`'s policies among `names` that exist, each named as
    /// `label` says.
    async fn policies_named(
        &self,
        tenant: &str,
        names: Vec<String>,
        label: impl Fn(&str) -> String,
        out: &mut Vec<(String, Policy)>,
    ) -> Result<(), AuthError> {
        for name in names {
            if let Some(policy) = self.get::<Policy>(&self.policy_key(tenant, &name)).await? {
                out.push((label(&name), policy));
            }
        }
        Ok(())
    }

    /// What key `id` may do: `None` when there is no such key (never made,
    /// or revoked). Its user's policies count, attached directly (named as
    /// they are) or through a role (named `<role>/<policy>`); a policy
    /// attached but since deleted grants nothing.
    pub async fn lookup(&self, id: &str) -> Result<Option<Grant>, AuthError> {
        let Some(key) = self.get::<KeyRecord>(&self.access_key(id)).await? else {
            return Ok(None);
        };
        let (tenant, user) = (key.tenant.as_str(), key.user.as_str());
        let mut policies = Vec::new();
        let attached = self
            .names(&format!("{}a/{tenant}/{user}/", self.prefix))
            .await?;
        self.policies_named(tenant, attached, str::to_owned, &mut policies)
            .await?;
        for role in self
            .names(&format!("{}ur/{tenant}/{user}/", self.prefix))
            .await?
        {
            let of_role = self
                .names(&format!("{}rp/{tenant}/{role}/", self.prefix))
                .await?;
            self.policies_named(tenant, of_role, |p| format!("{role}/{p}"), &mut policies)
                .await?;
        }
        Ok(Some(Grant { key, policies }))
    }
}

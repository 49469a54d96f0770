//! photonauth fixtures: calls with the admin token, and a tenant's user
//! holding a policy and an access key.

use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonauth::api::proto::*;
use tonic::transport::Channel;

/// A policy allowing every S3 action on everything in the tenant.
pub const ALLOW_ALL: &str =
    r#"{"statements":[{"effect":"allow","actions":["s3:*"],"resources":["*"]}]}"#;

/// `message` carrying `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("a token is header text"),
    );
    request
}

/// Makes `user` of `tenant` (and the tenant, unless it exists) holding the
/// policy `document` (named `<user>-policy`), as the admin of `token`;
/// the user's new key: (id, secret).
pub async fn user_with_key(
    auth: &mut PhotonAuthClient<Channel>,
    token: &str,
    tenant: &str,
    user: &str,
    document: &str,
) -> (String, String) {
    let tenants = auth
        .list_tenants(with_token(ListTenantsRequest {}, token))
        .await
        .expect("photonauth lists tenants")
        .into_inner()
        .tenants;
    if !tenants.iter().any(|t| t == tenant) {
        let request = CreateTenantRequest {
            tenant: tenant.into(),
        };
        auth.create_tenant(with_token(request, token))
            .await
            .expect("the tenant is made");
    }
    let request = CreateUserRequest {
        tenant: tenant.into(),
        user: user.into(),
    };
    auth.create_user(with_token(request, token))
        .await
        .expect("the user is made");
    let policy = format!("{user}-policy");
    let request = PutPolicyRequest {
        tenant: tenant.into(),
        name: policy.clone(),
        document: document.into(),
    };
    auth.put_policy(with_token(request, token))
        .await
        .expect("the policy is stored");
    let request = AttachPolicyRequest {
        tenant: tenant.into(),
        user: user.into(),
        policy,
    };
    auth.attach_policy(with_token(request, token))
        .await
        .expect("the policy is attached");
    new_key(auth, token, tenant, user).await
}

/// A new access key of `user` of `tenant`: (id, secret).
pub async fn new_key(
    auth: &mut PhotonAuthClient<Channel>,
    token: &str,
    tenant: &str,
    user: &str,
) -> (String, String) {
    let request = CreateAccessKeyRequest {
        tenant: tenant.into(),
        user: user.into(),
        description: "e2e".into(),
    };
    let key = auth
        .create_access_key(with_token(request, token))
        .await
        .expect("the key is made")
        .into_inner();
    (key.access_key_id, key.secret_access_key)
}

/// A photonauth token for `audience` (good 15 minutes), got with the
/// access key `key` as a tenant gets one: photonauth's `KeyToken`, signed
/// with the key's secret.
pub async fn key_token(
    auth: &mut PhotonAuthClient<Channel>,
    key: &(String, String),
    audience: &str,
) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let request = photonauth::key_token::request(&key.0, &key.1, audience, 900, now);
    auth.key_token(request)
        .await
        .expect("photonauth signs a token for the key")
        .into_inner()
        .token
}

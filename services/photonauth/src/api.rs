//! photonauth's gRPC API over its [`AuthStore`]: administration for the
//! operator, and `Authorize` for whoever must know what a key may do.
//! Every call carries the admin token; secrets leave only in the answer
//! that creates a key, and never in a log line or an error.

use tonic::{Request, Response, Status};

use crate::key_token;
use crate::policy::{Decision, Policy};
use crate::store::{AuthError, AuthStore};
use crate::token::{Claims, MAX_TTL_SECONDS, Signer, now_seconds};

/// The generated messages, server and client.
pub mod proto {
    tonic::include_proto!("photonauth.v1");
}

use proto::photon_auth_server::{PhotonAuth, PhotonAuthServer};
use proto::*;

/// The API, over `store`, for holders of `admin_token` (administration)
/// and of the cluster's service secret (`ResolveKey`).
#[derive(Clone)]
pub struct AuthApi {
    store: AuthStore,
    admin_token: std::sync::Arc<str>,
    service_secret: std::sync::Arc<str>,
    signer: std::sync::Arc<Signer>,
}

impl std::fmt::Debug for AuthApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthApi")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The bearer token a request carries (`authorization: Bearer <token>`):
/// how every PhotonCloud gRPC API is called.
pub fn bearer<T>(request: &Request<T>) -> Option<&str> {
    request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Whether a sent token is the expected one, compared in constant time.
pub fn same(sent: &str, expected: &str) -> bool {
    photon_runtime::same_secret(sent, expected)
}

/// How long photonauth is waited for by a service starting beside it.
const AUTH_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// photonauth's public key (which signs tenants' tokens), asked of it at
/// `endpoint` (presenting `config`) until it answers or a minute passes:
/// what a service that takes tenants' tokens does as it starts.
pub async fn public_key(
    endpoint: &str,
    config: &photon_runtime::skew::ConfigCheck,
) -> Result<Vec<u8>, String> {
    use proto::photon_auth_client::PhotonAuthClient;
    let deadline = tokio::time::Instant::now() + AUTH_WAIT;
    loop {
        let tried = async {
            let mut client = PhotonAuthClient::connect(endpoint.to_owned())
                .await
                .map_err(|e| e.to_string())?;
            let mut request = Request::new(PublicKeyRequest {});
            if let Some(value) = config
                .presented()
                .and_then(|v| tonic::metadata::MetadataValue::try_from(v.as_bytes()).ok())
            {
                request
                    .metadata_mut()
                    .insert(photon_runtime::skew::HEADER, value);
            }
            client
                .public_key(request)
                .await
                .map(|answer| answer.into_inner().ed25519)
                .map_err(|e| e.message().to_owned())
        }
        .await;
        match tried {
            Ok(key) => return Ok(key),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "photonauth at {endpoint} gave no public key in {} s: {e}",
                    AUTH_WAIT.as_secs()
                ));
            }
            Err(e) => {
                tracing::debug!(%endpoint, error = %e, "photonauth not answering yet");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
    }
}

/// Who called a service that serves its operator and its tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The service's admin token: every tenant.
    Operator,
    /// A photonauth token: this tenant only.
    Tenant(String),
}

/// The door of a service that serves its operator (who sends the
/// service's admin token) and tenants (who send photonauth tokens for the
/// service's audience, checked here offline with photonauth's public key).
#[derive(Clone)]
pub struct TenantGate {
    admin_token: std::sync::Arc<str>,
    auth_key: std::sync::Arc<[u8]>,
    audience: &'static str,
}

impl std::fmt::Debug for TenantGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantGate")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TenantGate {
    /// The gate of the service `audience` (the audience its tenants'
    /// tokens name), with its `admin_token` and photonauth's `auth_key`.
    pub fn new(admin_token: &str, auth_key: Vec<u8>, audience: &'static str) -> TenantGate {
        TenantGate {
            admin_token: admin_token.into(),
            auth_key: auth_key.into(),
            audience,
        }
    }

    /// Who sent `request`.
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        self.caller_with(bearer(request))
    }

    /// Who sent `token` (the bearer token of a request, `None` when it
    /// carried none): for a service whose API is not gRPC (the gateway's
    /// HTTP), which maps the refusals' codes to its own.
    pub fn caller_with(&self, token: Option<&str>) -> Result<Caller, Status> {
        let audience = self.audience;
        let Some(token) = token else {
            return Err(Status::unauthenticated(format!(
                "send `authorization: Bearer <token>`: the admin token, or a photonauth token for {audience} (`photonctl auth token`)"
            )));
        };
        if same(token, &self.admin_token) {
            return Ok(Caller::Operator);
        }
        let claims = crate::token::verify(&self.auth_key, token, audience, now_seconds())
            .map_err(|e| Status::unauthenticated(format!("the token is refused: {e}")))?;
        match claims.sub.split_once('/') {
            Some((tenant, _user)) if !tenant.is_empty() => Ok(Caller::Tenant(tenant.to_owned())),
            _ => Err(Status::permission_denied(format!(
                "the token is not a tenant's: {audience} serves tenants and the operator"
            ))),
        }
    }

    /// The tenant `request` acts for: the one it names, which a tenant's
    /// token must be (or leave empty). `what` names what the call reaches
    /// (`VPCs`), for the refusals.
    pub fn tenant<T>(
        &self,
        request: &Request<T>,
        named: &str,
        what: &str,
    ) -> Result<String, Status> {
        match self.caller(request)? {
            Caller::Operator if named.is_empty() => Err(Status::invalid_argument(format!(
                "name the tenant: the admin token reaches every tenant's {what}"
            ))),
            Caller::Operator => Ok(named.to_owned()),
            Caller::Tenant(tenant) if named.is_empty() || named == tenant => Ok(tenant),
            Caller::Tenant(tenant) => {
                tracing::info!(%tenant, named, audience = self.audience, "a tenant's request for another tenant refused");
                Err(Status::permission_denied(format!(
                    "a token of tenant `{tenant}` reaches only that tenant's {what}"
                )))
            }
        }
    }

    /// Nothing unless `request` is the operator's; `what` names the call
    /// for the refusal.
    pub fn operator<T>(&self, request: &Request<T>, what: &str) -> Result<(), Status> {
        match self.caller(request)? {
            Caller::Operator => Ok(()),
            Caller::Tenant(tenant) => Err(Status::permission_denied(format!(
                "{what} takes the admin token; a token of tenant `{tenant}` cannot"
            ))),
        }
    }
}

impl AuthApi {
    /// A token saying `subject` may call `audience` for `ttl_seconds`.
    fn issue(
        &self,
        subject: String,
        audience: String,
        ttl_seconds: u32,
    ) -> Result<IssueTokenResponse, Status> {
        if subject.is_empty() || audience.is_empty() {
            return Err(Status::invalid_argument(
                "a token needs a subject and an audience",
            ));
        }
        if ttl_seconds == 0 || ttl_seconds > MAX_TTL_SECONDS {
            return Err(Status::invalid_argument(format!(
                "ttl_seconds must be 1 to {MAX_TTL_SECONDS}: tokens are short-lived"
            )));
        }
        let now = now_seconds();
        let claims = Claims {
            sub: subject,
            aud: audience,
            iat: now,
            exp: now + i64::from(ttl_seconds),
        };
        tracing::info!(subject = %claims.sub, audience = %claims.aud, exp = claims.exp, "token issued");
        Ok(IssueTokenResponse {
            token: self.signer.sign(&claims),
            expires_at: claims.exp,
        })
    }

    /// The tonic service.
    pub fn server(
        store: AuthStore,
        admin_token: &str,
        service_secret: &str,
        signer: Signer,
    ) -> PhotonAuthServer<AuthApi> {
        PhotonAuthServer::new(AuthApi {
            store,
            admin_token: admin_token.into(),
            service_secret: service_secret.into(),
            signer: std::sync::Arc::new(signer),
        })
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        match bearer(request) {
            Some(token) if same(token, &self.admin_token) => Ok(()),
            Some(_) => Err(Status::permission_denied("the admin token does not match")),
            None => Err(Status::unauthenticated(
                "send the admin token as `authorization: Bearer <token>`",
            )),
        }
    }

    /// Only an integrated service of this cluster may learn a key's secret.
    fn authorize_service<T>(&self, request: &Request<T>) -> Result<(), Status> {
        match bearer(request) {
            Some(token) if same(token, &self.service_secret) => Ok(()),
            Some(_) => Err(Status::permission_denied(
                "only an integrated service of this cluster may resolve keys: send the service secret from chainfire (the admin token does not open this call)",
            )),
            None => Err(Status::unauthenticated(
                "send the cluster's service secret as `authorization: Bearer <secret>`",
            )),
        }
    }
}

fn status(error: AuthError) -> Status {
    match error {
        AuthError::BadName { .. } => Status::invalid_argument(error.to_string()),
        AuthError::Exists(_) => Status::already_exists(error.to_string()),
        AuthError::Missing(_) => Status::not_found(error.to_string()),
        AuthError::Unavailable(_) => Status::unavailable(error.to_string()),
        AuthError::Corrupt(_) | AuthError::Random(_) => {
            tracing::error!(error = %error, "photonauth failed");
            Status::internal("photonauth failed; see its log")
        }
    }
}

#[tonic::async_trait]
impl PhotonAuth for AuthApi {
    async fn issue_token(
        &self,
        request: Request<IssueTokenRequest>,
    ) -> Result<Response<IssueTokenResponse>, Status> {
        self.authorize(&request)?;
        let IssueTokenRequest {
            subject,
            audience,
            ttl_seconds,
        } = request.into_inner();
        self.issue(subject, audience, ttl_seconds)
            .map(Response::new)
    }

    async fn key_token(
        &self,
        request: Request<KeyTokenRequest>,
    ) -> Result<Response<IssueTokenResponse>, Status> {
        let request = request.into_inner();
        // One answer for an unknown key and a bad signature: a prober
        // learns nothing of which keys exist.
        let refused = || Status::unauthenticated("the key or its signature is not valid");
        if (request.timestamp - now_seconds()).abs() > key_token::MAX_SKEW_SECONDS {
            return Err(Status::unauthenticated(format!(
                "the request was signed at {}, more than {} s from photonauth's clock: sign it again",
                request.timestamp,
                key_token::MAX_SKEW_SECONDS
            )));
        }
        let grant = self
            .store
            .lookup(&request.access_key_id)
            .await
            .map_err(status)?
            .ok_or_else(refused)?;
        if !key_token::signed_with(&request, &grant.key.secret) {
            tracing::info!(key = %request.access_key_id, "key token refused: bad signature");
            return Err(refused());
        }
        let subject = format!("{}/{}", grant.key.tenant, grant.key.user);
        self.issue(subject, request.audience, request.ttl_seconds)
            .map(Response::new)
    }

    async fn public_key(
        &self,
        _request: Request<PublicKeyRequest>,
    ) -> Result<Response<PublicKeyResponse>, Status> {
        Ok(Response::new(PublicKeyResponse {
            ed25519: self.signer.public_key(),
        }))
    }

    async fn create_tenant(
        &self,
        request: Request<CreateTenantRequest>,
    ) -> Result<Response<CreateTenantResponse>, Status> {
        self.authorize(&request)?;
        let tenant = request.into_inner().tenant;
        self.store.create_tenant(&tenant).await.map_err(status)?;
        tracing::info!(%tenant, "tenant created");
        Ok(Response::new(CreateTenantResponse {}))
    }

    async fn list_tenants(
        &self,
        request: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        self.authorize(&request)?;
        let tenants = self.store.tenants().await.map_err(status)?;
        Ok(Response::new(ListTenantsResponse { tenants }))
    }

    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<CreateUserResponse>, Status> {
        self.authorize(&request)?;
        let CreateUserRequest { tenant, user } = request.into_inner();
        self.store
            .create_user(&tenant, &user)
            .await
            .map_err(status)?;
        tracing::info!(%tenant, %user, "user created");
        Ok(Response::new(CreateUserResponse {}))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        self.authorize(&request)?;
        let users = self
            .store
            .users(&request.into_inner().tenant)
            .await
            .map_err(status)?;
        Ok(Response::new(ListUsersResponse { users }))
    }

    async fn create_access_key(
        &self,
        request: Request<CreateAccessKeyRequest>,
    ) -> Result<Response<CreateAccessKeyResponse>, Status> {
        self.authorize(&request)?;
        let CreateAccessKeyRequest {
            tenant,
            user,
            description,
        } = request.into_inner();
        let (id, record) = self
            .store
            .create_key(&tenant, &user, &description)
            .await
            .map_err(status)?;
        // The id is public (it is in every request); the secret is not.
        tracing::info!(%tenant, %user, key = %id, "access key created");
        Ok(Response::new(CreateAccessKeyResponse {
            access_key_id: id,
            secret_access_key: record.secret,
        }))
    }

    async fn import_access_key(
        &self,
        request: Request<ImportAccessKeyRequest>,
    ) -> Result<Response<ImportAccessKeyResponse>, Status> {
        self.authorize(&request)?;
        let ImportAccessKeyRequest {
            tenant,
            user,
            access_key_id,
            secret_access_key,
            description,
        } = request.into_inner();
        let created = self
            .store
            .import_key(
                &tenant,
                &user,
                &access_key_id,
                &secret_access_key,
                &description,
            )
            .await
            .map_err(status)?;
        if created {
            tracing::info!(%tenant, %user, key = %access_key_id, "access key imported");
        }
        Ok(Response::new(ImportAccessKeyResponse { created }))
    }

    async fn revoke_access_key(
        &self,
        request: Request<RevokeAccessKeyRequest>,
    ) -> Result<Response<RevokeAccessKeyResponse>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().access_key_id;
        if !self.store.revoke_key(&id).await.map_err(status)? {
            return Err(Status::not_found(format!("no access key `{id}`")));
        }
        tracing::info!(key = %id, "access key revoked");
        Ok(Response::new(RevokeAccessKeyResponse {}))
    }

    async fn list_access_keys(
        &self,
        request: Request<ListAccessKeysRequest>,
    ) -> Result<Response<ListAccessKeysResponse>, Status> {
        self.authorize(&request)?;
        let keys = self
            .store
            .keys_of(&request.into_inner().tenant)
            .await
            .map_err(status)?
            .into_iter()
            .map(|(id, record)| AccessKeyInfo {
                access_key_id: id,
                user: record.user,
                description: record.description,
                created_ms: record.created_ms,
            })
            .collect();
        Ok(Response::new(ListAccessKeysResponse { keys }))
    }

    async fn put_policy(
        &self,
        request: Request<PutPolicyRequest>,
    ) -> Result<Response<PutPolicyResponse>, Status> {
        self.authorize(&request)?;
        let PutPolicyRequest {
            tenant,
            name,
            document,
        } = request.into_inner();
        let policy = Policy::parse(&document)
            .map_err(|e| Status::invalid_argument(format!("policy {name}: {e}")))?;
        self.store
            .put_policy(&tenant, &name, &policy)
            .await
            .map_err(status)?;
        tracing::info!(%tenant, policy = %name, "policy stored");
        Ok(Response::new(PutPolicyResponse {}))
    }

    async fn attach_policy(
        &self,
        request: Request<AttachPolicyRequest>,
    ) -> Result<Response<AttachPolicyResponse>, Status> {
        self.authorize(&request)?;
        let AttachPolicyRequest {
            tenant,
            user,
            policy,
        } = request.into_inner();
        self.store
            .attach(&tenant, &user, &policy)
            .await
            .map_err(status)?;
        Ok(Response::new(AttachPolicyResponse {}))
    }

    async fn detach_policy(
        &self,
        request: Request<DetachPolicyRequest>,
    ) -> Result<Response<DetachPolicyResponse>, Status> {
        self.authorize(&request)?;
        let DetachPolicyRequest {
            tenant,
            user,
            policy,
        } = request.into_inner();
        if !self
            .store
            .detach(&tenant, &user, &policy)
            .await
            .map_err(status)?
        {
            return Err(Status::not_found(format!(
                "policy {policy} is not attached to {user} of {tenant}"
            )));
        }
        Ok(Response::new(DetachPolicyResponse {}))
    }

    async fn resolve_key(
        &self,
        request: Request<ResolveKeyRequest>,
    ) -> Result<Response<ResolveKeyResponse>, Status> {
        self.authorize_service(&request)?;
        let id = request.into_inner().access_key_id;
        let Some(grant) = self.store.lookup(&id).await.map_err(status)? else {
            return Ok(Response::new(ResolveKeyResponse::default()));
        };
        let policies = grant
            .policies
            .into_iter()
            .map(|(name, policy)| NamedPolicy {
                name,
                document: policy.to_json(),
            })
            .collect();
        Ok(Response::new(ResolveKeyResponse {
            found: true,
            tenant: grant.key.tenant,
            user: grant.key.user,
            secret_access_key: grant.key.secret,
            policies,
        }))
    }

    async fn create_role(
        &self,
        request: Request<CreateRoleRequest>,
    ) -> Result<Response<CreateRoleResponse>, Status> {
        self.authorize(&request)?;
        let CreateRoleRequest { tenant, role } = request.into_inner();
        self.store
            .create_role(&tenant, &role)
            .await
            .map_err(status)?;
        tracing::info!(%tenant, %role, "role created");
        Ok(Response::new(CreateRoleResponse {}))
    }

    async fn list_roles(
        &self,
        request: Request<ListRolesRequest>,
    ) -> Result<Response<ListRolesResponse>, Status> {
        self.authorize(&request)?;
        let roles = self
            .store
            .roles(&request.into_inner().tenant)
            .await
            .map_err(status)?;
        Ok(Response::new(ListRolesResponse { roles }))
    }

    async fn attach_role_policy(
        &self,
        request: Request<AttachRolePolicyRequest>,
    ) -> Result<Response<AttachRolePolicyResponse>, Status> {
        self.authorize(&request)?;
        let AttachRolePolicyRequest {
            tenant,
            role,
            policy,
        } = request.into_inner();
        self.store
            .attach_to_role(&tenant, &role, &policy)
            .await
            .map_err(status)?;
        Ok(Response::new(AttachRolePolicyResponse {}))
    }

    async fn detach_role_policy(
        &self,
        request: Request<DetachRolePolicyRequest>,
    ) -> Result<Response<DetachRolePolicyResponse>, Status> {
        self.authorize(&request)?;
        let DetachRolePolicyRequest {
            tenant,
            role,
            policy,
        } = request.into_inner();
        if !self
            .store
            .detach_from_role(&tenant, &role, &policy)
            .await
            .map_err(status)?
        {
            return Err(Status::not_found(format!(
                "policy {policy} is not attached to role {role} of {tenant}"
            )));
        }
        Ok(Response::new(DetachRolePolicyResponse {}))
    }

    async fn grant_role(
        &self,
        request: Request<GrantRoleRequest>,
    ) -> Result<Response<GrantRoleResponse>, Status> {
        self.authorize(&request)?;
        let GrantRoleRequest { tenant, user, role } = request.into_inner();
        self.store
            .grant_role(&tenant, &user, &role)
            .await
            .map_err(status)?;
        tracing::info!(%tenant, %user, %role, "role granted");
        Ok(Response::new(GrantRoleResponse {}))
    }

    async fn revoke_role(
        &self,
        request: Request<RevokeRoleRequest>,
    ) -> Result<Response<RevokeRoleResponse>, Status> {
        self.authorize(&request)?;
        let RevokeRoleRequest { tenant, user, role } = request.into_inner();
        if !self
            .store
            .revoke_role(&tenant, &user, &role)
            .await
            .map_err(status)?
        {
            return Err(Status::not_found(format!(
                "{user} of {tenant} does not have role {role}"
            )));
        }
        tracing::info!(%tenant, %user, %role, "role revoked");
        Ok(Response::new(RevokeRoleResponse {}))
    }

    async fn authorize(
        &self,
        request: Request<AuthorizeRequest>,
    ) -> Result<Response<AuthorizeResponse>, Status> {
        AuthApi::authorize(self, &request)?;
        let AuthorizeRequest {
            access_key_id,
            action,
            resource,
        } = request.into_inner();
        let Some(grant) = self.store.lookup(&access_key_id).await.map_err(status)? else {
            return Err(Status::not_found(format!(
                "no access key `{access_key_id}` (never made, or revoked)"
            )));
        };
        let decision = grant.decide(&action, &resource);
        let reason = match &decision {
            Decision::Allowed => "allowed".to_owned(),
            Decision::Denied(policy) => format!("denied by policy {policy}"),
            Decision::NotAllowed => "no policy allows it".to_owned(),
        };
        Ok(Response::new(AuthorizeResponse {
            allowed: decision.allowed(),
            tenant: grant.key.tenant,
            user: grant.key.user,
            reason,
        }))
    }
}

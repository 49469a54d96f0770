//! The API's routes (the OpenAPI document, `openapi.json`, is their
//! contract):
//!
//! ```text
//! GET    /openapi.json
//! GET    /v1/tenants/{tenant}/account                   balance, usage and limits
//! GET    /v1/tenants/{tenant}/resources                 every resource of the tenant
//! GET    /v1/tenants/{tenant}/resources/{kind}          those of one kind
//! PUT    /v1/tenants/{tenant}/resources/{kind}/{name}   apply a spec (201 created, 200 otherwise)
//! GET    /v1/tenants/{tenant}/resources/{kind}/{name}   the resource and its status
//! DELETE /v1/tenants/{tenant}/resources/{kind}/{name}   delete it (202: gone once its agent let go)
//! ```
//!
//! A new resource's quota is taken first: creditservice reserves one unit
//! of its kind under the id `<kind>.<name>` (asked again, the same
//! reservation, so a retried PUT never takes two), then the resource
//! manager applies it, then the reservation is committed. If the manager
//! refuses a resource that does not exist (or is being deleted), the unit
//! is released at once; a DELETE releases it once the manager has
//! accepted the deletion.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use photon_runtime::operations::Operations;
use photonauth::api::{Caller, TenantGate};
use resource_manager::api::proto as resources;
use resource_manager::store::ResourceKey;
use serde_json::{Value, json};
use tonic::Code;

use crate::error::{ApiError, json as json_response};
use crate::upstream::Upstreams;

/// The largest spec a PUT may carry.
pub const MAX_SPEC_BYTES: usize = 64 * 1024;

/// What a path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/openapi.json`.
    OpenApi,
    /// `/v1/tenants/{tenant}/account`.
    Account {
        /// The tenant.
        tenant: &'a str,
    },
    /// `/v1/tenants/{tenant}/resources[/{kind}]`.
    Resources {
        /// The tenant.
        tenant: &'a str,
        /// Only this kind.
        kind: Option<&'a str>,
    },
    /// `/v1/tenants/{tenant}/resources/{kind}/{name}`.
    Resource {
        /// The tenant.
        tenant: &'a str,
        /// The kind.
        kind: &'a str,
        /// The name.
        name: &'a str,
    },
}

impl Route<'_> {
    /// The route `path` names, if any.
    pub fn of(path: &str) -> Option<Route<'_>> {
        if path == "/openapi.json" {
            return Some(Route::OpenApi);
        }
        let rest = path.strip_prefix("/v1/tenants/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        match parts.as_slice() {
            [tenant, "account"] => Some(Route::Account { tenant }),
            [tenant, "resources"] => Some(Route::Resources { tenant, kind: None }),
            [tenant, "resources", kind] => Some(Route::Resources {
                tenant,
                kind: Some(kind),
            }),
            [tenant, "resources", kind, name] => Some(Route::Resource { tenant, kind, name }),
            _ => None,
        }
    }

    /// The methods it takes.
    fn allowed(&self) -> &'static str {
        match self {
            Route::Resource { .. } => "GET, PUT, DELETE",
            _ => "GET",
        }
    }
}

/// The gateway's request handling: tokens checked by `gate`, calls made
/// to `upstreams`, each answer counted into `operations`.
#[derive(Debug, Clone)]
pub struct Gateway {
    upstreams: Upstreams,
    gate: TenantGate,
    /// Requests answered, by operation and status class.
    pub operations: Arc<Operations>,
}

impl Gateway {
    /// The gateway over `upstreams`, taking `admin_token` (the operator,
    /// every tenant) and tenants' tokens signed with photonauth's
    /// `auth_key` for audience `api-gateway`.
    pub fn new(upstreams: Upstreams, admin_token: &str, auth_key: Vec<u8>) -> Gateway {
        Gateway {
            upstreams,
            gate: TenantGate::new(admin_token, auth_key, crate::AUDIENCE),
            operations: Arc::new(Operations::http()),
        }
    }

    /// Answers `request` (anything but `/health` and `/metrics`).
    pub async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let (operation, answer) = match Route::of(&path) {
            None => (
                "unknown",
                Err(ApiError::not_found(format!(
                    "no route `{path}`: the API is under /v1/tenants/{{tenant}}/ (see /openapi.json)"
                ))),
            ),
            Some(route) => {
                let operation = operation(&method, &route);
                (operation, self.route(route, request).await)
            }
        };
        let response = answer.unwrap_or_else(|e| {
            if e.status.is_server_error() {
                tracing::warn!(%method, %path, error = %e, "request failed");
            } else {
                tracing::debug!(%method, %path, error = %e, "request refused");
            }
            let mut response = e.response();
            if e.status == StatusCode::METHOD_NOT_ALLOWED
                && let Some(route) = Route::of(&path)
            {
                response.headers_mut().insert(
                    header::ALLOW,
                    header::HeaderValue::from_static(route.allowed()),
                );
            }
            response
        });
        self.operations
            .record_http(operation, response.status(), started.elapsed());
        response
    }

    async fn route(
        &self,
        route: Route<'_>,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let method = request.method().clone();
        match (route, method) {
            (Route::OpenApi, Method::GET) => {
                let mut response =
                    Response::new(Full::new(Bytes::from_static(crate::OPENAPI.as_bytes())));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                Ok(response)
            }
            (Route::Account { tenant }, Method::GET) => {
                let tenant = self.tenant(&request, tenant)?;
                let account = self
                    .upstreams
                    .account(&tenant)
                    .await
                    .map_err(|s| ApiError::from_upstream("creditservice", &s))?;
                Ok(json_response(StatusCode::OK, &account_json(account)))
            }
            (Route::Resources { tenant, kind }, Method::GET) => {
                let tenant = self.tenant(&request, tenant)?;
                if let Some(kind) = kind {
                    known_kind(kind)?;
                }
                let listed = self
                    .upstreams
                    .list(&tenant, kind.unwrap_or(""))
                    .await
                    .map_err(manager)?;
                let listed: Vec<Value> = listed.into_iter().map(resource_json).collect();
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "resources": listed }),
                ))
            }
            (Route::Resource { tenant, kind, name }, method) => {
                let tenant = self.tenant(&request, tenant)?;
                known_kind(kind)?;
                let key = ResourceKey::new(&tenant, kind, name)
                    .map_err(|e| ApiError::invalid(e.to_string()))?;
                match method {
                    Method::GET => {
                        let found = self
                            .upstreams
                            .get(&tenant, kind, name)
                            .await
                            .map_err(manager)?;
                        Ok(json_response(StatusCode::OK, &resource_json(found)))
                    }
                    Method::PUT => self.apply(&key, request).await,
                    Method::DELETE => self.delete(&key).await,
                    _ => Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
                }
            }
            (route, _) => Err(ApiError::method_not_allowed(route.allowed())),
        }
    }

    /// The tenant a request may act for: the one its path names, which a
    /// tenant's token must be.
    fn tenant(&self, request: &Request<Incoming>, named: &str) -> Result<String, ApiError> {
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let caller = self.gate.caller_with(token).map_err(|s| match s.code() {
            Code::PermissionDenied => ApiError::forbidden(s.message()),
            _ => ApiError::unauthenticated(s.message().replace(
                "`authorization: Bearer <token>`",
                "`Authorization: Bearer <token>`",
            )),
        })?;
        resource_manager::store::check_label("tenant", named)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        match caller {
            Caller::Operator => Ok(named.to_owned()),
            Caller::Tenant(tenant) if tenant == named => Ok(tenant),
            Caller::Tenant(tenant) => {
                tracing::info!(%tenant, named, "a tenant's request for another tenant refused");
                Err(ApiError::forbidden(format!(
                    "a token of tenant `{tenant}` reaches only /v1/tenants/{tenant}/"
                )))
            }
        }
    }

    async fn apply(
        &self,
        key: &ResourceKey,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let spec = read_spec(request).await?;
        // Checked here too, so a spec the manager would refuse never
        // takes quota.
        let spec = key
            .kind
            .check(spec)
            .map_err(|why| ApiError::invalid(format!("{} `{}`: {why}", key.kind, key.name)))?;
        let (tenant, kind, name) = (&key.tenant, key.kind.as_str(), &key.name);
        let id = reservation_id(key);
        self.upstreams
            .reserve(tenant, &id, kind, 0)
            .await
            .map_err(|s| match s.code() {
                Code::FailedPrecondition => ApiError::insufficient_credits(s.message()),
                _ => ApiError::from_upstream("creditservice", &s),
            })?;
        let applied = match self
            .upstreams
            .apply(tenant, kind, name, spec.to_string())
            .await
        {
            Ok(applied) => applied,
            Err(refused) => {
                self.release_unless_kept(key, &id).await;
                return Err(manager(refused));
            }
        };
        if let Err(e) = self.upstreams.commit(tenant, &id).await {
            // The unit is held either way; only the credits' fate waits.
            tracing::warn!(%tenant, %id, error = %e.message(), "reservation not committed yet");
        }
        let status = match applied.applied.as_str() {
            "created" => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        let mut body = applied.resource.map(resource_json).unwrap_or(Value::Null);
        body["applied"] = Value::String(applied.applied);
        Ok(json_response(status, &body))
    }

    /// Releases `id` unless the resource it was taken for exists (and is
    /// not being deleted): after a refused apply, whose answer may have
    /// been lost rather than refused.
    async fn release_unless_kept(&self, key: &ResourceKey, id: &str) {
        let kept = match self
            .upstreams
            .get(&key.tenant, key.kind.as_str(), &key.name)
            .await
        {
            Ok(found) => !found.deleting,
            Err(s) if s.code() == Code::NotFound => false,
            Err(s) => {
                tracing::warn!(tenant = %key.tenant, %id, error = %s.message(), "cannot tell whether the resource exists; its quota stays held until it is applied or deleted");
                return;
            }
        };
        if !kept && let Err(e) = self.upstreams.release(&key.tenant, id).await {
            tracing::warn!(tenant = %key.tenant, %id, error = %e.message(), "quota not released");
        }
    }

    async fn delete(&self, key: &ResourceKey) -> Result<Response<Full<Bytes>>, ApiError> {
        let (tenant, kind, name) = (&key.tenant, key.kind.as_str(), &key.name);
        let id = reservation_id(key);
        let deleted = self.upstreams.delete(tenant, kind, name).await;
        // Gone or going: its unit goes back. A DELETE repeated after a
        // failed release releases it then.
        let gone = matches!(&deleted, Err(s) if s.code() == Code::NotFound);
        if deleted.is_ok() || gone {
            self.upstreams
                .release(tenant, &id)
                .await
                .map_err(|s| ApiError::from_upstream("creditservice", &s))?;
        }
        let deleted = deleted.map_err(manager)?;
        Ok(json_response(StatusCode::ACCEPTED, &resource_json(deleted)))
    }
}

/// Nothing if `kind` is a resource kind: a path naming another is no
/// route (404), as the OpenAPI document has a path per kind.
fn known_kind(kind: &str) -> Result<(), ApiError> {
    resource_manager::model::Kind::parse(kind)
        .map(|_| ())
        .map_err(ApiError::not_found)
}

/// The resource manager's refusal as the API's.
fn manager(status: tonic::Status) -> ApiError {
    ApiError::from_upstream("the resource manager", &status)
}

/// The reservation a resource's quota is held under.
pub fn reservation_id(key: &ResourceKey) -> String {
    format!("{}.{}", key.kind, key.name)
}

/// The operation `method` on `route` is, for `/metrics`.
fn operation(method: &Method, route: &Route<'_>) -> &'static str {
    match (route, method) {
        (Route::OpenApi, &Method::GET) => "openapi",
        (Route::Account { .. }, &Method::GET) => "account",
        (Route::Resources { .. }, &Method::GET) => "list",
        (Route::Resource { .. }, &Method::GET) => "get",
        (Route::Resource { .. }, &Method::PUT) => "apply",
        (Route::Resource { .. }, &Method::DELETE) => "delete",
        _ => "unknown",
    }
}

/// A PUT's body: JSON (said so by its content type), an object, at most
/// [`MAX_SPEC_BYTES`].
async fn read_spec(request: Request<Incoming>) -> Result<Value, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let is_json = content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(ApiError::not_json(content_type));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_SPEC_BYTES as u64) {
        return Err(ApiError::too_large(MAX_SPEC_BYTES));
    }
    let body = Limited::new(request.into_body(), MAX_SPEC_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::too_large(MAX_SPEC_BYTES)
            } else {
                ApiError::invalid(format!("the body could not be read: {e}"))
            }
        })?
        .to_bytes();
    let spec: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("the body is not JSON: {e}")))?;
    if !spec.is_object() {
        return Err(ApiError::invalid(
            "the body is the resource's spec: a JSON object",
        ));
    }
    Ok(spec)
}

/// `text` (JSON written by an upstream) as a value; an object when empty.
fn parsed(text: &str) -> Value {
    if text.is_empty() {
        return json!({});
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A resource as the API shows it (schema `Resource`).
pub fn resource_json(r: resources::Resource) -> Value {
    let ready = r.status.as_ref().is_some_and(|s| s.ready);
    json!({
        "tenant": r.tenant,
        "kind": r.kind,
        "name": r.name,
        "spec": parsed(&r.spec_json),
        "generation": r.generation,
        "deleting": r.deleting,
        "finalizers": r.finalizers,
        "ready": ready,
        "placement": (!r.placement.is_empty()).then_some(r.placement),
        "status": r.status.map(|s| json!({
            "agent": s.agent,
            "observed_generation": s.observed_generation,
            "state": s.state,
            "message": s.message,
            "outputs": parsed(&s.outputs_json),
        })),
    })
}

/// An account as the API shows it (schema `Account`).
fn account_json(a: creditservice::api::proto::Account) -> Value {
    let usage: Vec<Value> = a
        .usage
        .into_iter()
        .map(|u| json!({ "kind": u.kind, "used": u.used, "limit": u.limit }))
        .collect();
    json!({ "tenant": a.tenant, "balance": a.balance, "usage": usage })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_routes_and_nothing_else() {
        assert_eq!(Route::of("/openapi.json"), Some(Route::OpenApi));
        assert_eq!(
            Route::of("/v1/tenants/acme/account"),
            Some(Route::Account { tenant: "acme" })
        );
        assert_eq!(
            Route::of("/v1/tenants/acme/resources"),
            Some(Route::Resources {
                tenant: "acme",
                kind: None
            })
        );
        assert_eq!(
            Route::of("/v1/tenants/acme/resources/bucket"),
            Some(Route::Resources {
                tenant: "acme",
                kind: Some("bucket")
            })
        );
        assert_eq!(
            Route::of("/v1/tenants/acme/resources/bucket/photos"),
            Some(Route::Resource {
                tenant: "acme",
                kind: "bucket",
                name: "photos"
            })
        );
        for path in [
            "/",
            "/v1/tenants/acme",
            "/v1/tenants/acme/",
            "/v1/tenants//account",
            "/v1/tenants/acme/resources/bucket/photos/extra",
            "/v1/tenants/acme/resources/bucket/",
            "/v2/tenants/acme/account",
        ] {
            assert_eq!(Route::of(path), None, "{path}");
        }
    }

    #[test]
    fn a_resource_shows_its_spec_and_status_as_json() {
        let shown = resource_json(resources::Resource {
            tenant: "acme".into(),
            kind: "dns-record".into(),
            name: "www".into(),
            spec_json: r#"{"type":"A","ttl":300,"values":["10.0.0.1"]}"#.into(),
            generation: 2,
            deleting: false,
            finalizers: vec!["flashdns".into()],
            status: Some(resources::Status {
                agent: "flashdns".into(),
                observed_generation: 2,
                state: "ready".into(),
                message: "answered".into(),
                outputs_json: r#"{"fqdn":"www.acme.tenants.photon.test"}"#.into(),
                ready: true,
            }),
            placement: String::new(),
        });
        assert_eq!(shown["spec"]["values"][0], "10.0.0.1");
        assert_eq!(shown["ready"], true);
        assert_eq!(
            shown["status"]["outputs"]["fqdn"],
            "www.acme.tenants.photon.test"
        );
        let pending = resource_json(resources::Resource {
            status: None,
            ..Default::default()
        });
        assert_eq!(pending["ready"], false);
        assert_eq!(pending["status"], Value::Null);
        assert_eq!(shown["placement"], Value::Null);
        let placed = resource_json(resources::Resource {
            placement: "lb-2".into(),
            ..Default::default()
        });
        assert_eq!(placed["placement"], "lb-2");
    }
}

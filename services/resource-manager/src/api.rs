//! The resource manager's gRPC API over its [`ResourceStore`], publishing
//! each change on the bus.
//!
//! The operator's admin token (which the API gateway holds) reaches every
//! call for every tenant; a photonauth token for audience
//! `resource-manager` reads its own tenant's resources, and nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use photon_bus::Bus;
use photon_dsl::events::Subject;
use photonauth::api::{Caller, TenantGate};
use tonic::{Request, Response, Status as GrpcStatus};

use crate::spec::ResourceChanged;
use crate::store::{Applied, Resource as Stored, ResourceError, ResourceKey, ResourceStore, State};

/// The generated messages, server and client.
pub mod proto {
    tonic::include_proto!("resource_manager.v1");
}

use proto::resources_server::{Resources, ResourcesServer};
use proto::*;

/// The audience photonauth tokens for the resource manager name.
pub const AUDIENCE: &str = "resource-manager";

/// How long a change's event is retried while the bus is away. Agents
/// also look at every resource periodically, so an event given up on only
/// delays its change.
const PUBLISH_FOR: Duration = Duration::from_secs(60);

/// Publishes changes on the bus, in the background: the change is already
/// in chainfire, so the caller's answer never waits on the bus.
#[derive(Debug, Clone)]
pub struct Publisher {
    bus: Bus,
    subject: Subject<ResourceChanged>,
    /// Events published, and given up on.
    pub counts: Arc<PublishCounts>,
}

/// What the publisher did.
#[derive(Debug, Default)]
pub struct PublishCounts {
    /// Events the bus stored.
    pub published: AtomicU64,
    /// Events given up on after [`PUBLISH_FOR`].
    pub dropped: AtomicU64,
}

impl Publisher {
    /// Publishes on `subject` through `bus`.
    pub fn new(bus: Bus, subject: Subject<ResourceChanged>) -> Publisher {
        Publisher {
            bus,
            subject,
            counts: Arc::default(),
        }
    }

    /// Publishes that `resource` changed. Its id names the change
    /// (generation, and deletion), so a retry is stored once.
    pub fn changed(&self, resource: &Stored) {
        let event = ResourceChanged {
            tenant: resource.key.tenant.clone(),
            kind: resource.key.kind.as_str().to_owned(),
            name: resource.key.name.clone(),
            generation: resource.record.generation,
            deleting: resource.record.deleting,
        };
        let id = format!(
            "{}@{}{}",
            resource.key,
            event.generation,
            if event.deleting { "-deleting" } else { "" }
        );
        let this = self.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + PUBLISH_FOR;
            let mut wait = Duration::from_millis(100);
            loop {
                match this.bus.publish(&this.subject, &id, &event).await {
                    Ok(_) => {
                        this.counts.published.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(e) if tokio::time::Instant::now() + wait < deadline => {
                        tracing::debug!(%id, error = %e, "event not published yet; retrying");
                    }
                    Err(e) => {
                        this.counts.dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%id, error = %e, "event not published; agents will find the change when they next look");
                        return;
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        });
    }
}

/// The API over `store`.
#[derive(Debug, Clone)]
pub struct ResourceApi {
    store: ResourceStore,
    gate: TenantGate,
    publisher: Publisher,
}

fn status(error: ResourceError) -> GrpcStatus {
    let text = error.to_string();
    match error {
        ResourceError::BadName { .. }
        | ResourceError::BadKind(_)
        | ResourceError::BadSpec { .. } => GrpcStatus::invalid_argument(text),
        ResourceError::Missing { .. } => GrpcStatus::not_found(text),
        ResourceError::Deleting { .. } => GrpcStatus::failed_precondition(text),
        ResourceError::Busy(_) => GrpcStatus::aborted(text),
        ResourceError::Unavailable(_) => GrpcStatus::unavailable(text),
        ResourceError::Corrupt(_) => {
            tracing::error!(error = %text, "resource manager failed");
            GrpcStatus::internal("the resource manager failed; see its log")
        }
    }
}

/// `stored` as the API shows it.
pub fn resource(stored: Stored) -> Resource {
    let ready = stored.is_ready();
    Resource {
        placement: stored.record.placement.unwrap_or_default(),
        tenant: stored.key.tenant,
        kind: stored.key.kind.as_str().to_owned(),
        name: stored.key.name,
        spec_json: stored.record.spec.to_string(),
        generation: stored.record.generation,
        deleting: stored.record.deleting,
        finalizers: stored.record.finalizers,
        status: stored.status.map(|s| Status {
            agent: s.agent,
            observed_generation: s.observed_generation,
            state: match s.state {
                State::Ready => "ready",
                State::Failed => "failed",
                State::Pending => "pending",
            }
            .to_owned(),
            message: s.message,
            outputs_json: serde_json::Value::Object(s.outputs).to_string(),
            ready,
        }),
    }
}

impl ResourceApi {
    /// The tonic service: everything with `admin_token`, tenants' own
    /// resources with tokens signed by photonauth's `auth_key`.
    pub fn server(
        store: ResourceStore,
        publisher: Publisher,
        admin_token: &str,
        auth_key: Vec<u8>,
    ) -> ResourcesServer<ResourceApi> {
        ResourcesServer::new(ResourceApi {
            store,
            gate: TenantGate::new(admin_token, auth_key, AUDIENCE),
            publisher,
        })
    }
}

fn key(tenant: &str, kind: &str, name: &str) -> Result<ResourceKey, GrpcStatus> {
    ResourceKey::new(tenant, kind, name).map_err(status)
}

#[tonic::async_trait]
impl Resources for ResourceApi {
    async fn apply(
        &self,
        request: Request<ApplyRequest>,
    ) -> Result<Response<ApplyResponse>, GrpcStatus> {
        self.gate.operator(&request, "Apply")?;
        let r = request.into_inner();
        let key = key(&r.tenant, &r.kind, &r.name)?;
        let spec: serde_json::Value = serde_json::from_str(&r.spec_json).map_err(|e| {
            GrpcStatus::invalid_argument(format!(
                "{} `{}`: `spec_json` is not JSON: {e}",
                key.kind, key.name
            ))
        })?;
        let (stored, applied) = self.store.apply(&key, spec).await.map_err(status)?;
        if applied != Applied::Unchanged {
            self.publisher.changed(&stored);
        }
        Ok(Response::new(ApplyResponse {
            resource: Some(resource(stored)),
            applied: match applied {
                Applied::Created => "created",
                Applied::Updated => "updated",
                Applied::Unchanged => "unchanged",
            }
            .to_owned(),
        }))
    }

    async fn get(&self, request: Request<ResourceRef>) -> Result<Response<Resource>, GrpcStatus> {
        let tenant = self
            .gate
            .tenant(&request, &request.get_ref().tenant, "resources")?;
        let r = request.into_inner();
        let key = key(&tenant, &r.kind, &r.name)?;
        match self.store.get(&key).await.map_err(status)? {
            Some(stored) => Ok(Response::new(resource(stored))),
            None => Err(status(ResourceError::Missing {
                tenant: key.tenant,
                kind: key.kind,
                name: key.name,
            })),
        }
    }

    async fn list(
        &self,
        request: Request<ListRequest>,
    ) -> Result<Response<ListResponse>, GrpcStatus> {
        let named = &request.get_ref().tenant;
        // The operator may list every tenant's at once.
        let tenant = match self.gate.caller(&request)? {
            Caller::Operator if named.is_empty() => None,
            _ => Some(self.gate.tenant(&request, named, "resources")?),
        };
        let kinds = match request.get_ref().kind.as_str() {
            "" => Vec::new(),
            kind => vec![crate::model::Kind::parse(kind).map_err(GrpcStatus::invalid_argument)?],
        };
        let resources = self
            .store
            .list(tenant.as_deref(), &kinds)
            .await
            .map_err(status)?
            .into_iter()
            .map(resource)
            .collect();
        Ok(Response::new(ListResponse { resources }))
    }

    async fn delete(
        &self,
        request: Request<ResourceRef>,
    ) -> Result<Response<Resource>, GrpcStatus> {
        self.gate.operator(&request, "Delete")?;
        let r = request.into_inner();
        let key = key(&r.tenant, &r.kind, &r.name)?;
        let stored = self.store.delete(&key).await.map_err(status)?;
        self.publisher.changed(&stored);
        Ok(Response::new(resource(stored)))
    }
}

//! The storage agent: tenants' `bucket` resources made buckets of an
//! integrated lightningstor, owned by their tenant (so only that tenant's
//! photonauth keys reach them), written into that lightningstor's
//! metadata in chainfire, which it reads on every request.
//!
//! A bucket's name is the tenant's and the resource's (`acme-photos`), so
//! two tenants' `photos` never meet. Ensuring is idempotent (a bucket that
//! exists with the tenant as owner is left as it is; one of another owner
//! is reported, never taken over); removing refuses a bucket that still
//! holds objects, as S3 does, and is tried again until it is emptied.

use photon_dsl::Node;
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};
use resource_manager::agent::{Outputs, Reconciler};
use resource_manager::model::Kind;
use resource_manager::store::{Resource, ResourceStore};

use crate::spec::{AgentAdminListener, StorageAgent};
use crate::store::chainfire::{ChainfireMeta, instance_prefix};
use crate::store::{BucketRecord, BucketRef, MetaStore, StoreError};

/// Makes bucket resources buckets.
struct Buckets {
    meta: ChainfireMeta,
    /// Where the lightningstor's S3 API is, for the tenant.
    endpoint: String,
}

/// The bucket a resource owns.
fn bucket_name(resource: &Resource) -> String {
    format!("{}-{}", resource.key.tenant, resource.key.name)
}

impl Reconciler for Buckets {
    fn agent(&self) -> &'static str {
        Kind::Bucket.agent()
    }

    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Bucket]
    }

    fn ensure<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<Outputs, String>> {
        Box::pin(async move {
            let name = bucket_name(resource);
            let tenant = &resource.key.tenant;
            if name.len() > 63 {
                return Err(format!(
                    "bucket `{name}` would be longer than S3's 63 characters: choose a shorter name"
                ));
            }
            let record = match self.meta.bucket(&name).await.map_err(|e| e.to_string())? {
                Some(record) => record,
                None => {
                    let record = BucketRecord {
                        created_ms: crate::s3::common::now_ms(),
                        owner: Some(tenant.clone()),
                    };
                    match self.meta.create_bucket(&name, &record).await {
                        Ok(()) | Err(StoreError::BucketExists) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                    self.meta
                        .bucket(&name)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or("the bucket vanished while it was made")?
                }
            };
            if record.owner.as_deref() != Some(tenant.as_str()) {
                return Err(format!(
                    "bucket `{name}` exists and belongs to {}",
                    record
                        .owner
                        .map_or("the operator".to_owned(), |o| format!("tenant `{o}`"))
                ));
            }
            let mut outputs = Outputs::new();
            outputs.insert("bucket".into(), name.into());
            outputs.insert("endpoint".into(), self.endpoint.clone().into());
            Ok(outputs)
        })
    }

    fn remove<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let name = bucket_name(resource);
            let tenant = resource.key.tenant.as_str();
            match self
                .meta
                .delete_bucket(BucketRef::of(&name, Some(tenant)))
                .await
            {
                // another owner's is not ours to delete
                Ok(()) | Err(StoreError::NoSuchBucket) | Err(StoreError::NotYours) => Ok(()),
                Err(StoreError::BucketNotEmpty) => Err(format!(
                    "bucket `{name}` still holds objects: delete them first"
                )),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

impl<N: Node> Service for StorageAgent<N> {
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &["async_nats"]
    }

    fn uses_event_bus(&self) -> bool {
        true
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let (client, cluster) = ctx.state_store_only("storage-agent").await?;
            // A deployment's lightningstor is the instance named after its
            // node.
            let instance = spec.storage.node().to_string();
            let meta = ChainfireMeta::new(client.clone(), instance_prefix(&cluster, &instance));
            let endpoint = format!(
                "http://{}",
                ctx.address_of(spec.storage.node(), spec.storage.port())
                    .await?
            );
            let admin = ctx.tcp(AgentAdminListener, &spec)?;
            tracing::info!(storage = %endpoint, %instance, "bucket resources become buckets there");
            resource_manager::agent::serve(
                ctx,
                Buckets { meta, endpoint },
                ResourceStore::new(client, &cluster),
                spec.changes,
                spec.resync_seconds,
                admin,
            )
            .await
        })
    }
}

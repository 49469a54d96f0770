//! The admin gRPC API (`proto/lightningstor/admin.proto`): bucket
//! statistics and access keys, for the operator only.

use tonic::{Request, Response, Status};

use crate::auth::{KeyError, KeyRing};
use crate::store::{BucketRef, Store, StoreError};

/// The generated wire types and service stubs.
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod proto {
    tonic::include_proto!("lightningstor.admin.v1");
}

use proto::admin_server::{Admin, AdminServer};
use proto::*;

/// The metadata that names the caller's access key.
pub const ACCESS_KEY_HEADER: &str = "x-lightningstor-access-key";
/// The longest key description accepted.
const MAX_DESCRIPTION: usize = 256;

/// The admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    store: Store,
    keys: KeyRing,
}

impl AdminService {
    /// The tonic server for this service.
    pub fn server(store: Store, keys: KeyRing) -> AdminServer<AdminService> {
        AdminServer::new(AdminService { store, keys })
    }

    /// Only the operator's key may administer: its id in
    /// [`ACCESS_KEY_HEADER`], its secret as a bearer token.
    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let metadata = request.metadata();
        let id = metadata
            .get(ACCESS_KEY_HEADER)
            .and_then(|v| v.to_str().ok());
        let secret = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (id, secret) {
            (Some(id), Some(secret)) if self.keys.is_operator(id, secret) => Ok(()),
            (Some(_), Some(_)) => Err(Status::permission_denied(
                "only the operator's access key may use the admin API, and the secret must match",
            )),
            _ => Err(Status::unauthenticated(format!(
                "send the operator's access key id in `{ACCESS_KEY_HEADER}` and its secret as `authorization: Bearer <secret>`"
            ))),
        }
    }

    async fn stats(&self, name: &str, created_ms: i64) -> Result<BucketStats, Status> {
        let (objects, bytes) = self.store.bucket_usage(name).await.map_err(store_status)?;
        let open_uploads = self
            .store
            .uploads(BucketRef::any(name))
            .await
            .map_err(store_status)?
            .len() as u64;
        Ok(BucketStats {
            name: name.to_owned(),
            created_ms,
            objects,
            bytes,
            open_uploads,
        })
    }
}

fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::NoSuchBucket => Status::not_found("the bucket does not exist"),
        other => {
            tracing::error!(error = %other, "admin API: store failed");
            Status::internal("the metadata store failed; see the server log")
        }
    }
}

fn key_status(error: KeyError) -> Status {
    match error {
        KeyError::OperatorKey(_) | KeyError::CheckedByPhotonAuth => {
            Status::failed_precondition(error.to_string())
        }
        KeyError::Store(e) => store_status(e),
        other => {
            tracing::error!(error = %other, "admin API: key management failed");
            Status::internal(other.to_string())
        }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn list_buckets(
        &self,
        request: Request<ListBucketsRequest>,
    ) -> Result<Response<ListBucketsResponse>, Status> {
        self.authorize(&request)?;
        let mut buckets = Vec::new();
        for (name, record) in self.store.buckets().await.map_err(store_status)? {
            buckets.push(self.stats(&name, record.created_ms).await?);
        }
        Ok(Response::new(ListBucketsResponse { buckets }))
    }

    async fn get_bucket_stats(
        &self,
        request: Request<GetBucketStatsRequest>,
    ) -> Result<Response<BucketStats>, Status> {
        self.authorize(&request)?;
        let name = request.into_inner().bucket;
        let record = self
            .store
            .bucket(&name)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("no bucket `{name}`")))?;
        let stats = self.stats(&name, record.created_ms).await?;
        Ok(Response::new(stats))
    }

    async fn create_access_key(
        &self,
        request: Request<CreateAccessKeyRequest>,
    ) -> Result<Response<CreateAccessKeyResponse>, Status> {
        self.authorize(&request)?;
        let description = request.into_inner().description;
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(Status::invalid_argument(format!(
                "the description is over {MAX_DESCRIPTION} characters"
            )));
        }
        let issued = self
            .keys
            .create_key(&description)
            .await
            .map_err(key_status)?;
        tracing::info!(key = %issued.id, "admin API: access key created");
        Ok(Response::new(CreateAccessKeyResponse {
            access_key_id: issued.id,
            secret_access_key: issued.secret,
        }))
    }

    async fn revoke_access_key(
        &self,
        request: Request<RevokeAccessKeyRequest>,
    ) -> Result<Response<RevokeAccessKeyResponse>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().access_key_id;
        let revoked = self.keys.revoke(&id).await.map_err(key_status)?;
        if !revoked {
            return Err(Status::not_found(format!("no access key `{id}`")));
        }
        tracing::info!(key = %id, "admin API: access key revoked");
        Ok(Response::new(RevokeAccessKeyResponse {}))
    }

    async fn list_access_keys(
        &self,
        request: Request<ListAccessKeysRequest>,
    ) -> Result<Response<ListAccessKeysResponse>, Status> {
        self.authorize(&request)?;
        let listed = self.keys.list().await.map_err(key_status)?;
        let keys = listed
            .into_iter()
            .map(|(id, record)| AccessKeyInfo {
                access_key_id: id,
                description: record.description,
                created_ms: record.created_ms,
                expires_ms: record.session.as_ref().map(|s| s.expires_ms),
                parent: record.session.map(|s| s.parent).unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(ListAccessKeysResponse { keys }))
    }
}

//! Bucket operations: list, create, head, location, delete.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::common::*;
use super::*;
use crate::auth::Caller;

impl LightningS3 {
    /// A tenant sees its own buckets; the operator sees every bucket.
    pub(super) async fn handle_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = Caller::of(&req.extensions);
        let buckets = self
            .store
            .buckets()
            .await?
            .into_iter()
            .filter(|(_, record)| caller.owns(record))
            .map(|(name, record)| Bucket {
                name: Some(name),
                creation_date: Some(timestamp(record.created_ms)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    pub(super) async fn handle_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket;
        if RESERVED_BUCKETS.contains(&bucket.as_str()) {
            return Err(s3_error!(
                InvalidBucketName,
                "This bucket name is reserved: /health and /metrics are served at it"
            ));
        }
        let caller = Caller::of(&req.extensions);
        let record = BucketRecord {
            created_ms: now_ms(),
            owner: caller.tenant().map(str::to_owned),
        };
        match self.store.create_bucket(&bucket, &record).await {
            Ok(()) => {}
            // Buckets share one namespace: whose it is decides the answer.
            Err(crate::store::StoreError::BucketExists) => {
                let existing = self.store.bucket(&bucket).await?;
                return Err(if existing.is_some_and(|r| caller.owns(&r)) {
                    s3_error!(BucketAlreadyOwnedByYou)
                } else {
                    s3_error!(BucketAlreadyExists)
                });
            }
            Err(e) => return Err(e.into()),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    pub(super) async fn handle_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.store
            .require_bucket(Caller::of(&req.extensions).bucket(&req.input.bucket))
            .await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    pub(super) async fn handle_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.store
            .require_bucket(Caller::of(&req.extensions).bucket(&req.input.bucket))
            .await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    pub(super) async fn handle_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store
            .delete_bucket(Caller::of(&req.extensions).bucket(&req.input.bucket))
            .await?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }
}

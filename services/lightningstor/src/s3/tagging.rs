//! Object tags: put, get, delete.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::common::*;
use super::*;

impl LightningS3 {
    pub(super) async fn handle_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let tags: Vec<(String, String)> = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        check_tags(&tags)?;
        self.retag(caller.bucket(&input.bucket), &input.key, tags)
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    pub(super) async fn handle_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let record = self
            .object(
                Caller::of(&req.extensions).bucket(&req.input.bucket),
                &req.input.key,
            )
            .await?;
        let tag_set = record
            .tags
            .into_iter()
            .map(|(key, value)| Tag {
                key: Some(key),
                value: Some(value),
            })
            .collect();
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set,
            version_id: None,
        }))
    }

    pub(super) async fn handle_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.retag(
            Caller::of(&req.extensions).bucket(&req.input.bucket),
            &req.input.key,
            Vec::new(),
        )
        .await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
    }

    async fn retag(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> S3Result<()> {
        self.store
            .update_object(bucket, key, &|record| record.tags = tags.clone())
            .await?
            .map(|_| ())
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }
}

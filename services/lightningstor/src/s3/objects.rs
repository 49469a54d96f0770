//! Object operations: put, get, head, delete (one or many), copy, list.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::common::*;
use super::*;

/// GetObject's and HeadObject's answers describe an object with the same
/// fields (two generated structs): fills them from `record`, for the whole
/// object or the `selected` range, plus `extra` fields.
macro_rules! describe_object {
    ($output:ident, $record:expr, $selected:expr, $with_checksums:expr, { $($extra:tt)* }) => {{
        let record: &ObjectRecord = $record;
        let selected: Option<std::ops::Range<u64>> = $selected;
        let with_checksums: bool = $with_checksums;
        let range = selected.clone().unwrap_or(0..record.size);
        let c = &record.checksums;
        let h = &record.headers;
        let checksum = |value: &Option<String>| value.clone().filter(|_| with_checksums);
        $output {
            $($extra)*
            content_length: Some((range.end - range.start) as i64),
            content_range: selected
                .map(|r| format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), record.size)),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&record.etag)),
            last_modified: Some(timestamp(record.modified_ms)),
            // S3's type for an object stored without one.
            content_type: Some(
                h.content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            metadata: metadata_map(&record.metadata),
            parts_count: record.parts.map(|n| n as i32),
            checksum_crc32: checksum(&c.crc32),
            checksum_crc32c: checksum(&c.crc32c),
            checksum_sha1: checksum(&c.sha1),
            checksum_sha256: checksum(&c.sha256),
            checksum_crc64nvme: checksum(&c.crc64nvme),
            ..Default::default()
        }
    }};
}

impl LightningS3 {
    pub(super) async fn handle_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        check_key(&input.key)?;
        self.store
            .require_bucket(caller.bucket(&input.bucket))
            .await?;
        let tags = tags_from_header(input.tagging.as_deref())?;
        if let Some(condition) = &input.if_none_match
            && self
                .store
                .object(caller.bucket(&input.bucket), &input.key)
                .await?
                .is_some()
            && matches!(condition, ETagCondition::Any)
        {
            return Err(precondition_failed());
        }
        let claims = BodyClaims {
            length: input.content_length,
            md5: input.content_md5,
            checksums: sent_checksums(
                input.checksum_crc32,
                input.checksum_crc32c,
                input.checksum_sha1,
                input.checksum_sha256,
                input.checksum_crc64nvme,
            ),
        };
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(|a| a.as_str().to_owned());
        let written = receive(&self.store, input.body, &claims, algorithm.as_deref()).await?;
        let record = ObjectRecord {
            segments: vec![Segment {
                blob: written.id.clone(),
                size: written.size,
            }],
            size: written.size,
            etag: hex::encode(written.md5),
            modified_ms: now_ms(),
            headers: headers_of(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
            ),
            metadata: metadata_pairs(input.metadata),
            checksums: checksums_of(&written.checksums),
            tags,
            parts: None,
        };
        if let Err(e) = self
            .store
            .put_object(caller.bucket(&input.bucket), &input.key, &record)
            .await
        {
            self.store.discard_blobs([written.id.as_str()]);
            return Err(e.into());
        }
        let c = written.checksums;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: c.checksum_crc32,
            checksum_crc32c: c.checksum_crc32c,
            checksum_sha1: c.checksum_sha1,
            checksum_sha256: c.checksum_sha256,
            checksum_crc64nvme: c.checksum_crc64nvme,
            size: Some(record.size as i64),
            ..Default::default()
        }))
    }

    pub(super) async fn handle_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let record = self
            .object(caller.bucket(&input.bucket), &input.key)
            .await?;
        check_conditions(
            &record,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
            not_modified,
        )?;
        let selected = select(input.range.as_ref(), input.part_number, &record)?;
        let range = selected.clone().unwrap_or(0..record.size);
        let body = read_range(&self.store, &record, range).await?;
        // Checksums describe the whole object, never a range of it.
        let with_checksums = selected.is_none() && wants_checksums(input.checksum_mode.as_ref());
        let tag_count = (!record.tags.is_empty()).then_some(record.tags.len() as i32);
        Ok(S3Response::new(describe_object!(
            GetObjectOutput,
            &record,
            selected,
            with_checksums,
            {
                body: Some(blob_body(body)),
                tag_count,
            }
        )))
    }

    pub(super) async fn handle_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let record = self
            .object(caller.bucket(&input.bucket), &input.key)
            .await?;
        check_conditions(
            &record,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
            not_modified,
        )?;
        let selected = select(input.range.as_ref(), input.part_number, &record)?;
        let with_checksums = wants_checksums(input.checksum_mode.as_ref());
        Ok(S3Response::new(describe_object!(
            HeadObjectOutput,
            &record,
            selected,
            with_checksums,
            {}
        )))
    }

    pub(super) async fn handle_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        self.store
            .delete_object(caller.bucket(&input.bucket), &input.key)
            .await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    pub(super) async fn handle_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        // A photonauth key may delete only the keys its policies allow.
        let principal = req
            .extensions
            .get::<std::sync::Arc<crate::auth::tenants::Principal>>()
            .cloned();
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        self.store
            .require_bucket(caller.bucket(&input.bucket))
            .await?;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "At most 1000 keys can be deleted at once"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            let resource = format!("{}/{}", input.bucket, object.key);
            if let Some(Err(refused)) = principal
                .as_ref()
                .map(|p| p.allow("s3:DeleteObject", &resource))
            {
                errors.push(Error {
                    code: Some("AccessDenied".into()),
                    key: Some(object.key),
                    message: refused.message().map(str::to_owned),
                    version_id: None,
                });
                continue;
            }
            match self
                .store
                .delete_object(caller.bucket(&input.bucket), &object.key)
                .await
            {
                Ok(_) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => {
                    // The bucket gone or another tenant's since the request
                    // came in: said as such; anything else is ours.
                    let e = S3Error::from(e);
                    errors.push(Error {
                        code: Some(e.code().as_str().to_owned()),
                        key: Some(object.key),
                        message: e.message().map(str::to_owned),
                        version_id: None,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub(super) async fn handle_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        check_key(&input.key)?;
        let (source_bucket, source_key, source) =
            self.copy_source(&caller, &input.copy_source).await?;
        self.store
            .require_bucket(caller.bucket(&input.bucket))
            .await?;
        check_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            precondition_failed,
        )?;
        let replace_metadata = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
        if source_bucket == input.bucket && source_key == input.key && !replace_metadata {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let written = copy_into_blob(&self.store, &source, 0..source.size).await?;
        let (headers, metadata) = if replace_metadata {
            (
                headers_of(
                    input.content_type,
                    input.content_encoding,
                    input.content_disposition,
                    input.content_language,
                    input.cache_control,
                ),
                metadata_pairs(input.metadata),
            )
        } else {
            (source.headers.clone(), source.metadata.clone())
        };
        let tags = if replace_tags {
            tags_from_header(input.tagging.as_deref())?
        } else {
            source.tags.clone()
        };
        let record = ObjectRecord {
            segments: vec![Segment {
                blob: written.id.clone(),
                size: written.size,
            }],
            size: written.size,
            // The source's ETag, multipart form included, as S3 keeps it
            // for a copy that does not re-chunk.
            etag: if source.parts.is_some() {
                hex::encode(written.md5)
            } else {
                source.etag.clone()
            },
            modified_ms: now_ms(),
            headers,
            metadata,
            checksums: source.checksums.clone(),
            tags,
            parts: None,
        };
        if let Err(e) = self
            .store
            .put_object(caller.bucket(&input.bucket), &input.key, &record)
            .await
        {
            self.store.discard_blobs([written.id.as_str()]);
            return Err(e.into());
        }
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(timestamp(record.modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn handle_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::v2(&self.store, &Caller::of(&req.extensions), req.input)
            .await
            .map(S3Response::new)
    }

    pub(super) async fn handle_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list::v1(&self.store, &Caller::of(&req.extensions), req.input)
            .await
            .map(S3Response::new)
    }
}

//! The S3 operations over the [`Store`]. `s3s` does the wire work (routing,
//! SigV4 in headers, presigned URLs and aws-chunked bodies, XML, error
//! documents); these functions are what each operation means here.

mod common;
mod host;
mod list;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::store::{
    BucketRecord, Checksums, ObjectRecord, PartRecord, Segment, Store, UploadRecord,
};
use common::*;
pub(crate) use common::{internal, now_ms, timestamp};
pub use host::VirtualHosts;

/// Smallest part except the last, as S3 requires.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// Highest part number.
pub const MAX_PART_NUMBER: i32 = 10_000;

/// Bucket names that `/health` and `/metrics` would shadow.
pub const RESERVED_BUCKETS: [&str; 2] = ["health", "metrics"];

/// lightningstor's S3 service.
#[derive(Debug, Clone)]
pub struct LightningS3 {
    store: Store,
}

impl LightningS3 {
    /// The S3 API over `store`.
    pub fn new(store: Store) -> Self {
        LightningS3 { store }
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectRecord> {
        self.store.require_bucket(bucket)?;
        self.store
            .object(bucket, key)?
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }

    fn copy_source(&self, source: &CopySource) -> S3Result<(String, String, ObjectRecord)> {
        let CopySource::Bucket { bucket, key, .. } = source else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket/key copy sources are supported"
            ));
        };
        let record = self.object(bucket, key)?;
        Ok((bucket.to_string(), key.to_string(), record))
    }
}

fn sent_checksums(
    crc32: Option<String>,
    crc32c: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    crc64nvme: Option<String>,
) -> Checksums {
    Checksums {
        crc32,
        crc32c,
        sha1,
        sha256,
        crc64nvme,
    }
}

fn wants_checksums(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

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
            content_type: h.content_type.clone(),
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

#[async_trait::async_trait]
impl S3 for LightningS3 {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .store
            .buckets()?
            .into_iter()
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

    async fn create_bucket(
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
        self.store.create_bucket(
            &bucket,
            &BucketRecord {
                created_ms: now_ms(),
            },
        )?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.store.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.store.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket)?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        self.store.require_bucket(&input.bucket)?;
        let tags = tags_from_header(input.tagging.as_deref())?;
        if let Some(condition) = &input.if_none_match
            && self.store.object(&input.bucket, &input.key)?.is_some()
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
        if let Err(e) = self.store.put_object(&input.bucket, &input.key, &record) {
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

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let record = self.object(&input.bucket, &input.key)?;
        check_conditions(
            &record,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
            not_modified,
        )?;
        let selected = select(input.range.as_ref(), record.size)?;
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

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let record = self.object(&input.bucket, &input.key)?;
        check_conditions(
            &record,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
            not_modified,
        )?;
        let selected = select(input.range.as_ref(), record.size)?;
        let with_checksums = wants_checksums(input.checksum_mode.as_ref());
        Ok(S3Response::new(describe_object!(
            HeadObjectOutput,
            &record,
            selected,
            with_checksums,
            {}
        )))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.store.delete_object(&input.bucket, &input.key)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.store.require_bucket(&input.bucket)?;
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
            match self.store.delete_object(&input.bucket, &object.key) {
                Ok(_) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(key = %object.key, error = %e, "batch delete failed");
                    errors.push(Error {
                        code: Some("InternalError".into()),
                        key: Some(object.key),
                        message: Some("We encountered an internal error. Please try again.".into()),
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

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let (source_bucket, source_key, source) = self.copy_source(&input.copy_source)?;
        self.store.require_bucket(&input.bucket)?;
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
        if let Err(e) = self.store.put_object(&input.bucket, &input.key, &record) {
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

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::v2(&self.store, req.input).map(S3Response::new)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list::v1(&self.store, req.input).map(S3Response::new)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let record = UploadRecord {
            key: input.key.clone(),
            initiated_ms: now_ms(),
            headers: headers_of(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
            ),
            metadata: metadata_pairs(input.metadata),
            tags: tags_from_header(input.tagging.as_deref())?,
            checksum_algorithm: input
                .checksum_algorithm
                .as_ref()
                .map(|a| a.as_str().to_owned()),
        };
        self.store
            .create_upload(&input.bucket, &upload_id, &record)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self.store.upload(&input.bucket, &input.upload_id)?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
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
            .map(|a| a.as_str().to_owned())
            .or(upload.checksum_algorithm);
        let written = receive(&self.store, input.body, &claims, algorithm.as_deref()).await?;
        let record = PartRecord {
            blob: written.id.clone(),
            size: written.size,
            etag: hex::encode(written.md5),
            modified_ms: now_ms(),
            checksums: checksums_of(&written.checksums),
        };
        if let Err(e) = self
            .store
            .put_part(&input.bucket, &input.upload_id, number, &record)
        {
            self.store.discard_blobs([written.id.as_str()]);
            return Err(e.into());
        }
        let c = written.checksums;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: c.checksum_crc32,
            checksum_crc32c: c.checksum_crc32c,
            checksum_sha1: c.checksum_sha1,
            checksum_sha256: c.checksum_sha256,
            checksum_crc64nvme: c.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self.store.upload(&input.bucket, &input.upload_id)?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
        }
        let (_, _, source) = self.copy_source(&input.copy_source)?;
        check_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            precondition_failed,
        )?;
        let range = match input.copy_source_range.as_deref() {
            None => 0..source.size,
            Some(text) => {
                let range = Range::parse(text).map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The x-amz-copy-source-range value must be of the form bytes=first-last"
                    )
                })?;
                select(Some(&range), source.size)?.expect("a range was given")
            }
        };
        let written = copy_into_blob(&self.store, &source, range).await?;
        let record = PartRecord {
            blob: written.id.clone(),
            size: written.size,
            etag: hex::encode(written.md5),
            modified_ms: now_ms(),
            checksums: Checksums::default(),
        };
        if let Err(e) = self
            .store
            .put_part(&input.bucket, &input.upload_id, number, &record)
        {
            self.store.discard_blobs([written.id.as_str()]);
            return Err(e.into());
        }
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(timestamp(record.modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let upload = self.store.upload(&input.bucket, &input.upload_id)?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
        }
        let chosen = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if chosen.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let stored: std::collections::BTreeMap<u32, PartRecord> = self
            .store
            .parts(&input.bucket, &input.upload_id)?
            .into_iter()
            .collect();
        let mut segments = Vec::with_capacity(chosen.len());
        let mut md5s = Vec::with_capacity(chosen.len() * 16);
        let mut previous = 0;
        let count = chosen.len();
        let mut size = 0u64;
        for (i, part) in chosen.iter().enumerate() {
            let number = part
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "Each part needs a part number"))?;
            let number = part_number(number)?;
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = number;
            let Some(record) = stored.get(&number) else {
                return Err(s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found."
                ));
            };
            if let Some(given) = &part.e_tag
                && given.value().trim_matches('"') != record.etag
            {
                return Err(s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
                ));
            }
            if i + 1 < count && record.size < MIN_PART_BYTES {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed object size."
                ));
            }
            md5s.extend(hex::decode(&record.etag).map_err(|e| internal(&e))?);
            size += record.size;
            segments.push(Segment {
                blob: record.blob.clone(),
                size: record.size,
            });
        }
        let etag_value = {
            use md5::Digest as _;
            format!("{}-{count}", hex::encode(md5::Md5::digest(&md5s)))
        };
        let record = ObjectRecord {
            segments,
            size,
            etag: etag_value,
            modified_ms: now_ms(),
            headers: upload.headers,
            metadata: upload.metadata,
            checksums: Checksums::default(),
            tags: upload.tags,
            parts: Some(count as u32),
        };
        self.store
            .complete_upload(&input.bucket, &input.upload_id, &input.key, &record)?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&record.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = self.store.upload(&input.bucket, &input.upload_id)?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
        }
        self.store.abort_upload(&input.bucket, &input.upload_id)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self.store.upload(&input.bucket, &input.upload_id)?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
        }
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let all: Vec<(u32, PartRecord)> = self
            .store
            .parts(&input.bucket, &input.upload_id)?
            .into_iter()
            .filter(|(n, _)| *n > marker)
            .collect();
        let truncated = all.len() > max;
        let page: Vec<_> = all.into_iter().take(max).collect();
        let next = page.last().map(|(n, _)| *n as i32);
        let parts = page
            .into_iter()
            .map(|(number, part)| Part {
                part_number: Some(number as i32),
                e_tag: Some(etag(&part.etag)),
                size: Some(part.size as i64),
                last_modified: Some(timestamp(part.modified_ms)),
                checksum_crc32: part.checksums.crc32,
                checksum_crc32c: part.checksums.crc32c,
                checksum_sha1: part.checksums.sha1,
                checksum_sha256: part.checksums.sha256,
                checksum_crc64nvme: part.checksums.crc64nvme,
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next.filter(|_| truncated),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(parts),
            owner: Some(owner()),
            initiator: Some(Initiator {
                display_name: Some("lightningstor".into()),
                id: Some("lightningstor".into()),
            }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let mut uploads: Vec<(String, UploadRecord)> = self
            .store
            .uploads(&input.bucket)?
            .into_iter()
            .filter(|(_, u)| u.key.starts_with(&prefix))
            .filter(
                |(id, u)| match (&input.key_marker, &input.upload_id_marker) {
                    (Some(key), Some(marker)) => {
                        (u.key.as_str(), id.as_str()) > (key.as_str(), marker.as_str())
                    }
                    (Some(key), None) => u.key.as_str() > key.as_str(),
                    _ => true,
                },
            )
            .collect();
        uploads.sort_by(|a, b| (&a.1.key, &a.0).cmp(&(&b.1.key, &b.0)));
        let truncated = uploads.len() > max;
        uploads.truncate(max);
        let last = uploads.last().map(|(id, u)| (u.key.clone(), id.clone()));
        let list = uploads
            .into_iter()
            .map(|(id, u)| MultipartUpload {
                key: Some(u.key),
                upload_id: Some(id),
                initiated: Some(timestamp(u.initiated_ms)),
                owner: Some(owner()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: last.as_ref().filter(|_| truncated).map(|l| l.0.clone()),
            next_upload_id_marker: last.filter(|_| truncated).map(|l| l.1),
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            uploads: Some(list),
            ..Default::default()
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags: Vec<(String, String)> = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        check_tags(&tags)?;
        self.retag(&input.bucket, &input.key, tags)?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let record = self.object(&req.input.bucket, &req.input.key)?;
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

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.retag(&req.input.bucket, &req.input.key, Vec::new())?;
        Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
    }
}

impl LightningS3 {
    fn retag(&self, bucket: &str, key: &str, tags: Vec<(String, String)>) -> S3Result<()> {
        self.store
            .update_object(bucket, key, |record| record.tags = tags)?
            .map(|_| ())
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }
}

fn part_number(number: i32) -> S3Result<u32> {
    if !(1..=MAX_PART_NUMBER).contains(&number) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    Ok(number as u32)
}

fn owner() -> Owner {
    Owner {
        display_name: Some("lightningstor".into()),
        id: Some("lightningstor".into()),
    }
}

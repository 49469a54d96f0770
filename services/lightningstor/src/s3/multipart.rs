//! Multipart uploads: create, upload (and copy) parts, complete, abort,
//! list parts and uploads.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::common::*;
use super::*;

impl LightningS3 {
    pub(super) async fn handle_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let caller = Caller::of(&req.extensions);
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
            .create_upload(caller.bucket(&input.bucket), &upload_id, &record)
            .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    pub(super) async fn handle_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self
            .store
            .upload(caller.bucket(&input.bucket), &input.upload_id)
            .await?;
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
            .put_part(
                caller.bucket(&input.bucket),
                &input.upload_id,
                number,
                &record,
            )
            .await
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

    pub(super) async fn handle_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self
            .store
            .upload(caller.bucket(&input.bucket), &input.upload_id)
            .await?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
        }
        let (_, _, source) = self.copy_source(&caller, &input.copy_source).await?;
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
                select(Some(&range), None, &source)?.expect("a range was given")
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
            .put_part(
                caller.bucket(&input.bucket),
                &input.upload_id,
                number,
                &record,
            )
            .await
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

    pub(super) async fn handle_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let upload = self
            .store
            .upload(caller.bucket(&input.bucket), &input.upload_id)
            .await?;
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
            .parts(caller.bucket(&input.bucket), &input.upload_id)
            .await?
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
        let etag_value = { format!("{}-{count}", hex::encode(crate::store::Md5::digest(&md5s))) };
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
            .complete_upload(
                caller.bucket(&input.bucket),
                &input.upload_id,
                &input.key,
                &record,
            )
            .await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&record.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }

    pub(super) async fn handle_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let upload = self
            .store
            .upload(caller.bucket(&input.bucket), &input.upload_id)
            .await?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
        }
        self.store
            .abort_upload(caller.bucket(&input.bucket), &input.upload_id)
            .await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn handle_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let upload = self
            .store
            .upload(caller.bucket(&input.bucket), &input.upload_id)
            .await?;
        if upload.key != input.key {
            return Err(s3_error!(NoSuchUpload));
        }
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let all: Vec<(u32, PartRecord)> = self
            .store
            .parts(caller.bucket(&input.bucket), &input.upload_id)
            .await?
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

    pub(super) async fn handle_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let caller = Caller::of(&req.extensions);
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let mut uploads: Vec<(String, UploadRecord)> = self
            .store
            .uploads(caller.bucket(&input.bucket))
            .await?
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
}

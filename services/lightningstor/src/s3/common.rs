//! Shared pieces of the S3 operations: errors, time, bodies in and out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use s3s::dto::{self, ETag, ETagCondition, StreamingBlob, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use tokio::io::AsyncSeekExt as _;

use crate::store::{
    BlobWriter, Checksums, ContentHeaders, Digests, MAX_KEY_BYTES, ObjectRecord, Store, StoreError,
    WrittenBlob,
};

impl From<StoreError> for S3Error {
    fn from(error: StoreError) -> S3Error {
        match error {
            StoreError::NoSuchBucket => s3_error!(NoSuchBucket),
            StoreError::BucketExists => s3_error!(BucketAlreadyOwnedByYou),
            StoreError::BucketNotEmpty => s3_error!(BucketNotEmpty),
            StoreError::NoSuchUpload => s3_error!(NoSuchUpload),
            // The access check's one answer for another tenant's bucket.
            StoreError::NotYours => s3_error!(AccessDenied, "Access Denied"),
            other => internal(&other),
        }
    }
}

/// An error of ours, logged here and answered as `InternalError` (the
/// client learns nothing about our disks).
pub fn internal(error: &dyn std::error::Error) -> S3Error {
    tracing::error!(error = %error, "internal error");
    s3_error!(InternalError)
}

pub fn io_error(error: std::io::Error) -> S3Error {
    internal(&error)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

fn system_time(t: &Timestamp) -> SystemTime {
    let offset: time::OffsetDateTime = t.clone().into();
    UNIX_EPOCH + Duration::from_secs(offset.unix_timestamp().max(0) as u64)
}

/// Object keys over 1024 bytes are refused, as S3 does.
pub fn check_key(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key is too long (over 1024 bytes)"
        ));
    }
    if key.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "The object key must not be empty"
        ));
    }
    // Listings and batch deletes carry keys in XML 1.0, which cannot hold
    // these characters at all: a key with one could be stored but never
    // listed.
    if key
        .chars()
        .any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(s3_error!(
            InvalidArgument,
            "The object key contains a control character (such as NUL) that S3's XML responses cannot carry"
        ));
    }
    Ok(())
}

pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// The digests a write must compute for the checksums the client sent or
/// asked for.
pub fn digests_for(algorithm: Option<&str>, sent: &Checksums) -> Digests {
    let mut digests = Digests::default();
    let hasher = &mut digests.checksums;
    let wants = |name: &str, sent: &Option<String>| {
        sent.is_some() || algorithm.is_some_and(|a| a.eq_ignore_ascii_case(name))
    };
    if wants("CRC32", &sent.crc32) {
        hasher.crc32 = Some(Default::default());
    }
    if wants("CRC32C", &sent.crc32c) {
        hasher.crc32c = Some(Default::default());
    }
    if wants("SHA1", &sent.sha1) {
        hasher.sha1 = Some(Default::default());
    }
    if wants("SHA256", &sent.sha256) {
        hasher.sha256 = Some(Default::default());
    }
    if wants("CRC64NVME", &sent.crc64nvme) {
        hasher.crc64nvme = Some(Default::default());
    }
    digests
}

pub fn checksums_of(computed: &dto::Checksum) -> Checksums {
    Checksums {
        crc32: computed.checksum_crc32.clone(),
        crc32c: computed.checksum_crc32c.clone(),
        sha1: computed.checksum_sha1.clone(),
        sha256: computed.checksum_sha256.clone(),
        crc64nvme: computed.checksum_crc64nvme.clone(),
    }
}

/// What a client said about a body it sends, checked once it is written.
#[derive(Debug, Default)]
pub struct BodyClaims {
    /// `Content-Length`.
    pub length: Option<i64>,
    /// `Content-MD5` (base64).
    pub md5: Option<String>,
    /// `x-amz-checksum-*`.
    pub checksums: Checksums,
}

/// Streams `body` into a new blob and checks it against `claims`. On any
/// failure the blob is gone and nothing was committed.
pub async fn receive(
    store: &Store,
    body: Option<StreamingBlob>,
    claims: &BodyClaims,
    algorithm: Option<&str>,
) -> S3Result<WrittenBlob> {
    let mut writer = store
        .new_blob(digests_for(algorithm, &claims.checksums))
        .await?;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| body_error(&*e))?;
            writer.write(&chunk).await.map_err(io_error)?;
        }
    }
    if let Some(length) = claims.length
        && length as u64 != writer.size()
    {
        return Err(s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header"
        ));
    }
    let written = writer.finish().await.map_err(io_error)?;
    if let Err(e) = verify(&written, claims) {
        store.discard_blobs([written.id.as_str()]);
        return Err(e);
    }
    Ok(written)
}

/// Copies bytes `range` of `source` into a new blob.
pub async fn copy_into_blob(
    store: &Store,
    source: &ObjectRecord,
    range: std::ops::Range<u64>,
) -> S3Result<WrittenBlob> {
    let mut writer: BlobWriter = store.new_blob(Digests::default()).await?;
    let mut body = read_range(store, source, range).await?;
    while let Some(chunk) = body.next().await {
        writer
            .write(&chunk.map_err(io_error)?)
            .await
            .map_err(io_error)?;
    }
    writer.finish().await.map_err(io_error)
}

fn body_error(error: &(dyn std::error::Error + 'static)) -> S3Error {
    if let Some(e) = error.downcast_ref::<S3Error>() {
        return S3Error::with_message(e.code().clone(), e.message().unwrap_or_default().to_owned());
    }
    let text = error.to_string();
    if text.contains("Sha256Mismatch") {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed",
        );
        e.set_status_code(hyper::StatusCode::BAD_REQUEST);
        return e;
    }
    if text.contains("Signature") || text.contains("signature") {
        return s3_error!(SignatureDoesNotMatch, "A chunk signature does not match");
    }
    tracing::debug!(error = %text, "request body failed");
    s3_error!(
        IncompleteBody,
        "The request body ended early or was malformed"
    )
}

fn verify(written: &WrittenBlob, claims: &BodyClaims) -> S3Result<()> {
    if let Some(md5) = &claims.md5 {
        let expected = base64::engine::general_purpose::STANDARD
            .decode(md5.trim())
            .map_err(|_| s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid"))?;
        if expected != written.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received"
            ));
        }
    }
    let computed = checksums_of(&written.checksums);
    let pairs = [
        ("CRC32", &claims.checksums.crc32, &computed.crc32),
        ("CRC32C", &claims.checksums.crc32c, &computed.crc32c),
        ("SHA1", &claims.checksums.sha1, &computed.sha1),
        ("SHA256", &claims.checksums.sha256, &computed.sha256),
        (
            "CRC64NVME",
            &claims.checksums.crc64nvme,
            &computed.crc64nvme,
        ),
    ];
    for (name, sent, ours) in pairs {
        if let Some(sent) = sent
            && Some(sent) != ours.as_ref()
        {
            return Err(s3_error!(
                BadDigest,
                "The {name} you specified did not match the calculated checksum"
            ));
        }
    }
    Ok(())
}

/// A stream of bytes `range` of `record`, from its blob files. The files
/// are opened before it returns, so an overwrite that frees them later
/// cannot cut the stream short.
pub async fn read_range(
    store: &Store,
    record: &ObjectRecord,
    range: std::ops::Range<u64>,
) -> S3Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    let mut readers = Vec::new();
    let mut offset = 0u64;
    for segment in &record.segments {
        let (start, end) = (offset, offset + segment.size);
        offset = end;
        if end <= range.start || start >= range.end {
            continue;
        }
        let from = range.start.max(start) - start;
        let to = range.end.min(end) - start;
        let mut file = tokio::fs::File::open(store.blob_path(&segment.blob))
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    // Replaced between reading the record and opening.
                    s3_error!(
                        NoSuchKey,
                        "The object was replaced while it was read; retry"
                    )
                } else {
                    io_error(e)
                }
            })?;
        if from > 0 {
            file.seek(std::io::SeekFrom::Start(from))
                .await
                .map_err(io_error)?;
        }
        let file = file.into_std().await;
        readers.push(read_ahead(file, to - from));
    }
    Ok(futures::stream::iter(readers).flatten())
}

/// Bytes read from a blob file per chunk of a response body.
const READ_CHUNK: usize = 1 << 20;

/// `len` bytes of `file` from where it stands, in [`READ_CHUNK`]s read on
/// a blocking thread straight into the buffers the response sends (no
/// copy between), the next chunk read while this one is sent.
fn read_ahead(
    file: std::fs::File,
    len: u64,
) -> std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>> {
    type Read = tokio::task::JoinHandle<std::io::Result<(std::fs::File, Bytes)>>;
    fn read(mut file: std::fs::File, want: u64) -> Read {
        tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut chunk = Vec::with_capacity(want as usize);
            (&mut file).take(want).read_to_end(&mut chunk)?;
            if (chunk.len() as u64) < want {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "a blob file is shorter than its record",
                ));
            }
            Ok((file, Bytes::from(chunk)))
        })
    }
    let first = (len > 0).then(|| read(file, len.min(READ_CHUNK as u64)));
    Box::pin(futures::stream::unfold(
        (first, len),
        |(pending, left)| async move {
            let chunk = match pending?.await {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(error)) => return Some((Err(error), (None, 0))),
                Err(joined) => return Some((Err(std::io::Error::other(joined)), (None, 0))),
            };
            let (file, bytes) = chunk;
            let left = left - bytes.len() as u64;
            let next = (left > 0).then(|| read(file, left.min(READ_CHUNK as u64)));
            Some((Ok(bytes), (next, left)))
        },
    ))
}

pub fn blob_body(
    stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
) -> StreamingBlob {
    StreamingBlob::wrap(stream)
}

/// Evaluates `If-Match`, `If-None-Match`, `If-Modified-Since` and
/// `If-Unmodified-Since` (RFC 9110 order, as S3 does): 412 or 304.
pub fn check_conditions(
    record: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
    not_modified: fn() -> S3Error,
) -> S3Result<()> {
    let ours = etag(&record.etag);
    let modified = system_time(&timestamp(record.modified_ms));
    let matches = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(theirs) => theirs.value() == ours.value(),
    };
    if let Some(condition) = if_match {
        if !matches(condition) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    } else if let Some(since) = if_unmodified_since
        && modified > system_time(since)
    {
        return Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ));
    }
    if let Some(condition) = if_none_match {
        if matches(condition) {
            return Err(not_modified());
        }
    } else if let Some(since) = if_modified_since
        && modified <= system_time(since)
    {
        return Err(not_modified());
    }
    Ok(())
}

pub fn not_modified() -> S3Error {
    S3Error::new(S3ErrorCode::NotModified)
}

pub fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

pub fn metadata_map(pairs: &[(String, String)]) -> Option<dto::Metadata> {
    (!pairs.is_empty()).then(|| pairs.iter().cloned().collect())
}

pub fn metadata_pairs(map: Option<dto::Metadata>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    pairs.sort();
    pairs
}

/// Parses `x-amz-tagging` (`k1=v1&k2=v2`, URL-encoded).
pub fn tags_from_header(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(header)
        .map_err(|_| s3_error!(InvalidTag, "The x-amz-tagging header is malformed"))?;
    check_tags(&pairs)?;
    Ok(pairs)
}

pub fn check_tags(pairs: &[(String, String)]) -> S3Result<()> {
    if pairs.len() > 10 {
        return Err(s3_error!(
            TooManyTags,
            "Object tags cannot be greater than 10"
        ));
    }
    for (key, value) in pairs {
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
    }
    Ok(())
}

pub fn headers_of(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
) -> ContentHeaders {
    ContentHeaders {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
    }
}

/// The first and last+1 byte a `Range` header selects.
pub fn select(
    range: Option<&dto::Range>,
    part_number: Option<i32>,
    record: &ObjectRecord,
) -> S3Result<Option<std::ops::Range<u64>>> {
    match (range, part_number) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        )),
        (Some(range), None) => range
            .check(record.size)
            .map(Some)
            .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable")),
        (None, Some(number)) => part_range(record, number).map(Some),
    }
}

/// The bytes of part `number` (from 1) of `record`, as S3 serves
/// `?partNumber=`: a multipart object's part as it was uploaded; any other
/// object is one part, the whole of it.
fn part_range(record: &ObjectRecord, number: i32) -> S3Result<std::ops::Range<u64>> {
    let count = record.parts.map_or(1, |n| n as usize);
    let index = usize::try_from(number)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|&i| i < count);
    let Some(index) = index else {
        let mut error = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        error.set_status_code(hyper::StatusCode::RANGE_NOT_SATISFIABLE);
        return Err(error);
    };
    if record.parts.is_none() {
        return Ok(0..record.size);
    }
    let start: u64 = record.segments[..index].iter().map(|s| s.size).sum();
    Ok(start..start + record.segments[index].size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek as _, Write as _};

    fn file_with(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    async fn collect(
        mut stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    ) -> Result<Vec<u8>, std::io::Error> {
        let mut all = Vec::new();
        while let Some(chunk) = stream.next().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    }

    #[tokio::test]
    async fn a_range_is_read_ahead_in_chunks_from_where_the_file_stands() {
        let data: Vec<u8> = (0..(3 * READ_CHUNK + 77))
            .map(|i| (i % 253) as u8)
            .collect();
        for (from, len) in [
            (0, data.len()),
            (5, READ_CHUNK),
            (READ_CHUNK - 1, READ_CHUNK + 2),
            (100, 0),
        ] {
            let mut file = file_with(&data);
            file.seek(std::io::SeekFrom::Start(from as u64)).unwrap();
            let read = collect(read_ahead(file, len as u64)).await.unwrap();
            assert_eq!(read, &data[from..from + len], "from {from}, {len} bytes");
        }
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_record_is_an_error_not_a_short_body() {
        let mut file = file_with(&[1; 10]);
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        let error = collect(read_ahead(file, 20)).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}

//! What the index stores about buckets, objects and uploads (postcard).

use serde::{Deserialize, Serialize};

use super::StoreError;

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("serialising to a Vec cannot fail")
}

/// How many fields a record may have gained since it was written.
const ADDED_FIELDS: usize = 2;

/// Reads a record. Records only grow by `Option` fields added at their
/// end, so one written before such a field ends early: it reads with the
/// field absent (postcard writes `None` as one zero byte). Nothing else is
/// forgiven: any other shortfall is corruption.
pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |e: postcard::Error| StoreError::Corrupt(e.to_string());
    match postcard::from_bytes(bytes) {
        Err(postcard::Error::DeserializeUnexpectedEnd) => {
            for added in 1..=ADDED_FIELDS {
                let mut padded = bytes.to_vec();
                padded.resize(bytes.len() + added, 0);
                match postcard::from_bytes(&padded) {
                    Err(postcard::Error::DeserializeUnexpectedEnd) => continue,
                    other => return other.map_err(corrupt),
                }
            }
            Err(corrupt(postcard::Error::DeserializeUnexpectedEnd))
        }
        other => other.map_err(corrupt),
    }
}

/// A bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// The photonauth tenant it belongs to: only that tenant's keys reach
    /// it. `None` for a bucket made with the operator's key (or before
    /// photonauth checked requests): only the operator's key reaches it.
    #[serde(default)]
    pub owner: Option<String>,
}

/// A run of an object's bytes kept in one blob file (a whole object for
/// a simple upload, one part for a multipart one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The blob's id.
    pub blob: String,
    /// Its length in bytes.
    pub size: u64,
}

/// HTTP headers stored with an object and given back on GET and HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
}

/// Additional checksums a client asked for (base64, as S3 gives them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// CRC32.
    pub crc32: Option<String>,
    /// CRC32C.
    pub crc32c: Option<String>,
    /// SHA-1.
    pub sha1: Option<String>,
    /// SHA-256.
    pub sha256: Option<String>,
    /// CRC64/NVME.
    pub crc64nvme: Option<String>,
}

/// An object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Its bytes, in order.
    pub segments: Vec<Segment>,
    /// Total length.
    pub size: u64,
    /// The ETag without quotes: hex MD5, or `hex-N` for N parts.
    pub etag: String,
    /// Last modified, in milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// Stored headers.
    pub headers: ContentHeaders,
    /// `x-amz-meta-*` pairs, names lower-cased.
    pub metadata: Vec<(String, String)>,
    /// Checksums the client asked for.
    pub checksums: Checksums,
    /// Object tags.
    pub tags: Vec<(String, String)>,
    /// How many parts, for a multipart object.
    pub parts: Option<u32>,
}

impl ObjectRecord {
    /// The blob ids it uses.
    pub fn blob_ids(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|s| s.blob.as_str())
    }

    /// Whether it uses blob `id`.
    pub fn uses(&self, id: &str) -> bool {
        self.segments.iter().any(|s| s.blob == id)
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The key the object will have.
    pub key: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub initiated_ms: i64,
    /// Headers for the object.
    pub headers: ContentHeaders,
    /// `x-amz-meta-*` for the object.
    pub metadata: Vec<(String, String)>,
    /// Tags for the object.
    pub tags: Vec<(String, String)>,
    /// The checksum algorithm parts carry, if the client chose one.
    pub checksum_algorithm: Option<String>,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Its blob.
    pub blob: String,
    /// Its length.
    pub size: u64,
    /// Hex MD5 of its bytes.
    pub etag: String,
    /// When it was uploaded, in milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// Checksums the client asked for.
    pub checksums: Checksums,
}

/// An access key added at run time: by the admin API (permanent) or by STS
/// `AssumeRole` (temporary, with a session). The operator's own key comes
/// from the deployment's `Secret` and is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// The secret key (S3 servers must keep it: SigV4 is a shared-secret
    /// HMAC).
    pub secret: String,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// What the operator called it (admin keys), or the role session.
    pub description: String,
    /// Set for temporary credentials.
    pub session: Option<SessionRecord>,
}

/// What makes temporary credentials temporary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session token every request must carry.
    pub token: String,
    /// When the credentials stop working, in milliseconds since the epoch.
    pub expires_ms: i64,
    /// The key that asked for them.
    pub parent: String,
    /// The role ARN asked for (kept for the record; every session has the
    /// rights of its parent).
    pub role_arn: String,
}

impl AccessKeyRecord {
    /// Whether these are temporary credentials past their expiry.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.expires_ms <= now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_written_before_owners_reads_as_the_operators() {
        #[derive(Serialize)]
        struct Before {
            created_ms: i64,
        }
        let old = encode(&Before { created_ms: 7 });
        let read: BucketRecord = decode(&old).unwrap();
        assert_eq!(
            read,
            BucketRecord {
                created_ms: 7,
                owner: None
            }
        );
        let owned = BucketRecord {
            created_ms: 7,
            owner: Some("acme".into()),
        };
        assert_eq!(decode::<BucketRecord>(&encode(&owned)).unwrap(), owned);
        // A record cut inside a field is corruption, not an absent field.
        let cut = &encode(&owned)[..3];
        assert!(matches!(
            decode::<BucketRecord>(cut),
            Err(StoreError::Corrupt(_))
        ));
    }
}

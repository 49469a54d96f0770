//! The seam between lightningstor and where its metadata lives (the
//! design's adapter pattern, section 6.3): buckets, the object index,
//! multipart state and access keys. Object bytes are not behind it: they
//! stay in the node's blob files whatever the backend.

use std::collections::HashSet;

use super::{
    AccessKeyRecord, BucketRecord, Listed, ObjectRecord, PartRecord, StoreError, UploadRecord,
};

/// A bucket as one request reaches it: by name, and for a tenant's
/// request only while that tenant owns it.
///
/// The owner is checked in the same atomic step as the read or write the
/// reference scopes, not only when the request was let in: a bucket
/// deleted and made again by another tenant between a request's access
/// check and its write never takes that write, nor answers its read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRef<'a> {
    /// The bucket's name.
    pub name: &'a str,
    /// The tenant it must belong to; `None`: whoever owns it (the
    /// operator's reach, and lightningstor's own housekeeping).
    pub tenant: Option<&'a str>,
}

impl<'a> BucketRef<'a> {
    /// Bucket `name`, whoever owns it.
    pub fn any(name: &'a str) -> BucketRef<'a> {
        BucketRef { name, tenant: None }
    }

    /// Bucket `name` while it belongs to `tenant` (`None`: whoever owns it).
    pub fn of(name: &'a str, tenant: Option<&'a str>) -> BucketRef<'a> {
        BucketRef { name, tenant }
    }

    /// Whether `record` (this bucket's) is within reach:
    /// [`StoreError::NotYours`] if it belongs to another tenant.
    pub fn check(&self, record: &BucketRecord) -> Result<(), StoreError> {
        match self.tenant {
            Some(tenant) if record.owner.as_deref() != Some(tenant) => Err(StoreError::NotYours),
            _ => Ok(()),
        }
    }
}

/// A change made to an object's record in place, tried again if another
/// writer changed the record first.
pub type Update<'a> = &'a (dyn Fn(&mut ObjectRecord) + Send + Sync);

/// Where lightningstor's metadata is kept: RocksDB on the node
/// ([`super::local::LocalMeta`]) or chainfire
/// ([`super::chainfire::ChainfireMeta`]).
///
/// What every backend promises (the [`super::conformance`] suite checks
/// each, chainfire's also with its leader killed mid-suite):
/// - **Each call is atomic and durable.** When a write returns `Ok`, it is
///   on disk (fsynced locally, committed by a quorum in chainfire) and every
///   later read, from any process using the same backend, sees it; when it
///   returns an error, either nothing changed or (a chainfire answer lost
///   in an election) the write is applied once, never twice or in part.
/// - **A tenant reaches only its own buckets.** Every call taking a
///   [`BucketRef`] with a tenant fails with [`StoreError::NotYours`], and
///   reads and writes nothing, if the bucket belongs to someone else at
///   the moment the call takes effect (its check and its effect are one
///   atomic step); with [`StoreError::NoSuchBucket`] if there is none.
/// - **A bucket holds only what it holds.** An object, upload or part is
///   only ever written while its bucket (upload) exists: a write racing
///   [`delete_bucket`](Self::delete_bucket) either lands first, and the
///   delete then fails with [`StoreError::BucketNotEmpty`], or fails with
///   [`StoreError::NoSuchBucket`] ([`StoreError::NoSuchUpload`]).
/// - **Replacements are told.** A write that replaces or removes records
///   returns what it replaced, read in the same atomic step, so the caller
///   frees exactly the blobs no record uses any more. Two writers replacing
///   the same object each get a different old record; a blob is never
///   reported freed while a record still uses it.
/// - **Listings are in key order.** Objects by the bytes of their keys,
///   uploads by id, parts by number, buckets and keys by name.
/// - **Completion is all or nothing.** [`finish_upload`](Self::finish_upload)
///   removes the upload and every part and writes the object in one step,
///   and fails (to be retried by the client) rather than drop a part
///   written while it ran.
#[async_trait::async_trait]
pub trait MetaStore: Send + Sync + std::fmt::Debug {
    /// Where the metadata is, for logs and `/health`.
    fn location(&self) -> String;

    // ---- buckets ----

    /// Creates bucket `name`; [`StoreError::BucketExists`] if there is one.
    async fn create_bucket(&self, name: &str, record: &BucketRecord) -> Result<(), StoreError>;

    /// The bucket called `name`.
    async fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError>;

    /// Every bucket, by name.
    async fn buckets(&self) -> Result<Vec<(String, BucketRecord)>, StoreError>;

    /// Deletes the bucket if it has no objects and no uploads.
    async fn delete_bucket(&self, bucket: BucketRef<'_>) -> Result<(), StoreError>;

    /// Gives bucket `name` to tenant `owner` (`None`: to the operator
    /// only), keeping the rest of its record; [`StoreError::NoSuchBucket`]
    /// if there is none. Racing owner changes serialize: the last applies.
    async fn set_bucket_owner(&self, name: &str, owner: Option<&str>) -> Result<(), StoreError>;

    // ---- objects ----

    /// The object `key` of `bucket`.
    async fn object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError>;

    /// Makes `record` the object `key` of `bucket`; the record it replaced.
    async fn put_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<Option<ObjectRecord>, StoreError>;

    /// Applies `change` to the object's record (never to its segments);
    /// the changed record, or `None` when there is no such object.
    async fn update_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        change: Update<'_>,
    ) -> Result<Option<ObjectRecord>, StoreError>;

    /// Removes the object; the record removed.
    async fn delete_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError>;

    /// Objects of `bucket` whose keys start with `prefix` and sort after
    /// the bytes `after` (when given), in key order, at most `limit`.
    async fn list_objects(
        &self,
        bucket: BucketRef<'_>,
        prefix: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError>;

    // ---- multipart uploads ----

    /// Records a new upload in `bucket`.
    async fn create_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        record: &UploadRecord,
    ) -> Result<(), StoreError>;

    /// The upload, or [`StoreError::NoSuchBucket`] /
    /// [`StoreError::NoSuchUpload`].
    async fn upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<UploadRecord, StoreError>;

    /// Every upload of `bucket`, by id.
    async fn uploads(
        &self,
        bucket: BucketRef<'_>,
    ) -> Result<Vec<(String, UploadRecord)>, StoreError>;

    /// Stores part `number` of the upload; the part it replaced.
    async fn put_part(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        number: u32,
        record: &PartRecord,
    ) -> Result<Option<PartRecord>, StoreError>;

    /// The upload's parts, by number.
    async fn parts(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<Vec<(u32, PartRecord)>, StoreError>;

    /// Ends the upload: its record and parts go and, when `object` is
    /// given, it becomes object `key`, in one step. The blobs no record
    /// uses afterwards (parts left out, the object replaced).
    async fn finish_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        object: Option<(&str, &ObjectRecord)>,
    ) -> Result<Vec<String>, StoreError>;

    // ---- access keys ----

    /// The stored key `id`.
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;

    /// Stores a new key; false, and nothing written, if `id` is taken.
    async fn insert_access_key(
        &self,
        id: &str,
        record: &AccessKeyRecord,
    ) -> Result<bool, StoreError>;

    /// Removes key `id` and every session it issued; whether it existed.
    async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError>;

    /// Every stored key, by id.
    async fn access_keys(&self) -> Result<Vec<(String, AccessKeyRecord)>, StoreError>;

    /// Deletes temporary keys expired at `now_ms`; how many.
    async fn purge_expired_keys(&self, now_ms: i64) -> Result<usize, StoreError>;

    // ---- housekeeping ----

    /// Every blob an object or part record uses.
    async fn blobs_in_use(&self) -> Result<HashSet<String>, StoreError>;

    /// Objects and bytes in `bucket`.
    async fn bucket_usage(&self, bucket: &str) -> Result<(u64, u64), StoreError>;
}

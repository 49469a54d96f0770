//! Where objects live: their bytes in blob files on the node's filesystem,
//! everything else (buckets, the object index, multipart state, ETags, user
//! metadata, access keys) behind one seam, [`MetaStore`]: RocksDB on the
//! node when standalone ([`local::LocalMeta`]), chainfire when integrated
//! ([`chainfire::ChainfireMeta`]).
//!
//! A blob's file name is a random id, never derived from the object key, so
//! no key (`../`, `//`, NUL, 1 KiB of slashes) can reach outside the data
//! directory. A write goes to `tmp/`, is fsynced, renamed into `blobs/` and
//! only then committed to the metadata (a synced RocksDB write, or a
//! chainfire transaction): a crash leaves either the old object or the new
//! one, and at worst an unreferenced blob, which [`Store::open`] removes.
//!
//! The data directory names the metadata its blobs belong to (`owner`), so
//! blobs are never collected against another store's records (an emptied
//! RocksDB, a renamed cluster): such a start is refused, and a migration
//! hands them over ([`hand_over`]) once it has copied their records.

mod blobs;
pub mod chainfire;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod keys;
pub mod local;
pub mod meta;
mod records;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use blobs::{BlobWriter, Digests, Md5, WrittenBlob};
pub use meta::{BucketRef, MetaStore};
pub use records::{
    AccessKeyRecord, BucketRecord, Checksums, ContentHeaders, ObjectRecord, PartRecord, Segment,
    SessionRecord, UploadRecord,
};

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such bucket.
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// A bucket of that name exists.
    #[error("the bucket already exists")]
    BucketExists,
    /// The bucket still holds objects or uploads.
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    /// The bucket belongs to another tenant than the request's.
    #[error("the bucket belongs to another tenant")]
    NotYours,
    /// No such multipart upload.
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    /// RocksDB failed.
    #[error("metadata store: {0}")]
    Db(#[from] rocksdb::Error),
    /// chainfire could not be reached or refused the request.
    #[error("metadata in chainfire: {0}")]
    Unavailable(String),
    /// A file operation failed.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record does not decode.
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
    /// The data directory's blobs belong to other metadata.
    #[error(
        "{data} holds the objects of the metadata {owner}, not of {this}: starting would remove them as garbage, so it is refused (move the metadata first)"
    )]
    OtherOwner {
        /// The data directory.
        data: String,
        /// The metadata it names.
        owner: String,
        /// The metadata this run was given.
        this: String,
    },
}

/// The object store: blobs here, metadata behind [`MetaStore`].
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    meta: Arc<dyn MetaStore>,
    blobs: blobs::BlobDir,
}

/// One entry of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The object key.
    pub key: String,
    /// Its record.
    pub record: ObjectRecord,
}

impl Store {
    /// Opens (creating) a standalone store: metadata in RocksDB at
    /// `meta_dir`, blobs under `data_dir`.
    pub async fn open(meta_dir: &Path, data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_local(meta_dir, data_dir, None).await
    }

    /// [`open`](Store::open), with a block cache of `cache_bytes` for the
    /// metadata (RocksDB's default when `None`).
    pub async fn open_local(
        meta_dir: &Path,
        data_dir: &Path,
        cache_bytes: Option<usize>,
    ) -> Result<Store, StoreError> {
        let meta_dir = meta_dir.to_owned();
        let meta =
            tokio::task::spawn_blocking(move || local::LocalMeta::open(&meta_dir, cache_bytes))
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        Store::with_meta(Arc::new(meta), data_dir).await
    }

    /// Opens the blobs under `data_dir` with `meta` as their metadata.
    /// Unfinished writes and blobs no record refers to (left by a crash
    /// between rename and commit, or before a freed blob was unlinked) are
    /// removed.
    pub async fn with_meta(meta: Arc<dyn MetaStore>, data_dir: &Path) -> Result<Store, StoreError> {
        let blobs = blobs::BlobDir::open(data_dir)?;
        blobs.claim(&owner_name(meta.as_ref()))?;
        let store = Store {
            inner: Arc::new(Inner { meta, blobs }),
        };
        store.collect_garbage().await?;
        Ok(store)
    }

    /// The metadata backend.
    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.inner.meta
    }

    /// Where blob `id`'s bytes are.
    pub fn blob_path(&self, id: &str) -> PathBuf {
        self.inner.blobs.path(id)
    }

    /// Starts writing a new blob.
    pub async fn new_blob(&self, digests: Digests) -> Result<BlobWriter, StoreError> {
        Ok(self.inner.blobs.create(digests).await?)
    }

    /// Removes blobs that no committed record uses (best effort: a blob
    /// left behind is collected at the next start).
    pub fn discard_blobs<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            if let Err(e) = std::fs::remove_file(self.blob_path(id)) {
                tracing::warn!(blob = id, error = %e, "cannot remove a freed blob");
            }
        }
    }

    // ---- buckets ----

    /// Creates an empty bucket.
    pub async fn create_bucket(&self, name: &str, record: &BucketRecord) -> Result<(), StoreError> {
        self.inner.meta.create_bucket(name, record).await
    }

    /// The bucket called `name`.
    pub async fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        self.inner.meta.bucket(name).await
    }

    /// The bucket's record if it is within reach: otherwise
    /// [`StoreError::NoSuchBucket`] or [`StoreError::NotYours`].
    pub async fn require_bucket(&self, bucket: BucketRef<'_>) -> Result<BucketRecord, StoreError> {
        let record = self
            .bucket(bucket.name)
            .await?
            .ok_or(StoreError::NoSuchBucket)?;
        bucket.check(&record)?;
        Ok(record)
    }

    /// Every bucket, by name.
    pub async fn buckets(&self) -> Result<Vec<(String, BucketRecord)>, StoreError> {
        self.inner.meta.buckets().await
    }

    /// Deletes an empty bucket (no objects, no multipart uploads).
    pub async fn delete_bucket(&self, bucket: BucketRef<'_>) -> Result<(), StoreError> {
        self.inner.meta.delete_bucket(bucket).await
    }

    /// Gives a bucket to a tenant (`None`: to the operator only).
    pub async fn set_bucket_owner(
        &self,
        name: &str,
        owner: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.meta.set_bucket_owner(name, owner).await
    }

    // ---- objects ----

    /// The object `key` in `bucket`.
    pub async fn object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.inner.meta.object(bucket, key).await
    }

    /// Makes `record` the object `key` of `bucket`, replacing any; the
    /// replaced object's blobs are removed once the new record is durable.
    /// Its blobs must already be durable (written through [`BlobWriter`]).
    pub async fn put_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<(), StoreError> {
        if let Some(old) = self.inner.meta.put_object(bucket, key, record).await? {
            self.discard_blobs(old.blob_ids().filter(|id| !record.uses(id)));
        }
        Ok(())
    }

    /// Changes object `key`'s record in place (its blobs stay); `None` if
    /// there is no such object.
    pub async fn update_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        change: meta::Update<'_>,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let checked = |record: &mut ObjectRecord| {
            let segments = record.segments.clone();
            change(record);
            debug_assert_eq!(segments, record.segments, "blobs are not changed in place");
        };
        self.inner.meta.update_object(bucket, key, &checked).await
    }

    /// Deletes object `key`; whether there was one.
    pub async fn delete_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<bool, StoreError> {
        match self.inner.meta.delete_object(bucket, key).await? {
            Some(old) => {
                self.discard_blobs(old.blob_ids());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Objects of `bucket` whose keys start with `prefix` and sort after the
    /// bytes `after` (if given), in key order, at most `limit` of them.
    pub async fn list_objects(
        &self,
        bucket: BucketRef<'_>,
        prefix: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        self.inner
            .meta
            .list_objects(bucket, prefix, after, limit)
            .await
    }

    // ---- multipart uploads ----

    /// Records a new multipart upload.
    pub async fn create_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        record: &UploadRecord,
    ) -> Result<(), StoreError> {
        self.inner
            .meta
            .create_upload(bucket, upload_id, record)
            .await
    }

    /// The multipart upload `upload_id` of `bucket`.
    pub async fn upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<UploadRecord, StoreError> {
        self.inner.meta.upload(bucket, upload_id).await
    }

    /// Every multipart upload of `bucket`, by upload id.
    pub async fn uploads(
        &self,
        bucket: BucketRef<'_>,
    ) -> Result<Vec<(String, UploadRecord)>, StoreError> {
        self.inner.meta.uploads(bucket).await
    }

    /// Stores part `number` of an upload, replacing an earlier upload of
    /// the same part number.
    pub async fn put_part(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        number: u32,
        record: &PartRecord,
    ) -> Result<(), StoreError> {
        if let Some(old) = self
            .inner
            .meta
            .put_part(bucket, upload_id, number, record)
            .await?
            && old.blob != record.blob
        {
            self.discard_blobs([old.blob.as_str()]);
        }
        Ok(())
    }

    /// The parts uploaded so far, by part number.
    pub async fn parts(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<Vec<(u32, PartRecord)>, StoreError> {
        self.inner.meta.parts(bucket, upload_id).await
    }

    /// Ends an upload: `object` (made of some of its parts) becomes object
    /// `key`, the upload and all its part records go, and the blobs of parts
    /// not used are removed, all in one durable write.
    pub async fn complete_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        key: &str,
        object: &ObjectRecord,
    ) -> Result<(), StoreError> {
        let freed = self
            .inner
            .meta
            .finish_upload(bucket, upload_id, Some((key, object)))
            .await?;
        self.discard_blobs(freed.iter().map(String::as_str));
        Ok(())
    }

    /// Abandons an upload and removes its parts.
    pub async fn abort_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        let freed = self
            .inner
            .meta
            .finish_upload(bucket, upload_id, None)
            .await?;
        self.discard_blobs(freed.iter().map(String::as_str));
        Ok(())
    }

    // ---- access keys ----

    /// The key with this id, if stored.
    pub async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.inner.meta.access_key(id).await
    }

    /// Stores a new key; false (and nothing written) if the id is taken.
    pub async fn insert_access_key(
        &self,
        id: &str,
        record: &AccessKeyRecord,
    ) -> Result<bool, StoreError> {
        self.inner.meta.insert_access_key(id, record).await
    }

    /// Removes a key, and every session it issued; whether it existed.
    pub async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.meta.delete_access_key(id).await
    }

    /// Every stored key, by id.
    pub async fn access_keys(&self) -> Result<Vec<(String, AccessKeyRecord)>, StoreError> {
        self.inner.meta.access_keys().await
    }

    /// Deletes temporary credentials that have expired; how many.
    pub async fn purge_expired_keys(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.inner.meta.purge_expired_keys(now_ms).await
    }

    // ---- housekeeping ----

    /// Removes blobs no record refers to, and unfinished writes.
    async fn collect_garbage(&self) -> Result<(), StoreError> {
        let used = self.inner.meta.blobs_in_use().await?;
        let removed = self.inner.blobs.collect_garbage(&used)?;
        if removed > 0 {
            tracing::info!(
                removed,
                "removed blobs no object refers to (left by a crash)"
            );
        }
        Ok(())
    }

    /// Objects and bytes in a bucket (for the admin API and metrics).
    pub async fn bucket_usage(&self, bucket: &str) -> Result<(u64, u64), StoreError> {
        self.inner.meta.bucket_usage(bucket).await
    }
}

/// Records that the blobs under `data_dir` belong to `meta` from now on:
/// the last step of a migration, once their records are there.
pub fn hand_over(data_dir: &Path, meta: &dyn MetaStore) -> Result<(), StoreError> {
    Ok(blobs::BlobDir::reassign(data_dir, &owner_name(meta))?)
}

/// Where blob `id` is under the data directory `data_dir`.
pub fn blob_path_in(data_dir: &Path, id: &str) -> PathBuf {
    blobs::path_in(&data_dir.join("blobs"), id)
}

/// What the data directory records as its metadata's name: the backend's
/// location, without the RocksDB path (a standalone node's meta_dir may
/// move with its data directory).
fn owner_name(meta: &dyn MetaStore) -> String {
    let location = meta.location();
    if location.starts_with("rocksdb") {
        "rocksdb".to_owned()
    } else {
        location
    }
}

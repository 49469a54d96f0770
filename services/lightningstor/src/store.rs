//! Where objects live: their bytes in blob files on the local filesystem,
//! everything else (buckets, the object index, multipart state, ETags, user
//! metadata) in RocksDB.
//!
//! A blob's file name is a random id, never derived from the object key, so
//! no key (`../`, `//`, NUL, 1 KiB of slashes) can reach outside the data
//! directory. A write goes to `tmp/`, is fsynced, renamed into `blobs/` and
//! only then committed to the index (a synced RocksDB write): a crash leaves
//! either the old object or the new one, and at worst an unreferenced blob,
//! which [`Store::open`] removes.

mod access_keys;
mod blobs;
mod keys;
mod records;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};

pub use blobs::{BlobWriter, Digests, WrittenBlob};
pub use records::{
    AccessKeyRecord, BucketRecord, Checksums, ContentHeaders, ObjectRecord, PartRecord, Segment,
    SessionRecord, UploadRecord,
};

const BUCKETS: &str = "buckets";
const OBJECTS: &str = "objects";
const UPLOADS: &str = "uploads";
const PARTS: &str = "parts";
const ACCESS_KEYS: &str = "access_keys";

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
    /// No such multipart upload.
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    /// RocksDB failed.
    #[error("metadata store: {0}")]
    Db(#[from] rocksdb::Error),
    /// A file operation failed.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record does not decode.
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
}

/// The object store.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: DB,
    blobs: blobs::BlobDir,
    /// Serialises read-modify-write of the index (which blobs an overwrite
    /// frees); reads never take it.
    commit: Mutex<()>,
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
    /// Opens (creating) the store: metadata in `meta_dir`, blobs under
    /// `data_dir`. Unfinished writes and blobs no record refers to (left by
    /// a crash between rename and commit, or before a freed blob was
    /// unlinked) are removed.
    pub fn open(meta_dir: &Path, data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(meta_dir, data_dir, None)
    }

    /// [`open`](Store::open), with a block cache of `cache_bytes` for the
    /// metadata (RocksDB's default when `None`).
    pub fn open_with_cache(
        meta_dir: &Path,
        data_dir: &Path,
        cache_bytes: Option<usize>,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(meta_dir)?;
        let mut table = rocksdb::BlockBasedOptions::default();
        if let Some(bytes) = cache_bytes {
            table.set_block_cache(&rocksdb::Cache::new_lru_cache(bytes)?);
        }
        let family_options = || {
            let mut options = Options::default();
            options.set_block_based_table_factory(&table);
            options
        };
        let mut options = family_options();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let families = [BUCKETS, OBJECTS, UPLOADS, PARTS, ACCESS_KEYS]
            .map(|name| ColumnFamilyDescriptor::new(name, family_options()));
        let db = DB::open_cf_descriptors(&options, meta_dir, families)?;
        let blobs = blobs::BlobDir::open(data_dir)?;
        let store = Store {
            inner: Arc::new(Inner {
                db,
                blobs,
                commit: Mutex::new(()),
            }),
        };
        store.collect_garbage()?;
        Ok(store)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.inner
            .db
            .cf_handle(name)
            .expect("opened with every family")
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.inner.db.write_opt(batch, &options)?;
        Ok(())
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        family: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.inner.db.get_cf(self.cf(family), key)? {
            Some(bytes) => Ok(Some(records::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.commit.lock().unwrap_or_else(|e| e.into_inner())
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
    pub fn create_bucket(&self, name: &str, record: &BucketRecord) -> Result<(), StoreError> {
        let _guard = self.lock();
        if self.bucket(name)?.is_some() {
            return Err(StoreError::BucketExists);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(BUCKETS), name, records::encode(record));
        self.write(batch)
    }

    /// The bucket called `name`.
    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        self.get(BUCKETS, name.as_bytes())
    }

    /// Fails with [`StoreError::NoSuchBucket`] unless `name` exists.
    pub fn require_bucket(&self, name: &str) -> Result<BucketRecord, StoreError> {
        self.bucket(name)?.ok_or(StoreError::NoSuchBucket)
    }

    /// Every bucket, by name.
    pub fn buckets(&self) -> Result<Vec<(String, BucketRecord)>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .inner
            .db
            .iterator_cf(self.cf(BUCKETS), IteratorMode::Start)
        {
            let (name, value) = item?;
            let name = String::from_utf8(name.into_vec())
                .map_err(|_| StoreError::Corrupt("bucket name is not UTF-8".into()))?;
            out.push((name, records::decode(&value)?));
        }
        Ok(out)
    }

    /// Deletes an empty bucket (no objects, no multipart uploads).
    pub fn delete_bucket(&self, name: &str) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.require_bucket(name)?;
        let prefix = keys::bucket_prefix(name);
        for family in [OBJECTS, UPLOADS] {
            if self.first_with_prefix(family, &prefix)?.is_some() {
                return Err(StoreError::BucketNotEmpty);
            }
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(BUCKETS), name);
        self.write(batch)
    }

    fn first_with_prefix(
        &self,
        family: &str,
        prefix: &[u8],
    ) -> Result<Option<Box<[u8]>>, StoreError> {
        let mut iter = self.inner.db.iterator_cf(
            self.cf(family),
            IteratorMode::From(prefix, Direction::Forward),
        );
        match iter.next() {
            Some(item) => {
                let (key, _) = item?;
                Ok(key.starts_with(prefix).then_some(key))
            }
            None => Ok(None),
        }
    }

    // ---- objects ----

    /// The object `key` in `bucket`.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.get(OBJECTS, &keys::object(bucket, key))
    }

    /// Makes `record` the object `key` of `bucket`, replacing any; the
    /// replaced object's blobs are removed once the new record is durable.
    /// Its blobs must already be durable (written through [`BlobWriter`]).
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<(), StoreError> {
        let freed = {
            let _guard = self.lock();
            self.require_bucket(bucket)?;
            let old = self.object(bucket, key)?;
            let mut batch = WriteBatch::default();
            batch.put_cf(
                self.cf(OBJECTS),
                keys::object(bucket, key),
                records::encode(record),
            );
            self.write(batch)?;
            old
        };
        if let Some(old) = freed {
            self.discard_blobs(old.blob_ids().filter(|id| !record.uses(id)));
        }
        Ok(())
    }

    /// Changes object `key`'s record in place (its blobs stay); `None` if
    /// there is no such object.
    pub fn update_object(
        &self,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut ObjectRecord),
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let _guard = self.lock();
        self.require_bucket(bucket)?;
        let Some(mut record) = self.object(bucket, key)? else {
            return Ok(None);
        };
        let blobs: Vec<String> = record.blob_ids().map(str::to_owned).collect();
        change(&mut record);
        debug_assert!(
            blobs.iter().all(|id| record.uses(id)),
            "blobs are not changed in place"
        );
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(OBJECTS),
            keys::object(bucket, key),
            records::encode(&record),
        );
        self.write(batch)?;
        Ok(Some(record))
    }

    /// Deletes object `key`; whether there was one.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let freed = {
            let _guard = self.lock();
            self.require_bucket(bucket)?;
            let Some(old) = self.object(bucket, key)? else {
                return Ok(false);
            };
            let mut batch = WriteBatch::default();
            batch.delete_cf(self.cf(OBJECTS), keys::object(bucket, key));
            self.write(batch)?;
            old
        };
        self.discard_blobs(freed.blob_ids());
        Ok(true)
    }

    /// Objects of `bucket` whose keys start with `prefix` and sort after the
    /// bytes `after` (if given), in key order, at most `limit` of them.
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let bucket_prefix = keys::bucket_prefix(bucket);
        let full_prefix = keys::object(bucket, prefix);
        let start = match after {
            Some(after) if after >= prefix.as_bytes() => {
                let mut start = bucket_prefix.clone();
                start.extend_from_slice(after);
                keys::after(&start)
            }
            _ => full_prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self.inner.db.iterator_cf(
            self.cf(OBJECTS),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            if out.len() >= limit {
                break;
            }
            let (raw, value) = item?;
            if !raw.starts_with(&full_prefix) {
                break;
            }
            let key = std::str::from_utf8(&raw[bucket_prefix.len()..])
                .map_err(|_| StoreError::Corrupt("object key is not UTF-8".into()))?;
            out.push(Listed {
                key: key.to_owned(),
                record: records::decode(&value)?,
            });
        }
        Ok(out)
    }

    // ---- multipart uploads ----

    /// Records a new multipart upload.
    pub fn create_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        record: &UploadRecord,
    ) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.require_bucket(bucket)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(UPLOADS),
            keys::upload(bucket, upload_id),
            records::encode(record),
        );
        self.write(batch)
    }

    /// The multipart upload `upload_id` of `bucket`.
    pub fn upload(&self, bucket: &str, upload_id: &str) -> Result<UploadRecord, StoreError> {
        self.require_bucket(bucket)?;
        self.get(UPLOADS, &keys::upload(bucket, upload_id))?
            .ok_or(StoreError::NoSuchUpload)
    }

    /// Every multipart upload of `bucket`, by upload id.
    pub fn uploads(&self, bucket: &str) -> Result<Vec<(String, UploadRecord)>, StoreError> {
        self.require_bucket(bucket)?;
        let prefix = keys::bucket_prefix(bucket);
        let mut out = Vec::new();
        for item in self.inner.db.iterator_cf(
            self.cf(UPLOADS),
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (raw, value) = item?;
            if !raw.starts_with(&prefix) {
                break;
            }
            let id = String::from_utf8(raw[prefix.len()..].to_vec())
                .map_err(|_| StoreError::Corrupt("upload id is not UTF-8".into()))?;
            out.push((id, records::decode(&value)?));
        }
        Ok(out)
    }

    /// Stores part `number` of an upload, replacing an earlier upload of
    /// the same part number.
    pub fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        number: u32,
        record: &PartRecord,
    ) -> Result<(), StoreError> {
        let freed = {
            let _guard = self.lock();
            self.upload(bucket, upload_id)?;
            let key = keys::part(bucket, upload_id, number);
            let old: Option<PartRecord> = self.get(PARTS, &key)?;
            let mut batch = WriteBatch::default();
            batch.put_cf(self.cf(PARTS), key, records::encode(record));
            self.write(batch)?;
            old
        };
        if let Some(old) = freed {
            self.discard_blobs([old.blob.as_str()]);
        }
        Ok(())
    }

    /// The parts uploaded so far, by part number.
    pub fn parts(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> Result<Vec<(u32, PartRecord)>, StoreError> {
        let prefix = keys::upload_parts_prefix(bucket, upload_id);
        let mut out = Vec::new();
        for item in self.inner.db.iterator_cf(
            self.cf(PARTS),
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (raw, value) = item?;
            if !raw.starts_with(&prefix) {
                break;
            }
            let number = keys::part_number(&raw[prefix.len()..])
                .ok_or_else(|| StoreError::Corrupt("part key".into()))?;
            out.push((number, records::decode(&value)?));
        }
        Ok(out)
    }

    /// Ends an upload: `object` (made of some of its parts) becomes object
    /// `key`, the upload and all its part records go, and the blobs of parts
    /// not used are removed, all in one durable write.
    pub fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        key: &str,
        object: &ObjectRecord,
    ) -> Result<(), StoreError> {
        self.finish_upload(bucket, upload_id, Some((key, object)))
    }

    /// Abandons an upload and removes its parts.
    pub fn abort_upload(&self, bucket: &str, upload_id: &str) -> Result<(), StoreError> {
        self.finish_upload(bucket, upload_id, None)
    }

    fn finish_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        object: Option<(&str, &ObjectRecord)>,
    ) -> Result<(), StoreError> {
        let mut freed: Vec<String> = Vec::new();
        {
            let _guard = self.lock();
            self.upload(bucket, upload_id)?;
            let mut batch = WriteBatch::default();
            batch.delete_cf(self.cf(UPLOADS), keys::upload(bucket, upload_id));
            let parts_prefix = keys::upload_parts_prefix(bucket, upload_id);
            for (number, part) in self.parts(bucket, upload_id)? {
                let mut key = parts_prefix.clone();
                key.extend_from_slice(&number.to_be_bytes());
                batch.delete_cf(self.cf(PARTS), key);
                if !object.is_some_and(|(_, o)| o.uses(&part.blob)) {
                    freed.push(part.blob);
                }
            }
            if let Some((key, record)) = object {
                if let Some(old) = self.object(bucket, key)? {
                    freed.extend(old.blob_ids().map(str::to_owned));
                }
                batch.put_cf(
                    self.cf(OBJECTS),
                    keys::object(bucket, key),
                    records::encode(record),
                );
            }
            self.write(batch)?;
        }
        self.discard_blobs(freed.iter().map(String::as_str));
        Ok(())
    }

    // ---- housekeeping ----

    /// Removes blobs no record refers to, and unfinished writes.
    fn collect_garbage(&self) -> Result<(), StoreError> {
        let mut used = std::collections::HashSet::new();
        for item in self
            .inner
            .db
            .iterator_cf(self.cf(OBJECTS), IteratorMode::Start)
        {
            let (_, value) = item?;
            let record: ObjectRecord = records::decode(&value)?;
            used.extend(record.blob_ids().map(str::to_owned));
        }
        for item in self
            .inner
            .db
            .iterator_cf(self.cf(PARTS), IteratorMode::Start)
        {
            let (_, value) = item?;
            let record: PartRecord = records::decode(&value)?;
            used.insert(record.blob);
        }
        let removed = self.inner.blobs.collect_garbage(&used)?;
        if removed > 0 {
            tracing::info!(
                removed,
                "removed blobs no object refers to (left by a crash)"
            );
        }
        Ok(())
    }

    /// Bytes and objects per bucket (for the admin API and metrics).
    pub fn bucket_usage(&self, bucket: &str) -> Result<(u64, u64), StoreError> {
        self.require_bucket(bucket)?;
        let prefix = keys::bucket_prefix(bucket);
        let (mut objects, mut bytes) = (0u64, 0u64);
        for item in self.inner.db.iterator_cf(
            self.cf(OBJECTS),
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (raw, value) = item?;
            if !raw.starts_with(&prefix) {
                break;
            }
            let record: ObjectRecord = records::decode(&value)?;
            objects += 1;
            bytes += record.size;
        }
        Ok((objects, bytes))
    }
}

//! The standalone backend: metadata in RocksDB on the node, one column
//! family per kind of record, every write a synced batch. One mutex
//! serialises the read-modify-write steps (what an overwrite replaced);
//! reads never take it, and read through one snapshot when what they
//! read must agree with the bucket's owner.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions, Snapshot,
    WriteBatch, WriteOptions,
};

use super::meta::{BucketRef, MetaStore, Update};
use super::records::{self, AccessKeyRecord};
use super::{BucketRecord, Listed, ObjectRecord, PartRecord, StoreError, UploadRecord, keys};

const BUCKETS: &str = "buckets";
const OBJECTS: &str = "objects";
const UPLOADS: &str = "uploads";
const PARTS: &str = "parts";
const ACCESS_KEYS: &str = "access_keys";

/// What a read sees: the database as it is (`None`; writers, under the
/// commit lock), or one snapshot of it.
type At<'a> = Option<&'a Snapshot<'a>>;

fn reading(at: At<'_>) -> ReadOptions {
    let mut options = ReadOptions::default();
    if let Some(snapshot) = at {
        options.set_snapshot(snapshot);
    }
    options
}

/// Metadata in RocksDB at one path.
#[derive(Debug)]
pub struct LocalMeta {
    db: DB,
    path: PathBuf,
    commit: Mutex<()>,
}

impl LocalMeta {
    /// Opens (creating) the database at `path`, with a block cache of
    /// `cache_bytes` (RocksDB's default when `None`).
    pub fn open(path: &Path, cache_bytes: Option<usize>) -> Result<LocalMeta, StoreError> {
        std::fs::create_dir_all(path)?;
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
        let db = DB::open_cf_descriptors(&options, path, families)?;
        Ok(LocalMeta {
            db,
            path: path.to_owned(),
            commit: Mutex::new(()),
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("opened with every family")
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        at: At<'_>,
        family: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.db.get_cf_opt(self.cf(family), key, &reading(at))? {
            Some(bytes) => Ok(Some(records::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.commit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bucket, if it is within reach (see [`BucketRef`]).
    fn reach(&self, at: At<'_>, bucket: BucketRef<'_>) -> Result<BucketRecord, StoreError> {
        let record = self
            .get::<BucketRecord>(at, BUCKETS, bucket.name.as_bytes())?
            .ok_or(StoreError::NoSuchBucket)?;
        bucket.check(&record)?;
        Ok(record)
    }

    /// Every `(key after prefix, value)` of `family` starting with `prefix`.
    fn scan<T: serde::de::DeserializeOwned>(
        &self,
        at: At<'_>,
        family: &str,
        prefix: &[u8],
        mut each: impl FnMut(&[u8], T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.db.iterator_cf_opt(
            self.cf(family),
            reading(at),
            IteratorMode::From(prefix, Direction::Forward),
        ) {
            let (raw, value) = item?;
            if !raw.starts_with(prefix) {
                break;
            }
            each(&raw[prefix.len()..], records::decode(&value)?)?;
        }
        Ok(())
    }

    fn has_prefix(&self, family: &str, prefix: &[u8]) -> Result<bool, StoreError> {
        let mut iter = self.db.iterator_cf(
            self.cf(family),
            IteratorMode::From(prefix, Direction::Forward),
        );
        match iter.next() {
            Some(item) => Ok(item?.0.starts_with(prefix)),
            None => Ok(false),
        }
    }

    fn upload_at(
        &self,
        at: At<'_>,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<UploadRecord, StoreError> {
        self.reach(at, bucket)?;
        self.get(at, UPLOADS, &keys::upload(bucket.name, upload_id))?
            .ok_or(StoreError::NoSuchUpload)
    }

    fn parts_at(
        &self,
        at: At<'_>,
        bucket: &str,
        upload_id: &str,
    ) -> Result<Vec<(u32, PartRecord)>, StoreError> {
        let mut out = Vec::new();
        self.scan(
            at,
            PARTS,
            &keys::upload_parts_prefix(bucket, upload_id),
            |rest, part| {
                let number = keys::part_number(rest)
                    .ok_or_else(|| StoreError::Corrupt("part key".into()))?;
                out.push((number, part));
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn access_keys_now(&self) -> Result<Vec<(String, AccessKeyRecord)>, StoreError> {
        let mut out = Vec::new();
        self.scan(None, ACCESS_KEYS, b"", |id, record| {
            let id = String::from_utf8(id.to_vec())
                .map_err(|_| StoreError::Corrupt("an access key id is not UTF-8".to_owned()))?;
            out.push((id, record));
            Ok(())
        })?;
        Ok(out)
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| StoreError::Corrupt(format!("{what} is not UTF-8")))
}

#[async_trait::async_trait]
impl MetaStore for LocalMeta {
    fn location(&self) -> String {
        format!("rocksdb at {}", self.path.display())
    }

    async fn create_bucket(&self, name: &str, record: &BucketRecord) -> Result<(), StoreError> {
        let _guard = self.lock();
        if self
            .get::<BucketRecord>(None, BUCKETS, name.as_bytes())?
            .is_some()
        {
            return Err(StoreError::BucketExists);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(BUCKETS), name, records::encode(record));
        self.write(batch)
    }

    async fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        self.get(None, BUCKETS, name.as_bytes())
    }

    async fn buckets(&self) -> Result<Vec<(String, BucketRecord)>, StoreError> {
        let mut out = Vec::new();
        self.scan(None, BUCKETS, b"", |name, record| {
            out.push((utf8(name, "a bucket name")?, record));
            Ok(())
        })?;
        Ok(out)
    }

    async fn delete_bucket(&self, bucket: BucketRef<'_>) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.reach(None, bucket)?;
        let name = bucket.name;
        let prefix = keys::bucket_prefix(name);
        for family in [OBJECTS, UPLOADS] {
            if self.has_prefix(family, &prefix)? {
                return Err(StoreError::BucketNotEmpty);
            }
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(BUCKETS), name);
        self.write(batch)
    }

    async fn set_bucket_owner(&self, name: &str, owner: Option<&str>) -> Result<(), StoreError> {
        let _guard = self.lock();
        let mut record = self
            .get::<BucketRecord>(None, BUCKETS, name.as_bytes())?
            .ok_or(StoreError::NoSuchBucket)?;
        record.owner = owner.map(str::to_owned);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(BUCKETS), name, records::encode(&record));
        self.write(batch)
    }

    async fn object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let index_key = keys::object(bucket.name, key);
        if bucket.tenant.is_none() {
            return self.get(None, OBJECTS, &index_key);
        }
        let snapshot = self.db.snapshot();
        self.reach(Some(&snapshot), bucket)?;
        self.get(Some(&snapshot), OBJECTS, &index_key)
    }

    async fn put_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let _guard = self.lock();
        self.reach(None, bucket)?;
        let index_key = keys::object(bucket.name, key);
        let old = self.get(None, OBJECTS, &index_key)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(OBJECTS), index_key, records::encode(record));
        self.write(batch)?;
        Ok(old)
    }

    async fn update_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        change: Update<'_>,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let _guard = self.lock();
        self.reach(None, bucket)?;
        let index_key = keys::object(bucket.name, key);
        let Some(mut record) = self.get::<ObjectRecord>(None, OBJECTS, &index_key)? else {
            return Ok(None);
        };
        change(&mut record);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(OBJECTS), index_key, records::encode(&record));
        self.write(batch)?;
        Ok(Some(record))
    }

    async fn delete_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let _guard = self.lock();
        self.reach(None, bucket)?;
        let index_key = keys::object(bucket.name, key);
        let Some(old) = self.get(None, OBJECTS, &index_key)? else {
            return Ok(None);
        };
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(OBJECTS), index_key);
        self.write(batch)?;
        Ok(Some(old))
    }

    async fn list_objects(
        &self,
        bucket: BucketRef<'_>,
        prefix: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let snapshot = self.db.snapshot();
        if bucket.tenant.is_some() {
            self.reach(Some(&snapshot), bucket)?;
        }
        let bucket_prefix = keys::bucket_prefix(bucket.name);
        let full_prefix = keys::object(bucket.name, prefix);
        let start = keys::list_start(bucket.name, prefix, after);
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(
            self.cf(OBJECTS),
            reading(Some(&snapshot)),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            if out.len() >= limit {
                break;
            }
            let (raw, value) = item?;
            if !raw.starts_with(&full_prefix) {
                break;
            }
            out.push(Listed {
                key: utf8(&raw[bucket_prefix.len()..], "an object key")?,
                record: records::decode(&value)?,
            });
        }
        Ok(out)
    }

    async fn create_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        record: &UploadRecord,
    ) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.reach(None, bucket)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(UPLOADS),
            keys::upload(bucket.name, upload_id),
            records::encode(record),
        );
        self.write(batch)
    }

    async fn upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<UploadRecord, StoreError> {
        let snapshot = self.db.snapshot();
        self.upload_at(Some(&snapshot), bucket, upload_id)
    }

    async fn uploads(
        &self,
        bucket: BucketRef<'_>,
    ) -> Result<Vec<(String, UploadRecord)>, StoreError> {
        let snapshot = self.db.snapshot();
        let at = Some(&snapshot);
        self.reach(at, bucket)?;
        let mut out = Vec::new();
        self.scan(
            at,
            UPLOADS,
            &keys::bucket_prefix(bucket.name),
            |id, record| {
                out.push((utf8(id, "an upload id")?, record));
                Ok(())
            },
        )?;
        Ok(out)
    }

    async fn put_part(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        number: u32,
        record: &PartRecord,
    ) -> Result<Option<PartRecord>, StoreError> {
        let _guard = self.lock();
        self.upload_at(None, bucket, upload_id)?;
        let key = keys::part(bucket.name, upload_id, number);
        let old = self.get(None, PARTS, &key)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(PARTS), key, records::encode(record));
        self.write(batch)?;
        Ok(old)
    }

    async fn parts(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<Vec<(u32, PartRecord)>, StoreError> {
        let snapshot = self.db.snapshot();
        let at = Some(&snapshot);
        if bucket.tenant.is_some() {
            self.reach(at, bucket)?;
        }
        self.parts_at(at, bucket.name, upload_id)
    }

    async fn finish_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        object: Option<(&str, &ObjectRecord)>,
    ) -> Result<Vec<String>, StoreError> {
        let _guard = self.lock();
        self.upload_at(None, bucket, upload_id)?;
        let bucket = bucket.name;
        let mut freed = Vec::new();
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(UPLOADS), keys::upload(bucket, upload_id));
        for (number, part) in self.parts_at(None, bucket, upload_id)? {
            batch.delete_cf(self.cf(PARTS), keys::part(bucket, upload_id, number));
            if !object.is_some_and(|(_, o)| o.uses(&part.blob)) {
                freed.push(part.blob);
            }
        }
        if let Some((key, record)) = object {
            let index_key = keys::object(bucket, key);
            if let Some(old) = self.get::<ObjectRecord>(None, OBJECTS, &index_key)? {
                freed.extend(
                    old.blob_ids()
                        .filter(|id| !record.uses(id))
                        .map(str::to_owned),
                );
            }
            batch.put_cf(self.cf(OBJECTS), index_key, records::encode(record));
        }
        self.write(batch)?;
        Ok(freed)
    }

    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.get(None, ACCESS_KEYS, id.as_bytes())
    }

    async fn insert_access_key(
        &self,
        id: &str,
        record: &AccessKeyRecord,
    ) -> Result<bool, StoreError> {
        let _guard = self.lock();
        if self
            .get::<AccessKeyRecord>(None, ACCESS_KEYS, id.as_bytes())?
            .is_some()
        {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(ACCESS_KEYS), id.as_bytes(), records::encode(record));
        self.write(batch)?;
        Ok(true)
    }

    async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let existed = self
            .get::<AccessKeyRecord>(None, ACCESS_KEYS, id.as_bytes())?
            .is_some();
        let mut batch = WriteBatch::default();
        for (child, record) in self.access_keys_now()? {
            if record.session.as_ref().is_some_and(|s| s.parent == id) {
                batch.delete_cf(self.cf(ACCESS_KEYS), child.as_bytes());
            }
        }
        batch.delete_cf(self.cf(ACCESS_KEYS), id.as_bytes());
        self.write(batch)?;
        Ok(existed)
    }

    async fn access_keys(&self) -> Result<Vec<(String, AccessKeyRecord)>, StoreError> {
        self.access_keys_now()
    }

    async fn purge_expired_keys(&self, now_ms: i64) -> Result<usize, StoreError> {
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let mut purged = 0;
        for (id, record) in self.access_keys_now()? {
            if record.expired(now_ms) {
                batch.delete_cf(self.cf(ACCESS_KEYS), id.as_bytes());
                purged += 1;
            }
        }
        if purged > 0 {
            self.write(batch)?;
        }
        Ok(purged)
    }

    async fn blobs_in_use(&self) -> Result<HashSet<String>, StoreError> {
        let mut used = HashSet::new();
        self.scan(None, OBJECTS, b"", |_, record: ObjectRecord| {
            used.extend(record.blob_ids().map(str::to_owned));
            Ok(())
        })?;
        self.scan(None, PARTS, b"", |_, record: PartRecord| {
            used.insert(record.blob);
            Ok(())
        })?;
        Ok(used)
    }

    async fn bucket_usage(&self, bucket: &str) -> Result<(u64, u64), StoreError> {
        self.reach(None, BucketRef::any(bucket))?;
        let (mut objects, mut bytes) = (0u64, 0u64);
        self.scan(
            None,
            OBJECTS,
            &keys::bucket_prefix(bucket),
            |_, record: ObjectRecord| {
                objects += 1;
                bytes += record.size;
                Ok(())
            },
        )?;
        Ok((objects, bytes))
    }
}

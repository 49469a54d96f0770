//! The integrated backend: metadata in chainfire (or any etcd v3 store),
//! so it survives the node's disk and the platform sees it; object bytes
//! stay in the node's blob files.
//!
//! Layout under `<prefix>` (`/photon/clusters/<cluster>/lightningstor/<instance>/`,
//! one prefix per instance, since the blobs its records name are on that
//! instance's disk), values in JSON so `etcdctl get --prefix` reads them:
//!
//! - `b/<bucket>`: a bucket;
//! - `o/<bucket> NUL <key>`: an object (keys sort as their bytes, so a
//!   listing is one range);
//! - `u/<bucket> NUL <upload id>`: a multipart upload;
//! - `p/<bucket> NUL <upload id> NUL <part number, 4 bytes big-endian>`: a part;
//! - `k/<access key id>`: an access key.
//!
//! Every write is one transaction guarded by compares on what it depends
//! on (the bucket exists, or for a tenant's request is still the record
//! whose owner was checked; the upload exists; the record read is
//! unchanged; no part was added): what the local backend gets from its mutex, the
//! transaction gets from chainfire's serial order, across any number of
//! processes. A write whose compare fails is read again and retried when
//! that can succeed, refused when it cannot. A tenant's read reads the
//! bucket first and then reads at that revision, so what it sees was in
//! the tenant's bucket.

use std::collections::HashSet;

use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, GetOptions, KeyValue, PutOptions, Txn, TxnOp,
    TxnOpResponse, TxnResponse,
};
use photon_integration::retry::prefix_end;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::meta::{BucketRef, MetaStore, Update};
use super::{
    AccessKeyRecord, BucketRecord, Listed, ObjectRecord, PartRecord, StoreError, UploadRecord, keys,
};

/// How many times a write is tried against other writers changing what it
/// read before it gives up.
const MAX_TRIES: usize = 64;

/// Keys read per range request when scanning.
const PAGE: i64 = 1000;

/// Operations per transaction when deleting many keys (etcd's default
/// limit is 128).
const OPS_PER_TXN: usize = 100;

/// The prefix instance `instance` of cluster `cluster` keeps its metadata
/// under.
pub fn instance_prefix(cluster: &str, instance: &str) -> String {
    format!("/photon/clusters/{cluster}/lightningstor/{instance}/")
}

/// Metadata in chainfire under one prefix.
#[derive(Clone)]
pub struct ChainfireMeta {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for ChainfireMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainfireMeta")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: etcd_client::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

async fn retried<T, F, Fut>(request: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    photon_integration::retry::retried(request)
        .await
        .map_err(unavailable)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, StoreError> {
    serde_json::from_slice(kv.value())
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(kv.key()))))
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| StoreError::Corrupt(format!("{what} is not UTF-8")))
}

fn exists(key: Vec<u8>) -> Compare {
    Compare::create_revision(key, CompareOp::Greater, 0)
}

fn absent(key: Vec<u8>) -> Compare {
    Compare::create_revision(key, CompareOp::Equal, 0)
}

/// The key still has the `mod_revision` read (0: still absent).
fn unchanged(key: Vec<u8>, revision: i64) -> Compare {
    Compare::mod_revision(key, CompareOp::Equal, revision)
}

fn gave_up(what: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{what}: changed by other writers {MAX_TRIES} times in a row"
    ))
}

/// The first response of a transaction that succeeded.
fn first(response: TxnResponse) -> Result<TxnOpResponse, StoreError> {
    response
        .op_responses()
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Unavailable("a transaction answered no operation".into()))
}

impl ChainfireMeta {
    /// Metadata under `prefix`, through `client`.
    pub fn new(client: Client, prefix: impl Into<String>) -> ChainfireMeta {
        ChainfireMeta {
            client,
            prefix: prefix.into(),
        }
    }

    fn key(&self, kind: &str, rest: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.prefix.len() + kind.len() + 1 + rest.len());
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(kind.as_bytes());
        out.push(b'/');
        out.extend_from_slice(rest);
        out
    }

    fn bucket_key(&self, name: &str) -> Vec<u8> {
        self.key("b", name.as_bytes())
    }

    fn object_key(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.key("o", &keys::object(bucket, key))
    }

    fn upload_key(&self, bucket: &str, upload_id: &str) -> Vec<u8> {
        self.key("u", &keys::upload(bucket, upload_id))
    }

    fn access_key_key(&self, id: &str) -> Vec<u8> {
        self.key("k", id.as_bytes())
    }

    /// The key's record and `mod_revision`.
    async fn get_kv(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.get_kv_at(key, 0).await?.0)
    }

    /// The key's record as of revision `at` (0: now), and the revision
    /// read.
    async fn get_kv_at(&self, key: &[u8], at: i64) -> Result<(Option<KeyValue>, i64), StoreError> {
        let answer = retried(|| {
            let mut kv = self.client.kv_client();
            let options = (at > 0).then(|| GetOptions::new().with_revision(at));
            async move { kv.get(key, options).await }
        })
        .await?;
        let revision = answer.header().map_or(at, |h| h.revision());
        Ok((answer.kvs().first().cloned(), revision))
    }

    async fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get_at(key, 0).await
    }

    async fn get_at<T: DeserializeOwned>(
        &self,
        key: &[u8],
        at: i64,
    ) -> Result<Option<T>, StoreError> {
        self.get_kv_at(key, at)
            .await?
            .0
            .map(|kv| decode(&kv))
            .transpose()
    }

    /// The bucket's key-value if it is within reach (see [`BucketRef`]),
    /// and the revision it was read at.
    async fn reach(&self, bucket: BucketRef<'_>) -> Result<(KeyValue, i64), StoreError> {
        let (kv, revision) = self.get_kv_at(&self.bucket_key(bucket.name), 0).await?;
        let kv = kv.ok_or(StoreError::NoSuchBucket)?;
        bucket.check(&decode(&kv)?)?;
        Ok((kv, revision))
    }

    /// The compare a write into the bucket is guarded by: the bucket
    /// exists and, for a tenant's request, is still the record found
    /// within reach here (a delete, a new owner or a bucket made again
    /// all change its `mod_revision`).
    async fn guard(&self, bucket: BucketRef<'_>) -> Result<Compare, StoreError> {
        let key = self.bucket_key(bucket.name);
        if bucket.tenant.is_none() {
            return Ok(exists(key));
        }
        let (kv, _) = self.reach(bucket).await?;
        Ok(unchanged(key, kv.mod_revision()))
    }

    /// The revision a read scoped to the bucket reads at: for a tenant's
    /// request one at which the bucket was within reach; 0 (now) otherwise.
    async fn read_point(&self, bucket: BucketRef<'_>) -> Result<i64, StoreError> {
        match bucket.tenant {
            None => Ok(0),
            Some(_) => Ok(self.reach(bucket).await?.1),
        }
    }

    /// Every key-value from `start` up to `end` (at most `limit`, 0: all),
    /// in key order, all read at one revision; that revision.
    async fn range(
        &self,
        start: Vec<u8>,
        end: &[u8],
        limit: usize,
        at: i64,
    ) -> Result<(Vec<KeyValue>, i64), StoreError> {
        let mut out: Vec<KeyValue> = Vec::new();
        let revision = self
            .each_in(start, end, limit, at, |kv| {
                out.push(kv.clone());
                Ok(())
            })
            .await?;
        Ok((out, revision))
    }

    /// Calls `each` with every key-value from `start` up to `end` (at most
    /// `limit`, 0: all) in key order, all read at one revision (`at`, or
    /// now when 0), a page at a time, so a prefix of millions of records
    /// is never held at once; that revision.
    async fn each_in(
        &self,
        start: Vec<u8>,
        end: &[u8],
        limit: usize,
        at: i64,
        mut each: impl FnMut(&KeyValue) -> Result<(), StoreError>,
    ) -> Result<i64, StoreError> {
        let mut seen = 0usize;
        let mut from = start;
        let mut revision = at;
        loop {
            let page = match limit {
                0 => PAGE,
                limit => PAGE.min(i64::try_from(limit - seen).unwrap_or(PAGE)),
            };
            let answer = retried(|| {
                let mut kv = self.client.kv_client();
                let mut options = GetOptions::new().with_range(end).with_limit(page);
                if revision > 0 {
                    options = options.with_revision(revision);
                }
                let from = from.clone();
                async move { kv.get(from, Some(options)).await }
            })
            .await?;
            if revision == 0 {
                revision = answer.header().map_or(0, |h| h.revision());
            }
            let more = answer.more();
            let kvs = answer.kvs();
            if let Some(last) = kvs.last() {
                from = keys::after(last.key());
            }
            for kv in kvs {
                each(kv)?;
            }
            seen += kvs.len();
            if !more || kvs.is_empty() || (limit > 0 && seen >= limit) {
                return Ok(revision);
            }
        }
    }

    /// Calls `each` with every key-value under `prefix`, at one revision.
    async fn each_under(
        &self,
        prefix: Vec<u8>,
        each: impl FnMut(&KeyValue) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let end = prefix_end(&prefix);
        self.each_in(prefix, &end, 0, 0, each).await.map(|_| ())
    }

    /// Every key-value whose key starts with `prefix`, at one revision
    /// (`at`, or now when 0).
    async fn scan(&self, prefix: Vec<u8>, at: i64) -> Result<(Vec<KeyValue>, i64), StoreError> {
        let end = prefix_end(&prefix);
        self.range(prefix, &end, 0, at).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        retried(|| {
            let mut kv = self.client.kv_client();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await
    }

    /// Deletes `keys`, some transactions of them.
    async fn delete_all(&self, keys: Vec<Vec<u8>>) -> Result<(), StoreError> {
        for chunk in keys.chunks(OPS_PER_TXN) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|key| TxnOp::delete(key.clone(), None))
                .collect();
            self.txn(Txn::new().and_then(ops)).await?;
        }
        Ok(())
    }

    /// Why an upload is not there.
    async fn missing_upload(&self, bucket: BucketRef<'_>) -> StoreError {
        match self.reach(bucket).await {
            Ok(_) => StoreError::NoSuchUpload,
            Err(e) => e,
        }
    }

    /// Runs `op` in one transaction guarded by the bucket (see
    /// [`Self::guard`]); when the guard fails, the bucket's own answer
    /// (gone, another tenant's), or another try if it was only rewritten.
    async fn in_bucket(
        &self,
        bucket: BucketRef<'_>,
        what: &str,
        op: TxnOp,
    ) -> Result<TxnResponse, StoreError> {
        for _ in 0..MAX_TRIES {
            let guard = self.guard(bucket).await?;
            let answer = self
                .txn(Txn::new().when([guard]).and_then([op.clone()]))
                .await?;
            if answer.succeeded() {
                return Ok(answer);
            }
            self.reach(bucket).await?;
        }
        Err(gave_up(what))
    }

    async fn access_keys_now(&self) -> Result<Vec<(String, AccessKeyRecord)>, StoreError> {
        let prefix = self.key("k", b"");
        let (kvs, _) = self.scan(prefix.clone(), 0).await?;
        kvs.iter()
            .map(|kv| {
                Ok((
                    utf8(&kv.key()[prefix.len()..], "an access key id")?,
                    decode(kv)?,
                ))
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl MetaStore for ChainfireMeta {
    fn location(&self) -> String {
        format!("chainfire {}", self.prefix)
    }

    async fn create_bucket(&self, name: &str, record: &BucketRecord) -> Result<(), StoreError> {
        let key = self.bucket_key(name);
        let txn = Txn::new().when([absent(key.clone())]).and_then([TxnOp::put(
            key,
            encode(record),
            None,
        )]);
        if self.txn(txn).await?.succeeded() {
            Ok(())
        } else {
            Err(StoreError::BucketExists)
        }
    }

    async fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        self.get(&self.bucket_key(name)).await
    }

    async fn set_bucket_owner(&self, name: &str, owner: Option<&str>) -> Result<(), StoreError> {
        let key = self.bucket_key(name);
        loop {
            let kv = self.get_kv(&key).await?.ok_or(StoreError::NoSuchBucket)?;
            let mut record: BucketRecord = decode(&kv)?;
            record.owner = owner.map(str::to_owned);
            // Written only over the record read: a racing change (a delete,
            // another owner) makes this read again.
            let txn = Txn::new()
                .when([unchanged(key.clone(), kv.mod_revision())])
                .and_then([TxnOp::put(key.clone(), encode(&record), None)]);
            if self.txn(txn).await?.succeeded() {
                return Ok(());
            }
        }
    }

    async fn buckets(&self) -> Result<Vec<(String, BucketRecord)>, StoreError> {
        let prefix = self.key("b", b"");
        let (kvs, _) = self.scan(prefix.clone(), 0).await?;
        kvs.iter()
            .map(|kv| {
                Ok((
                    utf8(&kv.key()[prefix.len()..], "a bucket name")?,
                    decode(kv)?,
                ))
            })
            .collect()
    }

    async fn delete_bucket(&self, bucket: BucketRef<'_>) -> Result<(), StoreError> {
        let key = self.bucket_key(bucket.name);
        let inside = keys::bucket_prefix(bucket.name);
        let empty = |kind: &str| {
            let start = self.key(kind, &inside);
            let end = prefix_end(&start);
            absent(start).with_range(end)
        };
        for _ in 0..MAX_TRIES {
            // A tenant's delete is guarded by the record it checked.
            let seen = match bucket.tenant {
                None => None,
                Some(_) => Some(self.reach(bucket).await?.0.mod_revision()),
            };
            let guard = match seen {
                None => exists(key.clone()),
                Some(revision) => unchanged(key.clone(), revision),
            };
            let txn = Txn::new()
                .when([guard, empty("o"), empty("u")])
                .and_then([TxnOp::delete(key.clone(), None)]);
            if self.txn(txn).await?.succeeded() {
                return Ok(());
            }
            // Gone or another's is the answer; as it was, it is not
            // empty; rewritten within reach, it is tried again.
            let (now, _) = self.reach(bucket).await?;
            if seen.is_none_or(|revision| revision == now.mod_revision()) {
                return Err(StoreError::BucketNotEmpty);
            }
        }
        Err(gave_up("deleting a bucket"))
    }

    async fn object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let at = self.read_point(bucket).await?;
        self.get_at(&self.object_key(bucket.name, key), at).await
    }

    async fn put_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let answer = self
            .in_bucket(
                bucket,
                "writing an object",
                TxnOp::put(
                    self.object_key(bucket.name, key),
                    encode(record),
                    Some(PutOptions::new().with_prev_key()),
                ),
            )
            .await?;
        match first(answer)? {
            TxnOpResponse::Put(put) => put.prev_key().map(decode).transpose(),
            _ => Err(StoreError::Unavailable(
                "a put answered as another operation".into(),
            )),
        }
    }

    async fn update_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
        change: Update<'_>,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let index_key = self.object_key(bucket.name, key);
        for _ in 0..MAX_TRIES {
            let guard = self.guard(bucket).await?;
            let Some(kv) = self.get_kv(&index_key).await? else {
                self.reach(bucket).await?;
                return Ok(None);
            };
            let mut record: ObjectRecord = decode(&kv)?;
            change(&mut record);
            let txn = Txn::new()
                .when([guard, unchanged(index_key.clone(), kv.mod_revision())])
                .and_then([TxnOp::put(index_key.clone(), encode(&record), None)]);
            if self.txn(txn).await?.succeeded() {
                return Ok(Some(record));
            }
        }
        Err(gave_up("updating an object"))
    }

    async fn delete_object(
        &self,
        bucket: BucketRef<'_>,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let answer = self
            .in_bucket(
                bucket,
                "deleting an object",
                TxnOp::delete(
                    self.object_key(bucket.name, key),
                    Some(DeleteOptions::new().with_prev_key()),
                ),
            )
            .await?;
        match first(answer)? {
            TxnOpResponse::Delete(deleted) => deleted.prev_kvs().first().map(decode).transpose(),
            _ => Err(StoreError::Unavailable(
                "a delete answered as another operation".into(),
            )),
        }
    }

    async fn list_objects(
        &self,
        bucket: BucketRef<'_>,
        prefix: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let at = self.read_point(bucket).await?;
        let bucket = bucket.name;
        let start = self.key("o", &keys::list_start(bucket, prefix, after));
        let end = prefix_end(&self.object_key(bucket, prefix));
        let (kvs, _) = self.range(start, &end, limit, at).await?;
        let strip = self.object_key(bucket, "").len();
        kvs.iter()
            .map(|kv| {
                Ok(Listed {
                    key: utf8(&kv.key()[strip..], "an object key")?,
                    record: decode(kv)?,
                })
            })
            .collect()
    }

    async fn create_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        record: &UploadRecord,
    ) -> Result<(), StoreError> {
        let op = TxnOp::put(
            self.upload_key(bucket.name, upload_id),
            encode(record),
            None,
        );
        self.in_bucket(bucket, "starting an upload", op).await?;
        Ok(())
    }

    async fn upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<UploadRecord, StoreError> {
        let at = self.read_point(bucket).await?;
        match self
            .get_at(&self.upload_key(bucket.name, upload_id), at)
            .await?
        {
            Some(record) => Ok(record),
            None => Err(self.missing_upload(bucket).await),
        }
    }

    async fn uploads(
        &self,
        bucket: BucketRef<'_>,
    ) -> Result<Vec<(String, UploadRecord)>, StoreError> {
        let (_, at) = self.reach(bucket).await?;
        let prefix = self.key("u", &keys::bucket_prefix(bucket.name));
        let (kvs, _) = self.scan(prefix.clone(), at).await?;
        kvs.iter()
            .map(|kv| {
                Ok((
                    utf8(&kv.key()[prefix.len()..], "an upload id")?,
                    decode(kv)?,
                ))
            })
            .collect()
    }

    async fn put_part(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        number: u32,
        record: &PartRecord,
    ) -> Result<Option<PartRecord>, StoreError> {
        let upload_key = self.upload_key(bucket.name, upload_id);
        let part_key = self.key("p", &keys::part(bucket.name, upload_id, number));
        let mut answer = None;
        for _ in 0..MAX_TRIES {
            let guard = self.guard(bucket).await?;
            let txn = Txn::new()
                .when([guard, exists(upload_key.clone())])
                .and_then([TxnOp::put(
                    part_key.clone(),
                    encode(record),
                    Some(PutOptions::new().with_prev_key()),
                )]);
            let tried = self.txn(txn).await?;
            if tried.succeeded() {
                answer = Some(tried);
                break;
            }
            // Gone (or now another's) is an answer; a bucket rewritten
            // within reach is tried again.
            self.upload(bucket, upload_id).await?;
        }
        let answer = answer.ok_or_else(|| gave_up("writing a part"))?;
        match first(answer)? {
            TxnOpResponse::Put(put) => put.prev_key().map(decode).transpose(),
            _ => Err(StoreError::Unavailable(
                "a put answered as another operation".into(),
            )),
        }
    }

    async fn parts(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
    ) -> Result<Vec<(u32, PartRecord)>, StoreError> {
        let at = self.read_point(bucket).await?;
        let prefix = self.key("p", &keys::upload_parts_prefix(bucket.name, upload_id));
        let (kvs, _) = self.scan(prefix.clone(), at).await?;
        kvs.iter()
            .map(|kv| {
                let number = keys::part_number(&kv.key()[prefix.len()..])
                    .ok_or_else(|| StoreError::Corrupt("part key".into()))?;
                Ok((number, decode(kv)?))
            })
            .collect()
    }

    async fn finish_upload(
        &self,
        bucket: BucketRef<'_>,
        upload_id: &str,
        object: Option<(&str, &ObjectRecord)>,
    ) -> Result<Vec<String>, StoreError> {
        let upload_key = self.upload_key(bucket.name, upload_id);
        let parts_prefix = self.key("p", &keys::upload_parts_prefix(bucket.name, upload_id));
        let parts_end = prefix_end(&parts_prefix);
        for _ in 0..MAX_TRIES {
            let Some(upload) = self.get_kv(&upload_key).await? else {
                return Err(self.missing_upload(bucket).await);
            };
            let (parts, parts_read_at) = self.range(parts_prefix.clone(), &parts_end, 0, 0).await?;
            let mut freed = Vec::new();
            for kv in &parts {
                let part: PartRecord = decode(kv)?;
                if !object.is_some_and(|(_, o)| o.uses(&part.blob)) {
                    freed.push(part.blob);
                }
            }
            let mut when = vec![
                self.guard(bucket).await?,
                unchanged(upload_key.clone(), upload.mod_revision()),
                // No part written since the parts were read.
                Compare::mod_revision(parts_prefix.clone(), CompareOp::Less, parts_read_at + 1)
                    .with_range(parts_end.clone()),
            ];
            let mut ops = vec![
                TxnOp::delete(upload_key.clone(), None),
                TxnOp::delete(
                    parts_prefix.clone(),
                    Some(DeleteOptions::new().with_range(parts_end.clone())),
                ),
            ];
            if let Some((key, record)) = object {
                let index_key = self.object_key(bucket.name, key);
                let old = self.get_kv(&index_key).await?;
                if let Some(old) = &old {
                    let old: ObjectRecord = decode(old)?;
                    freed.extend(
                        old.blob_ids()
                            .filter(|id| !record.uses(id))
                            .map(str::to_owned),
                    );
                }
                when.push(unchanged(
                    index_key.clone(),
                    old.as_ref().map_or(0, KeyValue::mod_revision),
                ));
                ops.push(TxnOp::put(index_key, encode(record), None));
            }
            if self
                .txn(Txn::new().when(when).and_then(ops))
                .await?
                .succeeded()
            {
                return Ok(freed);
            }
        }
        Err(gave_up("completing a multipart upload"))
    }

    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.get(&self.access_key_key(id)).await
    }

    async fn insert_access_key(
        &self,
        id: &str,
        record: &AccessKeyRecord,
    ) -> Result<bool, StoreError> {
        let key = self.access_key_key(id);
        let txn = Txn::new().when([absent(key.clone())]).and_then([TxnOp::put(
            key,
            encode(record),
            None,
        )]);
        Ok(self.txn(txn).await?.succeeded())
    }

    async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        let all = self.access_keys_now().await?;
        let existed = all.iter().any(|(key, _)| key == id);
        // Sessions first: a delete cut short leaves the parent, and is
        // finished by running it again.
        let sessions: Vec<Vec<u8>> = all
            .iter()
            .filter(|(_, record)| record.session.as_ref().is_some_and(|s| s.parent == id))
            .map(|(child, _)| self.access_key_key(child))
            .collect();
        self.delete_all(sessions).await?;
        self.delete_all(vec![self.access_key_key(id)]).await?;
        Ok(existed)
    }

    async fn access_keys(&self) -> Result<Vec<(String, AccessKeyRecord)>, StoreError> {
        self.access_keys_now().await
    }

    async fn purge_expired_keys(&self, now_ms: i64) -> Result<usize, StoreError> {
        let expired: Vec<Vec<u8>> = self
            .access_keys_now()
            .await?
            .iter()
            .filter(|(_, record)| record.expired(now_ms))
            .map(|(id, _)| self.access_key_key(id))
            .collect();
        let purged = expired.len();
        self.delete_all(expired).await?;
        Ok(purged)
    }

    async fn blobs_in_use(&self) -> Result<HashSet<String>, StoreError> {
        let mut used = HashSet::new();
        self.each_under(self.key("o", b""), |kv| {
            let record: ObjectRecord = decode(kv)?;
            used.extend(record.blob_ids().map(str::to_owned));
            Ok(())
        })
        .await?;
        self.each_under(self.key("p", b""), |kv| {
            let record: PartRecord = decode(kv)?;
            used.insert(record.blob);
            Ok(())
        })
        .await?;
        Ok(used)
    }

    async fn bucket_usage(&self, bucket: &str) -> Result<(u64, u64), StoreError> {
        self.reach(BucketRef::any(bucket)).await?;
        let (mut objects, mut bytes) = (0u64, 0u64);
        self.each_under(self.key("o", &keys::bucket_prefix(bucket)), |kv| {
            let record: ObjectRecord = decode(kv)?;
            objects += 1;
            bytes += record.size;
            Ok(())
        })
        .await?;
        Ok((objects, bytes))
    }
}

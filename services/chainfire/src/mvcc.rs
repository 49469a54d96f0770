//! The multi-version key-value store, as etcd defines it, on RocksDB.
//!
//! - One cluster-wide revision, starting at 1, raised by one for every write
//!   request (a put, a delete that deleted something, a transaction with
//!   writes). All changes of one request share it and are told apart by a
//!   sub-revision.
//! - Every key version keeps `create_revision`, `mod_revision` and
//!   `version` (puts since creation; a delete ends the key's generation).
//! - Reads may ask for a past revision until [`MvccStore::compact`] drops the
//!   history before it.
//! - Each write request is one RocksDB write batch, fsynced before the call
//!   returns: an acknowledged write survives a crash, a half-applied one is
//!   never visible.
//!
//! Column families: `history` (every version, grouped by key, see
//! [`keys`]), `events` (revision order, for watchers catching up) and `meta`
//! (current and compacted revision).

mod keys;
mod txn;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use prost::Message as _;
use rocksdb::{ColumnFamilyDescriptor, DB, Options, WriteBatch, WriteOptions};

use crate::proto::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse, compare,
    range_request, request_op, response_op,
};
use crate::proto::mvccpb::{Event, KeyValue, event};
use txn::{StoreTxn, check_txn_writes, shape_range};

const HISTORY: &str = "history";
const EVENTS: &str = "events";
/// Revisions, and whatever the owner stores with each write ([`Meta`]).
pub const META: &str = "meta";
/// Column families the store needs; an owner sharing the database (the Raft
/// log) adds its own with [`open_db`].
/// Granted leases: id -> TTL in seconds.
const LEASES: &str = "leases";
/// Keys attached to a lease: id ++ key -> nothing.
const LEASE_KEYS: &str = "lease_keys";
const FAMILIES: [&str; 5] = [HISTORY, EVENTS, META, LEASES, LEASE_KEYS];
/// The column families that make up the store's state, in a fixed order
/// (a Raft snapshot refers to them by index).
pub const SNAPSHOT_FAMILIES: [&str; 5] = FAMILIES;
const CURRENT_REVISION: &[u8] = b"current_revision";
const COMPACTED_REVISION: &[u8] = b"compacted_revision";

/// Why a request could not be served. The messages are etcd's, so clients
/// that match on them keep working.
#[derive(Debug, thiserror::Error)]
pub enum MvccError {
    /// The revision asked for was compacted away.
    #[error("mvcc: required revision has been compacted")]
    Compacted {
        /// What was asked for.
        requested: i64,
        /// The oldest revision still readable.
        compacted: i64,
    },
    /// The revision asked for does not exist yet.
    #[error("mvcc: required revision is a future revision")]
    FutureRevision {
        /// What was asked for.
        requested: i64,
        /// The store's revision.
        current: i64,
    },
    /// A transaction writes one key twice.
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// `ignore_value` or `ignore_lease` on a key that does not exist.
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// An empty key.
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    /// A put names a lease that does not exist, or a revoke names one.
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A grant asks for an id already in use.
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    /// RocksDB failed.
    #[error("storage")]
    Storage(#[from] rocksdb::Error),
    /// Stored bytes do not decode: the data directory is damaged.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

/// Entries of the `meta` column family written in the same batch as a
/// request's changes, so the owner's bookkeeping (the last applied Raft log
/// id) can never disagree with the data.
pub type Meta<'a> = &'a [(&'a [u8], Vec<u8>)];

/// RocksDB's write buffers (memtables), all families together.
const WRITE_BUFFERS_BYTES: usize = 64 << 20;

/// Opens (or creates) a RocksDB database in `dir` with the store's column
/// families plus `extra` ones.
pub fn open_db(dir: &Path, extra: &[&str]) -> Result<Arc<DB>, MvccError> {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    // One budget for every family's write buffers, so the memory they
    // take is bounded whatever the store's size and the writes' pattern
    // (a snapshot install writes the whole store at once).
    options.set_db_write_buffer_size(WRITE_BUFFERS_BYTES);
    let families = FAMILIES
        .iter()
        .chain(extra)
        .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
    Ok(Arc::new(DB::open_cf_descriptors(&options, dir, families)?))
}

/// The store. Reads take `&self`; writes take `&mut self`, so the caller
/// decides how they are serialised (Raft applies them one at a time).
#[derive(Debug)]
pub struct MvccStore {
    db: Arc<DB>,
    current: i64,
    compacted: i64,
    sync: bool,
    /// Every live key's newest version without its value, as etcd keeps
    /// its key index in memory: a put learns the version it replaces, and
    /// a delete or keys-only range finds its keys, without reading
    /// RocksDB. Rebuilt from the history on open and after a snapshot is
    /// installed ([`reload`](Self::reload)); changed only after the batch
    /// that changes the keys is written.
    live: BTreeMap<Vec<u8>, Head>,
}

/// A write request: what a Raft entry carries.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteRequest {
    /// A put.
    Put(PutRequest),
    /// A delete.
    DeleteRange(DeleteRangeRequest),
    /// A transaction.
    Txn(TxnRequest),
}

/// The answer to a [`WriteRequest`], without the header.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteResponse {
    /// For a put.
    Put(PutResponse),
    /// For a delete.
    DeleteRange(DeleteRangeResponse),
    /// For a transaction.
    Txn(TxnResponse),
}

/// A range of keys as a map's bounds (the start included).
type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The keys a request covers: etcd's `key` / `range_end` convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    start: Vec<u8>,
    end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// `range_end` empty: just `key`. `range_end == "\0"`: every key from
    /// `key` on (every key at all if `key` is also `"\0"`). Otherwise
    /// `[key, range_end)`.
    pub fn new(key: &[u8], range_end: &[u8]) -> Self {
        let start = if key == [0] && range_end == [0] {
            Vec::new()
        } else {
            key.to_vec()
        };
        let end = match range_end {
            [] => {
                let mut next = key.to_vec();
                next.push(0);
                Bound::Excluded(next)
            }
            [0] => Bound::Unbounded,
            end => Bound::Excluded(end.to_vec()),
        };
        KeyRange { start, end }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice()
            && match &self.end {
                Bound::Excluded(end) => key < end.as_slice(),
                _ => true,
            }
    }

    fn past_end(&self, key: &[u8]) -> bool {
        matches!(&self.end, Bound::Excluded(end) if key >= end.as_slice())
    }

    /// The range as map bounds; `None` if it is empty (an end at or
    /// before the start).
    fn bounds(&self) -> Option<KeyBounds<'_>> {
        let end = match &self.end {
            Bound::Excluded(end) if end.as_slice() <= self.start.as_slice() => return None,
            Bound::Excluded(end) => Bound::Excluded(end.as_slice()),
            _ => Bound::Unbounded,
        };
        Some((Bound::Included(self.start.as_slice()), end))
    }
}

impl MvccStore {
    /// Opens (or creates) a store of its own in `dir`, fsyncing every write.
    pub fn open(dir: &Path) -> Result<Self, MvccError> {
        Self::with_db(open_db(dir, &[])?, true)
    }

    /// The store in a database opened with [`open_db`]. With `sync` false,
    /// writes are not fsynced: for an owner whose own log (Raft's) is the
    /// durable record and replays what a crash lost.
    pub fn with_db(db: Arc<DB>, sync: bool) -> Result<Self, MvccError> {
        let mut store = MvccStore {
            db,
            current: 1,
            compacted: 0,
            sync,
            live: BTreeMap::new(),
        };
        store.reload()?;
        Ok(store)
    }

    /// Re-reads the revisions, after the data was replaced underneath
    /// (a snapshot was installed).
    pub fn reload(&mut self) -> Result<(), MvccError> {
        let read = |key: &[u8]| -> Result<Option<i64>, MvccError> {
            match self.meta(key)? {
                None => Ok(None),
                Some(bytes) => Ok(Some(i64::from_be_bytes(
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| MvccError::Corrupt("revision is not 8 bytes".into()))?,
                ))),
            }
        };
        let current = read(CURRENT_REVISION)?.unwrap_or(1);
        let compacted = read(COMPACTED_REVISION)?.unwrap_or(0);
        self.current = current;
        self.compacted = compacted;
        self.live = self.read_live()?;
        Ok(())
    }

    /// The live keys' newest versions, read from the history (each key's
    /// group starts with its newest version).
    fn read_live(&self) -> Result<BTreeMap<Vec<u8>, Head>, MvccError> {
        let mut live = BTreeMap::new();
        let mut it = self.db.raw_iterator_cf(self.cf(HISTORY));
        it.seek_to_first();
        while let (Some(raw), Some(value)) = (it.key(), it.value()) {
            let group = keys::group_of(raw).to_vec();
            let mut head = Head::read(value)?;
            if head.version > 0 {
                live.insert(std::mem::take(&mut head.key), head);
            }
            next_group(&mut it, &group);
        }
        it.status()?;
        Ok(live)
    }

    /// A `meta` entry.
    pub fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> {
        Ok(self.db.get_cf(self.cf(META), key)?)
    }

    /// Writes `meta` entries alone (for log entries that change no key).
    pub fn write_meta(&self, meta: Meta<'_>) -> Result<(), MvccError> {
        let mut batch = WriteBatch::default();
        for (key, value) in meta {
            batch.put_cf(self.cf(META), key, value);
        }
        self.write(batch)
    }

    /// The database, for owners that keep more in it.
    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    /// The newest revision.
    pub fn revision(&self) -> i64 {
        self.current
    }

    /// The revision of the last compaction (0 if none): reads and watches
    /// may start at it or later, not before.
    pub fn compacted_revision(&self) -> i64 {
        self.compacted
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created on open")
    }

    fn check_read_revision(&self, requested: i64) -> Result<i64, MvccError> {
        if requested <= 0 {
            return Ok(self.current);
        }
        if requested > self.current {
            return Err(MvccError::FutureRevision {
                requested,
                current: self.current,
            });
        }
        if requested < self.compacted {
            return Err(MvccError::Compacted {
                requested,
                compacted: self.compacted,
            });
        }
        Ok(requested)
    }

    /// The version of `key` visible at `revision` (tombstones included).
    fn version_at(&self, key: &[u8], revision: i64) -> Result<Option<KeyValue>, MvccError> {
        let mut it = self.db.raw_iterator_cf(self.cf(HISTORY));
        let escaped = keys::escape(key);
        it.seek(keys::history_key(key, revision));
        match (it.key(), it.value()) {
            (Some(raw), Some(value)) if keys::group_of(raw) == escaped.as_slice() => {
                let mut kv = decode(value)?;
                if kv.key.is_empty() {
                    // A tombstone: its key is the history key's.
                    kv.key = key.to_vec();
                }
                Ok(Some(kv))
            }
            _ => {
                it.status()?;
                Ok(None)
            }
        }
    }

    /// The live version of `key` now, found through the index of live
    /// keys (one point read for its value, none if it is not live).
    pub fn latest(&self, key: &[u8]) -> Result<Option<KeyValue>, MvccError> {
        let Some(head) = self.live.get(key) else {
            return Ok(None);
        };
        let raw = keys::history_key(key, head.mod_revision);
        match self.db.get_pinned_cf(self.cf(HISTORY), raw)? {
            Some(value) => Ok(Some(decode(&value)?)),
            None => Err(MvccError::Corrupt(format!(
                "the live version of a key (revision {}) is missing from the history",
                head.mod_revision
            ))),
        }
    }

    /// The live version of `key` now without its value, from memory.
    pub(crate) fn latest_head(&self, key: &[u8]) -> Option<KeyValue> {
        self.live.get(key).map(|head| head.key_value(key))
    }

    /// The live version of `key` at `revision`: `None` if absent or deleted.
    pub fn get(&self, key: &[u8], revision: i64) -> Result<Option<KeyValue>, MvccError> {
        Ok(self.version_at(key, revision)?.filter(is_live))
    }

    /// Every live key in `range` at `revision`, in key order.
    /// The live keys of `range` at `revision`; without their values when
    /// `values` is false (a keys-only or count-only range over large values
    /// then holds one value at a time, not all of them).
    fn scan(
        &self,
        range: &KeyRange,
        revision: i64,
        values: bool,
    ) -> Result<Vec<KeyValue>, MvccError> {
        if revision == self.current && !values {
            let Some(bounds) = range.bounds() else {
                return Ok(Vec::new());
            };
            return Ok(self
                .live
                .range::<[u8], _>(bounds)
                .map(|(key, head)| head.key_value(key))
                .collect());
        }
        let mut out = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf(HISTORY));
        it.seek(keys::escape(&range.start));
        while let Some(raw) = it.key() {
            let group = keys::group_of(raw).to_vec();
            let (user_key, newest) = keys::split_history_key(raw)
                .ok_or_else(|| MvccError::Corrupt("malformed history key".into()))?;
            if range.past_end(&user_key) {
                break;
            }
            // A group starts with its newest version: what a read of the
            // present wants, without a seek (seeks are most of a scan's
            // cost).
            if newest > revision {
                it.seek(keys::in_group(&group, revision));
            }
            if let (Some(raw), Some(value)) = (it.key(), it.value())
                && keys::group_of(raw) == group.as_slice()
            {
                let kv = if values {
                    decode(value)?
                } else {
                    decode_head(value)?
                };
                if is_live(&kv) {
                    out.push(kv);
                }
            }
            next_group(&mut it, &group);
        }
        it.status()?;
        Ok(out)
    }

    /// Serves a range request (without the response header).
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse, MvccError> {
        let revision = self.check_read_revision(request.revision)?;
        let range = KeyRange::new(&request.key, &request.range_end);
        let kvs = self.scan(&range, revision, txn::wants_values(request))?;
        Ok(shape_range(request, kvs))
    }

    /// Serves a put; returns the new revision.
    pub fn put(&mut self, request: &PutRequest) -> Result<(i64, PutResponse), MvccError> {
        match self.apply(&WriteRequest::Put(request.clone()), &[])? {
            (revision, WriteResponse::Put(response)) => Ok((revision, response)),
            _ => unreachable!("a put answers a put"),
        }
    }

    /// Serves a delete; returns the revision it ran at (unchanged when
    /// nothing was deleted, as in etcd).
    pub fn delete_range(
        &mut self,
        request: &DeleteRangeRequest,
    ) -> Result<(i64, DeleteRangeResponse), MvccError> {
        match self.apply(&WriteRequest::DeleteRange(request.clone()), &[])? {
            (revision, WriteResponse::DeleteRange(response)) => Ok((revision, response)),
            _ => unreachable!("a delete answers a delete"),
        }
    }

    /// Serves a transaction: every compare against the committed state, then
    /// the `success` or `failure` ops, all at one new revision.
    pub fn txn(&mut self, request: &TxnRequest) -> Result<(i64, TxnResponse), MvccError> {
        match self.apply(&WriteRequest::Txn(request.clone()), &[])? {
            (revision, WriteResponse::Txn(response)) => Ok((revision, response)),
            _ => unreachable!("a txn answers a txn"),
        }
    }

    /// Applies one write request and `meta` in one batch; returns the
    /// revision it ran at. A rejected request writes `meta` only.
    pub fn apply(
        &mut self,
        request: &WriteRequest,
        meta: Meta<'_>,
    ) -> Result<(i64, WriteResponse), MvccError> {
        self.apply_many(std::slice::from_ref(request), meta)?
            .pop()
            .expect("one result per request")
    }

    /// Applies several write requests, in order and each at its own
    /// revision (as if they had come one by one), in one RocksDB batch with
    /// `meta`. A request the store refuses gets its error and changes
    /// nothing; the others still apply. The outer error is a storage failure
    /// (nothing was written).
    #[allow(clippy::type_complexity)]
    pub fn apply_many(
        &mut self,
        requests: &[WriteRequest],
        meta: Meta<'_>,
    ) -> Result<Vec<Result<(i64, WriteResponse), MvccError>>, MvccError> {
        let mut overlay: BTreeMap<Vec<u8>, KeyValue> = BTreeMap::new();
        let mut batch = WriteBatch::default();
        let mut current = self.current;
        let mut results = Vec::with_capacity(requests.len());
        for request in requests {
            if let WriteRequest::Txn(txn) = request
                && let Err(e) = check_txn_writes(txn)
            {
                results.push(Err(e));
                continue;
            }
            // A put or a delete refuses before it writes anything, so it
            // writes into the batch at once; a transaction's writes wait
            // for its last operation.
            let direct = !matches!(request, WriteRequest::Txn(_));
            let written_before = batch.len();
            let mut txn =
                StoreTxn::new(&*self, &overlay, current + 1, direct.then_some(&mut batch));
            let outcome = match request {
                WriteRequest::Put(r) => txn.put(r).map(WriteResponse::Put),
                WriteRequest::DeleteRange(r) => txn.delete_range(r).map(WriteResponse::DeleteRange),
                WriteRequest::Txn(r) => txn.txn(r).map(WriteResponse::Txn),
            };
            match outcome {
                Ok(response) => {
                    let changed = txn.changes > 0;
                    let (held, pending) = (txn.ops, txn.pending);
                    for op in held {
                        op.into_batch(self, &mut batch);
                    }
                    overlay.extend(pending);
                    if changed {
                        current += 1;
                    }
                    results.push(Ok((current, response)));
                }
                Err(e @ (MvccError::Storage(_) | MvccError::Corrupt(_))) => return Err(e),
                Err(e) => {
                    drop(txn);
                    if batch.len() != written_before {
                        return Err(MvccError::Corrupt(format!(
                            "a request refused after writing into the batch: {e}"
                        )));
                    }
                    results.push(Err(e));
                }
            }
        }
        self.commit(batch, meta, current, &overlay)?;
        Ok(results)
    }

    /// Drops every version that no read at `revision` or later can see.
    pub fn compact(&mut self, revision: i64) -> Result<(), MvccError> {
        self.compact_with(revision, &[])
    }

    /// [`compact`](Self::compact), writing `meta` in the same batch (also
    /// when the compaction is refused).
    pub fn compact_with(&mut self, revision: i64, meta: Meta<'_>) -> Result<(), MvccError> {
        if let Err(e) = self.check_compaction(revision) {
            self.write_meta(meta)?;
            return Err(e);
        }
        let mut batch = self.compaction_batch(revision)?;
        for (key, value) in meta {
            batch.put_cf(self.cf(META), key, value);
        }
        self.write(batch)?;
        self.compacted = revision;
        Ok(())
    }

    fn check_compaction(&self, revision: i64) -> Result<(), MvccError> {
        if revision <= self.compacted {
            return Err(MvccError::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        if revision > self.current {
            return Err(MvccError::FutureRevision {
                requested: revision,
                current: self.current,
            });
        }
        Ok(())
    }

    fn compaction_batch(&self, revision: i64) -> Result<WriteBatch, MvccError> {
        let mut batch = WriteBatch::default();
        let history = self.cf(HISTORY);
        let mut it = self.db.raw_iterator_cf(history);
        it.seek_to_first();
        let mut group: Option<Vec<u8>> = None;
        // Within a group, newest first: keep everything newer than
        // `revision` and the newest version at or before it, unless that is
        // a tombstone.
        let mut kept_base = false;
        while let (Some(raw), Some(value)) = (it.key(), it.value()) {
            let this_group = keys::group_of(raw);
            if group.as_deref() != Some(this_group) {
                group = Some(this_group.to_vec());
                kept_base = false;
            }
            let (_, rev) = keys::split_history_key(raw)
                .ok_or_else(|| MvccError::Corrupt("malformed history key".into()))?;
            if rev <= revision {
                if kept_base {
                    batch.delete_cf(history, raw);
                } else {
                    kept_base = true;
                    if !is_live(&decode(value)?) {
                        batch.delete_cf(history, raw);
                    }
                }
            }
            it.next();
        }
        it.status()?;
        batch.delete_range_cf(
            self.cf(EVENTS),
            keys::event_key(0, 0),
            keys::event_key(revision, 0),
        );
        batch.put_cf(self.cf(META), COMPACTED_REVISION, revision.to_be_bytes());
        Ok(batch)
    }

    /// The changes to keys in `range` from `start` on, in revision order, each
    /// with the version it replaced. `start` must not be below the compacted
    /// revision.
    pub fn events_since(&self, range: &KeyRange, start: i64) -> Result<Vec<Event>, MvccError> {
        if start < self.compacted {
            return Err(MvccError::Compacted {
                requested: start,
                compacted: self.compacted,
            });
        }
        let mut out = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf(EVENTS));
        it.seek(keys::event_key(start.max(0), 0));
        while let (Some(raw), Some(key)) = (it.key(), it.value()) {
            let revision = keys::event_revision(raw)
                .ok_or_else(|| MvccError::Corrupt("malformed event key".into()))?;
            if range.contains(key) {
                let kv = self
                    .version_at(key, revision)?
                    .ok_or_else(|| MvccError::Corrupt("event without its history entry".into()))?;
                let prev_kv = self.get(key, revision - 1)?;
                out.push(event_of(kv, prev_kv));
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// A digest of every stored key version at or before `revision` (0 for
    /// the newest): equal on members that hold the same history. etcd's
    /// `HashKV` answers with it; its algorithm differs from etcd's, so only
    /// chainfire members compare with each other.
    pub fn hash_kv(&self, revision: i64) -> Result<(u32, i64), MvccError> {
        use sha2::{Digest, Sha256};
        let revision = self.check_read_revision(revision)?;
        let mut hasher = Sha256::new();
        for item in self
            .db
            .iterator_cf(self.cf(HISTORY), rocksdb::IteratorMode::Start)
        {
            let (key, value) = item?;
            let (_, rev) = keys::split_history_key(&key)
                .ok_or_else(|| MvccError::Corrupt("malformed history key".into()))?;
            if rev <= revision {
                hasher.update((key.len() as u64).to_be_bytes());
                hasher.update(&key);
                hasher.update((value.len() as u64).to_be_bytes());
                hasher.update(&value);
            }
        }
        let digest = hasher.finalize();
        let hash = u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"));
        Ok((hash, self.compacted))
    }

    /// The granted TTL of lease `id`, if it exists.
    pub fn lease_ttl(&self, id: i64) -> Result<Option<i64>, MvccError> {
        match self.db.get_cf(self.cf(LEASES), (id as u64).to_be_bytes())? {
            None => Ok(None),
            Some(bytes) => Ok(Some(i64::from_be_bytes(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| MvccError::Corrupt("lease TTL is not 8 bytes".into()))?,
            ))),
        }
    }

    /// Every lease: (id, granted TTL).
    pub fn leases(&self) -> Result<Vec<(i64, i64)>, MvccError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(LEASES), rocksdb::IteratorMode::Start)
        {
            let (key, value) = item?;
            let id = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| MvccError::Corrupt("lease id is not 8 bytes".into()))?,
            ) as i64;
            let ttl = i64::from_be_bytes(
                value
                    .as_ref()
                    .try_into()
                    .map_err(|_| MvccError::Corrupt("lease TTL is not 8 bytes".into()))?,
            );
            out.push((id, ttl));
        }
        Ok(out)
    }

    /// The keys attached to lease `id`, in key order.
    pub fn lease_keys(&self, id: i64) -> Result<Vec<Vec<u8>>, MvccError> {
        let prefix = (id as u64).to_be_bytes();
        let mut out = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf(LEASE_KEYS));
        it.seek(prefix);
        while let Some(raw) = it.key() {
            let Some(key) = raw.strip_prefix(&prefix[..]) else {
                break;
            };
            out.push(key.to_vec());
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Grants lease `id` (positive) with `ttl` seconds.
    pub fn lease_grant(&mut self, id: i64, ttl: i64, meta: Meta<'_>) -> Result<(), MvccError> {
        if self.lease_ttl(id)?.is_some() {
            self.write_meta(meta)?;
            return Err(MvccError::LeaseExists);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(LEASES),
            (id as u64).to_be_bytes(),
            ttl.to_be_bytes(),
        );
        self.commit(batch, meta, self.current, &BTreeMap::new())
    }

    /// Revokes lease `id`: its keys are deleted at one new revision (if it
    /// had any). Returns the revision after it.
    pub fn lease_revoke(&mut self, id: i64, meta: Meta<'_>) -> Result<i64, MvccError> {
        if self.lease_ttl(id)?.is_none() {
            self.write_meta(meta)?;
            return Err(MvccError::LeaseNotFound);
        }
        let attached = self.lease_keys(id)?;
        let empty = BTreeMap::new();
        let mut batch = WriteBatch::default();
        let mut txn = StoreTxn::new(&*self, &empty, self.current + 1, Some(&mut batch));
        for key in &attached {
            if let Some(kv) = txn.current(key)?
                && kv.lease == id
            {
                txn.delete_one(key, id);
            } else {
                txn.write_delete(LEASE_KEYS, &lease_key(id, key));
            }
        }
        txn.write_delete(LEASES, &(id as u64).to_be_bytes());
        let revision = if txn.changes > 0 {
            txn.revision
        } else {
            self.current
        };
        let newest = txn.pending;
        self.commit(batch, meta, revision, &newest)?;
        Ok(revision)
    }

    /// Writes `batch` and `meta` at `revision`; then `newest` (each
    /// changed key's newest version, a tombstone if deleted) goes into the
    /// index of live keys.
    fn commit(
        &mut self,
        mut batch: WriteBatch,
        meta: Meta<'_>,
        revision: i64,
        newest: &BTreeMap<Vec<u8>, KeyValue>,
    ) -> Result<(), MvccError> {
        for (key, value) in meta {
            batch.put_cf(self.cf(META), key, value);
        }
        if revision != self.current {
            batch.put_cf(self.cf(META), CURRENT_REVISION, revision.to_be_bytes());
        }
        self.write(batch)?;
        self.current = revision;
        for (key, kv) in newest {
            if is_live(kv) {
                self.live.insert(key.clone(), Head::of(kv));
            } else {
                self.live.remove(key);
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), MvccError> {
        let mut options = WriteOptions::default();
        // Durability is promised: unless the owner's log already is the
        // durable record, the WAL is fsynced before we answer.
        options.set_sync(self.sync);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }
}

/// Moves `it` from inside `group` (escaped) to the first history key
/// after it: a few steps over older versions, a seek past a long history.
fn next_group(it: &mut rocksdb::DBRawIteratorWithThreadMode<'_, DB>, group: &[u8]) {
    /// Steps before a seek is cheaper (a step is a fraction of a seek).
    const STEPS: usize = 4;
    for _ in 0..STEPS {
        match it.key() {
            Some(raw) if keys::group_of(raw) == group => it.next(),
            _ => return,
        }
    }
    if it.key().is_some_and(|raw| keys::group_of(raw) == group) {
        it.seek(keys::after_group(group));
    }
}

/// The `lease_keys` entry of `key` attached to lease `id`.
fn lease_key(id: i64, key: &[u8]) -> Vec<u8> {
    let mut out = (id as u64).to_be_bytes().to_vec();
    out.extend_from_slice(key);
    out
}

/// A deletion at `revision`. Stored without its key, which its history
/// key holds (a delete of many long keys writes each key once less);
/// [`MvccStore::version_at`] gives it back.
fn tombstone(revision: i64) -> KeyValue {
    KeyValue {
        mod_revision: revision,
        ..KeyValue::default()
    }
}

/// A stored version is live unless it is a tombstone (version 0).
fn is_live(kv: &KeyValue) -> bool {
    kv.version > 0
}

fn event_of(kv: KeyValue, prev_kv: Option<KeyValue>) -> Event {
    let kind = if is_live(&kv) {
        event::EventType::Put
    } else {
        event::EventType::Delete
    };
    Event {
        r#type: kind as i32,
        kv: Some(kv),
        prev_kv,
    }
}

fn decode(bytes: &[u8]) -> Result<KeyValue, MvccError> {
    KeyValue::decode(bytes).map_err(|e| MvccError::Corrupt(format!("key version: {e}")))
}

/// A stored version's fields but its value (etcd's `KeyValue` numbering):
/// decoding it skips the value's bytes instead of copying them, which is
/// most of the work of a keys-only scan or a delete of many large values.
#[derive(Clone, PartialEq, prost::Message)]
struct Head {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(int64, tag = "2")]
    create_revision: i64,
    #[prost(int64, tag = "3")]
    mod_revision: i64,
    #[prost(int64, tag = "4")]
    version: i64,
    #[prost(int64, tag = "6")]
    lease: i64,
}

impl Head {
    /// A stored version's head; its value's bytes skipped.
    fn read(bytes: &[u8]) -> Result<Head, MvccError> {
        Head::decode(bytes).map_err(|e| MvccError::Corrupt(format!("key version: {e}")))
    }

    /// `kv`'s head without its key, as the index keeps it (the index's
    /// own key is the key).
    fn of(kv: &KeyValue) -> Head {
        Head {
            key: Vec::new(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
        }
    }

    /// The version of `key` this head describes, with an empty value.
    fn key_value(&self, key: &[u8]) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            value: Vec::new(),
            lease: self.lease,
        }
    }
}

/// A stored version with an empty value.
fn decode_head(bytes: &[u8]) -> Result<KeyValue, MvccError> {
    let mut head = Head::read(bytes)?;
    let key = std::mem::take(&mut head.key);
    Ok(KeyValue {
        key,
        ..head.key_value(&[])
    })
}

#[cfg(test)]
mod tests;

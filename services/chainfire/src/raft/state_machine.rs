//! The Raft state machine: the MVCC store, plus what openraft must find
//! again after a restart (the last applied log id and membership), written
//! in the same RocksDB batch as each entry's changes.
//!
//! Snapshots are the store's column families as of one applied log id, read
//! through a RocksDB snapshot and streamed to a file off the async workers
//! (so applies go on while it is built), kept in `snapshot.bin` next to the
//! database and replaced by an atomic rename.

use std::io::{Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, StorageIOError, StoredMembership,
};
use serde::Deserialize;
use tokio::sync::{RwLock, RwLockReadGuard, watch};

use super::snapshot_file::{self, Meta};
use super::{
    Command, CommandResult, Rejection, StorageError, TypeConfig, decode, decode_write, encode,
    encode_response,
};
use crate::mvcc::{META, MvccStore, SNAPSHOT_FAMILIES};

/// Meta keys that belong to one cluster's Raft, not to the data: a backup
/// restored into a new cluster leaves them out.
pub(crate) const APPLIED: &[u8] = b"raft_applied";
pub(crate) const MEMBERSHIP: &[u8] = b"raft_membership";
const SNAPSHOT_FILE: &str = "snapshot.bin";
/// Where a snapshot is written before it is renamed to [`SNAPSHOT_FILE`].
const BUILDING_FILE: &str = "snapshot.bin.building";
/// Where a snapshot sent by the leader is received.
const RECEIVING_FILE: &str = "snapshot.bin.receiving";
/// Where a received snapshot is installed from: renamed from
/// [`RECEIVING_FILE`] as the install starts, so a new transfer that starts
/// meanwhile (the leader retrying) writes a new file instead of this one.
const INCOMING_FILE: &str = "snapshot.bin.incoming";

type Membership = StoredMembership<u64, openraft::BasicNode>;

/// Applying a batch of entries slower than this is logged (a delete of
/// very many keys, a compaction, an overloaded machine).
const SLOW_APPLY: std::time::Duration = std::time::Duration::from_secs(1);

/// The store as every member's Raft sees it.
#[derive(Debug, Clone)]
pub struct StateMachine {
    store: Arc<RwLock<MvccStore>>,
    dir: PathBuf,
    revision: watch::Sender<i64>,
}

impl StateMachine {
    /// The state machine over `store`; snapshots are kept in `dir`. An
    /// install a crash cut short is finished first.
    pub fn new(mut store: MvccStore, dir: &Path) -> Result<Self, std::io::Error> {
        finish_install(&mut store, dir)?;
        let (revision, _) = watch::channel(store.revision());
        Ok(StateMachine {
            store: Arc::new(RwLock::new(store)),
            dir: dir.to_owned(),
            revision,
        })
    }

    /// The store, for reads. An async lock, so a long apply (a delete
    /// of many keys, a compaction) makes readers wait without holding the
    /// runtime's workers, which go on answering peers and heartbeats.
    pub fn store(&self) -> &Arc<RwLock<MvccStore>> {
        &self.store
    }

    /// The store's revision after the last applied batch.
    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// The store's revision after each applied batch of entries (watchers
    /// wake on it).
    pub fn revisions(&self) -> watch::Receiver<i64> {
        self.revision.subscribe()
    }

    async fn read_store(&self) -> RwLockReadGuard<'_, MvccStore> {
        self.store.read().await
    }

    fn apply_one(
        store: &mut MvccStore,
        entry: &Entry<TypeConfig>,
    ) -> Result<CommandResult, StorageError> {
        let mut meta: Vec<(&[u8], Vec<u8>)> = vec![(APPLIED, encode(&Some(entry.log_id)))];
        let fail = |e: &dyn std::error::Error| -> StorageError {
            StorageIOError::apply(entry.log_id, &std::io::Error::other(e.to_string())).into()
        };
        let command = match &entry.payload {
            EntryPayload::Blank => None,
            EntryPayload::Membership(m) => {
                let stored = Membership::new(Some(entry.log_id), m.clone());
                meta.push((MEMBERSHIP, encode(&stored)));
                None
            }
            EntryPayload::Normal(command) => Some(command),
        };
        let Some(command) = command else {
            store.write_meta(&meta).map_err(|e| fail(&e))?;
            return Ok(CommandResult::Noop {
                revision: store.revision(),
            });
        };
        let outcome = match command {
            Command::Compact(revision) => {
                store
                    .compact_with(*revision, &meta)
                    .map(|()| CommandResult::Compacted {
                        revision: store.revision(),
                    })
            }
            Command::LeaseGrant { id, ttl } => {
                store
                    .lease_grant(*id, *ttl, &meta)
                    .map(|()| CommandResult::Leased {
                        revision: store.revision(),
                    })
            }
            Command::LeaseRevoke { id } => store
                .lease_revoke(*id, &meta)
                .map(|revision| CommandResult::Leased { revision }),
            Command::Batch(commands) => {
                let decoded: Vec<Option<crate::mvcc::WriteRequest>> =
                    commands.iter().map(decode_write).collect();
                let requests: Vec<crate::mvcc::WriteRequest> =
                    decoded.iter().flatten().cloned().collect();
                let mut applied = store
                    .apply_many(&requests, &meta)
                    .map_err(|e| fail(&e))?
                    .into_iter();
                let results = decoded
                    .iter()
                    .map(|request| match request {
                        None => CommandResult::Rejected(Rejection::Malformed),
                        Some(_) => match applied.next().expect("one result per request") {
                            Ok((revision, response)) => CommandResult::Written {
                                revision,
                                response: encode_response(&response),
                            },
                            Err(e) => CommandResult::Rejected(
                                Rejection::of(&e).unwrap_or(Rejection::Malformed),
                            ),
                        },
                    })
                    .collect();
                return Ok(CommandResult::Batch(results));
            }
            write => match decode_write(write) {
                Some(request) => store.apply(&request, &meta).map(|(revision, response)| {
                    CommandResult::Written {
                        revision,
                        response: encode_response(&response),
                    }
                }),
                None => {
                    store.write_meta(&meta).map_err(|e| fail(&e))?;
                    return Ok(CommandResult::Rejected(Rejection::Malformed));
                }
            },
        };
        match outcome {
            Ok(result) => Ok(result),
            Err(e) => match Rejection::of(&e) {
                Some(rejection) => Ok(CommandResult::Rejected(rejection)),
                None => Err(fail(&e)),
            },
        }
    }

    /// Applies `entries` in order; the results and the store's revision
    /// after them. A slow apply is logged.
    fn apply_all(
        store: &mut MvccStore,
        entries: &[Entry<TypeConfig>],
    ) -> Result<(Vec<CommandResult>, i64), StorageError> {
        let started = std::time::Instant::now();
        let results = entries
            .iter()
            .map(|entry| Self::apply_one(store, entry))
            .collect::<Result<Vec<_>, _>>()?;
        let took = started.elapsed();
        if took > SLOW_APPLY {
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                entries = entries.len(),
                "applying entries took long (reads waited meanwhile)"
            );
        }
        Ok((results, store.revision()))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Whether applying `entry` may take long: anything that reads or deletes
/// a range of keys (a delete, a transaction, a lease's revoke, a
/// compaction); puts alone are short.
fn may_take_long(entry: &Entry<TypeConfig>) -> bool {
    fn long(command: &Command) -> bool {
        match command {
            Command::Put(_) | Command::LeaseGrant { .. } => false,
            Command::Batch(commands) => commands.iter().any(long),
            Command::DeleteRange(_)
            | Command::Txn(_)
            | Command::Compact(_)
            | Command::LeaseRevoke { .. } => true,
        }
    }
    match &entry.payload {
        EntryPayload::Normal(command) => long(command),
        EntryPayload::Blank | EntryPayload::Membership(_) => false,
    }
}

/// Reads a meta value from a RocksDB snapshot view.
fn view_meta<T: for<'de> Deserialize<'de> + Default>(
    db: &rocksdb::DB,
    view: &rocksdb::Snapshot<'_>,
    key: &[u8],
) -> Result<T, std::io::Error> {
    let cf = db.cf_handle(META).expect("opened with meta");
    match view.get_cf(cf, key).map_err(std::io::Error::other)? {
        Some(bytes) => decode(&bytes),
        None => Ok(T::default()),
    }
}

/// Writes the store as one consistent view of `db` sees it to `out`, in
/// the snapshot format, entry by entry; blocking. The meta is the view's
/// applied log id and membership.
pub(crate) fn write_view<W: std::io::Write>(
    db: &rocksdb::DB,
    out: W,
) -> Result<(Meta, W), std::io::Error> {
    let view = db.snapshot();
    let applied: Option<LogId<u64>> = view_meta(db, &view, APPLIED)?;
    let membership: Membership = view_meta(db, &view, MEMBERSHIP)?;
    let meta = Meta {
        last_log_id: applied,
        last_membership: membership,
        snapshot_id: format!(
            "{}-{}",
            applied.map_or(0, |id| id.index),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ),
    };
    let entries = SNAPSHOT_FAMILIES
        .iter()
        .enumerate()
        .flat_map(|(i, family)| {
            let cf = db
                .cf_handle(family)
                .expect("opened with the store's families");
            view.iterator_cf(cf, rocksdb::IteratorMode::Start)
                .map(move |item| {
                    item.map(|(key, value)| (i as u8, key, value))
                        .map_err(std::io::Error::other)
                })
        });
    let out = snapshot_file::write(out, &meta, entries)?;
    Ok((meta, out))
}

/// Builds a snapshot file from a consistent view of the store and renames
/// it into place; blocking, so it runs off the async workers and applies go
/// on meanwhile.
fn build_file(db: &rocksdb::DB, dir: &Path) -> Result<(Meta, std::fs::File), StorageError> {
    let failed = |e: &std::io::Error| StorageIOError::write_snapshot(None, e);
    let building = dir.join(BUILDING_FILE);
    let file = std::fs::File::create(&building).map_err(|e| failed(&e))?;
    let (meta, file) = write_view(db, file).map_err(|e| failed(&e))?;
    let failed = |e: &std::io::Error| StorageIOError::write_snapshot(Some(meta.signature()), e);
    file.sync_all().map_err(|e| failed(&e))?;
    // Opened before the rename, so a snapshot installed meanwhile cannot
    // swap the contents under the meta we return.
    let reader = std::fs::File::open(&building).map_err(|e| failed(&e))?;
    std::fs::rename(&building, dir.join(SNAPSHOT_FILE)).map_err(|e| failed(&e))?;
    sync_dir(dir).map_err(|e| failed(&e))?;
    Ok((meta, reader))
}

/// Puts the snapshot in `file` at [`INCOMING_FILE`] and returns it there:
/// the file [`RECEIVING_FILE`] is renamed; any other (handed over by the
/// caller, as openraft's storage suite does) is copied.
fn take_incoming(dir: &Path, mut file: std::fs::File) -> Result<std::fs::File, std::io::Error> {
    use std::os::unix::fs::MetadataExt as _;
    let incoming = dir.join(INCOMING_FILE);
    let given = file.metadata()?;
    let received = std::fs::metadata(dir.join(RECEIVING_FILE))
        .is_ok_and(|m| m.dev() == given.dev() && m.ino() == given.ino());
    if received {
        std::fs::rename(dir.join(RECEIVING_FILE), &incoming)?;
        return Ok(file);
    }
    let mut copy = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&incoming)?;
    file.seek(SeekFrom::Start(0))?;
    std::io::copy(&mut file, &mut copy)?;
    Ok(copy)
}

fn sync_dir(dir: &Path) -> Result<(), std::io::Error> {
    std::fs::File::open(dir)?.sync_all()
}

/// Runs blocking storage work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StorageIOError::read_state_machine(&std::io::Error::other(e.to_string())).into())
    })
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let db = self.read_store().await.db().clone();
        let dir = self.dir.clone();
        let (meta, file) = blocking(move || build_file(&db, &dir)).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, Membership), StorageError> {
        let store = self.read_store().await;
        let read = |key: &[u8]| {
            store
                .meta(key)
                .map_err(|e| StorageError::from(StorageIOError::read_state_machine(&e)))
        };
        let applied = match read(APPLIED)? {
            Some(bytes) => decode(&bytes).map_err(|e| StorageIOError::read_state_machine(&e))?,
            None => None,
        };
        let membership = match read(MEMBERSHIP)? {
            Some(bytes) => decode(&bytes).map_err(|e| StorageIOError::read_state_machine(&e))?,
            None => Membership::default(),
        };
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let (results, revision) = if entries.iter().any(may_take_long) {
            // Off the async workers: a delete of a hundred thousand keys
            // takes seconds, and heartbeats must go on meanwhile (readers
            // wait on the async lock without holding a worker).
            let store = self.store.clone();
            blocking(move || Self::apply_all(&mut store.blocking_write(), &entries)).await?
        } else {
            // Puts: a short apply, in place. A hop to a blocking thread
            // is a thread wake-up on every write's path (one member, one
            // client: 0.78-0.83x etcd's puts/s with it, 1.04-1.18x in
            // place); `check perf` passes both ways since large deletes
            // stopped holding gigabytes.
            Self::apply_all(&mut *self.store.write().await, &entries)?
        };
        self.revision.send_replace(revision);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path(RECEIVING_FILE))
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let signature = Some(meta.signature());
        let failed = move |e: &dyn std::error::Error| -> StorageError {
            StorageIOError::write_snapshot(signature.clone(), &std::io::Error::other(e.to_string()))
                .into()
        };
        let file = snapshot.into_std().await;
        let store = self.store.clone();
        let dir = self.dir.clone();
        let expected = meta.snapshot_id.clone();
        let revision = blocking(move || {
            let mut file = take_incoming(&dir, file).map_err(|e| failed(&e))?;
            // The whole file first: a snapshot cut short or of another id
            // is refused before the store is touched.
            file.seek(SeekFrom::Start(0)).map_err(|e| failed(&e))?;
            let found = snapshot_file::read(&mut file, |_, _, _| Ok(())).map_err(|e| failed(&e))?;
            if found.snapshot_id != expected {
                return Err(failed(&std::io::Error::other(format!(
                    "snapshot file holds {}, expected {expected}",
                    found.snapshot_id
                ))));
            }
            file.sync_all().map_err(|e| failed(&e))?;
            // Found again by a restart that finds the install cut short.
            sync_dir(&dir).map_err(|e| failed(&e))?;
            let revision = {
                let mut store = store.blocking_write();
                install_from(&store.db().clone(), &mut file).map_err(|e| failed(&e))?;
                store.reload().map_err(|e| failed(&e))?;
                store.revision()
            };
            // Kept as our current snapshot: a crash leaves the old one or
            // this one (the install itself is done either way).
            std::fs::rename(dir.join(INCOMING_FILE), dir.join(SNAPSHOT_FILE))
                .map_err(|e| failed(&e))?;
            sync_dir(&dir).map_err(|e| failed(&e))?;
            Ok(revision)
        })
        .await?;
        self.revision.send_replace(revision);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let path = self.path(SNAPSHOT_FILE);
        let opened = blocking(move || {
            let read_failed = |e: &std::io::Error| StorageIOError::read_snapshot(None, e);
            let mut file = match std::fs::File::open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(read_failed(&e).into()),
            };
            let meta = snapshot_file::read_meta(&mut file).map_err(|e| read_failed(&e))?;
            file.seek(SeekFrom::Start(0)).map_err(|e| read_failed(&e))?;
            Ok(Some((meta, file)))
        })
        .await?;
        Ok(opened.map(|(meta, file)| Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        }))
    }
}

/// Set in the store, synced, while a snapshot is being installed from
/// [`INCOMING_FILE`]: a restart that finds it installs the file again.
pub(crate) const INSTALLING: &[u8] = b"snapshot_installing";
/// How much of a snapshot is written to the store at once.
const INSTALL_BATCH_BYTES: usize = 4 << 20;

/// Replaces the store's families in `db` with the snapshot in `file`, in
/// bounded memory: every family is cleared by a range delete and the
/// marker [`INSTALLING`] set, in one synced batch; the entries follow in
/// batches of [`INSTALL_BATCH_BYTES`]; the last batch, synced, removes the
/// marker. A crash in between leaves the marker, and
/// [`StateMachine::new`] installs the file again (which stays until the
/// install is done), so the store is never seen half-installed.
fn install_from(db: &rocksdb::DB, file: &mut std::fs::File) -> Result<(), std::io::Error> {
    let db_error = |e: rocksdb::Error| std::io::Error::other(e.to_string());
    let synced = |batch: rocksdb::WriteBatch| {
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(true);
        db.write_opt(batch, &options).map_err(db_error)
    };
    let cf = |family: &str| {
        db.cf_handle(family)
            .expect("opened with the store's families")
    };
    let mut batch = rocksdb::WriteBatch::default();
    for family in SNAPSHOT_FAMILIES {
        let handle = cf(family);
        // Past the last key: the key with a zero byte appended.
        let last = db
            .iterator_cf(handle, rocksdb::IteratorMode::End)
            .next()
            .transpose()
            .map_err(db_error)?;
        if let Some((key, _)) = last {
            let mut end = key.to_vec();
            end.push(0);
            batch.delete_range_cf(handle, [].as_slice(), end.as_slice());
        }
    }
    batch.put_cf(cf(META), INSTALLING, b"1");
    synced(batch)?;
    file.seek(SeekFrom::Start(0))?;
    let mut batch = rocksdb::WriteBatch::default();
    snapshot_file::read(&mut *file, |family, key, value| {
        batch.put_cf(cf(family), key, value);
        if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
            db.write(std::mem::take(&mut batch)).map_err(db_error)?;
        }
        Ok(())
    })?;
    batch.delete_cf(cf(META), INSTALLING);
    synced(batch)
}

/// Finishes an install a crash cut short (see [`install_from`]).
fn finish_install(store: &mut MvccStore, dir: &Path) -> Result<(), std::io::Error> {
    let marked = store
        .meta(INSTALLING)
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .is_some();
    if !marked {
        return Ok(());
    }
    let path = dir.join(INCOMING_FILE);
    tracing::warn!(file = %path.display(), "a snapshot install was cut short; installing it again");
    let mut file = std::fs::File::open(&path)?;
    install_from(&store.db().clone(), &mut file)?;
    store
        .reload()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::mvcc::{WriteRequest, open_db};
    use crate::proto::etcdserverpb::PutRequest;
    use crate::raft::log_store::{RAFT_LOG, RAFT_STATE};

    fn machine(dir: &Path) -> StateMachine {
        let db = open_db(dir, &[RAFT_LOG, RAFT_STATE]).unwrap();
        StateMachine::new(MvccStore::with_db(db, false).unwrap(), dir).unwrap()
    }

    fn put(index: u64, key: &str, value: &str) -> Entry<TypeConfig> {
        let request = WriteRequest::Put(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        });
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Command::write(&request)),
        }
    }

    /// `snapshot` as a leader's transfer leaves it at `sm`: in the file
    /// `begin_receiving_snapshot` gave.
    async fn receive(
        sm: &mut StateMachine,
        snapshot: Snapshot<TypeConfig>,
    ) -> (Meta, Box<tokio::fs::File>) {
        let mut receiving = sm.begin_receiving_snapshot().await.unwrap();
        let mut sent = snapshot.snapshot;
        tokio::io::copy(&mut *sent, &mut *receiving).await.unwrap();
        (snapshot.meta, receiving)
    }

    fn value(sm: &StateMachine, key: &str) -> Option<Vec<u8>> {
        let store = sm.store.try_read().expect("no apply is running");
        store
            .get(key.as_bytes(), store.revision())
            .unwrap()
            .map(|kv| kv.value)
    }

    /// An entry that takes long to apply (here a delete of many keys)
    /// runs off the async workers: on a one-thread runtime another task
    /// (heartbeats, peers' calls) still runs while it is applied.
    #[tokio::test(flavor = "current_thread")]
    async fn a_long_apply_leaves_the_runtime_free() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = machine(dir.path());
        let keys = 20_000;
        let puts: Vec<WriteRequest> = (0..keys)
            .map(|i| {
                WriteRequest::Put(PutRequest {
                    key: format!("many/{i:05}").into(),
                    value: vec![b'v'; 100],
                    ..Default::default()
                })
            })
            .collect();
        sm.apply([Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
            payload: EntryPayload::Normal(Command::Batch(
                puts.iter().map(Command::write).collect(),
            )),
        }])
        .await
        .unwrap();
        let delete = WriteRequest::DeleteRange(crate::proto::etcdserverpb::DeleteRangeRequest {
            key: b"many/".to_vec(),
            range_end: b"many0".to_vec(),
            ..Default::default()
        });
        let ticks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.lock().unwrap().push(std::time::Instant::now());
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        });
        tokio::task::yield_now().await;
        let started = std::time::Instant::now();
        let results = sm
            .apply([Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 1), 2),
                payload: EntryPayload::Normal(Command::write(&delete)),
            }])
            .await
            .unwrap();
        let ended = std::time::Instant::now();
        ticker.abort();
        assert!(matches!(results[..], [CommandResult::Written { .. }]));
        let during = ticks
            .lock()
            .unwrap()
            .iter()
            .filter(|t| **t > started && **t < ended)
            .count();
        assert!(
            during > 0,
            "no other task ran during an apply of {:?}",
            ended - started
        );
        assert_eq!(value(&sm, "many/00000"), None);
    }

    #[tokio::test]
    async fn applied_entries_survive_a_restart_and_travel_in_snapshots() {
        let a_dir = tempfile::tempdir().unwrap();
        let mut a = machine(a_dir.path());
        let results = a
            .apply(vec![put(1, "x", "1"), put(2, "y", "2"), put(3, "x", "3")])
            .await
            .unwrap();
        assert!(matches!(
            results[2],
            CommandResult::Written { revision: 4, .. }
        ));
        let snapshot = a.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id.map(|id| id.index), Some(3));
        drop(a);

        // Restarted: same data, same applied id, no double apply.
        let mut a = machine(a_dir.path());
        let (applied, _) = a.applied_state().await.unwrap();
        assert_eq!(applied.map(|id| id.index), Some(3));
        assert_eq!(value(&a, "x").as_deref(), Some(&b"3"[..]));
        assert_eq!(a.read_store().await.revision(), 4);
        let kept = a
            .get_current_snapshot()
            .await
            .unwrap()
            .expect("snapshot kept on disk");
        assert_eq!(kept.meta.snapshot_id, snapshot.meta.snapshot_id);

        // Another member installs it and has the same state.
        let b_dir = tempfile::tempdir().unwrap();
        let mut b = machine(b_dir.path());
        b.apply(vec![put(1, "stale", "gone")]).await.unwrap();
        let (meta, file) = receive(&mut b, snapshot).await;
        b.install_snapshot(&meta, file).await.unwrap();
        assert_eq!(value(&b, "x").as_deref(), Some(&b"3"[..]));
        assert_eq!(value(&b, "y").as_deref(), Some(&b"2"[..]));
        assert_eq!(value(&b, "stale"), None, "installing replaces, not merges");
        assert_eq!(b.read_store().await.revision(), 4);
        // The index of live keys is the installed one: a keys-only range
        // lists what the snapshot holds, and a put continues x's history.
        let listed = b
            .read_store()
            .await
            .range(&crate::proto::etcdserverpb::RangeRequest {
                key: vec![0],
                range_end: vec![0],
                keys_only: true,
                ..Default::default()
            })
            .unwrap();
        let names: Vec<&[u8]> = listed.kvs.iter().map(|kv| kv.key.as_slice()).collect();
        assert_eq!(names, [&b"x"[..], &b"y"[..]]);
        assert_eq!(*b.revisions().borrow(), 4);
        let (applied, _) = b.applied_state().await.unwrap();
        assert_eq!(applied.map(|id| id.index), Some(3));
        b.apply(vec![put(4, "x", "5")]).await.unwrap();
        let store = b.read_store().await;
        let x = store.get(b"x", store.revision()).unwrap().unwrap();
        assert_eq!((x.create_revision, x.mod_revision, x.version), (2, 5, 3));
    }

    #[tokio::test]
    async fn a_large_snapshot_installs_in_batches_and_a_cut_short_install_is_finished_on_restart() {
        // Over three install batches of values.
        let a_dir = tempfile::tempdir().unwrap();
        let mut a = machine(a_dir.path());
        let big = "v".repeat(64 * 1024);
        let entries: Vec<_> = (1..=200)
            .map(|i| put(i, &format!("key/{i:03}"), &big))
            .collect();
        a.apply(entries).await.unwrap();
        let snapshot = a.build_snapshot().await.unwrap();

        let b_dir = tempfile::tempdir().unwrap();
        let mut b = machine(b_dir.path());
        b.apply(vec![put(1, "stale", "gone")]).await.unwrap();
        let (meta, file) = receive(&mut b, snapshot).await;
        b.install_snapshot(&meta, file).await.unwrap();
        assert_eq!(value(&b, "key/200").map(|v| v.len()), Some(big.len()));
        assert_eq!(value(&b, "stale"), None);
        assert_eq!(b.read_store().await.revision(), 201);
        assert!(b.read_store().await.meta(INSTALLING).unwrap().is_none());
        drop(b);

        // A crash after the store was cleared and marked, before the
        // entries: the restart installs the kept file again.
        let c_dir = tempfile::tempdir().unwrap();
        let c = machine(c_dir.path());
        let kept = a.get_current_snapshot().await.unwrap().unwrap();
        let mut incoming = std::fs::File::create(c_dir.path().join(INCOMING_FILE)).unwrap();
        std::io::copy(&mut kept.snapshot.into_std().await, &mut incoming).unwrap();
        c.read_store()
            .await
            .write_meta(&[(INSTALLING, b"1".to_vec())])
            .unwrap();
        drop(c);
        let c = machine(c_dir.path());
        assert_eq!(value(&c, "key/001").map(|v| v.len()), Some(big.len()));
        assert_eq!(c.read_store().await.revision(), 201);
        assert!(c.read_store().await.meta(INSTALLING).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_refused_command_is_answered_the_same_everywhere_and_still_counts_as_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = machine(dir.path());
        let compact_future = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
            payload: EntryPayload::Normal(Command::Compact(99)),
        };
        let results = sm.apply(vec![compact_future]).await.unwrap();
        assert!(matches!(
            results[0],
            CommandResult::Rejected(Rejection::FutureRevision { requested: 99, .. })
        ));
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied.map(|id| id.index), Some(1));
    }
}

//! The Raft log and vote in RocksDB.
//!
//! Invariants (openraft's, kept here):
//! - entries are consecutive: `append` only extends the log, `truncate`
//!   cuts a suffix, `purge` cuts a prefix, so no hole can appear;
//! - every write (vote, entries, truncation, purge) is fsynced before the
//!   call reports it done, and writes are applied in the order they came
//!   (one `&mut self` at a time).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageIOError, Vote};
use rocksdb::{DB, WriteBatch, WriteOptions};

use super::{StorageError, TypeConfig, decode, encode};

/// Column family of the entries, keyed by big-endian index.
pub const RAFT_LOG: &str = "raft_log";
/// Column family of the vote, the committed id and the last purged id.
pub const RAFT_STATE: &str = "raft_state";

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";
/// The name of the member the log belongs to.
const OWNER: &[u8] = b"owner";

/// The log store; clones share the database (the reader is a clone).
#[derive(Debug, Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

impl LogStore {
    /// The log in `db`, which must have been opened with [`RAFT_LOG`] and
    /// [`RAFT_STATE`].
    pub fn new(db: Arc<DB>) -> Self {
        LogStore { db }
    }

    /// Claims the log for member `name`: on first start it is written down
    /// (fsynced); later the same name must come back. The owner's name when
    /// it is another member's.
    pub fn claim(&self, name: &str) -> Result<Option<String>, rocksdb::Error> {
        match self.db.get_cf(self.state(), OWNER)? {
            Some(owner) if owner == name.as_bytes() => Ok(None),
            Some(owner) => Ok(Some(String::from_utf8_lossy(&owner).into_owned())),
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(self.state(), OWNER, name.as_bytes());
                self.write_synced(batch)?;
                Ok(None)
            }
        }
    }

    fn log(&self) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(RAFT_LOG).expect("opened with raft_log")
    }

    fn state(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(RAFT_STATE)
            .expect("opened with raft_state")
    }

    fn read_state<T: for<'de> serde::Deserialize<'de>>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.db.get_cf(self.state(), key) {
            Ok(None) => Ok(None),
            Ok(Some(bytes)) => decode(&bytes)
                .map(Some)
                .map_err(|e| StorageIOError::read(&e).into()),
            Err(e) => Err(StorageIOError::read(&e).into()),
        }
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), rocksdb::Error> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i + 1,
            Bound::Unbounded => 0,
        };
        let mut entries = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.log());
        it.seek(index_key(start));
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            let index = u64::from_be_bytes(
                key.try_into()
                    .map_err(|_| StorageIOError::read_logs(&bad("log key is not 8 bytes")))?,
            );
            if !range.contains(&index) {
                break;
            }
            let entry: Entry<TypeConfig> =
                decode(value).map_err(|e| StorageIOError::read_log_at_index(index, &e))?;
            entries.push(entry);
            it.next();
        }
        it.status().map_err(|e| StorageIOError::read_logs(&e))?;
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId<u64>> = self.read_state(LAST_PURGED)?;
        let mut it = self.db.raw_iterator_cf(self.log());
        it.seek_to_last();
        let last = match it.value() {
            Some(value) => {
                let entry: Entry<TypeConfig> =
                    decode(value).map_err(|e| StorageIOError::read_logs(&e))?;
                Some(entry.log_id)
            }
            None => {
                it.status().map_err(|e| StorageIOError::read_logs(&e))?;
                last_purged
            }
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.state(), VOTE, encode(vote));
        self.write_synced(batch)
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.read_state(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.state(), COMMITTED, encode(&committed));
        // Not fsynced: losing it only means re-learning it from the leader.
        self.db
            .write(batch)
            .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        Ok(self.read_state::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            batch.put_cf(self.log(), index_key(entry.log_id.index), encode(&entry));
        }
        let result = self.write_synced(batch);
        let io_result = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()));
        callback.log_io_completed(io_result);
        result.map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.log(), index_key(log_id.index), index_key(u64::MAX));
        batch.delete_cf(self.log(), index_key(u64::MAX));
        self.write_synced(batch)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.state(), LAST_PURGED, encode(&log_id));
        batch.delete_range_cf(self.log(), index_key(0), index_key(log_id.index + 1));
        self.write_synced(batch)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

//! A node's shards in RocksDB: one database, each key prefixed with its
//! shard (two bytes, big-endian), so a shard is one contiguous range to
//! copy out or drop. Writes are synced to RocksDB's log before they are
//! answered.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::proto::Pair;

/// The most bytes of pairs in one chunk of a shard's copy.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB refused.
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A blocking task was lost.
    #[error("a storage task ended: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A node's data.
#[derive(Clone)]
pub struct NodeStore {
    db: Arc<DB>,
}

impl std::fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStore").finish_non_exhaustive()
    }
}

fn data_key(shard: u16, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + key.len());
    out.extend_from_slice(&shard.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// The keys of `shard`: from its prefix up to the next one's.
fn range(shard: u16) -> (Vec<u8>, Vec<u8>) {
    let start = shard.to_be_bytes().to_vec();
    let end = match shard.checked_add(1) {
        Some(next) => next.to_be_bytes().to_vec(),
        None => vec![0xff, 0xff, 0xff],
    };
    (start, end)
}

fn synced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

impl NodeStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<NodeStore, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        Ok(NodeStore {
            db: Arc::new(DB::open(&options, dir)?),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DB) -> Result<T, rocksdb::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        Ok(tokio::task::spawn_blocking(move || work(&db)).await??)
    }

    /// Stores `value` under `key` of `shard`, durably.
    pub async fn put(&self, shard: u16, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let key = data_key(shard, key);
        self.blocking(move |db| db.put_opt(key, value, &synced()))
            .await
    }

    /// The value under `key` of `shard`.
    pub async fn get(&self, shard: u16, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = data_key(shard, key);
        self.blocking(move |db| db.get(key)).await
    }

    /// Deletes `key` of `shard`, durably; whether it was there.
    pub async fn delete(&self, shard: u16, key: &[u8]) -> Result<bool, StoreError> {
        let key = data_key(shard, key);
        self.blocking(move |db| {
            let existed = db.get(&key)?.is_some();
            db.delete_opt(&key, &synced())?;
            Ok(existed)
        })
        .await
    }

    /// `shard`'s pairs, in chunks of about a MiB, sent on `out` as they
    /// are read (from one snapshot); how many were sent. Stops early if
    /// `out` is closed.
    pub async fn export(
        &self,
        shard: u16,
        out: tokio::sync::mpsc::Sender<Vec<Pair>>,
    ) -> Result<u64, StoreError> {
        self.blocking(move |db| {
            let (start, end) = range(shard);
            let snapshot = db.snapshot();
            let mut chunk = Vec::new();
            let (mut bytes, mut sent) = (0, 0u64);
            for item in snapshot.iterator(IteratorMode::From(&start, Direction::Forward)) {
                let (key, value) = item?;
                if *key >= *end {
                    break;
                }
                bytes += key.len() + value.len();
                chunk.push(Pair {
                    key: key[2..].to_vec(),
                    value: value.to_vec(),
                });
                if bytes >= CHUNK_BYTES {
                    sent += chunk.len() as u64;
                    if out.blocking_send(std::mem::take(&mut chunk)).is_err() {
                        return Ok(sent);
                    }
                    bytes = 0;
                }
            }
            sent += chunk.len() as u64;
            if !chunk.is_empty() {
                let _ = out.blocking_send(chunk);
            }
            Ok(sent)
        })
        .await
    }

    /// Empties `shard` here (before a copy arrives, or after it left).
    pub async fn clear(&self, shard: u16) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let (start, end) = range(shard);
            let mut batch = WriteBatch::default();
            batch.delete_range(start, end);
            db.write_opt(batch, &synced())
        })
        .await
    }

    /// The current value of each of `keys` of `shard` (`None`: not
    /// there), read in one go: what a move's catch-up sends.
    pub async fn current(
        &self,
        shard: u16,
        keys: Vec<Vec<u8>>,
    ) -> Result<Vec<(Vec<u8>, Option<Vec<u8>>)>, StoreError> {
        self.blocking(move |db| {
            let values = db.multi_get(keys.iter().map(|k| data_key(shard, k)));
            keys.into_iter()
                .zip(values)
                .map(|(key, value)| Ok((key, value?)))
                .collect()
        })
        .await
    }

    /// Writes `pairs` into `shard` and deletes `deleted` from it, in one
    /// synced batch (a move's catch-up).
    pub async fn apply(
        &self,
        shard: u16,
        pairs: Vec<Pair>,
        deleted: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let mut batch = WriteBatch::default();
            for pair in pairs {
                batch.put(data_key(shard, &pair.key), pair.value);
            }
            for key in deleted {
                batch.delete(data_key(shard, &key));
            }
            db.write_opt(batch, &synced())
        })
        .await
    }

    /// Writes `pairs` into `shard`, durably.
    pub async fn import(&self, shard: u16, pairs: Vec<Pair>) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let mut batch = WriteBatch::default();
            for pair in pairs {
                batch.put(data_key(shard, &pair.key), pair.value);
            }
            db.write_opt(batch, &synced())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shard_is_copied_out_whole_and_cleared_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = NodeStore::open(dir.path()).unwrap();
        for i in 0..3000u32 {
            let value = vec![b'x'; 1000];
            store
                .put(1, format!("k{i}").as_bytes(), value)
                .await
                .unwrap();
        }
        store.put(0, b"k0", b"zero".to_vec()).await.unwrap();
        store.put(2, b"k0", b"two".to_vec()).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let exporting = tokio::spawn({
            let store = store.clone();
            async move { store.export(1, tx).await.unwrap() }
        });
        let mut chunks = 0;
        let mut pairs = Vec::new();
        while let Some(chunk) = rx.recv().await {
            chunks += 1;
            pairs.extend(chunk);
        }
        assert_eq!(exporting.await.unwrap(), 3000);
        assert_eq!(pairs.len(), 3000);
        assert!(chunks >= 3, "about a MiB a chunk: {chunks}");
        store.clear(1).await.unwrap();
        assert_eq!(store.get(1, b"k5").await.unwrap(), None);
        assert_eq!(store.get(0, b"k0").await.unwrap(), Some(b"zero".to_vec()));
        assert_eq!(store.get(2, b"k0").await.unwrap(), Some(b"two".to_vec()));
        store.import(1, pairs).await.unwrap();
        assert_eq!(
            store.get(1, b"k2999").await.unwrap(),
            Some(vec![b'x'; 1000])
        );
        assert!(store.delete(1, b"k1").await.unwrap());
        assert!(!store.delete(1, b"k1").await.unwrap());
    }

    #[tokio::test]
    async fn a_catch_up_reads_current_values_and_applies_puts_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = NodeStore::open(dir.path()).unwrap();
        store.put(3, b"kept", b"v2".to_vec()).await.unwrap();
        store
            .put(4, b"gone", b"other shard".to_vec())
            .await
            .unwrap();
        let current = store
            .current(3, vec![b"kept".to_vec(), b"gone".to_vec()])
            .await
            .unwrap();
        assert_eq!(
            current,
            [
                (b"kept".to_vec(), Some(b"v2".to_vec())),
                (b"gone".to_vec(), None)
            ]
        );
        let copy_dir = tempfile::tempdir().unwrap();
        let copy = NodeStore::open(copy_dir.path()).unwrap();
        copy.put(3, b"kept", b"v1".to_vec()).await.unwrap();
        copy.put(3, b"gone", b"stale".to_vec()).await.unwrap();
        copy.apply(
            3,
            vec![Pair {
                key: b"kept".to_vec(),
                value: b"v2".to_vec(),
            }],
            vec![b"gone".to_vec()],
        )
        .await
        .unwrap();
        assert_eq!(copy.get(3, b"kept").await.unwrap(), Some(b"v2".to_vec()));
        assert_eq!(copy.get(3, b"gone").await.unwrap(), None);
    }
}

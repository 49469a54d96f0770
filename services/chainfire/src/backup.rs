//! Backups: the file `etcdctl snapshot save` receives from any member
//! (`Maintenance.Snapshot`), and the restore that turns it into a new
//! cluster's data directories.
//!
//! A backup is a Raft snapshot file ([`crate::raft::snapshot_file`]) behind
//! a line that names it, followed by the SHA-256 of every byte before it
//! (etcd appends one to its snapshots too):
//!
//! ```text
//! "chainfire backup v1\n"
//! the snapshot file: meta, entries, end mark
//! zero bytes up to a multiple of 512
//! 32 bytes: SHA-256 of all the above
//! ```
//!
//! The padding is for etcdctl, which takes a file whose length is not a
//! multiple of 512 (a bbolt page) plus 32 for one without a checksum.
//!
//! A restore keeps every key, its history, leases and the revision, and
//! leaves out what belonged to the old cluster's Raft (its log position
//! and membership). Every member of the new cluster restores the same file
//! into its own empty data directory; they then start as a new cluster
//! whose first write follows the backup's revision, as with
//! `etcdctl snapshot restore`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::mvcc::{META, MvccStore, open_db};
use crate::raft::log_store::{LogStore, RAFT_LOG, RAFT_STATE};
use crate::raft::snapshot_file;
use crate::raft::state_machine::{APPLIED, INSTALLING, MEMBERSHIP, write_view};

/// The first line of every backup.
pub const MAGIC: &[u8] = b"chainfire backup v1\n";
const DIGEST_LEN: u64 = 32;
/// How much of a backup is written to the new store at once.
const RESTORE_BATCH_BYTES: usize = 4 << 20;

/// What a backup's length before its checksum is a multiple of.
const PAGE: u64 = 512;

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a backup of the store in `db`, as one consistent view sees it,
/// to `out`; blocking.
pub fn write<W: Write>(db: &rocksdb::DB, out: W) -> std::io::Result<W> {
    let mut out = Hashing::new(out);
    out.write_all(MAGIC)?;
    let (_, mut out) = write_view(db, out)?;
    let padding = (PAGE - out.written % PAGE) % PAGE;
    out.write_all(&vec![0; padding as usize])?;
    let Hashing {
        mut inner, hasher, ..
    } = out;
    inner.write_all(&hasher.finalize())?;
    Ok(inner)
}

/// Writes a backup of `db` to a file in `dir` that is already unlinked
/// (nothing is left behind, whatever happens), and returns it positioned
/// at its start. Written whole before it is sent, so the store's view is
/// released at once however slowly the client reads, and the client is
/// told how many bytes remain.
pub fn write_to_unlinked(db: &rocksdb::DB, dir: &Path) -> std::io::Result<File> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("backup-{nanos}.sending"));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    let mut file = write(db, file)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// Why a backup could not be restored. Nothing is left in the data
/// directory when a restore fails.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The file could not be read.
    #[error("cannot read the backup {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a chainfire backup.
    #[error(
        "{path} is not a chainfire backup (one starts with `chainfire backup v1`; `etcdctl snapshot save` against a chainfire member writes one)"
    )]
    NotABackup {
        /// The file.
        path: PathBuf,
    },
    /// The file is a backup, but changed or cut short.
    #[error("the backup {path} is damaged: {problem}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The data directory already holds something.
    #[error(
        "{dir} is not empty: a backup is restored into a new data directory, never over a member's data"
    )]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// The restored store could not be written.
    #[error("cannot write the restored store in {dir}: {problem}")]
    Write {
        /// The directory.
        dir: PathBuf,
        /// Why.
        problem: String,
    },
}

/// What a restore brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// The store's revision, as it was when the backup was taken.
    pub revision: i64,
    /// Store entries written (keys' revisions, leases and bookkeeping).
    pub entries: u64,
}

/// Restores the backup `from` into `data_dir` (absent or empty), for the
/// member named `member`. The file is checked whole (its checksum) before
/// anything is written; the store is built in a sibling directory and
/// renamed into place, so a failed or interrupted restore leaves no data
/// directory behind.
pub fn restore(from: &Path, data_dir: &Path, member: &str) -> Result<Restored, RestoreError> {
    let read_error = |source| RestoreError::Read {
        path: from.to_owned(),
        source,
    };
    let damaged = |problem: &str| RestoreError::Damaged {
        path: from.to_owned(),
        problem: problem.to_owned(),
    };
    let write_error = |problem: &dyn std::fmt::Display| RestoreError::Write {
        dir: data_dir.to_owned(),
        problem: problem.to_string(),
    };
    if let Ok(mut entries) = std::fs::read_dir(data_dir)
        && entries.next().is_some()
    {
        return Err(RestoreError::NotEmpty {
            dir: data_dir.to_owned(),
        });
    }
    let mut file = File::open(from).map_err(read_error)?;
    let len = file.metadata().map_err(read_error)?.len();
    let mut magic = vec![0; MAGIC.len()];
    if len < MAGIC.len() as u64 || file.read_exact(&mut magic).is_err() || magic != MAGIC {
        return Err(RestoreError::NotABackup {
            path: from.to_owned(),
        });
    }
    if len < MAGIC.len() as u64 + DIGEST_LEN {
        return Err(damaged("it ends before its checksum"));
    }
    // The checksum first: nothing is written from a file that changed.
    let body_len = len - DIGEST_LEN;
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut hasher = Hashing::new(std::io::sink());
    std::io::copy(&mut (&mut file).take(body_len), &mut hasher).map_err(read_error)?;
    let mut expected = [0u8; DIGEST_LEN as usize];
    file.read_exact(&mut expected).map_err(read_error)?;
    if hasher.hasher.finalize().as_slice() != expected {
        return Err(damaged(
            "its SHA-256 does not match its contents (it was changed, or cut short)",
        ));
    }

    let name = data_dir
        .file_name()
        .ok_or_else(|| write_error(&"the data directory has no name"))?;
    let building = data_dir.with_file_name(format!(".{}.restoring", name.to_string_lossy()));
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(|e| write_error(&e))?;
    }
    let restored = (|| {
        let db = open_db(&building, &[RAFT_LOG, RAFT_STATE]).map_err(|e| write_error(&e))?;
        LogStore::new(db.clone())
            .claim(member)
            .map_err(|e| write_error(&e))?;
        file.seek(SeekFrom::Start(MAGIC.len() as u64))
            .map_err(read_error)?;
        let mut body = (&mut file).take(body_len - MAGIC.len() as u64);
        let entries = write_entries(&db, &mut body).map_err(|e| match e {
            Failure::Read(e) => damaged(&e.to_string()),
            Failure::Write(e) => write_error(&e),
        })?;
        let revision = MvccStore::with_db(db, false)
            .map_err(|e| write_error(&e))?
            .revision();
        Ok(Restored { revision, entries })
    })();
    let restored = match restored {
        Ok(restored) => restored,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&building);
            return Err(e);
        }
    };
    // The store is closed (every handle dropped) before it moves.
    std::fs::rename(&building, data_dir).map_err(|e| write_error(&e))?;
    if let Some(parent) = data_dir.parent() {
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| write_error(&e))?;
    }
    Ok(restored)
}

enum Failure {
    Read(std::io::Error),
    Write(rocksdb::Error),
}

/// Writes the backup's entries into `db`, leaving out the old cluster's
/// Raft bookkeeping, in batches; the last batch is synced.
fn write_entries(db: &rocksdb::DB, body: &mut impl Read) -> Result<u64, Failure> {
    let cf = |family: &str| {
        db.cf_handle(family)
            .expect("opened with the store's families")
    };
    let mut batch = rocksdb::WriteBatch::default();
    let mut entries = 0u64;
    let mut failed = None;
    snapshot_file::read(body, |family, key, value| {
        if family == META && [APPLIED, MEMBERSHIP, INSTALLING].contains(&key.as_slice()) {
            return Ok(());
        }
        batch.put_cf(cf(family), key, value);
        entries += 1;
        if batch.size_in_bytes() >= RESTORE_BATCH_BYTES
            && let Err(e) = db.write(std::mem::take(&mut batch))
        {
            failed = Some(e);
            return Err(std::io::Error::other("write failed"));
        }
        Ok(())
    })
    .map_err(|e| match failed.take() {
        Some(write) => Failure::Write(write),
        None => Failure::Read(e),
    })?;
    let mut options = rocksdb::WriteOptions::default();
    options.set_sync(true);
    db.write_opt(batch, &options).map_err(Failure::Write)?;
    Ok(entries)
}

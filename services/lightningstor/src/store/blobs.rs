//! Blob files: `blobs/<2 hex>/<id>`, written through `tmp/<id>`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use s3s::checksum::ChecksumHasher;
use tokio::io::AsyncWriteExt as _;

/// Writes are gathered into this much before each file write (each one is a
/// trip to a blocking thread).
const WRITE_BUFFER: usize = 1 << 20;

#[derive(Debug)]
pub(super) struct BlobDir {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
}

/// Which digests to compute while a blob is written (MD5 always: it is the
/// ETag).
#[derive(Default)]
pub struct Digests {
    /// The additional checksums requested.
    pub checksums: ChecksumHasher,
}

impl std::fmt::Debug for Digests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digests").finish_non_exhaustive()
    }
}

/// A blob being written. Dropped without [`BlobWriter::finish`], its
/// temporary file is removed.
#[derive(Debug)]
pub struct BlobWriter {
    id: String,
    tmp: PathBuf,
    target: PathBuf,
    file: Option<tokio::fs::File>,
    buffer: Vec<u8>,
    size: u64,
    md5: Md5,
    digests: Digests,
}

/// A blob that is durable under its final name.
#[derive(Debug)]
pub struct WrittenBlob {
    /// Its id.
    pub id: String,
    /// Its length.
    pub size: u64,
    /// MD5 of its bytes.
    pub md5: [u8; 16],
    /// The additional checksums computed.
    pub checksums: s3s::dto::Checksum,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `blobs/<first two characters>/<id>`.
pub(super) fn path_in(blobs: &Path, id: &str) -> PathBuf {
    let shard = id.get(..2).unwrap_or("__");
    blobs.join(shard).join(id)
}

impl BlobDir {
    pub(super) fn open(root: &Path) -> Result<BlobDir, std::io::Error> {
        let dir = BlobDir {
            root: root.to_owned(),
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
        };
        std::fs::create_dir_all(&dir.blobs)?;
        // Whatever is in tmp/ was never acknowledged.
        if dir.tmp.exists() {
            std::fs::remove_dir_all(&dir.tmp)?;
        }
        std::fs::create_dir_all(&dir.tmp)?;
        Ok(dir)
    }

    /// Makes sure the blobs here belong to the metadata named `owner`:
    /// recorded on first use (a directory with blobs and no record is a
    /// standalone node's, from before the record existed), refused when
    /// another's.
    pub(super) fn claim(&self, owner: &str) -> Result<(), super::StoreError> {
        let record = self.root.join("owner");
        let recorded = match std::fs::read_to_string(&record) {
            Ok(text) => Some(text.trim().to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let recorded = match recorded {
            Some(name) => name,
            None if self.has_blobs()? => "rocksdb".to_owned(),
            None => {
                let tmp = self.tmp.join("owner");
                std::fs::write(&tmp, format!("{owner}\n"))?;
                std::fs::File::open(&tmp)?.sync_all()?;
                std::fs::rename(&tmp, &record)?;
                std::fs::File::open(&self.root)?.sync_all()?;
                return Ok(());
            }
        };
        if recorded == owner {
            Ok(())
        } else {
            Err(super::StoreError::OtherOwner {
                data: self.root.display().to_string(),
                owner: recorded,
                this: owner.to_owned(),
            })
        }
    }

    /// Records `owner` as the metadata the blobs here belong to, whoever
    /// had them (what a migration does once the metadata is copied).
    pub fn reassign(root: &Path, owner: &str) -> Result<(), std::io::Error> {
        let tmp = root.join("owner.new");
        std::fs::write(&tmp, format!("{owner}\n"))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, root.join("owner"))?;
        std::fs::File::open(root)?.sync_all()
    }

    fn has_blobs(&self) -> Result<bool, std::io::Error> {
        for shard in std::fs::read_dir(&self.blobs)? {
            let shard = shard?;
            if shard.file_type()?.is_dir() && std::fs::read_dir(shard.path())?.next().is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(super) fn path(&self, id: &str) -> PathBuf {
        path_in(&self.blobs, id)
    }

    pub(super) async fn create(&self, digests: Digests) -> Result<BlobWriter, std::io::Error> {
        let id = new_id();
        let tmp = self.tmp.join(&id);
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(BlobWriter {
            target: self.path(&id),
            id,
            tmp,
            file: Some(file),
            buffer: Vec::with_capacity(WRITE_BUFFER),
            size: 0,
            md5: Md5::new(),
            digests,
        })
    }

    /// Removes every blob not in `used`; how many.
    pub(super) fn collect_garbage(&self, used: &HashSet<String>) -> Result<usize, std::io::Error> {
        let mut removed = 0;
        for shard in std::fs::read_dir(&self.blobs)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for blob in std::fs::read_dir(shard.path())? {
                let blob = blob?;
                let name = blob.file_name();
                if !name.to_str().is_some_and(|id| used.contains(id)) {
                    std::fs::remove_file(blob.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

impl BlobWriter {
    /// Appends `bytes`.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), std::io::Error> {
        self.md5.update(bytes);
        self.digests.checksums.update(bytes);
        self.size += bytes.len() as u64;
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= WRITE_BUFFER {
            self.flush_buffer().await?;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    async fn flush_buffer(&mut self) -> Result<(), std::io::Error> {
        let file = self.file.as_mut().expect("open until finished");
        file.write_all(&self.buffer).await?;
        self.buffer.clear();
        Ok(())
    }

    /// Makes the blob durable under its final name: flush, fsync, rename,
    /// fsync the directory.
    pub async fn finish(mut self) -> Result<WrittenBlob, std::io::Error> {
        self.flush_buffer().await?;
        let file = self.file.take().expect("open until finished");
        let file = file.into_std().await;
        let (tmp, target) = (self.tmp.clone(), self.target.clone());
        tokio::task::spawn_blocking(move || {
            file.sync_all()?;
            drop(file);
            let dir = target.parent().expect("blobs/<shard>/<id>");
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&tmp, &target)?;
            std::fs::File::open(dir)?.sync_all()
        })
        .await
        .map_err(std::io::Error::other)??;
        let md5 = std::mem::take(&mut self.md5).finalize().into();
        let checksums = std::mem::take(&mut self.digests.checksums).finalize();
        Ok(WrittenBlob {
            id: std::mem::take(&mut self.id),
            size: self.size,
            md5,
            checksums,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Never finished: the temporary file is not anybody's.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

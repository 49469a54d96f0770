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

impl BlobDir {
    pub(super) fn open(root: &Path) -> Result<BlobDir, std::io::Error> {
        let dir = BlobDir {
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

    pub(super) fn path(&self, id: &str) -> PathBuf {
        let shard = id.get(..2).unwrap_or("__");
        self.blobs.join(shard).join(id)
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

//! Blob files: `blobs/<2 hex>/<id>`, written through `tmp/<id>`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use s3s::checksum::ChecksumHasher;

/// A blob up to this size is gathered in memory, then hashed, written,
/// fsynced and renamed in one trip to a blocking thread.
const GATHER: usize = 1 << 20;

/// Past [`GATHER`], bytes are hashed and written in batches of this size,
/// each on a blocking thread while the next batch is received (1 and 2 MiB
/// were measured too: no faster, and more memory per upload).
const BATCH: usize = 256 << 10;

/// After this many bytes written, an fdatasync is started beside the
/// writes, so that the disk works while the rest arrives instead of all at
/// the final fsync.
const SYNC_EVERY: u64 = 32 << 20;

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

/// A blob being written. Dropped without [`BlobWriter::finish`], nothing
/// is left: a gathered blob was never on disk, a streamed one's file is
/// removed once its last write has ended.
///
/// Small blobs are gathered and written at the end. A large one is
/// streamed: each 256 KiB batch is hashed (MD5, the ETag, which no CPU here
/// computes faster than about 640 MiB/s, and the requested checksums) on
/// one blocking thread and written on another while the request task
/// receives the next batch (and checks the payload signature), and every
/// 32 MiB an fdatasync starts beside them. The slowest of these sets the
/// pace rather than their sum. Every job is short (one batch), so a slow
/// client holds no thread while its bytes are on the way.
#[derive(Debug)]
pub struct BlobWriter {
    id: String,
    tmp: PathBuf,
    target: PathBuf,
    size: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    Gathering {
        buffer: Vec<u8>,
        hashes: Box<Hashes>,
    },
    Streaming(Box<Streaming>),
    Done,
}

/// A large blob on its way: the batch being filled and the jobs under way.
#[derive(Debug)]
struct Streaming {
    batch: BytesMut,
    hashing: Job<Box<Hashes>>,
    writing: Job<std::fs::File>,
    /// The fdatasync under way, if any.
    flushing: Option<tokio::task::JoinHandle<Result<(), std::io::Error>>>,
    unsynced: u64,
}

/// A value a blocking job is working on, or has handed back.
#[derive(Debug)]
enum Job<T> {
    Idle(T),
    Busy(tokio::task::JoinHandle<Result<T, std::io::Error>>),
    Failed,
}

impl<T: Send + 'static> Job<T> {
    /// The value once the job under way is done.
    async fn ready(&mut self) -> Result<T, std::io::Error> {
        match std::mem::replace(self, Job::Failed) {
            Job::Idle(value) => Ok(value),
            Job::Busy(job) => job.await.map_err(std::io::Error::other)?,
            Job::Failed => Err(std::io::Error::other(
                "an earlier write of this blob failed",
            )),
        }
    }

    /// Starts `work` on the value (once the job under way is done).
    async fn then(
        &mut self,
        work: impl FnOnce(T) -> Result<T, std::io::Error> + Send + 'static,
    ) -> Result<(), std::io::Error> {
        let value = self.ready().await?;
        *self = Job::Busy(tokio::task::spawn_blocking(move || work(value)));
        Ok(())
    }
}

/// MD5, the ETag of a single-part object, by OpenSSL (its assembly is
/// the fastest MD5 here: MD5 cannot be parallelised and sets the pace of a
/// large PUT).
pub struct Md5(openssl::hash::Hasher);

impl Md5 {
    /// An MD5 of nothing yet.
    pub fn new() -> Md5 {
        Md5(
            openssl::hash::Hasher::new(openssl::hash::MessageDigest::md5())
                .expect("OpenSSL provides MD5"),
        )
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes).expect("MD5 of bytes in memory");
    }

    /// The digest.
    pub fn finalize(mut self) -> [u8; 16] {
        let digest = self.0.finish().expect("MD5 of bytes in memory");
        let mut md5 = [0; 16];
        md5.copy_from_slice(&digest);
        md5
    }

    /// The MD5 of `bytes`.
    pub fn digest(bytes: &[u8]) -> [u8; 16] {
        let mut md5 = Md5::new();
        md5.update(bytes);
        md5.finalize()
    }
}

impl Default for Md5 {
    fn default() -> Self {
        Md5::new()
    }
}

impl std::fmt::Debug for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5")
    }
}

/// The digests of what was written so far.
#[derive(Debug)]
struct Hashes {
    md5: Md5,
    digests: Digests,
}

impl Hashes {
    fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.digests.checksums.update(bytes);
    }
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
        Ok(BlobWriter {
            tmp: self.tmp.join(&id),
            target: self.path(&id),
            id,
            size: 0,
            state: State::Gathering {
                buffer: Vec::new(),
                hashes: Box::new(Hashes {
                    md5: Md5::new(),
                    digests,
                }),
            },
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
        self.size += bytes.len() as u64;
        match &mut self.state {
            State::Gathering { buffer, .. } if buffer.len() + bytes.len() <= GATHER => {
                buffer.extend_from_slice(bytes);
                Ok(())
            }
            State::Gathering { .. } => {
                self.start_streaming();
                self.push(bytes).await
            }
            State::Streaming(_) => self.push(bytes).await,
            State::Done => Err(std::io::Error::other("the blob is finished")),
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Creates the file and carries what was gathered into the first batch.
    fn start_streaming(&mut self) {
        let State::Gathering { buffer, hashes } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        let tmp = self.tmp.clone();
        let mut batch = BytesMut::with_capacity(BATCH.max(buffer.len()));
        batch.extend_from_slice(&buffer);
        self.state = State::Streaming(Box::new(Streaming {
            batch,
            hashing: Job::Idle(hashes),
            writing: Job::Busy(tokio::task::spawn_blocking(move || {
                std::fs::File::create(tmp)
            })),
            flushing: None,
            unsynced: 0,
        }));
    }

    /// Adds `bytes` to the batch, handing it to the jobs when full.
    async fn push(&mut self, mut bytes: &[u8]) -> Result<(), std::io::Error> {
        let State::Streaming(streaming) = &mut self.state else {
            return Err(std::io::Error::other("not streaming"));
        };
        while !bytes.is_empty() {
            let room = BATCH.saturating_sub(streaming.batch.len()).max(1);
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            streaming.batch.extend_from_slice(now);
            bytes = later;
            if streaming.batch.len() >= BATCH {
                let full = std::mem::replace(&mut streaming.batch, BytesMut::with_capacity(BATCH))
                    .freeze();
                streaming.send(full).await?;
            }
        }
        Ok(())
    }

    /// Makes the blob durable under its final name: written, fsynced,
    /// renamed, the directory fsynced.
    pub async fn finish(mut self) -> Result<WrittenBlob, std::io::Error> {
        let (tmp, target) = (self.tmp.clone(), self.target.clone());
        let hashes = match std::mem::replace(&mut self.state, State::Done) {
            State::Gathering { buffer, mut hashes } => {
                let written = tokio::task::spawn_blocking(move || {
                    hashes.update(&buffer);
                    let mut file = std::fs::File::create(&tmp)?;
                    file.write_all(&buffer)?;
                    file.sync_all()?;
                    drop(file);
                    publish(&tmp, &target)?;
                    Ok::<_, std::io::Error>(*hashes)
                })
                .await
                .map_err(std::io::Error::other)?;
                match written {
                    Ok(hashes) => hashes,
                    Err(error) => {
                        let _ = std::fs::remove_file(&self.tmp);
                        return Err(error);
                    }
                }
            }
            State::Streaming(mut streaming) => match streaming.end(&tmp, &target).await {
                Ok(hashes) => hashes,
                Err(error) => {
                    // Every job has ended: nothing writes the file any more.
                    let _ = std::fs::remove_file(&self.tmp);
                    return Err(error);
                }
            },
            State::Done => return Err(std::io::Error::other("the blob is finished")),
        };
        let Hashes { md5, digests } = hashes;
        Ok(WrittenBlob {
            id: std::mem::take(&mut self.id),
            size: self.size,
            md5: md5.finalize(),
            checksums: digests.checksums.finalize(),
        })
    }
}

impl Streaming {
    /// Hands a full batch to the hashing and the writing job (each once
    /// its previous batch is done), and starts an fdatasync every
    /// [`SYNC_EVERY`] bytes (once the previous one is done).
    async fn send(&mut self, batch: Bytes) -> Result<(), std::io::Error> {
        let hashed = batch.clone();
        self.hashing
            .then(move |mut hashes| {
                hashes.update(&hashed);
                Ok(hashes)
            })
            .await?;
        self.unsynced += batch.len() as u64;
        let flush = self.unsynced >= SYNC_EVERY;
        if flush {
            self.unsynced = 0;
            if let Some(previous) = self.flushing.take() {
                previous.await.map_err(std::io::Error::other)??;
            }
        }
        self.writing
            .then(move |mut file| {
                file.write_all(&batch)?;
                Ok(file)
            })
            .await?;
        if flush {
            // After this batch's write: the flush covers it.
            let file = self.writing.ready().await?;
            let copy = file.try_clone()?;
            self.writing = Job::Idle(file);
            self.flushing = Some(tokio::task::spawn_blocking(move || copy.sync_data()));
        }
        Ok(())
    }

    /// Sends the last batch, waits for every job, fsyncs and publishes the
    /// file; the hashes.
    async fn end(&mut self, tmp: &Path, target: &Path) -> Result<Hashes, std::io::Error> {
        let sent = if self.batch.is_empty() {
            Ok(())
        } else {
            let last = std::mem::take(&mut self.batch).freeze();
            self.send(last).await
        };
        // Every job ends before any error is returned: the caller then
        // removes the file, and nothing may still be writing it.
        let hashes = self.hashing.ready().await;
        let file = self.writing.ready().await;
        let flushed = match self.flushing.take() {
            Some(flush) => flush.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        };
        sent?;
        let (hashes, file) = (hashes?, file?);
        flushed?;
        let (tmp, target) = (tmp.to_owned(), target.to_owned());
        tokio::task::spawn_blocking(move || {
            file.sync_all()?;
            drop(file);
            publish(&tmp, &target)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(*hashes)
    }
}

impl Drop for BlobWriter {
    /// An abandoned streamed blob: its file goes once its write and flush
    /// jobs have ended (they may still be creating or writing it).
    fn drop(&mut self) {
        let State::Streaming(streaming) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let tmp = self.tmp.clone();
        let Streaming {
            writing, flushing, ..
        } = *streaming;
        let remove = async move {
            if let Job::Busy(job) = writing {
                let _ = job.await;
            }
            if let Some(flush) = flushing {
                let _ = flush.await;
            }
            let _ = tokio::fs::remove_file(tmp).await;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(remove);
            }
            Err(_) => {
                let _ = std::fs::remove_file(&self.tmp);
            }
        }
    }
}

/// Renames the fsynced `tmp` to `target` and fsyncs the directory.
fn publish(tmp: &Path, target: &Path) -> Result<(), std::io::Error> {
    let dir = target.parent().expect("blobs/<shard>/<id>");
    std::fs::create_dir_all(dir)?;
    std::fs::rename(tmp, target)?;
    std::fs::File::open(dir)?.sync_all()
}

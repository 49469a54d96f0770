//! Blob files: `blobs/<2 hex>/<id>`, written through `tmp/<id>`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use s3s::checksum::ChecksumHasher;

/// A blob up to this size is gathered in memory, then hashed, written,
/// fsynced and renamed in one trip to a blocking thread.
const GATHER: usize = 1 << 20;

/// Past [`GATHER`], bytes go to the hashing and writing threads in batches
/// of this size.
const BATCH: usize = 1 << 20;

/// Batches queued for each thread: the receive loop runs ahead of the
/// slower thread by this much.
const QUEUE: usize = 8;

/// The writing thread fdatasyncs after this many bytes, so that the disk
/// writes while the rest arrives instead of all at the final fsync.
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
/// is left: a gathered blob was never on disk, a streamed one's writing
/// thread sees its channel close without the end and removes the file.
///
/// Small blobs are gathered and written at the end. A large one is
/// streamed: the MD5 (the ETag, which no CPU computes faster than about
/// 600 MiB/s) and the requested checksums on one blocking thread, the file
/// writes and periodic fdatasyncs on another, while the request task keeps
/// receiving (and verifying the payload signature). The slowest of the
/// three sets the pace rather than their sum.
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
    Streaming {
        batch: BytesMut,
        hashing: Pipe<Hashes>,
        writing: Pipe<()>,
    },
    Done,
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

/// What a streaming thread is sent: the next batch, or the end of the
/// blob (a closed channel without it means the upload was abandoned).
enum Message {
    Bytes(Bytes),
    End,
}

/// A blocking thread fed batches.
#[derive(Debug)]
struct Pipe<T> {
    sender: tokio::sync::mpsc::Sender<Message>,
    thread: tokio::task::JoinHandle<Result<T, std::io::Error>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Message::End => f.write_str("End"),
        }
    }
}

impl<T: Send + 'static> Pipe<T> {
    fn spawn(
        work: impl FnOnce(&mut dyn FnMut() -> Option<Message>) -> Result<T, std::io::Error>
        + Send
        + 'static,
    ) -> Self {
        let (sender, mut receiver) = tokio::sync::mpsc::channel(QUEUE);
        let thread = tokio::task::spawn_blocking(move || work(&mut || receiver.blocking_recv()));
        Pipe { sender, thread }
    }

    /// Hands `message` over; if the thread stopped early, its error.
    async fn send(&mut self, message: Message) -> Result<(), std::io::Error> {
        if self.sender.send(message).await.is_ok() {
            return Ok(());
        }
        match (&mut self.thread).await {
            Ok(Err(error)) => Err(error),
            Ok(Ok(_)) => Err(std::io::Error::other("a blob thread stopped early")),
            Err(joined) => Err(std::io::Error::other(joined)),
        }
    }

    /// Tells the thread the blob is complete; its result.
    async fn end(mut self) -> Result<T, std::io::Error> {
        self.send(Message::End).await?;
        self.thread.await.map_err(std::io::Error::other)?
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
                self.start_streaming()?;
                self.push(bytes).await
            }
            State::Streaming { .. } => self.push(bytes).await,
            State::Done => Err(std::io::Error::other("the blob is finished")),
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Hands what was gathered to a hashing and a writing thread.
    fn start_streaming(&mut self) -> Result<(), std::io::Error> {
        let State::Gathering { buffer, hashes } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Ok(());
        };
        let hashing = Pipe::spawn(move |next| {
            let mut hashes = *hashes;
            loop {
                match next() {
                    Some(Message::Bytes(bytes)) => hashes.update(&bytes),
                    Some(Message::End) => return Ok(hashes),
                    None => return Err(std::io::Error::other("abandoned")),
                }
            }
        });
        let (tmp, target) = (self.tmp.clone(), self.target.clone());
        let writing = Pipe::spawn(move |next| write_streamed(&tmp, &target, next));
        let mut batch = BytesMut::with_capacity(BATCH.max(buffer.len()));
        batch.extend_from_slice(&buffer);
        self.state = State::Streaming {
            batch,
            hashing,
            writing,
        };
        Ok(())
    }

    /// Adds `bytes` to the batch, sending it to both threads when full.
    async fn push(&mut self, mut bytes: &[u8]) -> Result<(), std::io::Error> {
        let State::Streaming {
            batch,
            hashing,
            writing,
        } = &mut self.state
        else {
            return Err(std::io::Error::other("not streaming"));
        };
        while !bytes.is_empty() {
            let room = BATCH.saturating_sub(batch.len()).max(1);
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            batch.extend_from_slice(now);
            bytes = later;
            if batch.len() >= BATCH {
                let full = std::mem::replace(batch, BytesMut::with_capacity(BATCH)).freeze();
                hashing.send(Message::Bytes(full.clone())).await?;
                writing.send(Message::Bytes(full)).await?;
            }
        }
        Ok(())
    }

    /// Makes the blob durable under its final name: written, fsynced,
    /// renamed, the directory fsynced.
    pub async fn finish(mut self) -> Result<WrittenBlob, std::io::Error> {
        let hashes = match std::mem::replace(&mut self.state, State::Done) {
            State::Gathering { buffer, mut hashes } => {
                let (tmp, target) = (self.tmp.clone(), self.target.clone());
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
            State::Streaming {
                batch,
                mut hashing,
                mut writing,
            } => {
                if !batch.is_empty() {
                    let last = batch.freeze();
                    hashing.send(Message::Bytes(last.clone())).await?;
                    writing.send(Message::Bytes(last)).await?;
                }
                // The writer publishes the file once told the blob is
                // complete (the tmp file is its to remove on failure).
                let (hashes, written) = tokio::join!(hashing.end(), writing.end());
                written?;
                hashes?
            }
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

/// The writing thread of a streamed blob: each batch written, and every
/// [`SYNC_EVERY`] bytes a flush to disk started on a third thread (so that
/// the disk works while the rest arrives, without holding up the writes);
/// at the end fsync and publish. Abandoned (the channel closed before the
/// end), the file is removed.
fn write_streamed(
    tmp: &Path,
    target: &Path,
    next: &mut dyn FnMut() -> Option<Message>,
) -> Result<(), std::io::Error> {
    let result = (|| {
        let mut file = std::fs::File::create(tmp)?;
        let flusher = Flusher::start(file.try_clone()?);
        let mut unsynced = 0u64;
        loop {
            match next() {
                Some(Message::Bytes(bytes)) => {
                    file.write_all(&bytes)?;
                    unsynced += bytes.len() as u64;
                    if unsynced >= SYNC_EVERY {
                        flusher.nudge();
                        unsynced = 0;
                    }
                }
                Some(Message::End) => break,
                None => return Err(std::io::Error::other("abandoned")),
            }
        }
        flusher.stop()?;
        file.sync_all()?;
        drop(file);
        publish(tmp, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// fdatasyncs a file being written whenever nudged, on a thread of its own
/// (nudges while it is busy coalesce).
struct Flusher {
    nudges: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<Result<(), std::io::Error>>,
}

impl Flusher {
    fn start(file: std::fs::File) -> Flusher {
        let (nudges, nudged) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            while nudged.recv().is_ok() {
                file.sync_data()?;
            }
            Ok(())
        });
        Flusher { nudges, thread }
    }

    fn nudge(&self) {
        // Full: a flush is already due, which covers these bytes too.
        let _ = self.nudges.try_send(());
    }

    /// Waits for the flush under way; its error, if any.
    fn stop(self) -> Result<(), std::io::Error> {
        drop(self.nudges);
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the flushing thread panicked"))?
    }
}

/// Renames the fsynced `tmp` to `target` and fsyncs the directory.
fn publish(tmp: &Path, target: &Path) -> Result<(), std::io::Error> {
    let dir = target.parent().expect("blobs/<shard>/<id>");
    std::fs::create_dir_all(dir)?;
    std::fs::rename(tmp, target)?;
    std::fs::File::open(dir)?.sync_all()
}

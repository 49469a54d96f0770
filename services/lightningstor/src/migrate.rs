//! Moving a node's metadata from one [`MetaStore`] to another: the
//! design's staged path from standalone (RocksDB) to integrated
//! (chainfire), run by `photonctl migrate`.
//!
//! The bytes do not move: object blobs stay in the node's data directory.
//! What moves is every record naming them (buckets, objects, uploads and
//! their parts, access keys). A migration
//!
//! 1. copies each record the target lacks, leaving records it already has
//!    (equal ones: an earlier, interrupted run copied them) and stopping
//!    at one that differs (somebody else's data: nothing is overwritten);
//! 2. verifies object by object: the target's record equals the source's
//!    and every blob it names is on disk with the size it says;
//! 3. only then hands the data directory over to the target
//!    ([`crate::store::hand_over`]), after which the node starts only with
//!    the target (a start with the old store is refused rather than
//!    collecting the blobs as garbage).
//!
//! Each step is safe to repeat, so a migration killed at any point is
//! finished by running it again. The source is left as it was, a backup
//! until the operator removes it.

use std::path::{Path, PathBuf};

use crate::store::{BucketRef, MetaStore, ObjectRecord, StoreError};

/// Objects read from the source per listing.
const PAGE: usize = 1000;

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// One of the stores failed.
    #[error("{side}: {error}")]
    Store {
        /// `source` or `target`.
        side: &'static str,
        /// What failed.
        error: StoreError,
    },
    /// The target holds a different record under the same name.
    #[error(
        "the target already has {what}, and it differs from the source's: nothing was overwritten (is another node using this prefix?)"
    )]
    Conflict {
        /// The record, named.
        what: String,
    },
    /// A check after copying failed.
    #[error("verification failed: {0}")]
    Verify(String),
}

fn source(error: StoreError) -> MigrateError {
    MigrateError::Store {
        side: "source",
        error,
    }
}

fn target(error: StoreError) -> MigrateError {
    MigrateError::Store {
        side: "target",
        error,
    }
}

/// What a migration did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Buckets copied (would be).
    pub buckets: u64,
    /// Objects copied (would be).
    pub objects: u64,
    /// Bytes of the objects copied (would be); these stay where they are.
    pub bytes: u64,
    /// Uploads in progress copied (would be), with their parts.
    pub uploads: u64,
    /// Parts copied (would be).
    pub parts: u64,
    /// Access keys copied (would be).
    pub keys: u64,
    /// Records the target already had, equal to the source's.
    pub already_there: u64,
    /// Objects verified after copying.
    pub verified: u64,
}

/// One line of progress, for the operator.
pub type Progress<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Where the node's blobs are, and whether to write at all.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The node's data directory (its blobs stay there).
    pub data_dir: PathBuf,
    /// Only count what would change.
    pub dry_run: bool,
}

/// Whether `write` needs doing: the target's `found` against the source's
/// `wanted` (equal: already there; absent: copy; else a conflict).
fn needs<T: PartialEq>(
    found: Option<T>,
    wanted: &T,
    what: impl FnOnce() -> String,
    tally: &mut Tally,
) -> Result<bool, MigrateError> {
    match found {
        None => Ok(true),
        Some(found) if found == *wanted => {
            tally.already_there += 1;
            Ok(false)
        }
        Some(_) => Err(MigrateError::Conflict { what: what() }),
    }
}

impl Migration {
    /// Copies `from` into `to`, verifies, and hands the data directory to
    /// `to` (all but counting left out when dry).
    pub async fn run(
        &self,
        from: &dyn MetaStore,
        to: &dyn MetaStore,
        progress: Progress<'_>,
    ) -> Result<Tally, MigrateError> {
        let mut tally = Tally::default();
        self.copy_keys(from, to, &mut tally).await?;
        for (bucket, record) in from.buckets().await.map_err(source)? {
            let found = to.bucket(&bucket).await.map_err(target)?;
            if needs(found, &record, || format!("bucket {bucket}"), &mut tally)? {
                tally.buckets += 1;
                if !self.dry_run {
                    match to.create_bucket(&bucket, &record).await {
                        // Created between the read and now: compared below.
                        Ok(()) | Err(StoreError::BucketExists) => {}
                        Err(e) => return Err(target(e)),
                    }
                }
            }
            self.copy_objects(from, to, &bucket, &mut tally, progress)
                .await?;
            self.copy_uploads(from, to, &bucket, &mut tally).await?;
        }
        if self.dry_run {
            progress(&format!(
                "dry run: would copy {} buckets, {} objects ({} bytes, which stay on disk), {} uploads with {} parts and {} access keys; {} records are already there",
                tally.buckets,
                tally.objects,
                tally.bytes,
                tally.uploads,
                tally.parts,
                tally.keys,
                tally.already_there
            ));
            return Ok(tally);
        }
        tally.verified = self.verify(from, to, progress).await?;
        crate::store::hand_over(&self.data_dir, to).map_err(target)?;
        progress(&format!(
            "handed {} over to {}",
            self.data_dir.display(),
            to.location()
        ));
        Ok(tally)
    }

    async fn copy_keys(
        &self,
        from: &dyn MetaStore,
        to: &dyn MetaStore,
        tally: &mut Tally,
    ) -> Result<(), MigrateError> {
        for (id, record) in from.access_keys().await.map_err(source)? {
            let found = to.access_key(&id).await.map_err(target)?;
            if needs(found, &record, || format!("access key {id}"), tally)? {
                tally.keys += 1;
                if !self.dry_run && !to.insert_access_key(&id, &record).await.map_err(target)? {
                    // Inserted between the read and now: must be ours.
                    let found = to.access_key(&id).await.map_err(target)?;
                    needs(found, &record, || format!("access key {id}"), tally)?;
                }
            }
        }
        Ok(())
    }

    async fn copy_objects(
        &self,
        from: &dyn MetaStore,
        to: &dyn MetaStore,
        bucket: &str,
        tally: &mut Tally,
        progress: Progress<'_>,
    ) -> Result<(), MigrateError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = from
                .list_objects(BucketRef::any(bucket), "", after.as_deref(), PAGE)
                .await
                .map_err(source)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.key.as_bytes().to_vec());
            for listed in &page {
                // In a dry run the bucket may not be there yet.
                let found = match to.object(BucketRef::any(bucket), &listed.key).await {
                    Ok(found) => found,
                    Err(StoreError::NoSuchBucket) if self.dry_run => None,
                    Err(e) => return Err(target(e)),
                };
                let what = || format!("object {bucket}/{}", listed.key);
                if needs(found, &listed.record, what, tally)? {
                    tally.objects += 1;
                    tally.bytes += listed.record.size;
                    if !self.dry_run {
                        let replaced = to
                            .put_object(BucketRef::any(bucket), &listed.key, &listed.record)
                            .await
                            .map_err(target)?;
                        // Written between the read and now: must be ours.
                        needs(replaced, &listed.record, what, &mut Tally::default())?;
                        if tally.objects.is_multiple_of(100) {
                            progress(&format!("copied {} objects", tally.objects));
                        }
                    }
                }
            }
        }
    }

    async fn copy_uploads(
        &self,
        from: &dyn MetaStore,
        to: &dyn MetaStore,
        bucket: &str,
        tally: &mut Tally,
    ) -> Result<(), MigrateError> {
        for (id, record) in from.uploads(BucketRef::any(bucket)).await.map_err(source)? {
            let found = match to.upload(BucketRef::any(bucket), &id).await {
                Ok(found) => Some(found),
                Err(StoreError::NoSuchUpload) => None,
                Err(StoreError::NoSuchBucket) if self.dry_run => None,
                Err(e) => return Err(target(e)),
            };
            let missing = needs(found, &record, || format!("upload {id} in {bucket}"), tally)?;
            if missing {
                tally.uploads += 1;
                if !self.dry_run {
                    to.create_upload(BucketRef::any(bucket), &id, &record)
                        .await
                        .map_err(target)?;
                }
            }
            let there = if missing && self.dry_run {
                Vec::new()
            } else {
                to.parts(BucketRef::any(bucket), &id)
                    .await
                    .map_err(target)?
            };
            for (number, part) in from
                .parts(BucketRef::any(bucket), &id)
                .await
                .map_err(source)?
            {
                let found = there
                    .iter()
                    .find(|(n, _)| *n == number)
                    .map(|(_, p)| p.clone());
                let what = || format!("part {number} of upload {id} in {bucket}");
                if needs(found, &part, what, tally)? {
                    tally.parts += 1;
                    if !self.dry_run {
                        to.put_part(BucketRef::any(bucket), &id, number, &part)
                            .await
                            .map_err(target)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every source object's record is the target's, and its blobs are on
    /// disk whole; uploads and keys compared too. How many objects.
    async fn verify(
        &self,
        from: &dyn MetaStore,
        to: &dyn MetaStore,
        progress: Progress<'_>,
    ) -> Result<u64, MigrateError> {
        let mut verified = 0;
        for (bucket, record) in from.buckets().await.map_err(source)? {
            if to.bucket(&bucket).await.map_err(target)? != Some(record) {
                return Err(MigrateError::Verify(format!("bucket {bucket} differs")));
            }
            let mut after: Option<Vec<u8>> = None;
            loop {
                let page = from
                    .list_objects(BucketRef::any(&bucket), "", after.as_deref(), PAGE)
                    .await
                    .map_err(source)?;
                let Some(last) = page.last() else { break };
                after = Some(last.key.as_bytes().to_vec());
                for listed in &page {
                    let copied = to
                        .object(BucketRef::any(&bucket), &listed.key)
                        .await
                        .map_err(target)?;
                    if copied.as_ref() != Some(&listed.record) {
                        return Err(MigrateError::Verify(format!(
                            "object {bucket}/{} is not in the target as in the source",
                            listed.key
                        )));
                    }
                    self.blobs_whole(&bucket, &listed.key, &listed.record)?;
                    verified += 1;
                }
            }
            for (id, upload) in from
                .uploads(BucketRef::any(&bucket))
                .await
                .map_err(source)?
            {
                let copied_parts = to
                    .parts(BucketRef::any(&bucket), &id)
                    .await
                    .map_err(target)?;
                if to
                    .upload(BucketRef::any(&bucket), &id)
                    .await
                    .map_err(target)?
                    != upload
                    || copied_parts
                        != from
                            .parts(BucketRef::any(&bucket), &id)
                            .await
                            .map_err(source)?
                {
                    return Err(MigrateError::Verify(format!(
                        "upload {id} in {bucket} differs"
                    )));
                }
            }
        }
        for (id, key) in from.access_keys().await.map_err(source)? {
            if to.access_key(&id).await.map_err(target)? != Some(key) {
                return Err(MigrateError::Verify(format!("access key {id} differs")));
            }
        }
        progress(&format!(
            "verified {verified} objects: records equal, blobs on disk whole"
        ));
        Ok(verified)
    }

    fn blobs_whole(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<(), MigrateError> {
        for segment in &record.segments {
            let path = crate::store::blob_path_in(&self.data_dir, &segment.blob);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.len() == segment.size => {}
                Ok(meta) => {
                    return Err(MigrateError::Verify(format!(
                        "object {bucket}/{key}: {} holds {} bytes, its record says {}",
                        path.display(),
                        meta.len(),
                        segment.size
                    )));
                }
                Err(e) => {
                    return Err(MigrateError::Verify(format!(
                        "object {bucket}/{key}: {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The data directory a standalone lightningstor's TOML names, with its
/// metadata path: what `photonctl migrate --config` reads.
pub fn paths_of(
    doc: &photon_config::ComponentDocument<crate::standalone::LightningStorSchema>,
) -> (PathBuf, PathBuf) {
    (
        doc.standalone.metadata.path.clone(),
        doc.standalone.storage.data_dir.clone(),
    )
}

/// Opens the source RocksDB, with a clear word when the server still
/// holds it.
pub fn open_local(meta_dir: &Path) -> Result<crate::store::local::LocalMeta, String> {
    if !meta_dir.join("CURRENT").exists() {
        return Err(format!(
            "{}: no lightningstor metadata here (RocksDB's CURRENT file is missing)",
            meta_dir.display()
        ));
    }
    crate::store::local::LocalMeta::open(meta_dir, None).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") {
            format!(
                "{}: the metadata is in use: stop lightningstor before migrating it ({text})",
                meta_dir.display()
            )
        } else {
            format!("{}: {text}", meta_dir.display())
        }
    })
}

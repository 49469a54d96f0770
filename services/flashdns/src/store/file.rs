//! The local backend: each zone a BIND zone file `<dir>/<origin>.zone`,
//! rewritten whole for each change (aside, fsynced, renamed, the directory
//! fsynced), so a crash leaves the last version or the new one, and an
//! operator can still read and edit it as any zone file. Changes are
//! serialized in this process; readers here are told at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hickory_proto::rr::{Name, Record};
use tokio::sync::watch;

use super::{Change, Snapshot, StoreError, ZoneStore, build, changed_records};
use crate::keys::write_durably;
use crate::zone;

/// Zone files in one directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    /// Held while a zone file is read, changed and written again.
    writing: tokio::sync::Mutex<()>,
    /// Each zone's version, counting this process's changes.
    versions: Mutex<HashMap<Name, watch::Sender<u64>>>,
}

impl FileStore {
    /// The zone files in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore {
            dir: dir.into(),
            writing: tokio::sync::Mutex::new(()),
            versions: Mutex::new(HashMap::new()),
        }
    }

    /// The file zone `origin` is kept in.
    pub fn path(&self, origin: &Name) -> PathBuf {
        let name = origin.to_lowercase().to_string();
        let stem = name.trim_end_matches('.');
        self.dir.join(format!(
            "{}.zone",
            if stem.is_empty() { "root" } else { stem }
        ))
    }

    /// Every zone kept here (a `*.zone` file each), for a migration.
    pub fn origins(&self) -> Result<Vec<Name>, StoreError> {
        let unavailable =
            |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", self.dir.display()));
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(unavailable(e)),
        };
        let mut origins = Vec::new();
        for entry in entries {
            let name = entry.map_err(unavailable)?.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".zone")) else {
                continue;
            };
            let text = if stem == "root" {
                ".".to_owned()
            } else {
                format!("{stem}.")
            };
            origins.push(Name::from_ascii(&text).map_err(|e| StoreError::Invalid {
                origin: text.clone(),
                problem: format!("the file name is not a zone name: {e}"),
            })?);
        }
        origins.sort();
        Ok(origins)
    }

    fn version(&self, origin: &Name) -> watch::Sender<u64> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(origin.to_lowercase())
            .or_insert_with(|| watch::Sender::new(1))
            .clone()
    }

    fn load(&self, origin: &Name) -> Result<Option<Vec<Record>>, StoreError> {
        let path = self.path(origin);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StoreError::Unavailable(format!("{}: {e}", path.display())));
            }
        };
        let zone = zone::file::parse(&text, &path.display().to_string(), origin).map_err(|e| {
            StoreError::Invalid {
                origin: origin.to_string(),
                problem: e.to_string(),
            }
        })?;
        Ok(Some(zone.records().cloned().collect()))
    }

    fn write(&self, path: &Path, records: &[Record]) -> Result<(), StoreError> {
        let text: String = records
            .iter()
            .map(|r| zone::record_text(r) + "\n")
            .collect();
        write_durably(path, text.as_bytes(), 0o644)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))
    }
}

#[async_trait::async_trait]
impl ZoneStore for FileStore {
    async fn create(&self, origin: &Name, records: &[Record]) -> Result<bool, StoreError> {
        let _writing = self.writing.lock().await;
        if self.load(origin)?.is_some() {
            return Ok(false);
        }
        build(origin, records, "the new zone")?;
        self.write(&self.path(origin), records)?;
        self.version(origin).send_modify(|v| *v += 1);
        Ok(true)
    }

    async fn apply(&self, origin: &Name, changes: &[Change]) -> Result<u32, StoreError> {
        let _writing = self.writing.lock().await;
        let records = self
            .load(origin)?
            .ok_or_else(|| StoreError::NoZone(origin.to_string()))?;
        let (next, serial) = changed_records(origin, &records, changes)?;
        self.write(&self.path(origin), &next)?;
        self.version(origin).send_modify(|v| *v += 1);
        Ok(serial)
    }

    async fn read(&self, origin: &Name) -> Result<Snapshot, StoreError> {
        // The version first: a change after it is then seen by `changed`.
        let version = *self.version(origin).borrow();
        Ok(Snapshot {
            records: self.load(origin)?.unwrap_or_default(),
            version,
        })
    }

    async fn changed(&self, origin: &Name, version: u64) -> Result<u64, StoreError> {
        let mut seen = self.version(origin).subscribe();
        let newer = seen
            .wait_for(|v| *v > version)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(*newer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zone_files_keep_the_zone_store_promises() {
        let dir = tempfile::tempdir().unwrap();
        super::super::conformance::run(Arc::new(FileStore::new(dir.path())), "files.test").await;
    }

    #[tokio::test]
    async fn a_changed_zone_is_a_zone_file_an_operator_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let origin = Name::from_ascii("example.test.").unwrap();
        let text = "example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 7 7200 900 1209600 300\n\
                    example.test. 3600 IN NS ns.example.test.\nns.example.test. 3600 IN A 10.0.0.1\n";
        let records: Vec<Record> = zone::file::parse(text, "test", &origin)
            .unwrap()
            .records()
            .cloned()
            .collect();
        assert!(store.create(&origin, &records).await.unwrap());
        let www = Record::from_rdata(
            Name::from_ascii("www.example.test.").unwrap(),
            60,
            hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(10, 0, 0, 2)),
        );
        assert_eq!(store.apply(&origin, &[Change::Add(www)]).await.unwrap(), 8);
        let written = std::fs::read_to_string(dir.path().join("example.test.zone")).unwrap();
        assert!(written.contains(" 8 7200 900 1209600 300\n"), "{written}");
        assert!(
            written.contains("www.example.test. 60 IN A 10.0.0.2\n"),
            "{written}"
        );
        // And a zone file is what the server's loader reads.
        zone::file::parse(&written, "written", &origin).unwrap();
    }
}

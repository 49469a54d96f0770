//! Loading the configured zones and reloading zone files: a changed file is
//! parsed aside and swapped in whole; a file with an error is reported and
//! the zone keeps serving its last good version.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use photon_dsl::NodeName;

use crate::answer::Catalog;
use crate::dns::SharedCatalog;
use crate::spec::{self, ZoneSource};
use crate::zone::{ZoneError, file, typed};

/// Why the configured zones could not be served at start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A zone's origin is not a domain name.
    #[error("zone `{origin}`: not a domain name: {problem}")]
    Origin {
        /// As configured.
        origin: String,
        /// What hickory said.
        problem: String,
    },
    /// A zone's records are wrong.
    #[error(transparent)]
    Zone(#[from] ZoneError),
}

/// What the admin API shows of one zone.
#[derive(Debug, Clone)]
pub struct ZoneStatus {
    /// The apex.
    pub origin: String,
    /// The file, for a file zone.
    pub file: Option<PathBuf>,
    /// When the serving version was loaded (seconds since the epoch).
    pub loaded_at: u64,
    /// Why the last reload was rejected, if it was.
    pub last_error: Option<String>,
    /// What the serving version's checks warned about, and a serial that
    /// did not increase.
    pub warnings: Vec<String>,
    /// Reloads rejected since start.
    pub failed_reloads: u64,
}

/// A zone read from a file, and what was last seen of the file.
#[derive(Debug)]
struct FileZone {
    origin: Name,
    path: PathBuf,
    content_hash: u64,
}

/// The configured zones: serves them and reloads the file ones.
#[derive(Debug, Clone)]
pub struct Zones {
    catalog: SharedCatalog,
    files: Arc<tokio::sync::Mutex<Vec<FileZone>>>,
    status: Arc<Mutex<Vec<ZoneStatus>>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hash(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

fn origin_name(origin: &str) -> Result<Name, LoadError> {
    let mut name = Name::from_ascii(origin).map_err(|e| LoadError::Origin {
        origin: origin.to_owned(),
        problem: e.to_string(),
    })?;
    name.set_fqdn(true);
    Ok(name)
}

impl Zones {
    /// Loads every zone; any error stops the start (nothing half-served).
    /// `address_of` resolves the nodes typed records point at.
    pub fn load(
        zones: &[spec::Zone],
        address_of: &dyn Fn(NodeName) -> Result<IpAddr, String>,
    ) -> Result<Zones, LoadError> {
        let mut loaded = Vec::new();
        let mut files = Vec::new();
        let mut status = Vec::new();
        for zone in zones {
            let origin = origin_name(zone.origin)?;
            let (built, file) = match zone.source {
                ZoneSource::File(path) => {
                    let path = PathBuf::from(path);
                    // Read once: the hash is of exactly the text served.
                    let text = file::read(&path)?;
                    let built = file::load_text(&path, &text, &origin)?;
                    files.push(FileZone {
                        origin: origin.clone(),
                        path: path.clone(),
                        content_hash: hash(text.as_bytes()),
                    });
                    (built, Some(path))
                }
                ZoneSource::Records(data) => (typed::build(&origin, data, address_of)?, None),
            };
            for warning in built.warnings() {
                tracing::warn!(zone = %origin, "{warning}");
            }
            tracing::info!(zone = %origin, serial = built.serial(), records = built.record_count(), source = built.source(), "zone loaded");
            status.push(ZoneStatus {
                origin: origin.to_string(),
                file,
                loaded_at: now(),
                last_error: None,
                warnings: built.warnings().to_vec(),
                failed_reloads: 0,
            });
            loaded.push(Arc::new(built));
        }
        Ok(Zones {
            catalog: SharedCatalog::new(Catalog::new(loaded)),
            files: Arc::new(tokio::sync::Mutex::new(files)),
            status: Arc::new(Mutex::new(status)),
        })
    }

    /// The zones being served.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// Each zone's status, in configuration order.
    pub fn status(&self) -> Vec<ZoneStatus> {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update_status(&self, origin: &Name, update: impl FnOnce(&mut ZoneStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let origin = origin.to_string();
        if let Some(entry) = status.iter_mut().find(|s| s.origin == origin) {
            update(entry);
        }
    }

    /// Re-reads every zone file whose content changed (or every one, with
    /// `force`, as on SIGHUP). Returns how many zones were replaced.
    pub async fn reload(&self, force: bool) -> usize {
        let mut files = self.files.lock().await;
        let mut replaced = 0;
        for file in files.iter_mut() {
            let text = match tokio::fs::read_to_string(&file.path).await {
                Ok(text) => text,
                Err(e) => {
                    let problem = format!(
                        "{}: cannot read the zone file: {e}; still serving the last good version",
                        file.path.display()
                    );
                    self.reject(&file.origin, problem);
                    continue;
                }
            };
            let content_hash = hash(text.as_bytes());
            if !force && content_hash == file.content_hash {
                continue;
            }
            file.content_hash = content_hash;
            let (path, origin) = (file.path.clone(), file.origin.clone());
            let parsed =
                tokio::task::spawn_blocking(move || file::load_text(&path, &text, &origin)).await;
            let zone = match parsed {
                Ok(Ok(zone)) => zone,
                Ok(Err(error)) => {
                    self.reject(
                        &file.origin,
                        format!("{error}; still serving the last good version"),
                    );
                    continue;
                }
                Err(join) => {
                    self.reject(&file.origin, format!("the reload task failed: {join}"));
                    continue;
                }
            };
            let old_serial = self
                .catalog
                .load()
                .get(&(&file.origin).into())
                .map(|z| z.serial());
            let mut warnings = zone.warnings().to_vec();
            if let Some(old) = old_serial
                && !serial_increased(old, zone.serial())
            {
                let warning = format!(
                    "{}: the zone changed but its SOA serial did not increase ({old} -> {}); secondaries will not transfer it",
                    file.path.display(),
                    zone.serial()
                );
                tracing::warn!(zone = %file.origin, "{warning}");
                warnings.push(warning);
            }
            for warning in zone.warnings() {
                tracing::warn!(zone = %file.origin, "{warning}");
            }
            tracing::info!(zone = %file.origin, serial = zone.serial(), records = zone.record_count(), "zone reloaded");
            self.catalog.replace(Arc::new(zone));
            self.update_status(&file.origin, |s| {
                s.loaded_at = now();
                s.last_error = None;
                s.warnings = warnings;
            });
            replaced += 1;
        }
        replaced
    }

    fn reject(&self, origin: &Name, problem: String) {
        tracing::error!(zone = %origin, "zone reload rejected: {problem}");
        self.update_status(origin, |s| {
            s.last_error = Some(problem);
            s.failed_reloads += 1;
        });
    }
}

/// RFC 1982 serial comparison: `new` is greater than `old`.
fn serial_increased(old: u32, new: u32) -> bool {
    let diff = new.wrapping_sub(old);
    diff != 0 && diff < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_in_serial_arithmetic() {
        assert!(serial_increased(1, 2));
        assert!(!serial_increased(2, 2));
        assert!(!serial_increased(3, 2));
        assert!(serial_increased(u32::MAX, 0));
        assert!(!serial_increased(0, 0x8000_0000));
    }
}

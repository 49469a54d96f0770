//! Loading the configured zones, reloading zone files and keeping signed
//! zones signed: a changed file is parsed (and signed) aside and swapped in
//! whole; a file with an error is reported and the zone keeps serving its
//! last good version; signatures are refreshed at half their validity.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;

use crate::answer::{Catalog, SharedCatalog};
use crate::keys::{self, KeyError, ZoneKey};
use crate::spec::{self, Dnssec, SigningKey, ZoneFileLimits, ZoneSource};
use crate::zone::sign::{SignError, Validity};
use crate::zone::{Zone, ZoneError, file, typed};

/// Signatures start this long before signing, for validators whose clocks
/// are behind.
const INCEPTION_SKEW: u32 = 3600;

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
    /// A signed zone's key is missing or unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A signed zone could not be signed or its serial recorded.
    #[error("{0}")]
    Signing(String),
}

/// What the admin API shows of one zone.
#[derive(Debug, Clone)]
pub struct ZoneStatus {
    /// The apex.
    pub origin: String,
    /// The file, for a file zone.
    pub file: Option<PathBuf>,
    /// The private key's file, for a signed zone.
    pub key_file: Option<PathBuf>,
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

/// A zone file, and what was last seen of it.
#[derive(Debug)]
struct FileState {
    path: PathBuf,
    content_hash: u64,
    default_ttl: Option<u32>,
}

/// A signed zone's key, and what re-signing needs.
#[derive(Debug)]
struct SigningState {
    key: Arc<ZoneKey>,
    signature_days: u16,
    /// Where the last served serial is kept, so a restart never serves a
    /// lower one than secondaries already have.
    serial_file: PathBuf,
    served_serial: Option<u32>,
    /// The last good version before signing, re-signed as it is.
    unsigned: Arc<Zone>,
}

/// One configured zone as the reloader and signer see it.
#[derive(Debug)]
struct Entry {
    origin: Name,
    file: Option<FileState>,
    signing: Option<SigningState>,
    /// The serial of the last good version as written (file or typed).
    written_serial: u32,
}

/// The configured zones: serves them, reloads the file ones and keeps
/// the signed ones signed.
#[derive(Debug, Clone)]
pub struct Zones {
    catalog: SharedCatalog,
    entries: Arc<tokio::sync::Mutex<Vec<Entry>>>,
    status: Arc<Mutex<Vec<ZoneStatus>>>,
    /// How much zone-file text a load or reload reads.
    limits: ZoneFileLimits,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
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

/// The serial a signed zone is served with: the written one when it is
/// higher than the last served, else one more than that (each signing is
/// a new version; secondaries must see it to fetch fresh signatures).
fn signed_serial(served: Option<u32>, written: u32) -> u32 {
    match served {
        Some(served) if !serial_increased(served, written) => served.wrapping_add(1),
        _ => written,
    }
}

impl SigningState {
    fn open(
        origin: &Name,
        signing: spec::Signing,
        state_dir: &Path,
        unsigned: Arc<Zone>,
    ) -> Result<SigningState, LoadError> {
        let path = keys::key_path(signing.key, state_dir, origin);
        let create = signing.key == SigningKey::StateDir;
        let (key, created) = ZoneKey::open(&path, signing.algorithm, create)?;
        if created {
            tracing::warn!(
                zone = %origin,
                key = %path.display(),
                ds = %key.ds_text(origin),
                "created a DNSSEC key for the zone; publish this DS in the parent zone to make it secure"
            );
        }
        let serial_file =
            keys::key_path(SigningKey::StateDir, state_dir, origin).with_extension("serial");
        let served_serial = match std::fs::read_to_string(&serial_file) {
            Ok(text) => Some(text.trim().parse::<u32>().map_err(|e| {
                LoadError::Signing(format!(
                    "{}: not a serial: {e}; it records the last serial served, remove it only if no secondary has transferred the zone",
                    serial_file.display()
                ))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(LoadError::Signing(format!(
                    "{}: {e}",
                    serial_file.display()
                )));
            }
        };
        Ok(SigningState {
            key: Arc::new(key),
            signature_days: signing.signature_days,
            serial_file,
            served_serial,
            unsigned,
        })
    }

    /// What signing the next version needs, owned for a blocking task.
    fn planner(&self) -> Planner {
        Planner {
            key: self.key.clone(),
            served_serial: self.served_serial,
            signature_days: self.signature_days,
        }
    }

    /// Records that `signed` (made from `unsigned`) is now served.
    fn commit(&mut self, unsigned: Arc<Zone>, signed: &Zone) -> Result<(), String> {
        let serial = signed.serial();
        keys::write_durably(&self.serial_file, format!("{serial}\n").as_bytes(), 0o644).map_err(
            |e| {
                format!(
                    "{}: cannot record the served serial: {e}",
                    self.serial_file.display()
                )
            },
        )?;
        self.served_serial = Some(serial);
        self.unsigned = unsigned;
        Ok(())
    }
}

/// How to sign a zone's next version.
struct Planner {
    key: Arc<ZoneKey>,
    served_serial: Option<u32>,
    signature_days: u16,
}

impl Planner {
    /// `unsigned` signed at `now` (seconds since the epoch), with the
    /// serial it is served with. CPU work: run it off the async threads.
    fn sign(&self, unsigned: &Zone, now: u64) -> Result<Zone, SignError> {
        let now = u32::try_from(now).unwrap_or(u32::MAX);
        let validity = Validity {
            inception: now.saturating_sub(INCEPTION_SKEW),
            expiration: now.saturating_add(u32::from(self.signature_days) * 86_400),
        };
        let serial = signed_serial(self.served_serial, unsigned.serial());
        unsigned.sign(&self.key, serial, validity)
    }
}

impl Zones {
    /// Loads (and signs) every zone; any error stops the start (nothing
    /// half-served). `address_of` resolves the nodes typed records point
    /// at; signed zones keep their key and last serial under `state_dir`.
    pub fn load(
        zones: &[spec::Zone],
        limits: &ZoneFileLimits,
        address_of: typed::AddressOf<'_>,
        state_dir: &Path,
    ) -> Result<Zones, LoadError> {
        let mut loaded = Vec::new();
        let mut entries = Vec::new();
        let mut status = Vec::new();
        for zone in zones {
            let origin = origin_name(zone.origin)?;
            if matches!(zone.source, ZoneSource::Store) {
                // Served once read from the store (`crate::stored`).
                status.push(ZoneStatus {
                    origin: origin.to_string(),
                    file: None,
                    key_file: None,
                    loaded_at: 0,
                    last_error: Some("not read from the zone store yet".to_owned()),
                    warnings: Vec::new(),
                    failed_reloads: 0,
                });
                continue;
            }
            let (built, file) = match zone.source {
                ZoneSource::File(path) => {
                    let path = PathBuf::from(path);
                    // Read once: the hash is of exactly the text served.
                    let text = file::read(&path, limits)?;
                    let built = file::load_text(&path, &text, &origin, zone.default_ttl, limits)?;
                    let state = FileState {
                        path,
                        content_hash: hash(text.as_bytes()),
                        default_ttl: zone.default_ttl,
                    };
                    (built, Some(state))
                }
                ZoneSource::Records(data) => (typed::build(&origin, data, address_of)?, None),
                ZoneSource::Store => unreachable!("stored zones are skipped above"),
            };
            for warning in built.warnings() {
                tracing::warn!(zone = %origin, "{warning}");
            }
            let written_serial = built.serial();
            let unsigned = Arc::new(built);
            let (serving, signing) = match zone.dnssec {
                Dnssec::Off => (unsigned.clone(), None),
                Dnssec::Sign(signing) => {
                    let mut state =
                        SigningState::open(&origin, signing, state_dir, unsigned.clone())?;
                    let signed = state
                        .planner()
                        .sign(&unsigned, now())
                        .map_err(|e| LoadError::Signing(e.to_string()))?;
                    state
                        .commit(unsigned.clone(), &signed)
                        .map_err(LoadError::Signing)?;
                    (Arc::new(signed), Some(state))
                }
            };
            tracing::info!(
                zone = %origin,
                serial = serving.serial(),
                records = serving.record_count(),
                source = serving.source(),
                signed = serving.signed().is_some(),
                "zone loaded"
            );
            status.push(ZoneStatus {
                origin: origin.to_string(),
                file: file.as_ref().map(|f| f.path.clone()),
                key_file: signing.as_ref().map(|s| s.key.path().to_owned()),
                loaded_at: now(),
                last_error: None,
                warnings: serving.warnings().to_vec(),
                failed_reloads: 0,
            });
            entries.push(Entry {
                origin,
                file,
                signing,
                written_serial,
            });
            loaded.push(serving);
        }
        Ok(Zones {
            catalog: SharedCatalog::new(Catalog::new(loaded)),
            entries: Arc::new(tokio::sync::Mutex::new(entries)),
            status: Arc::new(Mutex::new(status)),
            limits: *limits,
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

    /// Serves a stored zone's version as read from the zone store.
    pub fn serve_stored(&self, zone: Arc<Zone>) {
        let origin: Name = zone.origin().into();
        self.catalog.replace(zone.clone());
        self.update_status(&origin, |status| {
            status.loaded_at = now();
            status.last_error = None;
            status.warnings = zone.warnings().to_vec();
        });
    }

    /// Says why a stored zone's latest version is not served.
    pub fn stored_failed(&self, origin: &Name, why: String) {
        self.update_status(origin, |status| {
            status.last_error = Some(why);
            status.failed_reloads += 1;
        });
    }

    fn update_status(&self, origin: &Name, update: impl FnOnce(&mut ZoneStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let origin = origin.to_string();
        if let Some(entry) = status.iter_mut().find(|s| s.origin == origin) {
            update(entry);
        }
    }

    /// Re-reads every zone file whose content changed (or every one, with
    /// `force`, as on SIGHUP). Returns the zones replaced, as now served.
    pub async fn reload(&self, force: bool) -> Vec<Arc<Zone>> {
        let mut entries = self.entries.lock().await;
        let mut replaced = Vec::new();
        for entry in entries.iter_mut() {
            let Some(file) = &mut entry.file else {
                continue;
            };
            let (path, limits) = (file.path.clone(), self.limits);
            let read = tokio::task::spawn_blocking(move || file::read(&path, &limits)).await;
            let text = match read {
                Ok(Ok(text)) => text,
                Ok(Err(e)) => {
                    let problem = format!("{e}; still serving the last good version");
                    self.reject(&entry.origin, problem);
                    continue;
                }
                Err(e) => {
                    let problem = format!(
                        "{}: the zone file's reader failed: {e}; still serving the last good version",
                        file.path.display()
                    );
                    self.reject(&entry.origin, problem);
                    continue;
                }
            };
            let content_hash = hash(text.as_bytes());
            if !force && content_hash == file.content_hash {
                continue;
            }
            file.content_hash = content_hash;
            let (path, origin) = (file.path.clone(), entry.origin.clone());
            let default_ttl = file.default_ttl;
            let limits = self.limits;
            let planner = entry.signing.as_ref().map(SigningState::planner);
            let parsed = tokio::task::spawn_blocking(move || {
                let unsigned = file::load_text(&path, &text, &origin, default_ttl, &limits)
                    .map_err(|e| e.to_string())?;
                let signed = match planner {
                    Some(planner) => {
                        Some(planner.sign(&unsigned, now()).map_err(|e| e.to_string())?)
                    }
                    None => None,
                };
                Ok::<_, String>((unsigned, signed))
            })
            .await;
            let (unsigned, signed) = match parsed {
                Ok(Ok(zones)) => zones,
                Ok(Err(error)) => {
                    self.reject(
                        &entry.origin,
                        format!("{error}; still serving the last good version"),
                    );
                    continue;
                }
                Err(join) => {
                    self.reject(&entry.origin, format!("the reload task failed: {join}"));
                    continue;
                }
            };
            let unsigned = Arc::new(unsigned);
            let serving = match (signed, &mut entry.signing) {
                (Some(signed), Some(state)) => {
                    if let Err(problem) = state.commit(unsigned.clone(), &signed) {
                        self.reject(
                            &entry.origin,
                            format!("{problem}; still serving the last good version"),
                        );
                        continue;
                    }
                    Arc::new(signed)
                }
                _ => unsigned.clone(),
            };
            let mut warnings = unsigned.warnings().to_vec();
            if !serial_increased(entry.written_serial, unsigned.serial()) {
                let warning = format!(
                    "{}: the zone changed but its SOA serial did not increase ({} -> {}); secondaries will not transfer it",
                    file.path.display(),
                    entry.written_serial,
                    unsigned.serial()
                );
                tracing::warn!(zone = %entry.origin, "{warning}");
                warnings.push(warning);
            }
            entry.written_serial = unsigned.serial();
            for warning in unsigned.warnings() {
                tracing::warn!(zone = %entry.origin, "{warning}");
            }
            tracing::info!(zone = %entry.origin, serial = serving.serial(), records = serving.record_count(), signed = serving.signed().is_some(), "zone reloaded");
            self.catalog.replace(serving.clone());
            self.update_status(&entry.origin, |s| {
                s.loaded_at = now();
                s.last_error = None;
                s.warnings = warnings;
            });
            replaced.push(serving);
        }
        replaced
    }

    /// Re-signs every signed zone past the middle of its signatures'
    /// validity at `now` (seconds since the epoch), with a higher serial.
    /// Returns the zones re-signed, as now served.
    pub async fn refresh_signatures(&self, now: u64) -> Vec<Arc<Zone>> {
        let mut entries = self.entries.lock().await;
        let catalog = self.catalog.load();
        let mut refreshed = Vec::new();
        for entry in entries.iter_mut() {
            let Some(state) = &mut entry.signing else {
                continue;
            };
            let due = catalog
                .get(&(&entry.origin).into())
                .and_then(|zone| zone.signed())
                .is_none_or(|signed| {
                    let middle = (u64::from(signed.inception) + u64::from(signed.expiration)) / 2;
                    now >= middle
                });
            if !due {
                continue;
            }
            let unsigned = state.unsigned.clone();
            let planner = state.planner();
            let signed = tokio::task::spawn_blocking(move || {
                planner.sign(&unsigned, now).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|join| Err(format!("the signing task failed: {join}")));
            let signed = match signed.and_then(|signed| {
                state
                    .commit(state.unsigned.clone(), &signed)
                    .map(|()| signed)
            }) {
                Ok(signed) => signed,
                Err(problem) => {
                    self.reject(
                        &entry.origin,
                        format!("re-signing failed: {problem}; the current signatures keep serving until they expire"),
                    );
                    continue;
                }
            };
            tracing::info!(zone = %entry.origin, serial = signed.serial(), expiration = signed.signed().map(|s| s.expiration), "zone re-signed");
            let signed = Arc::new(signed);
            self.catalog.replace(signed.clone());
            refreshed.push(signed);
        }
        refreshed
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

    #[tokio::test]
    async fn signatures_are_refreshed_at_half_their_validity_with_a_new_serial() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.org.zone");
        std::fs::write(
            &path,
            "$ORIGIN example.org.\n$TTL 300\n@ SOA ns hostmaster 5 3600 600 86400 60\n@ NS ns\nns A 192.0.2.1\n",
        )
        .unwrap();
        let path: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let config = [spec::Zone::file("example.org", path).signed(spec::Signing {
            signature_days: 4,
            ..spec::Signing::DEFAULT
        })];
        let zones = Zones::load(
            &config,
            &ZoneFileLimits::DEFAULT,
            &|node| {
                Err(crate::zone::typed::NodeAddressError::NoAddress {
                    host: node.to_string(),
                })
            },
            dir.path(),
        )
        .unwrap();
        let origin = (&Name::from_ascii("example.org.").unwrap()).into();
        let served = || zones.catalog().load().get(&origin).unwrap().clone();
        let first = served();
        let signed = first.signed().unwrap().clone();
        assert_eq!(first.serial(), 5);
        assert_eq!(
            signed.expiration - signed.inception,
            4 * 86_400 + INCEPTION_SKEW
        );

        // Before the middle of the validity: nothing to do.
        let middle = (u64::from(signed.inception) + u64::from(signed.expiration)) / 2;
        assert_eq!(zones.refresh_signatures(middle - 60).await.len(), 0);
        assert_eq!(served().serial(), 5);
        // At it: re-signed, valid for four days from then, serial 6.
        assert_eq!(zones.refresh_signatures(middle).await.len(), 1);
        let again = served();
        assert_eq!(again.serial(), 6);
        assert_eq!(
            again.signed().unwrap().expiration,
            middle as u32 + 4 * 86_400
        );
        // The served serial is on disk for the next start.
        let kept = std::fs::read_to_string(dir.path().join("dnssec/example.org.serial")).unwrap();
        assert_eq!(kept, "6\n");
    }

    #[test]
    fn a_signed_serial_never_goes_back() {
        assert_eq!(signed_serial(None, 7), 7);
        assert_eq!(signed_serial(Some(7), 9), 9);
        assert_eq!(signed_serial(Some(9), 9), 10, "re-signed: one more");
        assert_eq!(signed_serial(Some(12), 9), 13, "ahead of the file");
        assert_eq!(signed_serial(Some(u32::MAX), 5), 5, "wrapped forward");
    }
}

//! DNSSEC zone keys: read from a PKCS#8 PEM file, or created in the state
//! directory on first start (written aside, fsynced, renamed, so a crash
//! never leaves half a key where the next start would read it).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, SigningKey as Signer};
use hickory_proto::rr::Name;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject as _;

use crate::spec::{SigningAlgorithm, SigningKey};

/// Why a zone key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The configured key file is missing.
    #[error(
        "{path}: the zone's DNSSEC key file does not exist; flashdns does not create a key where the deployment names one (a new key would break the chain of trust from the parent's DS)"
    )]
    Missing {
        /// The configured path.
        path: PathBuf,
    },
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// The file holds no usable key of the configured algorithm.
    #[error("{path}: not a PKCS#8 PEM {algorithm} private key: {problem}")]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// The configured algorithm.
        algorithm: &'static str,
        /// What the parser said.
        problem: String,
    },
}

/// A zone's signing key: a combined signing key (flags 257, the SEP bit
/// set) that signs every RRset, the DNSKEY RRset included.
pub struct ZoneKey {
    signer: Box<dyn Signer>,
    dnskey: DNSKEY,
    key_tag: u16,
    path: PathBuf,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKey")
            .field("key_tag", &self.key_tag)
            .field("algorithm", &self.algorithm())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn hickory_algorithm(algorithm: SigningAlgorithm) -> Algorithm {
    match algorithm {
        SigningAlgorithm::EcdsaP256Sha256 => Algorithm::ECDSAP256SHA256,
        SigningAlgorithm::Ed25519 => Algorithm::ED25519,
    }
}

/// Where a zone's key lives for this configuration.
pub fn key_path(key: SigningKey, state_dir: &Path, origin: &Name) -> PathBuf {
    match key {
        SigningKey::StateDir => {
            let name = origin.to_ascii();
            let file = name.trim_end_matches('.');
            state_dir.join("dnssec").join(format!("{file}.pem"))
        }
        SigningKey::PemFile(path) => PathBuf::from(path),
    }
}

impl ZoneKey {
    /// Reads the key at `path`; with `create`, makes a new one there first
    /// when there is none. Returns whether it was created.
    pub fn open(
        path: &Path,
        algorithm: SigningAlgorithm,
        create: bool,
    ) -> Result<(ZoneKey, bool), KeyError> {
        let io = |error| KeyError::Io {
            path: path.to_owned(),
            error,
        };
        let alg = hickory_algorithm(algorithm);
        let invalid = |problem: String| KeyError::Invalid {
            path: path.to_owned(),
            algorithm: alg.as_str(),
            problem,
        };
        let mut created = false;
        let der = match std::fs::read(path) {
            Ok(pem) => {
                PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| invalid(format!("{e:?}")))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create {
                    return Err(KeyError::Missing {
                        path: path.to_owned(),
                    });
                }
                let der = match algorithm {
                    SigningAlgorithm::EcdsaP256Sha256 => EcdsaSigningKey::generate_pkcs8(alg)
                        .map_err(|e| invalid(format!("cannot generate a key: {e}")))?,
                    SigningAlgorithm::Ed25519 => ed25519_v1().map_err(|_| {
                        invalid(
                            "cannot generate a key: the system's random generator failed"
                                .to_owned(),
                        )
                    })?,
                };
                write_durably(path, pem_text(der.secret_pkcs8_der()).as_bytes(), 0o600)
                    .map_err(io)?;
                created = true;
                der
            }
            Err(e) => return Err(io(e)),
        };
        let signer: Box<dyn Signer> = match algorithm {
            SigningAlgorithm::EcdsaP256Sha256 => Box::new(
                EcdsaSigningKey::from_pkcs8(&der, alg).map_err(|e| invalid(e.to_string()))?,
            ),
            SigningAlgorithm::Ed25519 => Box::new(Ed25519SigningKey::from_ed25519(
                ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
                    .map_err(|e| invalid(e.to_string()))?,
            )),
        };
        let public = signer.to_public_key().map_err(|e| invalid(e.to_string()))?;
        let dnskey = DNSKEY::new(true, true, false, public);
        let key_tag = dnskey
            .calculate_key_tag()
            .map_err(|e| invalid(e.to_string()))?;
        Ok((
            ZoneKey {
                signer,
                dnskey,
                key_tag,
                path: path.to_owned(),
            },
            created,
        ))
    }

    /// The public half, as the apex DNSKEY record holds it.
    pub fn dnskey(&self) -> &DNSKEY {
        &self.dnskey
    }

    /// The key tag RRSIGs and the DS name it by.
    pub fn key_tag(&self) -> u16 {
        self.key_tag
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.signer.algorithm()
    }

    /// The file the private key is in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The signer.
    pub fn signer(&self) -> &dyn Signer {
        &*self.signer
    }

    /// The DS record (SHA-256 digest) the parent zone publishes for this
    /// key, as a zone-file line.
    pub fn ds_text(&self, origin: &Name) -> String {
        match self.dnskey.to_digest(origin, DigestType::SHA256) {
            Ok(digest) => {
                let ds = DS::new(
                    self.key_tag,
                    self.algorithm(),
                    DigestType::SHA256,
                    digest.as_ref().to_vec(),
                );
                format!("{} IN DS {ds}", origin.to_ascii())
            }
            Err(e) => format!("(no DS: {e})"),
        }
    }
}

/// A PKCS#8 v1 Ed25519 document (RFC 8410) up to the 32-byte seed: the
/// form openssl writes and Knot's `keymgr import-pem` reads (ring writes
/// v2, which Knot refuses).
const ED25519_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A new Ed25519 key as PKCS#8 v1: a random seed from the system's
/// generator behind the fixed prefix.
fn ed25519_v1() -> Result<PrivatePkcs8KeyDer<'static>, ring::error::Unspecified> {
    use ring::rand::SecureRandom as _;
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut seed)?;
    let mut der = ED25519_V1_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    Ok(PrivatePkcs8KeyDer::from(der))
}

/// PEM text of a PKCS#8 private key (RFC 7468).
fn pem_text(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// Writes a file durably with these permissions: aside, fsync, rename,
/// then the directory fsynced so the rename is durable too.
pub fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut aside = path.as_os_str().to_owned();
    aside.push(".new");
    let aside = PathBuf::from(aside);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&aside)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&aside, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_read_back_the_same_and_kept_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let origin = Name::from_ascii("example.net.").unwrap();
        let path = key_path(SigningKey::StateDir, dir.path(), &origin);
        assert!(path.ends_with("dnssec/example.net.pem"));
        for algorithm in [SigningAlgorithm::EcdsaP256Sha256, SigningAlgorithm::Ed25519] {
            let _ = std::fs::remove_file(&path);
            let (made, created) = ZoneKey::open(&path, algorithm, true).unwrap();
            assert!(created);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let (read, created) = ZoneKey::open(&path, algorithm, false).unwrap();
            assert!(!created);
            assert_eq!(made.dnskey(), read.dnskey());
            assert_eq!(made.dnskey().flags(), 257);
            assert!(read.ds_text(&origin).starts_with(&format!(
                "example.net. IN DS {} {} 2 ",
                read.key_tag(),
                u8::from(read.algorithm())
            )));
        }
    }

    #[test]
    fn a_missing_named_file_or_a_wrong_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.pem");
        let missing = ZoneKey::open(&path, SigningAlgorithm::EcdsaP256Sha256, false).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        assert!(!path.exists());
        ZoneKey::open(&path, SigningAlgorithm::Ed25519, true).unwrap();
        let wrong = ZoneKey::open(&path, SigningAlgorithm::EcdsaP256Sha256, false).unwrap_err();
        assert!(
            wrong
                .to_string()
                .contains("not a PKCS#8 PEM ECDSAP256SHA256"),
            "{wrong}"
        );
        std::fs::write(&path, "garbage").unwrap();
        let garbage = ZoneKey::open(&path, SigningAlgorithm::Ed25519, false).unwrap_err();
        assert!(garbage.to_string().contains("absent.pem"), "{garbage}");
    }
}

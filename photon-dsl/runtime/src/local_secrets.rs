//! `up --local-secrets`: a secret read from an environment variable that
//! is not set gets a random value made for this machine, kept in the
//! deployment's state directory (`local-secrets/<VARIABLE>`, mode 0600,
//! written whole by an atomic rename) so the next `up` finds the same one.
//! Each is announced as a warning naming the file: for trying a deployment
//! on one machine, never for real hosts (`run --node` never makes one).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use photon_dsl::{Secret, SecretSource};

/// The values made (or found) for this process, by variable name.
static MADE: OnceLock<BTreeMap<&'static str, String>> = OnceLock::new();

/// The value made for the variable `name`, if `--local-secrets` made one.
pub(crate) fn value_of(name: &str) -> Option<&'static str> {
    MADE.get()?.get(name).map(String::as_str)
}

/// Why a local secret could not be made or read back.
#[derive(Debug, thiserror::Error)]
#[error("local secret {}: {source}", path.display())]
pub struct LocalSecretError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Makes (or reads back from `dir`) a value for every secret in `secrets`
/// read from an unset environment variable, and has [`crate::read_secret`]
/// answer with it; the variables and files, in name order.
pub fn provide(
    secrets: impl IntoIterator<Item = Secret>,
    dir: &Path,
) -> Result<Vec<(&'static str, PathBuf)>, LocalSecretError> {
    let mut made = BTreeMap::new();
    for secret in secrets {
        let SecretSource::Env(name) = secret.source() else {
            continue;
        };
        if std::env::var_os(name).is_some() || made.contains_key(name) {
            continue;
        }
        let path = dir.join(name);
        let value = kept_or_new(&path).map_err(|source| LocalSecretError {
            path: path.clone(),
            source,
        })?;
        made.insert(name, (value, path));
    }
    let listed = made.iter().map(|(n, (_, p))| (*n, p.clone())).collect();
    let values = made.into_iter().map(|(n, (v, _))| (n, v)).collect();
    // One `up` per process: a second call keeps the first values.
    let _ = MADE.set(values);
    Ok(listed)
}

/// The value in `path`, or a new one written there.
fn kept_or_new(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = path.parent().expect("a secret's file is in a directory");
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let temporary = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_made_once_kept_private_and_read_back_the_same() {
        let dir = std::env::temp_dir().join(format!("photon-local-secrets-{}", std::process::id()));
        let path = dir.join("SOME_TOKEN");
        let first = kept_or_new(&path).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(
            kept_or_new(&path).unwrap(),
            first,
            "read back, not made again"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let other = kept_or_new(&dir.join("OTHER_TOKEN")).unwrap();
        assert_ne!(other, first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Reading [`Secret`] references on the node, at start-up.
//!
//! The value comes back as a [`SecretString`]: its `Debug` prints
//! `[REDACTED]`, it has no `Display`, and it is wiped from memory on drop, so
//! a value that reaches a log line has to be exposed on purpose
//! ([`ExposeSecret::expose_secret`]).

use std::io::Read as _;

use photon_dsl::{Secret, SecretSource};
pub use secrecy::{ExposeSecret, SecretString};

/// Whether a token a caller sent is the expected one, compared in
/// constant time (the comparison's duration tells nothing of how much of
/// it matched).
pub fn same_secret(sent: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

/// Largest secret file read (a TLS key with its chain fits many times over).
pub const MAX_SECRET_FILE: u64 = 1024 * 1024;

/// Why a secret could not be read. Messages name the reference, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The variable is not set in this process's environment.
    #[error("secret `{secret}`: the environment variable is not set on this node")]
    EnvUnset {
        /// The reference.
        secret: Secret,
    },
    /// The variable holds bytes that are not UTF-8.
    #[error("secret `{secret}`: the environment variable is not valid UTF-8")]
    EnvNotUnicode {
        /// The reference.
        secret: Secret,
    },
    /// The file could not be opened or read.
    #[error("secret `{secret}`: cannot read the file")]
    File {
        /// The reference.
        secret: Secret,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_SECRET_FILE`].
    #[error("secret `{secret}`: the file is larger than {MAX_SECRET_FILE} bytes")]
    TooLarge {
        /// The reference.
        secret: Secret,
    },
    /// The file is not UTF-8 text.
    #[error("secret `{secret}`: the file is not valid UTF-8")]
    FileNotUtf8 {
        /// The reference.
        secret: Secret,
    },
    /// The value is empty (after dropping one trailing newline).
    #[error("secret `{secret}` is empty")]
    Empty {
        /// The reference.
        secret: Secret,
    },
}

/// The name under which a service manager hands the secret over as a
/// credential (systemd's `LoadCredential=<name>:<path>`, which puts it in
/// `$CREDENTIALS_DIRECTORY/<name>`): an environment secret's variable, a
/// file secret's file name. `None` for a value written in the deployment.
pub fn credential_name(secret: &Secret) -> Option<&'static str> {
    match secret.source() {
        SecretSource::Written(_) => None,
        SecretSource::Env(name) => Some(name),
        SecretSource::File(path) => Some(path.rsplit('/').next().unwrap_or(path)),
    }
}

/// The credential systemd handed this process for `secret`, if any.
fn credential(secret: &Secret) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let path = std::path::Path::new(&dir).join(credential_name(secret)?);
    path.is_file().then_some(path)
}

/// Reads the value `secret` refers to.
///
/// A file may end with one newline (`echo token > file`), which is not part
/// of the value. A file other users can read is allowed but logged as a
/// warning. Under systemd, a credential of the secret's
/// [`credential_name`] (what `export --format systemd` loads) is read
/// instead of the file, or when the variable is not set.
pub fn read_secret(secret: &Secret) -> Result<SecretString, SecretError> {
    let value = match secret.source() {
        SecretSource::Written(written) => written.value.to_owned(),
        SecretSource::Env(name) => match std::env::var(name) {
            Ok(value) => value,
            Err(std::env::VarError::NotPresent) => {
                if let Some(path) = credential(secret) {
                    read_file(secret, &path)?
                } else {
                    match crate::local_secrets::value_of(name) {
                        Some(made) => made.to_owned(),
                        None => return Err(SecretError::EnvUnset { secret: *secret }),
                    }
                }
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(SecretError::EnvNotUnicode { secret: *secret });
            }
        },
        SecretSource::File(path) => match credential(secret) {
            Some(handed) => read_file(secret, &handed)?,
            None => read_file(secret, std::path::Path::new(path))?,
        },
    };
    if value.is_empty() {
        return Err(SecretError::Empty { secret: *secret });
    }
    Ok(SecretString::from(value))
}

/// A secret file's text, without one trailing newline.
fn read_file(secret: &Secret, path: &std::path::Path) -> Result<String, SecretError> {
    let file_error = |source| SecretError::File {
        secret: *secret,
        source,
    };
    let file = std::fs::File::open(path).map_err(file_error)?;
    warn_if_world_readable(secret, &file);
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(file_error)?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(SecretError::TooLarge { secret: *secret });
    }
    let mut text =
        String::from_utf8(bytes).map_err(|_| SecretError::FileNotUtf8 { secret: *secret })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

fn warn_if_world_readable(secret: &Secret, file: &std::fs::File) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = file.metadata() {
        let mode = meta.permissions().mode();
        if mode & 0o004 != 0 {
            tracing::warn!(
                %secret,
                mode = format_args!("{:o}", mode & 0o777),
                "secret file is readable by every user of this machine; `chmod o-r` it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// A scratch directory removed when the test ends.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("photon-secret-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str, contents: &[u8]) -> std::path::PathBuf {
            let path = self.0.join(name);
            std::fs::File::create(&path)
                .unwrap()
                .write_all(contents)
                .unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn file_secret(path: &std::path::Path) -> Secret {
        let leaked: &'static str = String::leak(path.to_str().unwrap().to_owned());
        Secret::file(leaked)
    }

    #[test]
    fn a_file_value_loses_one_trailing_newline_only() {
        let scratch = Scratch::new("newline");
        let path = scratch.file("token", b"s3cr3t value\n");
        let value = read_secret(&file_secret(&path)).unwrap();
        assert_eq!(value.expose_secret(), "s3cr3t value");
        let path = scratch.file("crlf", b"abc\r\n");
        assert_eq!(
            read_secret(&file_secret(&path)).unwrap().expose_secret(),
            "abc"
        );
        let path = scratch.file("two", b"abc\n\n");
        assert_eq!(
            read_secret(&file_secret(&path)).unwrap().expose_secret(),
            "abc\n"
        );
    }

    #[test]
    fn missing_empty_oversized_and_binary_files_are_errors_naming_the_file() {
        let scratch = Scratch::new("errors");
        let missing = Secret::file("/nonexistent/photon/secret");
        let e = read_secret(&missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            "secret `file /nonexistent/photon/secret`: cannot read the file"
        );
        let empty = scratch.file("empty", b"\n");
        assert!(matches!(
            read_secret(&file_secret(&empty)),
            Err(SecretError::Empty { .. })
        ));
        let big = scratch.file("big", &vec![b'x'; MAX_SECRET_FILE as usize + 1]);
        assert!(matches!(
            read_secret(&file_secret(&big)),
            Err(SecretError::TooLarge { .. })
        ));
        let binary = scratch.file("binary", &[0xff, 0xfe, 0x00]);
        assert!(matches!(
            read_secret(&file_secret(&binary)),
            Err(SecretError::FileNotUtf8 { .. })
        ));
    }

    #[test]
    fn an_unset_variable_is_an_error_and_the_value_never_prints() {
        let unset = Secret::env("PHOTON_TEST_SURELY_UNSET_SECRET");
        assert_eq!(
            read_secret(&unset).unwrap_err().to_string(),
            "secret `env PHOTON_TEST_SURELY_UNSET_SECRET`: the environment variable is not set on this node"
        );
        let scratch = Scratch::new("debug");
        let path = scratch.file("debug", b"do-not-print-me");
        let value = read_secret(&file_secret(&path)).unwrap();
        assert!(!format!("{value:?}").contains("do-not-print-me"));
    }
}

//! [`Secret`]: a reference to a secret (an environment variable or a file on
//! the node), never its value.
//!
//! Access keys, TLS keys and tokens must not be compiled into the deployment
//! binary, which is copied to every node and kept in build caches. A spec
//! field that holds a secret has type `Secret`, and the only constructors take
//! *where* the value lives; the runtime reads it on the node at start-up,
//! before anything listens. Writing the value itself (`token: "hunter2"`) is a
//! type error, and pasting a value into `Secret::env(..)` fails the build
//! because a value does not look like a variable name.
//!
//! A `Secret` prints as its reference (`env ECHO_TOKEN`), so `plan`, `Debug`
//! and logs show where the value comes from and nothing else.

use core::fmt;

use crate::text::ConstText;

/// Where a secret's value is read from, on the node, at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// An environment variable of the node's process.
    Env(&'static str),
    /// A file on the node (one trailing newline is ignored).
    File(&'static str),
    /// Written in a standalone server's TOML file (`secret_key = "..."`),
    /// which is already on the node: only [`Secret::written_in`] makes one,
    /// and it prints as where it was written, never the value.
    Written(WrittenSecret),
}

/// A secret value a text configuration holds, and where.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WrittenSecret {
    /// Where it is written (`standalone.auth.secret_key in /etc/x.toml:12`).
    pub origin: &'static str,
    /// The value.
    pub value: &'static str,
}

impl fmt::Debug for WrittenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrittenSecret({}, value hidden)", self.origin)
    }
}

/// Where a secret's value lives on the node, never the value: the runtime
/// reads it at start-up, and it prints as its reference (`env ECHO_TOKEN`).
/// Build one with [`Secret::env`] or [`Secret::file`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Secret {
    source: SecretSource,
}

/// Longest environment variable name `Secret::env` accepts.
const MAX_ENV_NAME: usize = 128;
/// Longest path `Secret::file` accepts (Linux `PATH_MAX`).
const MAX_PATH: usize = 4096;

impl Secret {
    /// The value of environment variable `name` on the node.
    ///
    /// `name` must look like a variable name (`A-Z`, `0-9`, `_`, not starting
    /// with a digit), which also catches a value pasted in by mistake. The
    /// error never repeats the text, in case it *is* the secret.
    #[track_caller]
    pub const fn env(name: &'static str) -> Secret {
        if let Some(problem) = env_name_problem(name) {
            ConstText::new()
                .push("`Secret::env` takes the name of an environment variable, such as `S3_SECRET_KEY`, not the secret itself: ")
                .push(problem)
                .push(" (the text is not repeated here in case it is a secret)")
                .panic()
        }
        Secret {
            source: SecretSource::Env(name),
        }
    }

    /// The contents of the file at absolute `path` on the node.
    #[track_caller]
    pub const fn file(path: &'static str) -> Secret {
        if let Some(problem) = path_problem(path) {
            ConstText::new()
                .push("`Secret::file` takes the absolute path of a file on the node, such as `/etc/photon/s3.key`, not the secret itself: ")
                .push(problem)
                .push(" (the text is not repeated here in case it is a secret)")
                .panic()
        }
        Secret {
            source: SecretSource::File(path),
        }
    }

    /// [`Secret::env`] for a name read at run time (a text configuration):
    /// the same check, as an error instead of a failed build.
    pub const fn try_env(name: &'static str) -> Result<Secret, &'static str> {
        match env_name_problem(name) {
            Some(problem) => Err(problem),
            None => Ok(Secret {
                source: SecretSource::Env(name),
            }),
        }
    }

    /// [`Secret::file`] for a path read at run time, as [`Secret::try_env`].
    pub const fn try_file(path: &'static str) -> Result<Secret, &'static str> {
        match path_problem(path) {
            Some(problem) => Err(problem),
            None => Ok(Secret {
                source: SecretSource::File(path),
            }),
        }
    }

    /// A value a standalone server's TOML file holds (the design's
    /// `secret_key = "..."`), `origin` saying where. Not for deployments:
    /// their secrets stay out of the binary ([`Secret::env`],
    /// [`Secret::file`]).
    pub fn written_in(origin: &'static str, value: &'static str) -> Secret {
        Secret {
            source: SecretSource::Written(WrittenSecret { origin, value }),
        }
    }

    /// Where the value is read from.
    pub const fn source(&self) -> SecretSource {
        self.source
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            SecretSource::Env(name) => write!(f, "env {name}"),
            SecretSource::File(path) => write!(f, "file {path}"),
            SecretSource::Written(written) => write!(f, "written in {}", written.origin),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({self})")
    }
}

const fn env_name_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Some("the name is empty");
    }
    if bytes.len() > MAX_ENV_NAME {
        return Some("the name is longer than 128 characters");
    }
    if bytes[0].is_ascii_digit() {
        return Some("a variable name cannot start with a digit");
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            return Some("it contains a character other than `A-Z`, `0-9` and `_`");
        }
        i += 1;
    }
    None
}

const fn path_problem(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    if bytes.is_empty() || bytes[0] != b'/' {
        return Some("the path does not start with `/`");
    }
    if bytes.len() > MAX_PATH {
        return Some("the path is longer than 4096 bytes");
    }
    if bytes[bytes.len() - 1] == b'/' {
        return Some("the path ends with `/`, so it names a directory");
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0 || b.is_ascii_control() {
            return Some("the path contains a control character");
        }
        // A `..` component: `/..` followed by `/` or the end.
        if b == b'/'
            && i + 2 < bytes.len()
            && bytes[i + 1] == b'.'
            && bytes[i + 2] == b'.'
            && (i + 3 == bytes.len() || bytes[i + 3] == b'/')
        {
            return Some("the path contains a `..` component");
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_accepted_and_pasted_values_are_not() {
        assert_eq!(env_name_problem("S3_SECRET_KEY"), None);
        assert_eq!(env_name_problem("_X9"), None);
        assert!(env_name_problem("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").is_some());
        assert!(env_name_problem("9LIVES").is_some());
        assert!(env_name_problem("").is_some());
        assert!(env_name_problem(&"A".repeat(129)).is_some());
    }

    #[test]
    fn file_paths_must_be_absolute_files_without_dot_dot() {
        assert_eq!(path_problem("/etc/photon/s3.key"), None);
        assert_eq!(path_problem("/run/secrets/..data/token"), None);
        assert!(path_problem("etc/photon/s3.key").is_some());
        assert!(path_problem("/etc/photon/").is_some());
        assert!(path_problem("/etc/../shadow").is_some());
        assert!(path_problem("/etc/..").is_some());
        assert!(path_problem("/etc/a\nb").is_some());
    }

    #[test]
    fn a_written_secret_prints_where_it_is_written_never_its_value() {
        let secret = Secret::written_in("`auth.secret_key` (c.toml:9)", "hunter2");
        assert_eq!(
            secret.to_string(),
            "written in `auth.secret_key` (c.toml:9)"
        );
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{:?}", secret.source()).contains("hunter2"));
        assert_eq!(Secret::try_env("S3_KEY"), Ok(Secret::env("S3_KEY")));
        assert!(Secret::try_env("wJalr/K7").is_err());
        assert!(Secret::try_file("etc/key").is_err());
    }

    #[test]
    fn a_secret_prints_as_its_reference() {
        const TOKEN: Secret = Secret::env("ECHO_TOKEN");
        assert_eq!(TOKEN.to_string(), "env ECHO_TOKEN");
        assert_eq!(format!("{TOKEN:?}"), "Secret(env ECHO_TOKEN)");
        let key = Secret::file("/etc/photon/s3.key");
        assert_eq!(format!("{key:?}"), "Secret(file /etc/photon/s3.key)");
    }
}

//! Layered configuration: a TOML file, then `PHOTON_*` environment
//! variables, then flags, each later layer replacing the values it names.
//! Every value remembers where it came from, so an error can say
//! `flashdns.toml:12` or `environment variable PHOTON_MODE`.
//!
//! (figment layers as well, but its values forget their line, and its
//! errors could only say "in flashdns.toml"; this is the small part of it we
//! need, on the toml crate's spans.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use crate::error::{ConfigError, Origin, explain_unknown};

/// The environment variables with a name of their own (docs/design.md §5.2),
/// and the key each sets. `PHOTON__SECTION__KEY` sets any other key.
pub const NAMED_ENV: &[(&str, &str)] = &[
    ("PHOTON_MODE", "photon.mode"),
    ("PHOTON_COMPONENT_ID", "photon.component_id"),
    ("PHOTON_CLUSTER_ID", "photon.cluster_id"),
    ("PHOTON_LOG_LEVEL", "photon.logging.level"),
    (
        "PHOTON_CONTROL_PLANE_ENDPOINT",
        "photon.integrated.control_plane_endpoint",
    ),
    (
        "PHOTON_CHAINFIRE_ENDPOINTS",
        "photon.integrated.chainfire_endpoints",
    ),
    (
        "PHOTON_AUTH_ENDPOINT",
        "photon.integrated.auth_service_endpoint",
    ),
];

/// `PHOTON_*` variables that belong to the deployment binaries, not to a
/// component's configuration: not an error when set.
const OTHER_ENV: &[&str] = &["PHOTON_STATE_DIR"];

/// The configuration as the layers so far make it.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    root: Table,
    origins: BTreeMap<String, Origin>,
    /// Environment values read as TOML (`53`, `true`): if the schema wants
    /// a string there after all, the text as written is used instead.
    env_text: BTreeMap<String, String>,
}

/// `a.b` under `parent`.
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Records the line of every key and array element under `table`.
fn spans(
    table: &DeTable<'_>,
    parent: &str,
    text: &str,
    path: &Path,
    out: &mut BTreeMap<String, Origin>,
) {
    for (key, value) in table {
        let at = join(parent, key.get_ref());
        let line = line_of(text, key.span().start);
        out.insert(
            at.clone(),
            Origin::File {
                path: path.to_owned(),
                line,
            },
        );
        value_spans(value.get_ref(), &at, text, path, out);
    }
}

fn value_spans(
    value: &DeValue<'_>,
    at: &str,
    text: &str,
    path: &Path,
    out: &mut BTreeMap<String, Origin>,
) {
    match value {
        DeValue::Table(table) => spans(table, at, text, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("{at}[{i}]");
                out.insert(
                    at.clone(),
                    Origin::File {
                        path: path.to_owned(),
                        line: line_of(text, item.span().start),
                    },
                );
                value_spans(item.get_ref(), &at, text, path, out);
            }
        }
        _ => {}
    }
}

/// Puts `value` at the dotted `path` of `table`, replacing what was there
/// (tables are merged key by key, anything else replaced whole).
fn put(table: &mut Table, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = table;
    for key in parents {
        let entry = here
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        here = entry.as_table_mut().expect("made a table just above");
    }
    match (here.get_mut(*last), value) {
        (Some(Value::Table(old)), Value::Table(new)) => merge(old, new),
        (_, value) => {
            here.insert((*last).to_owned(), value);
        }
    }
}

fn merge(into: &mut Table, from: Table) {
    for (key, value) in from {
        put(into, &[key.as_str()], value);
    }
}

/// Every dotted path in `value` (itself included), for origins.
fn paths(value: &Value, at: &str, out: &mut Vec<String>) {
    out.push(at.to_owned());
    match value {
        Value::Table(table) => {
            for (key, value) in table {
                paths(value, &join(at, key), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                paths(item, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// A value given as text (an environment variable, `--set`): as TOML when
/// it is one (`53`, `true`, `["a", "b"]`), else as the string written.
pub fn value_from_text(text: &str) -> Value {
    match format!("v = {text}").parse::<Table>() {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or_else(|| Value::String(text.to_owned())),
        Err(_) => Value::String(text.to_owned()),
    }
}

impl Layers {
    /// No values yet: what the schema's defaults give.
    pub fn new() -> Layers {
        Layers::default()
    }

    /// Sets `path` (dotted) to `value`, from `origin`.
    pub fn set(&mut self, path: &str, value: Value, origin: Origin) {
        let mut all = Vec::new();
        paths(&value, path, &mut all);
        self.forget(path);
        for at in all {
            self.origins.insert(at, origin.clone());
        }
        let keys: Vec<&str> = path.split('.').collect();
        put(&mut self.root, &keys, value);
    }

    /// Drops what is known of `path` and below (it is being replaced).
    fn forget(&mut self, path: &str) {
        let below = format!("{path}.");
        let element = format!("{path}[");
        self.origins
            .retain(|k, _| k != path && !k.starts_with(&below) && !k.starts_with(&element));
        self.env_text
            .retain(|k, _| k != path && !k.starts_with(&below) && !k.starts_with(&element));
    }

    /// Adds a TOML file's values. A file that cannot be read or parsed is
    /// an error naming the file (and the line).
    pub fn file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            key: String::new(),
            origin: Origin::File {
                path: path.to_owned(),
                line: 0,
            },
            problem: format!("cannot read the configuration file: {e}"),
        })?;
        self.text(path, &text)
    }

    /// Adds the values of TOML `text`, read from `path` (for messages).
    pub fn text(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let parsed: Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            key: String::new(),
            origin: Origin::File {
                path: path.to_owned(),
                line: e.span().map_or(1, |s| line_of(text, s.start)),
            },
            problem: format!("not valid TOML: {}", e.message().trim()),
        })?;
        let mut origins = BTreeMap::new();
        if let Ok(spanned) = DeTable::parse(text) {
            spans(spanned.get_ref(), "", text, path, &mut origins);
        }
        for (key, value) in parsed {
            self.forget(&key);
            let keys = [key.as_str()];
            put(&mut self.root, &keys, value);
        }
        self.origins.extend(origins);
        Ok(())
    }

    /// Adds the `PHOTON_*` environment variables among `vars`: the named
    /// ones ([`NAMED_ENV`]; `PHOTON_CHAINFIRE_ENDPOINTS` is comma-separated)
    /// and `PHOTON__SECTION__KEY` for any key. Another `PHOTON_` variable
    /// is an error (a typo would otherwise be ignored).
    pub fn env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with("PHOTON_"))
            .collect();
        vars.sort();
        for (name, text) in vars {
            let origin = Origin::Env(name.clone());
            if let Some(rest) = name.strip_prefix("PHOTON__") {
                let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
                if keys.iter().any(String::is_empty) {
                    return Err(ConfigError {
                        key: String::new(),
                        origin,
                        problem: "an empty key: write PHOTON__SECTION__KEY, with `__` between keys"
                            .to_owned(),
                    });
                }
                let path = keys.join(".");
                let value = value_from_text(&text);
                let typed = !value.is_str();
                self.set(&path, value, origin);
                if typed {
                    self.env_text.insert(path, text);
                }
            } else if let Some((_, path)) = NAMED_ENV.iter().find(|(n, _)| *n == name) {
                let value = if name == "PHOTON_CHAINFIRE_ENDPOINTS" {
                    Value::Array(
                        text.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(|s| Value::String(s.to_owned()))
                            .collect(),
                    )
                } else {
                    Value::String(text)
                };
                self.set(path, value, origin);
            } else if !OTHER_ENV.contains(&name.as_str()) {
                let known = NAMED_ENV.iter().map(|(n, _)| *n);
                let near = crate::error::closest(&name, known.chain(OTHER_ENV.iter().copied()));
                return Err(ConfigError {
                    key: String::new(),
                    origin,
                    problem: match near {
                        Some(near) => format!("not a PhotonCloud variable; did you mean {near}? (PHOTON__SECTION__KEY sets any key)"),
                        None => "not a PhotonCloud variable (the named ones are PHOTON_MODE, PHOTON_COMPONENT_ID, PHOTON_CLUSTER_ID, PHOTON_LOG_LEVEL, PHOTON_CONTROL_PLANE_ENDPOINT, PHOTON_CHAINFIRE_ENDPOINTS, PHOTON_AUTH_ENDPOINT; PHOTON__SECTION__KEY sets any key)".to_owned(),
                    },
                });
            }
        }
        Ok(())
    }

    /// Where the value at `path` came from: itself, else a key below it,
    /// else the nearest enclosing key that was given, else the defaults.
    pub fn origin(&self, path: &str) -> Origin {
        if let Some(origin) = self.origins.get(path) {
            return origin.clone();
        }
        // A table made by a deeper key (`PHOTON__A__B__C` makes `a.b`).
        let (below, element) = (format!("{path}."), format!("{path}["));
        if let Some((_, origin)) = self
            .origins
            .iter()
            .find(|(k, _)| k.starts_with(&below) || k.starts_with(&element))
        {
            return origin.clone();
        }
        let mut at = path.to_owned();
        loop {
            if let Some(origin) = self.origins.get(&at) {
                return origin.clone();
            }
            match at.rfind(['.', '[']) {
                Some(cut) => at.truncate(cut),
                None => return Origin::Default,
            }
        }
    }

    /// The merged values.
    pub fn table(&self) -> &Table {
        &self.root
    }

    /// The typed configuration, or the first error: its key, where the
    /// value came from, what is wrong.
    pub fn extract<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let mut root = self.root.clone();
        let mut env_text = self.env_text.clone();
        loop {
            match serde_path_to_error::deserialize::<_, T>(Value::Table(root.clone())) {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let path = error.path().to_string();
                    let path = if path == "." { String::new() } else { path };
                    // An environment value read as a number or boolean
                    // where the schema wants text: use the text.
                    if let Some(text) = env_text.remove(&path) {
                        let keys: Vec<&str> = path.split('.').collect();
                        put(&mut root, &keys, Value::String(text));
                        continue;
                    }
                    return Err(self.explain(&path, &error.into_inner().to_string()));
                }
            }
        }
    }

    fn explain(&self, path: &str, message: &str) -> ConfigError {
        // toml's deserializer adds "\nin `path`"; the key is said already.
        let message = message.split('\n').next().unwrap_or(message).trim();
        if let Some((word, problem)) = explain_unknown(message) {
            // The path ends with the unknown key (an unknown value is the
            // key's own).
            let key = if message.starts_with("unknown field")
                && !(path == word || path.ends_with(&format!(".{word}")))
            {
                join(path, &word)
            } else {
                path.to_owned()
            };
            return ConfigError {
                origin: self.origin(&key),
                key,
                problem,
            };
        }
        if let Some(rest) = message.strip_prefix("missing field `")
            && let Some((field, _)) = rest.split_once('`')
        {
            let key = join(path, field);
            return ConfigError {
                origin: self.origin(path),
                problem: "required, and not given (in the file, the environment or a flag)"
                    .to_owned(),
                key,
            };
        }
        ConfigError {
            key: path.to_owned(),
            origin: self.origin(path),
            problem: message.to_owned(),
        }
    }

    /// The configuration so far as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.root).unwrap_or_default()
    }

    /// The configuration so far as TOML, each of `secret_keys` (dotted
    /// paths) that is set shown by where it was written, never by value:
    /// what `--print-config` prints.
    pub fn to_toml_hiding(&self, secret_keys: &[&str]) -> String {
        let mut root = self.root.clone();
        for key in secret_keys {
            let path: Vec<&str> = key.split('.').collect();
            let (last, parents) = path.split_last().expect("split yields one part at least");
            let mut here = Some(&mut root);
            for part in parents {
                here = here
                    .and_then(|table| table.get_mut(*part))
                    .and_then(Value::as_table_mut);
            }
            if let Some(value) = here.and_then(|table| table.get_mut(*last)) {
                *value = Value::String(format!("(secret, written in {})", self.origin(key)));
            }
        }
        toml::to_string_pretty(&root).unwrap_or_default()
    }
}

/// Where a file's configuration comes from, for [`load`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML file, if one is given.
    pub file: Option<PathBuf>,
    /// The environment (the process's, or a test's).
    pub env: Vec<(String, String)>,
    /// Flags: key path, value, the flag's name.
    pub flags: Vec<(String, Value, String)>,
}

/// File, then environment, then flags; then the typed configuration.
pub fn load<T: DeserializeOwned>(sources: &Sources) -> Result<(T, Layers), ConfigError> {
    let mut layers = Layers::new();
    if let Some(file) = &sources.file {
        layers.file(file)?;
    }
    layers.env(sources.env.iter().cloned())?;
    for (path, value, flag) in &sources.flags {
        layers.set(path, value.clone(), Origin::Flag(flag.clone()));
    }
    let typed = layers.extract()?;
    Ok((typed, layers))
}

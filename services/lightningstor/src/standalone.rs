//! lightningstor from the design's TOML (docs/design.md §2.1): `lightningstor-server
//! --config standalone.toml`. The text becomes the same [`LightningStor`]
//! spec a deployment writes, checked by the same `declare()`.
//!
//! Beyond the design: the secret may also come from an environment
//! variable (`secret_key_env`), and `[standalone.server] base_domain` turns
//! on virtual-hosted-style addressing, so every deployment's lightningstor
//! has a text form.

use crate::spec::{AdminListener, S3Listener};
use std::net::IpAddr;
use std::path::PathBuf;

use photon_config::schema::LogLevel;
use photon_config::schema::{DataDir, StorageSection};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::{HostName, Secret, SecretSource};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Reach, SecretKeys, StandaloneServer, config_error, integration, leak,
    listen_port, secret_of, standalone_document, write_integration,
};
use serde::{Deserialize, Serialize};

use crate::spec::{AccessKey, LightningStor, Storage};

/// lightningstor's standalone TOML schema as a type: what photon-config
/// reads and writes for it (never a value).
#[derive(Debug)]
pub enum LightningStorSchema {}

/// Object bodies (metadata is `[standalone.metadata] path`).
impl DataDir for LightningStorSchema {
    const DEFAULT_DATA_DIR: &'static str = "/var/lib/lightningstor/data";
}

impl Component for LightningStorSchema {
    const NAME: &'static str = "lightningstor";
    const SECRET_KEYS: &'static [&'static str] = &["standalone.auth.secret_key"];
    type PhotonStandalone = PhotonStandalone;
    type Standalone = Standalone;
}

/// `[photon.standalone]`: the backends, each with the one standalone
/// choice (the others are integrated mode's).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotonStandalone {
    /// Where object bodies are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_backend: Option<StorageBackend>,
    /// Where metadata is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_backend: Option<MetadataBackend>,
    /// Who checks credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_backend: Option<AuthBackend>,
    /// docs/design.md §3.2's generic `config_source = "file"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_source: Option<photon_config::schema::ConfigSource>,
}

/// Where object bodies are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under `data_dir` (docs/design.md §3.2's generic `"local"` too).
    #[serde(alias = "local")]
    Filesystem,
}

/// Where metadata is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataBackend {
    /// RocksDB at `[standalone.metadata] path`.
    Rocksdb,
    /// chainfire (integrated mode).
    Chainfire,
}

/// Who checks credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthBackend {
    /// The access key in `[standalone.auth]`.
    Local,
    /// photonauth (integrated mode).
    Photonauth,
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.storage]`.
    #[serde(default)]
    pub storage: StorageSection<LightningStorSchema>,
    /// `[standalone.metadata]`.
    #[serde(default)]
    pub metadata: Metadata,
    /// `[standalone.auth]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// `[standalone.features]`.
    #[serde(default)]
    pub features: Features,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// The admin gRPC API.
    pub grpc_addr: ListenAddr,
    /// The S3 API, `/health` and `/metrics`.
    pub s3_addr: ListenAddr,
    /// The log level (`[photon.logging] level` when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    /// Virtual-hosted-style addressing: `photos.<base_domain>` is bucket
    /// `photos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_domain: Option<String>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            grpc_addr: ListenAddr::any(9000),
            s3_addr: ListenAddr::any(9001),
            log_level: None,
            base_domain: None,
        }
    }
}

/// `[standalone.metadata]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metadata {
    /// The RocksDB directory.
    pub path: PathBuf,
    /// Its block cache, in MiB (RocksDB's 8 MiB when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_size_mb: Option<u32>,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            path: PathBuf::from("/var/lib/lightningstor/meta"),
            cache_size_mb: None,
        }
    }
}

/// `[standalone.auth]`: the operator's access key; the secret from exactly
/// one of `secret_key`, `credentials_file` or `secret_key_env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `access_key`, the only kind.
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// The access key id.
    pub access_key: String,
    /// The secret, written here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// A file holding the secret (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
    /// An environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_env: Option<String>,
}

/// The kind of credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// An S3 access key id and secret.
    AccessKey,
}

/// `[standalone.features]`: none of these is available yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Object versioning.
    #[serde(default)]
    pub versioning: bool,
    /// Lifecycle rules.
    #[serde(default)]
    pub lifecycle: bool,
    /// Replication.
    #[serde(default)]
    pub replication: bool,
}

/// `standalone.server.base_domain`, a host name.
fn base_domain(layers: &Layers, text: Option<&str>) -> Result<Option<HostName>, ConfigError> {
    text.map(|text| {
        HostName::parse(text).map_err(|invalid| {
            config_error(layers, "standalone.server.base_domain", invalid.to_string())
        })
    })
    .transpose()
}

/// The secret `auth` names.
fn secret(auth: &Auth, layers: &Layers) -> Result<Secret, ConfigError> {
    secret_of(
        layers,
        SecretKeys {
            section: "standalone.auth",
            value: "secret_key",
            file: "credentials_file",
            env: "secret_key_env",
            what: "the secret key",
        },
        auth.secret_key.as_deref(),
        auth.credentials_file.as_deref(),
        auth.secret_key_env.as_deref(),
    )
}

impl StandaloneServer for LightningStorSchema {
    type Spec = LightningStor<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<LightningStor<Local>>, ConfigError> {
        let backends = &doc.photon.standalone;
        let integrated = doc.photon.mode == Some(photon_config::OperationMode::Integrated);
        match (backends.metadata_backend, integrated) {
            (Some(MetadataBackend::Chainfire), false) => {
                return Err(config_error(
                    layers,
                    "photon.standalone.metadata_backend",
                    "metadata in chainfire needs `mode = \"integrated\"` and `[photon.integrated] chainfire_endpoints`; standalone keeps it in \"rocksdb\"",
                ));
            }
            (Some(MetadataBackend::Rocksdb), true) => {
                return Err(config_error(
                    layers,
                    "photon.standalone.metadata_backend",
                    "an integrated lightningstor keeps its metadata in chainfire (\"chainfire\", or leave it out); local metadata beside the platform is `mode = \"hybrid\"`",
                ));
            }
            _ => {}
        }
        if backends.auth_backend == Some(AuthBackend::Photonauth) {
            return Err(config_error(
                layers,
                "photon.standalone.auth_backend",
                "photonauth checks requests in integrated mode (photon.integrated.auth_service_endpoint) or hybrid mode (photon.hybrid.auth_backend); standalone checks the access key (\"local\")",
            ));
        }
        let (mode, remotes) = integration::<LightningStorSchema>(doc, layers)?;
        let s = &doc.standalone;
        for (on, key) in [
            (s.features.versioning, "versioning"),
            (s.features.lifecycle, "lifecycle"),
            (s.features.replication, "replication"),
        ] {
            if on {
                return Err(config_error(
                    layers,
                    &format!("standalone.features.{key}"),
                    format!("{key} is not available in lightningstor yet; set it to false"),
                ));
            }
        }
        let Some(auth) = &s.auth else {
            return Err(config_error(
                layers,
                "standalone.auth",
                "required: the operator's access key (`type = \"access_key\"`, `access_key`, and `secret_key`, `credentials_file` or `secret_key_env`)",
            ));
        };
        let spec = LightningStor {
            node: Local,
            s3_port: listen_port(layers, "standalone.server.s3_addr", s.server.s3_addr)?,
            admin_port: listen_port(layers, "standalone.server.grpc_addr", s.server.grpc_addr)?,
            access_key: AccessKey {
                id: leak(&auth.access_key),
                secret: secret(auth, layers)?,
            },
            base_domain: base_domain(layers, s.server.base_domain.as_deref())?,
            mode,
            storage: Storage {
                data_dir: Some(leak(&s.storage.data_dir.to_string_lossy())),
                meta_dir: Some(leak(&s.metadata.path.to_string_lossy())),
                cache_size_mb: s.metadata.cache_size_mb,
            },
        };
        if let Some(reason) = spec.declare().rejected() {
            let key = if reason.contains("access_key.id") {
                "standalone.auth.access_key"
            } else {
                "standalone"
            };
            return Err(config_error(layers, key, reason));
        }
        Ok(Built::new(spec)
            .listen(S3Listener, s.server.s3_addr.ip)
            .listen(AdminListener, s.server.grpc_addr.ip)
            .remotes(remotes))
    }
}

/// The standalone document that configures `spec` as a deployment does.
/// An integrated spec is written as `mode = "integrated"` in `cluster`,
/// its state store and photonauth as the endpoints `reach` gives them.
pub fn export<N: photon_dsl::Node>(
    spec: &LightningStor<N>,
    bind_ip: IpAddr,
    component_id: &str,
    state_dir: &std::path::Path,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<ComponentDocument<LightningStorSchema>, ExportError> {
    let (secret_key, credentials_file, secret_key_env) = match spec.access_key.secret.source() {
        SecretSource::Env(name) => (None, None, Some(name.to_owned())),
        SecretSource::File(path) => (None, Some(path.to_owned()), None),
        SecretSource::Written(written) => (Some(written.value.to_owned()), None, None),
    };
    let dir = |configured: Option<&str>, default: &str| match configured {
        Some(path) => PathBuf::from(path),
        None => state_dir.join(default),
    };
    let mut doc = standalone_document::<LightningStorSchema>(component_id);
    write_integration::<LightningStorSchema>(&mut doc, spec.mode, cluster, reach)?;
    doc.standalone = Standalone {
        server: Server {
            grpc_addr: ListenAddr::new(bind_ip, spec.admin_port.get()),
            s3_addr: ListenAddr::new(bind_ip, spec.s3_port.get()),
            log_level: None,
            base_domain: spec.base_domain.map(|domain| domain.to_string()),
        },
        storage: StorageSection::new(dir(spec.storage.data_dir, "data")),
        metadata: Metadata {
            path: dir(spec.storage.meta_dir, "meta"),
            cache_size_mb: spec.storage.cache_size_mb,
        },
        auth: Some(Auth {
            kind: AuthKind::AccessKey,
            access_key: spec.access_key.id.to_owned(),
            secret_key,
            credentials_file,
            secret_key_env,
        }),
        features: Features::default(),
    };
    Ok(doc)
}

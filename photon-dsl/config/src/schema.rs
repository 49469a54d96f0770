//! The `[photon]` section every component shares (docs/design.md §5.1), and
//! the document around it: `[photon]` plus the component's `[standalone]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a component runs, as its configuration writes it (`photon.mode`):
/// a deployment's spec says the same with `photon_dsl::Mode`, which also
/// carries what integration needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationMode {
    /// On its own: local storage, local auth, no other service needed.
    Standalone,
    /// Part of the platform: state in chainfire, auth by photonauth.
    Integrated,
    /// Some backends integrated, the others local (`[photon.hybrid]`).
    Hybrid,
}

impl OperationMode {
    /// As written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationMode::Standalone => "standalone",
            OperationMode::Integrated => "integrated",
            OperationMode::Hybrid => "hybrid",
        }
    }
}

/// A whole configuration file: `[photon]` and the component's own
/// `[standalone]` tables. `P` is the component's `[photon.standalone]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default, S: Deserialize<'de> + Default")
)]
pub struct Document<P, S> {
    /// The common section.
    #[serde(default)]
    pub photon: Photon<P>,
    /// The component's standalone settings.
    #[serde(default)]
    pub standalone: S,
}

/// `[photon]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default")
)]
pub struct Photon<P> {
    /// `standalone`, `integrated` or `hybrid`; when not given anywhere the
    /// mode is detected (a control plane that answers means integrated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<OperationMode>,
    /// This instance's name; the component's name when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    /// The cluster it belongs to (integrated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The configuration's own version (`1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<String>,
    /// `[photon.logging]`.
    #[serde(default)]
    pub logging: Logging,
    /// `[photon.metrics]`.
    #[serde(default)]
    pub metrics: Metrics,
    /// `[photon.standalone]`: the component's backend choices.
    #[serde(default)]
    pub standalone: P,
    /// `[photon.integrated]`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub integrated: Integrated,
    /// `[photon.hybrid]`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub hybrid: Hybrid,
}

/// Whether `value` is its type's default (left out when written).
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `[photon.logging]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// The least severe level logged.
    #[serde(default)]
    pub level: LogLevel,
    /// Human-readable lines or JSON objects.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            level: LogLevel::Info,
            format: LogFormat::Text,
        }
    }
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// What the service does (the default).
    #[default]
    Info,
    /// Problems it recovered from.
    Warn,
    /// Failures.
    Error,
}

impl LogLevel {
    /// As `tracing`'s filters write it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[photon.metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Whether `/metrics` is served.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A separate address for metrics; the component's own HTTP port when
    /// not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            enabled: true,
            endpoint: None,
        }
    }
}

/// `[photon.integrated]`: how to reach the platform.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrated {
    /// The control plane (`http://photon-cp:8080`); its `/health` is probed
    /// when no mode is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<String>,
    /// chainfire's etcd v3 endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chainfire_endpoints: Vec<String>,
    /// photonauth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_service_endpoint: Option<String>,
    /// The event bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus_endpoint: Option<String>,
    /// Seconds between heartbeats (renewals of the registration's lease);
    /// 30 when neither this nor the registration's own is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_sec: Option<u32>,
    /// Run standalone when the integration services cannot be reached
    /// within `fallback_timeout_sec`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback_to_standalone: bool,
    /// How long to try them first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_timeout_sec: Option<u32>,
    /// `[photon.integrated.registration]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
}

/// `[photon.integrated.registration]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Register in chainfire at start, under a lease the heartbeat keeps
    /// alive (the default, as integrated components do).
    #[serde(default = "yes")]
    pub auto_register: bool,
    /// Seconds between heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_sec: Option<u32>,
    /// Labels for the control plane (`region`, `zone`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            auto_register: true,
            heartbeat_interval_sec: None,
            metadata: BTreeMap::new(),
        }
    }
}

/// `[photon.hybrid]`: which backends are integrated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hybrid {
    /// Authentication: local keys or photonauth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_backend: Option<Backend>,
    /// photonauth, when `auth_backend = "integrated"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_endpoint: Option<String>,
    /// Metadata: local or chainfire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_backend: Option<Backend>,
    /// Events: none locally, or the event bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_backend: Option<Backend>,
    /// The event bus, when `events_backend = "integrated"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus_endpoint: Option<String>,
}

/// Where one backend lives in hybrid mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In the component.
    Local,
    /// On the platform.
    Integrated,
}

/// The only backend a standalone component has: `storage_backend = "local"`
/// and `auth_backend = "local"` of the design's generic `[photon.standalone]`
/// (docs/design.md §3.2), which every component accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalBackend {
    /// In the component, on this machine.
    Local,
}

/// `config_source = "file"` of docs/design.md §3.2: a standalone component reads
/// its configuration from its file (with the environment and flags over
/// it); the control plane's central configuration is integrated mode's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigSource {
    /// The configuration file.
    File,
}

/// docs/design.md §3.2's generic `[photon.standalone]`, for a component with no
/// backend to choose (chainfire, echo): its keys take only the local
/// values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericStandalone {
    /// `storage_backend = "local"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_backend: Option<LocalBackend>,
    /// `auth_backend = "local"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_backend: Option<LocalBackend>,
    /// `config_source = "file"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_source: Option<ConfigSource>,
}

/// A component whose one port is its gRPC API, and that port's default.
pub trait GrpcPort {
    /// The port `[standalone.server] grpc_addr` has when left out.
    const DEFAULT_GRPC_PORT: u16;
}

/// `[standalone.server]` of a component `C` whose one port is its gRPC API
/// (with `/health` and `/metrics` beside it). One shape for each such
/// component; only the default port is `C`'s own.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, bound = "")]
pub struct GrpcServer<C: GrpcPort> {
    /// The gRPC API, `/health` and `/metrics`.
    pub grpc_addr: crate::ListenAddr,
    /// Overrides `[photon.logging] level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    #[serde(skip)]
    of: std::marker::PhantomData<fn() -> C>,
}

impl<C: GrpcPort> GrpcServer<C> {
    /// The API at `grpc_addr`, the log level left to `[photon.logging]`.
    pub fn at(grpc_addr: crate::ListenAddr) -> Self {
        GrpcServer {
            grpc_addr,
            log_level: None,
            of: std::marker::PhantomData,
        }
    }
}

impl<C: GrpcPort> Default for GrpcServer<C> {
    fn default() -> Self {
        GrpcServer::at(crate::ListenAddr::new(
            std::net::IpAddr::from([0, 0, 0, 0]),
            C::DEFAULT_GRPC_PORT,
        ))
    }
}

impl<C: GrpcPort> Clone for GrpcServer<C> {
    fn clone(&self) -> Self {
        GrpcServer {
            grpc_addr: self.grpc_addr,
            log_level: self.log_level,
            of: std::marker::PhantomData,
        }
    }
}

impl<C: GrpcPort> PartialEq for GrpcServer<C> {
    fn eq(&self, other: &Self) -> bool {
        self.grpc_addr == other.grpc_addr && self.log_level == other.log_level
    }
}

impl<C: GrpcPort> Eq for GrpcServer<C> {}

impl<C: GrpcPort> std::fmt::Debug for GrpcServer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("grpc_addr", &self.grpc_addr)
            .field("log_level", &self.log_level)
            .finish()
    }
}

/// `[photon.standalone]` of a component that exists only integrated
/// (photonauth, photonnet): no standalone backends, so no keys.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoStandalone {}

/// `[standalone.auth]` of a component run by an operator's token
/// (photonauth, photonnet): the token, given exactly one way.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// The token, written here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// A file holding it (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_file: Option<String>,
    /// An environment variable holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_env: Option<String>,
}

/// A component that keeps its state under one data directory, and where
/// that is when the configuration does not say.
pub trait DataDir {
    /// The directory used when `[standalone.storage] data_dir` is left out.
    const DEFAULT_DATA_DIR: &'static str;
}

/// `[standalone.storage]`: where component `C` keeps its data. One shape
/// for every component; only the default directory is `C`'s own.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, bound = "")]
pub struct StorageSection<C: DataDir> {
    /// The directory.
    pub data_dir: std::path::PathBuf,
    #[serde(skip)]
    of: std::marker::PhantomData<fn() -> C>,
}

impl<C: DataDir> StorageSection<C> {
    /// Data kept in `data_dir`.
    pub fn new(data_dir: std::path::PathBuf) -> Self {
        StorageSection {
            data_dir,
            of: std::marker::PhantomData,
        }
    }
}

impl<C: DataDir> Default for StorageSection<C> {
    fn default() -> Self {
        StorageSection::new(C::DEFAULT_DATA_DIR.into())
    }
}

impl<C: DataDir> Clone for StorageSection<C> {
    fn clone(&self) -> Self {
        StorageSection::new(self.data_dir.clone())
    }
}

impl<C: DataDir> PartialEq for StorageSection<C> {
    fn eq(&self, other: &Self) -> bool {
        self.data_dir == other.data_dir
    }
}

impl<C: DataDir> Eq for StorageSection<C> {}

impl<C: DataDir> std::fmt::Debug for StorageSection<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSection")
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

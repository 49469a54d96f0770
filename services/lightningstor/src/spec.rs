//! lightningstor's typed configuration (light: photon-dsl only).

use photon_dsl::protocol::S3;
use photon_dsl::{
    Declares, Endpoint, HostName, Mode, Node, Port, Protocol, Provides, Secret, ServiceDecl,
    ServiceSpec, Transport,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "lightningstor";

/// lightningstor's admin gRPC API: bucket statistics, creating and revoking
/// access keys. Only lightningstor speaks it, so it is declared here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminApi {}

impl Protocol for AdminApi {
    const NAME: &'static str = "lightningstor-admin";
    const TRANSPORT: Transport = Transport::Tcp;
    const HAS_PATH: bool = false;
}

photon_dsl::listener! {
    /// The S3 API (and `/health`, `/metrics`).
    pub S3Listener: S3 = "s3";
    /// The admin gRPC API.
    pub AdminListener: AdminApi = "admin";
}

/// An S3 access key: the id is public (it is in every request), the secret
/// key is a [`Secret`] reference read on the node.
#[derive(Debug, Clone, Copy)]
pub struct AccessKey {
    /// The access key id, e.g. `AKIAIOSFODNN7EXAMPLE`: 3 to 128 ASCII letters
    /// or digits.
    pub id: &'static str,
    /// Where the secret key is read from.
    pub secret: Secret,
}

/// The object store, placed on node `N`.
#[derive(Debug, Clone, Copy)]
pub struct LightningStor<N: Node> {
    /// Where it runs.
    pub node: N,
    /// The S3 API port.
    pub s3_port: Port,
    /// The admin gRPC port.
    pub admin_port: Port,
    /// The operator's key, accepted in every mode.
    pub access_key: AccessKey,
    /// Virtual-hosted-style addressing: with `Some(host!("s3.example.net"))`,
    /// a request to `photos.s3.example.net` addresses bucket `photos` (host
    /// names compare without regard to case). Path-style
    /// (`s3.example.net/photos`, or any address) always works.
    pub base_domain: Option<HostName>,
    /// Standalone, or integrated with chainfire (and photonauth).
    pub mode: Mode,
    /// Where objects and metadata are kept, and the metadata cache.
    pub storage: Storage,
}

/// Where lightningstor keeps its data on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storage {
    /// Object bodies (`<state dir>/data` when `None`).
    pub data_dir: Option<&'static str>,
    /// The metadata database (`<state dir>/meta` when `None`).
    pub meta_dir: Option<&'static str>,
    /// RocksDB's block cache for the metadata, in MiB (RocksDB's own 8 MiB
    /// when `None`).
    pub cache_size_mb: Option<u32>,
}

impl Storage {
    /// Everything under the service's state directory, RocksDB's default
    /// cache.
    pub const DEFAULT: Storage = Storage {
        data_dir: None,
        meta_dir: None,
        cache_size_mb: None,
    };
}

impl<N: Node> LightningStor<N> {
    /// lightningstor on `node` taking the operator's `access_key`, every
    /// other setting the usual one: standalone, S3 on port 9000, the admin
    /// API on 9001, path-style addressing only, objects and metadata under
    /// the state directory. Write only what differs:
    /// `LightningStor { mode: PLATFORM, ..LightningStor::new(Storage, KEY) }`.
    pub const fn new(node: N, access_key: AccessKey) -> LightningStor<N> {
        LightningStor {
            node,
            s3_port: photon_dsl::port!(9000),
            admin_port: photon_dsl::port!(9001),
            access_key,
            base_domain: None,
            mode: Mode::Standalone,
            storage: Storage::DEFAULT,
        }
    }

    /// Its listeners, secret and mode's dependencies, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<S3Listener>(self.s3_port)
            .with_health()
            .listens_on::<AdminListener>(self.admin_port)
            .secret("access_key.secret", &self.access_key.secret);
        let decl = if access_key_id_is_valid(self.access_key.id) {
            decl
        } else {
            decl.reject(
                "`access_key.id` must be 3 to 128 ASCII letters or digits (it is sent in every request; the secret part goes in `access_key.secret`)",
            )
        };
        let empty_dir = matches!(self.storage.data_dir, Some(dir) if dir.is_empty())
            || matches!(self.storage.meta_dir, Some(dir) if dir.is_empty());
        let decl = if matches!(self.storage.cache_size_mb, Some(0)) {
            decl.reject(
                "`storage.cache_size_mb` must be at least 1 (or `None` for RocksDB's default)",
            )
        } else if empty_dir {
            decl.reject(
                "`storage.data_dir` and `storage.meta_dir` must not be empty (`None` keeps them in the state directory)",
            )
        } else {
            decl
        };
        self.mode.declare(decl)
    }

    /// The S3 endpoint clients use.
    pub const fn s3(&self) -> Endpoint<N, S3> {
        Endpoint::provided_by(self, self.s3_port, None)
    }

    /// The admin endpoint.
    pub const fn admin(&self) -> Endpoint<N, AdminApi> {
        Endpoint::provided_by(self, self.admin_port, None)
    }
}

const fn access_key_id_is_valid(id: &str) -> bool {
    let bytes = id.as_bytes();
    if bytes.len() < 3 || bytes.len() > 128 {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            return false;
        }
        i += 1;
    }
    true
}

impl<N: Node> ServiceSpec for LightningStor<N> {
    fn declare(&self) -> ServiceDecl {
        LightningStor::declare(self)
    }
}

impl<N: Node> Declares<S3Listener> for LightningStor<N> {}
impl<N: Node> Declares<AdminListener> for LightningStor<N> {}

impl<N: Node> Provides<S3> for LightningStor<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

impl<N: Node> Provides<AdminApi> for LightningStor<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

photon_dsl::listener! {
    /// The storage agent's `/health` and `/metrics`.
    pub AgentAdminListener: photon_dsl::protocol::Http = "admin";
}

/// The storage agent, placed on node `N`: it makes tenants' `bucket`
/// resources buckets of the integrated lightningstor at `storage`, owned
/// by their tenant (bucket `photos` of tenant `acme` is `acme-photos`), in
/// that lightningstor's metadata in chainfire.
#[derive(Debug, Clone, Copy)]
pub struct StorageAgent<N: Node> {
    /// Where it runs.
    pub node: N,
    /// `/health` and `/metrics`.
    pub admin_port: Port,
    /// The chainfire members holding the resources and lightningstor's
    /// metadata.
    pub state_store: &'static [photon_dsl::Dep<photon_dsl::protocol::EtcdV3>],
    /// The lightningstor whose buckets these are (integrated on the same
    /// chainfire, photonauth checking its requests).
    pub storage: photon_dsl::Dep<S3>,
    /// The resource manager's changes.
    pub changes: photon_dsl::events::Subject<resource_manager::ResourceChanged>,
    /// How often every bucket resource is looked at again, events or not.
    pub resync_seconds: u32,
}

impl<N: Node> StorageAgent<N> {
    /// Its listener, storage and subscription, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>("storage-agent")
            .listens_on::<AgentAdminListener>(self.admin_port)
            .with_health()
            .needs("storage", &self.storage)
            .subscribes("changes", &self.changes);
        if self.resync_seconds == 0 {
            decl = decl.reject("`resync_seconds` must be at least 1");
        }
        photon_dsl::Integration {
            state_store: self.state_store,
            auth: photon_dsl::Auth::Local,
        }
        .declare(decl)
    }
}

impl<N: Node> ServiceSpec for StorageAgent<N> {
    fn declare(&self) -> ServiceDecl {
        StorageAgent::declare(self)
    }
}

impl<N: Node> Declares<AgentAdminListener> for StorageAgent<N> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_are_short_alphanumeric_words() {
        assert!(access_key_id_is_valid("AKIAIOSFODNN7EXAMPLE"));
        assert!(access_key_id_is_valid("ops"));
        assert!(!access_key_id_is_valid("ab"));
        assert!(!access_key_id_is_valid("has space"));
        assert!(!access_key_id_is_valid(&"A".repeat(129)));
    }
}

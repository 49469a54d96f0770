//! flaredb's typed configuration (light: photon-dsl only).

use photon_dsl::protocol::{EtcdV3, FlareDbApi};
use photon_dsl::{
    Auth, Declares, Dep, Endpoint, Integration, Node, Port, Provides, Secret, ServiceDecl,
    ServiceSpec,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "flaredb";

/// The most shards a database may have.
pub const MAX_SHARDS: u16 = 4096;

photon_dsl::listener! {
    /// The gRPC API, with `/health` and `/metrics` beside it.
    pub ApiListener: FlareDbApi = "grpc";
}

/// A flaredb node, placed on node `N`: its shards' data in RocksDB under
/// its state directory; the shard map (which node holds which shard) in
/// chainfire, shared by every flaredb node of the deployment.
#[derive(Debug, Clone, Copy)]
pub struct FlareDb<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Its gRPC API port.
    pub port: Port,
    /// The chainfire members holding the shard map; at least one.
    pub state_store: &'static [Dep<EtcdV3>],
    /// How many shards keys are spread over: fixed when the map is first
    /// written (every node of the deployment must say the same).
    pub shards: u16,
    /// The token every call carries (services using the database, and
    /// the nodes moving shards to each other), read on the node.
    pub admin_token: Secret,
}

impl<N: Node> FlareDb<N> {
    /// Its listener and chainfire, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<ApiListener>(self.port)
            .with_health()
            .secret("admin_token", &self.admin_token);
        if self.shards == 0 || self.shards > MAX_SHARDS {
            decl = decl.reject("`shards` must be 1 to 4096");
        }
        Integration {
            state_store: self.state_store,
            auth: Auth::Local,
        }
        .declare(decl)
    }

    /// The endpoint clients call (any node routes them by the map).
    pub const fn api(&self) -> Endpoint<N, FlareDbApi> {
        Endpoint::provided_by(self, self.port, None)
    }
}

impl<N: Node> ServiceSpec for FlareDb<N> {
    fn declare(&self) -> ServiceDecl {
        FlareDb::declare(self)
    }
}

impl<N: Node> Declares<ApiListener> for FlareDb<N> {}

impl<N: Node> Provides<FlareDbApi> for FlareDb<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

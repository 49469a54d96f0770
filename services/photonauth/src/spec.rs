//! photonauth's typed configuration (light: photon-dsl only).

use photon_dsl::protocol::{EtcdV3, PhotonAuthApi};
use photon_dsl::{
    Auth, Declares, Dep, Endpoint, Integration, Node, Port, Provides, Secret, ServiceDecl,
    ServiceSpec,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "photonauth";

photon_dsl::listener! {
    /// The gRPC API integrated services check requests with.
    pub ApiListener: PhotonAuthApi = "grpc";
}

/// The auth service, placed on node `N`. It exists only integrated (the
/// integration-first kind, docs/design.md §1): its state always lives in
/// chainfire.
#[derive(Debug, Clone, Copy)]
pub struct PhotonAuth<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Its gRPC API port (the design uses 50051).
    pub port: Port,
    /// The chainfire members holding tenants, users and keys; at least one.
    pub state_store: &'static [Dep<EtcdV3>],
    /// The operator's token for the admin API (`photonctl auth`), read on
    /// the node: sent as `authorization: Bearer <token>`.
    pub admin_token: Secret,
}

impl<N: Node> PhotonAuth<N> {
    /// Its listener and state store, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<ApiListener>(self.port)
            .with_health()
            .secret("admin_token", &self.admin_token);
        Integration {
            state_store: self.state_store,
            auth: Auth::Local,
        }
        .declare(decl)
    }

    /// The endpoint integrated services send their auth checks to.
    pub const fn api(&self) -> Endpoint<N, PhotonAuthApi> {
        Endpoint::provided_by(self, self.port, None)
    }
}

impl<N: Node> ServiceSpec for PhotonAuth<N> {
    fn declare(&self) -> ServiceDecl {
        PhotonAuth::declare(self)
    }
}

impl<N: Node> Declares<ApiListener> for PhotonAuth<N> {}

impl<N: Node> Provides<PhotonAuthApi> for PhotonAuth<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

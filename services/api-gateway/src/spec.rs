//! The API gateway's typed configuration (light: photon-dsl only).

use photon_dsl::protocol::{CloudApi, CreditApi, EtcdV3, PhotonAuthApi, ResourceApi};
use photon_dsl::{
    Auth, Declares, Dep, Endpoint, Integration, Node, Port, Provides, Secret, ServiceDecl,
    ServiceSpec,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "api-gateway";

photon_dsl::listener! {
    /// The HTTP/JSON API, with `/openapi.json`, `/health` and `/metrics`.
    pub HttpListener: CloudApi = "http";
}

/// The API gateway, placed on node `N`: tenants' one door to the
/// platform. It checks every call's photonauth token, takes a resource's
/// quota from creditservice before it asks the resource manager for it,
/// and answers in one JSON shape. It exists only integrated.
#[derive(Debug, Clone, Copy)]
pub struct ApiGateway<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Its HTTP port.
    pub port: Port,
    /// The chainfire members it registers with; at least one.
    pub state_store: &'static [Dep<EtcdV3>],
    /// photonauth, whose tokens (audience `api-gateway`) say which
    /// tenant calls.
    pub auth: Dep<PhotonAuthApi>,
    /// The operator's token for the gateway itself (every tenant), read
    /// on the node.
    pub admin_token: Secret,
    /// The resource manager, which keeps tenants' resources.
    pub resources: Dep<ResourceApi>,
    /// The resource manager's admin token (its `admin_token`).
    pub resources_token: Secret,
    /// creditservice, which holds tenants' quotas.
    pub credits: Dep<CreditApi>,
    /// creditservice's admin token (its `admin_token`).
    pub credits_token: Secret,
}

impl<N: Node> ApiGateway<N> {
    /// Its listener, upstreams, tokens and chainfire, for the topology
    /// checks.
    pub const fn declare(&self) -> ServiceDecl {
        let decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<HttpListener>(self.port)
            .with_health()
            .needs("resources", &self.resources)
            .needs("credits", &self.credits)
            .secret("admin_token", &self.admin_token)
            .secret("resources_token", &self.resources_token)
            .secret("credits_token", &self.credits_token);
        Integration {
            state_store: self.state_store,
            auth: Auth::PhotonAuth(self.auth),
        }
        .declare(decl)
    }

    /// The endpoint tenants, `photonctl` and a balancer in front call.
    pub const fn api(&self) -> Endpoint<N, CloudApi> {
        Endpoint::provided_by(self, self.port, None)
    }
}

impl<N: Node> ServiceSpec for ApiGateway<N> {
    fn declare(&self) -> ServiceDecl {
        ApiGateway::declare(self)
    }
}

impl<N: Node> Declares<HttpListener> for ApiGateway<N> {}

impl<N: Node> Provides<CloudApi> for ApiGateway<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

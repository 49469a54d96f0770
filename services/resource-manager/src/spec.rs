//! The resource manager's typed configuration and the event it publishes
//! (light: photon-dsl only).

use photon_dsl::events::{Message, Subject};
use photon_dsl::protocol::{EtcdV3, PhotonAuthApi, ResourceApi};
use photon_dsl::{
    Auth, Declares, Dep, Endpoint, Integration, Node, Port, Provides, Secret, ServiceDecl,
    ServiceSpec,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "resource-manager";

photon_dsl::listener! {
    /// The gRPC API (the API gateway; tenants reading their resources).
    pub ApiListener: ResourceApi = "grpc";
}

/// A resource's desired state changed: applied anew, or marked for
/// deletion. A hint, not the state: an agent reads the resource from
/// chainfire and reconciles to what it finds there, so a lost, repeated
/// or late event does no harm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(serde::Serialize, serde::Deserialize))]
pub struct ResourceChanged {
    /// The tenant.
    pub tenant: String,
    /// The resource kind (`dns-record`, `bucket`, ...).
    pub kind: String,
    /// Its name within the tenant and kind.
    pub name: String,
    /// Its generation after the change.
    pub generation: u64,
    /// Whether it is being deleted.
    pub deleting: bool,
}

impl Message for ResourceChanged {
    const NAME: &'static str = "ResourceChanged";
}

/// The resource manager, placed on node `N`: it keeps tenants' desired
/// resources in chainfire and publishes each change on the bus, where the
/// components' agents hear of it. It exists only integrated.
#[derive(Debug, Clone, Copy)]
pub struct ResourceManager<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Its gRPC API port.
    pub port: Port,
    /// The chainfire members holding its state; at least one.
    pub state_store: &'static [Dep<EtcdV3>],
    /// photonauth, whose tokens say which tenant reads its resources.
    pub auth: Dep<PhotonAuthApi>,
    /// The operator's token, which the API gateway holds too, read on
    /// the node: sent as `authorization: Bearer <token>`.
    pub admin_token: Secret,
    /// Where it publishes every change (kept: an agent away when it was
    /// published hears of it when it is back).
    pub events: Subject<ResourceChanged>,
}

impl<N: Node> ResourceManager<N> {
    /// Its listener, state store, photonauth and bus, for the topology
    /// checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<ApiListener>(self.port)
            .with_health()
            .secret("admin_token", &self.admin_token)
            .publishes("events", &self.events);
        if self.events.stream().is_none() {
            decl = decl.reject(
                "`events` must be kept in one of the bus's streams (`Subject::kept`): an agent that is away when a change is published must hear of it when it is back",
            );
        }
        Integration {
            state_store: self.state_store,
            auth: Auth::PhotonAuth(self.auth),
        }
        .declare(decl)
    }

    /// The endpoint the API gateway calls.
    pub const fn api(&self) -> Endpoint<N, ResourceApi> {
        Endpoint::provided_by(self, self.port, None)
    }

    /// The subject its changes are published on, for agents.
    pub const fn changes(&self) -> Subject<ResourceChanged> {
        self.events
    }
}

impl<N: Node> ServiceSpec for ResourceManager<N> {
    fn declare(&self) -> ServiceDecl {
        ResourceManager::declare(self)
    }
}

impl<N: Node> Declares<ApiListener> for ResourceManager<N> {}

impl<N: Node> Provides<ResourceApi> for ResourceManager<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

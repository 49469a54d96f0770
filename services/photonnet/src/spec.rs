//! photonnet's typed configuration (light: photon-dsl only).

use photon_dsl::protocol::{Dns, EtcdV3, PhotonAuthApi, PhotonNetApi};
use photon_dsl::{
    Auth, Declares, Dep, Endpoint, Integration, Node, Port, Provides, Secret, ServiceDecl,
    ServiceSpec,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "photonnet";

photon_dsl::listener! {
    /// The gRPC API (`photonctl net`, tenants with photonauth tokens).
    pub ApiListener: PhotonNetApi = "grpc";
}

/// Where the names of a VPC's addresses are published.
#[derive(Debug, Clone, Copy)]
pub enum VpcDns {
    /// Nowhere: addresses have no DNS names.
    Off,
    /// Into `zone`, kept in chainfire and served by the integrated
    /// flashdns that list it as a stored zone: the address named `web` of
    /// VPC `prod` of tenant `acme` is `web.prod.acme.<zone>`.
    Zone {
        /// The zone, such as `vpc.internal`.
        zone: &'static str,
        /// The flashdns serving it: the zone's name server, named in its
        /// NS record when photonnet makes the zone.
        server: Dep<Dns>,
    },
}

/// The network service, placed on node `N`. It exists only integrated:
/// VPCs, subnets and allocations live in chainfire, and tenants are
/// photonauth's.
#[derive(Debug, Clone, Copy)]
pub struct PhotonNet<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Its gRPC API port.
    pub port: Port,
    /// The chainfire members holding its state (and the VPC zone); at
    /// least one.
    pub state_store: &'static [Dep<EtcdV3>],
    /// photonauth, whose tokens say which tenant calls.
    pub auth: Dep<PhotonAuthApi>,
    /// The operator's token (every tenant's VPCs), read on the node: sent
    /// as `authorization: Bearer <token>`.
    pub admin_token: Secret,
    /// Where addresses' names are published.
    pub dns: VpcDns,
}

impl<N: Node> PhotonNet<N> {
    /// Its listener, state store and photonauth, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<ApiListener>(self.port)
            .with_health()
            .secret("admin_token", &self.admin_token);
        if let VpcDns::Zone { zone, server } = &self.dns {
            decl = decl.publishes_into_zone("vpc_dns", zone, server);
        }
        Integration {
            state_store: self.state_store,
            auth: Auth::PhotonAuth(self.auth),
        }
        .declare(decl)
    }

    /// The endpoint `photonctl net` and other services call.
    pub const fn api(&self) -> Endpoint<N, PhotonNetApi> {
        Endpoint::provided_by(self, self.port, None)
    }
}

impl<N: Node> ServiceSpec for PhotonNet<N> {
    fn declare(&self) -> ServiceDecl {
        PhotonNet::declare(self)
    }
}

impl<N: Node> Declares<ApiListener> for PhotonNet<N> {}

impl<N: Node> Provides<PhotonNetApi> for PhotonNet<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

photon_dsl::listener! {
    /// The network agent's `/health` and `/metrics`.
    pub AgentAdminListener: photon_dsl::protocol::Http = "admin";
}

/// The network agent, placed on node `N`: it makes tenants' `vpc`,
/// `subnet` and `address` resources VPCs, subnets and allocations of
/// photonnet (working in photonnet's state in chainfire, as photonnet's
/// API does).
#[derive(Debug, Clone, Copy)]
pub struct NetAgent<N: Node> {
    /// Where it runs.
    pub node: N,
    /// `/health` and `/metrics`.
    pub admin_port: Port,
    /// The chainfire members holding the resources and photonnet's state.
    pub state_store: &'static [Dep<EtcdV3>],
    /// Where addresses' names are published: the photonnet's own setting.
    pub dns: VpcDns,
    /// The resource manager's changes.
    pub changes: photon_dsl::events::Subject<resource_manager::ResourceChanged>,
    /// How often every network resource is looked at again, events or not.
    pub resync_seconds: u32,
}

impl<N: Node> NetAgent<N> {
    /// Its listener, zone and subscription, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>("net-agent")
            .listens_on::<AgentAdminListener>(self.admin_port)
            .with_health()
            .subscribes("changes", &self.changes);
        if let VpcDns::Zone { zone, server } = &self.dns {
            decl = decl.publishes_into_zone("dns", zone, server);
        }
        if self.resync_seconds == 0 {
            decl = decl.reject("`resync_seconds` must be at least 1");
        }
        Integration {
            state_store: self.state_store,
            auth: Auth::Local,
        }
        .declare(decl)
    }
}

impl<N: Node> ServiceSpec for NetAgent<N> {
    fn declare(&self) -> ServiceDecl {
        NetAgent::declare(self)
    }
}

impl<N: Node> Declares<AgentAdminListener> for NetAgent<N> {}

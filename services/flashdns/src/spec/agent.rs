//! The DNS agent's typed configuration: it makes tenants' `dns-record`
//! resources records of the tenants' zone, which an integrated flashdns
//! keeps in chainfire and serves.

use photon_dsl::events::Subject;
use photon_dsl::protocol::{Dns, EtcdV3, Http};
use photon_dsl::{Auth, Declares, Dep, Integration, Node, Port, ServiceDecl, ServiceSpec};
use resource_manager::ResourceChanged;

photon_dsl::listener! {
    /// `/health` and `/metrics`.
    pub AgentAdminListener: Http = "admin";
}

/// The DNS agent, placed on node `N` (beside its flashdns, or anywhere:
/// it works through chainfire).
#[derive(Debug, Clone, Copy)]
pub struct DnsAgent<N: Node> {
    /// Where it runs.
    pub node: N,
    /// `/health` and `/metrics`.
    pub admin_port: Port,
    /// The chainfire members holding the resources and the zone.
    pub state_store: &'static [Dep<EtcdV3>],
    /// The flashdns serving `zone`, which must keep it as a stored zone
    /// (`Zone::stored`) on the same chainfire.
    pub server: Dep<Dns>,
    /// The tenants' zone: record `www` of tenant `acme` is
    /// `www.acme.<zone>`.
    pub zone: &'static str,
    /// The resource manager's changes
    /// ([`ResourceManager::changes`](resource_manager::ResourceManager::changes)).
    pub changes: Subject<ResourceChanged>,
    /// How often every record resource is looked at again, events or not.
    pub resync_seconds: u32,
}

impl<N: Node> DnsAgent<N> {
    /// Its listener, zone and subscription, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>("dns-agent")
            .listens_on::<AgentAdminListener>(self.admin_port)
            .with_health()
            .publishes_into_zone("zone", self.zone, &self.server)
            .subscribes("changes", &self.changes);
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

impl<N: Node> ServiceSpec for DnsAgent<N> {
    fn declare(&self) -> ServiceDecl {
        DnsAgent::declare(self)
    }
}

impl<N: Node> Declares<AgentAdminListener> for DnsAgent<N> {}

//! The load-balancer agent's typed configuration (light: photon-dsl and
//! the resource manager's spec only): tenants' `load-balancer` resources
//! become L4 balancers this agent serves on its node, each on a port of
//! the range the operator gave tenants.

use photon_dsl::events::Subject;
use photon_dsl::protocol::{EtcdV3, Http};
use photon_dsl::{Declares, Dep, Node, Port, ServiceDecl, ServiceSpec};
use resource_manager::ResourceChanged;

photon_dsl::listener! {
    /// The load-balancer agent's `/health` and `/metrics`.
    pub AgentAdminListener: Http = "admin";
}

/// The ports tenants' balancers may listen on, `first..=last`, on the
/// agent's node address. Ports outside it are refused (the resource's
/// status says so); so is a port another balancer or service holds.
#[derive(Debug, Clone, Copy)]
pub struct TenantPorts {
    /// The lowest.
    pub first: Port,
    /// The highest.
    pub last: Port,
}

/// The load-balancer agent, placed on node `N`: it makes tenants'
/// `load-balancer` resources L4 (TCP) balancers it serves itself, with
/// fiberlb's pools and health checks, on `N`'s address.
#[derive(Debug, Clone, Copy)]
pub struct LbAgent<N: Node> {
    /// Where it runs, and where the balancers listen.
    pub node: N,
    /// `/health` and `/metrics`.
    pub admin_port: Port,
    /// The chainfire members holding the resources.
    pub state_store: &'static [Dep<EtcdV3>],
    /// The ports tenants' balancers may take.
    pub ports: TenantPorts,
    /// The resource manager's changes.
    pub changes: Subject<ResourceChanged>,
    /// How often every load-balancer resource is looked at again, events
    /// or not.
    pub resync_seconds: u32,
}

impl<N: Node> LbAgent<N> {
    /// Its listener and subscription, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>("lb-agent")
            .listens_on::<AgentAdminListener>(self.admin_port)
            .with_health()
            .subscribes("changes", &self.changes);
        let (first, last) = (self.ports.first.get(), self.ports.last.get());
        if first > last {
            decl = decl.reject("`ports`: `first` must not be above `last`");
        }
        let admin = self.admin_port.get();
        if first <= admin && admin <= last {
            decl = decl.reject(
                "`ports`: the agent's `admin_port` is inside the range given to tenants' balancers",
            );
        }
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

impl<N: Node> ServiceSpec for LbAgent<N> {
    fn declare(&self) -> ServiceDecl {
        LbAgent::declare(self)
    }
}

impl<N: Node> Declares<AgentAdminListener> for LbAgent<N> {}

//! The scheduler's typed configuration (light: photon-dsl and the
//! resource manager's spec only).

use photon_dsl::events::Subject;
use photon_dsl::protocol::{EtcdV3, Http};
use photon_dsl::{Declares, Dep, Node, Port, ServiceDecl, ServiceSpec};
use resource_manager::ResourceChanged;

photon_dsl::listener! {
    /// The scheduler's `/health` and `/metrics`.
    pub AdminListener: Http = "admin";
}

/// The scheduler, placed on node `N`. Its candidates are the nodes the
/// compiled topology puts each placed kind's agent on (`lb-agent` for
/// load balancers); it hears of new resources on the resource manager's
/// subject and tells agents of its placements there.
#[derive(Debug, Clone, Copy)]
pub struct Scheduler<N: Node> {
    /// Where it runs.
    pub node: N,
    /// `/health` and `/metrics`.
    pub admin_port: Port,
    /// The chainfire members holding the resources.
    pub state_store: &'static [Dep<EtcdV3>],
    /// The resource manager's changes: heard, and its placements told.
    pub changes: Subject<ResourceChanged>,
    /// How often every placed resource is looked at again, events or
    /// not.
    pub resync_seconds: u32,
    /// How long a node's agent may leave `/health` unanswered before its
    /// resources are moved elsewhere.
    pub away_after_seconds: u32,
    /// The most resources of one kind one node serves.
    pub capacity_per_node: u32,
}

impl<N: Node> Scheduler<N> {
    /// Its listener and subscription, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>("scheduler")
            .listens_on::<AdminListener>(self.admin_port)
            .with_health()
            .subscribes("changes", &self.changes);
        if self.resync_seconds == 0 {
            decl = decl.reject("`resync_seconds` must be at least 1");
        }
        if self.away_after_seconds < 2 {
            decl = decl.reject("`away_after_seconds` must be at least 2: a node is asked every second, and one late answer is not an absence");
        }
        if self.capacity_per_node == 0 {
            decl = decl.reject("`capacity_per_node` must be at least 1");
        }
        photon_dsl::Integration {
            state_store: self.state_store,
            auth: photon_dsl::Auth::Local,
        }
        .declare(decl)
    }
}

impl<N: Node> ServiceSpec for Scheduler<N> {
    fn declare(&self) -> ServiceDecl {
        Scheduler::declare(self)
    }
}

impl<N: Node> Declares<AdminListener> for Scheduler<N> {}

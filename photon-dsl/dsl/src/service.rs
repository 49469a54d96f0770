//! [`ServiceSpec`] and [`ServiceDecl`]: what a placed service tells the
//! topology about itself: its kind, node, listeners and dependencies.
//!
//! A service crate writes one inherent `const fn declare(&self) -> ServiceDecl`
//! on its spec; the `topology!` macro calls it in a `const` so the topology
//! checks run while the deployment compiles, and the [`ServiceSpec`] impl
//! delegates to it so the same facts drive `plan`, `graph` and the runtime.

use core::fmt;

use crate::text::ConstText;
use crate::{
    Dep, Integration, Listener, Node, NodeName, Port, Protocol, Secret, ServiceKind, Transport,
};

/// Listeners one service may declare.
pub const MAX_LISTENERS: usize = 16;
/// Dependencies one service may declare.
pub const MAX_DEPS: usize = 32;
/// Secrets one service may declare.
pub const MAX_SECRETS: usize = 8;
/// Distinct other nodes one service's settings may name.
pub const MAX_NODE_REFS: usize = 32;
/// What an integrated flashdns's zones in chainfire are, as
/// [`HeldDecl::what`].
const STORED_ZONE: &str = "stored zone";
/// Named things (stored zones) one service may hold for others.
pub const MAX_HELD: usize = 16;
/// Named things of other services one service may write into.
pub const MAX_WRITES: usize = 4;

/// A port a service listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerDecl {
    /// What the listener is for, e.g. `echo`, `s3`, `peer`.
    pub name: &'static str,
    /// The port.
    pub port: Port,
    /// TCP, UDP or both.
    pub transport: Transport,
    /// The protocol's name.
    pub protocol: &'static str,
    /// Whether it answers `GET /health` (the runtime's default probe asks
    /// it there).
    pub health: bool,
}

/// An endpoint a service needs, with the node it lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepDecl {
    /// The spec field that holds it, e.g. `echo`.
    pub slot: &'static str,
    /// The node serving it.
    pub node: NodeName,
    /// Its port.
    pub port: Port,
    /// Its transports.
    pub transport: Transport,
    /// The protocol's name.
    pub protocol: &'static str,
    /// The kind of service that serves it, when known (`chainfire`).
    pub provider: &'static str,
    /// What is used of it, when the protocol leaves that open: the
    /// subject on an event bus (`photon.resources.changed`), for `plan`.
    pub detail: Option<&'static str>,
}

/// A secret a service reads at start-up, by reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretDecl {
    /// The spec field that holds it, e.g. `token`.
    pub slot: &'static str,
    /// Where its value is read from.
    pub secret: Secret,
}

/// A node a service's settings name without an endpoint (a DNS record
/// holding the node's address): the topology must declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRefDecl {
    /// The spec field that names it, e.g. `zones`.
    pub slot: &'static str,
    /// The node.
    pub node: NodeName,
    /// The protocol the setting says is served there (a zone's name
    /// server must answer DNS), if it says one.
    pub serves: Option<&'static str>,
}

/// Something a service keeps that other services write into, by name: a
/// stored zone of an integrated flashdns (`what` is `"stored zone"`,
/// `name` its origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldDecl {
    /// What kind of thing.
    pub what: &'static str,
    /// Its name (a DNS name: compared without case or the root dot).
    pub name: &'static str,
}

/// A service's setting that writes into something another service holds
/// ([`ServiceDecl::writes_into`]): photonnet's names into a stored zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteDecl {
    /// The spec field that says so.
    pub slot: &'static str,
    /// What kind of thing ([`HeldDecl::what`]).
    pub what: &'static str,
    /// Its name.
    pub name: &'static str,
    /// The node of the service holding it.
    pub node: NodeName,
    /// The port of that service the setting's endpoint names.
    pub port: Port,
    /// What to write so the holder keeps it, for the error.
    pub remedy: &'static str,
}

/// Everything the topology checks need to know about one placed service.
#[derive(Clone, Copy)]
pub struct ServiceDecl {
    kind: ServiceKind,
    node: NodeName,
    listeners: [Option<ListenerDecl>; MAX_LISTENERS],
    listener_count: usize,
    deps: [Option<DepDecl>; MAX_DEPS],
    dep_count: usize,
    secrets: [Option<SecretDecl>; MAX_SECRETS],
    secret_count: usize,
    node_refs: [Option<NodeRefDecl>; MAX_NODE_REFS],
    node_ref_count: usize,
    held: [Option<HeldDecl>; MAX_HELD],
    held_count: usize,
    writes: [Option<WriteDecl>; MAX_WRITES],
    write_count: usize,
    rejected: Option<crate::text::ConstText>,
    cluster: Option<&'static str>,
    integration: Option<Integration>,
    hybrid: bool,
    waits_for_deps: bool,
    scrapes_metrics: bool,
}

impl ServiceDecl {
    /// A service of `kind` (e.g. `"echo"`) placed on node `N`.
    #[track_caller]
    pub const fn new<N: Node>(kind: &'static str) -> Self {
        ServiceDecl::on_node(N::NAME, kind)
    }

    /// A service of `kind` on the node named `node`: what [`ServiceDecl::new`]
    /// makes, and a standalone runner's stand-in for a remote provider,
    /// whose node has no type.
    #[track_caller]
    pub const fn on_node(node: NodeName, kind: &'static str) -> Self {
        ServiceDecl {
            kind: ServiceKind::from_literal(kind),
            node,
            listeners: [None; MAX_LISTENERS],
            listener_count: 0,
            deps: [None; MAX_DEPS],
            dep_count: 0,
            secrets: [None; MAX_SECRETS],
            secret_count: 0,
            node_refs: [None; MAX_NODE_REFS],
            node_ref_count: 0,
            held: [None; MAX_HELD],
            held_count: 0,
            writes: [None; MAX_WRITES],
            write_count: 0,
            rejected: None,
            waits_for_deps: true,
            cluster: None,
            integration: None,
            hybrid: false,
            scrapes_metrics: false,
        }
    }

    /// Declares the listener `L` (its name and protocol) on `port`; the
    /// spec also implements [`Declares<L>`](crate::Declares), so its
    /// server can take the socket.
    #[track_caller]
    pub const fn listens_on<L: Listener>(self, port: Port) -> Self {
        self.listens::<L::Protocol>(L::NAME, port)
    }

    /// Declares a listener for protocol `P` under a name with no key type:
    /// for specs that never run here (a standalone server's stand-in for a
    /// remote provider, test fixtures). A running service declares keyed
    /// listeners with [`listens_on`](Self::listens_on).
    #[track_caller]
    pub const fn listens<P: Protocol>(self, name: &'static str, port: Port) -> Self {
        self.listens_erased(ListenerDecl {
            name,
            port,
            transport: P::TRANSPORT,
            protocol: P::NAME,
            health: false,
        })
    }

    /// Declares a listener from its parts: for a spec holding listeners
    /// whose protocols its typed constructors erased (a load balancer's
    /// front ends, each of its backends' protocol).
    #[track_caller]
    pub const fn listens_erased(mut self, listener: ListenerDecl) -> Self {
        if self.listener_count == MAX_LISTENERS {
            ConstText::new()
                .push("service ")
                .quoted(self.kind.as_str())
                .push(" declares more than 16 listeners")
                .panic()
        }
        self.listeners[self.listener_count] = Some(listener);
        self.listener_count += 1;
        self
    }

    /// Says that the listener declared last also answers `GET /health`
    /// and `GET /metrics` (served by the runtime's admin surface), so
    /// `check` asks it there.
    pub const fn with_health(mut self) -> Self {
        if self.listener_count == 0 {
            panic!("`with_health` follows the `listens` it is about");
        }
        if let Some(listener) = &mut self.listeners[self.listener_count - 1] {
            listener.health = true;
        }
        self
    }

    /// Says the service collects every `/metrics` the topology serves (each
    /// listener [`with_health`](Self::with_health)), as nightlight does:
    /// its targets are the topology's, never written by hand, and `plan`
    /// lists them.
    pub const fn scrapes_every_metrics_endpoint(mut self) -> Self {
        self.scrapes_metrics = true;
        self
    }

    /// Whether it collects every `/metrics` of the topology.
    pub const fn scrapes_metrics(&self) -> bool {
        self.scrapes_metrics
    }

    /// Says the service starts without waiting for its dependencies to
    /// accept connections: it copes with them being down (a load balancer,
    /// which checks its backends itself).
    pub const fn starts_before_deps(mut self) -> Self {
        self.waits_for_deps = false;
        self
    }

    /// Whether the runtime waits for the dependencies to accept
    /// connections before starting it.
    pub const fn waits_for_deps(&self) -> bool {
        self.waits_for_deps
    }

    /// Declares a dependency held in the spec field `slot`.
    #[track_caller]
    pub const fn needs<P: Protocol>(self, slot: &'static str, dep: &Dep<P>) -> Self {
        self.needs_erased(dep.decl(slot))
    }

    /// Declares a dependency from its parts ([`Dep::decl`]): for a spec
    /// holding dependencies of protocols its typed constructors erased.
    #[track_caller]
    pub const fn needs_erased(mut self, dep: DepDecl) -> Self {
        if self.dep_count == MAX_DEPS {
            ConstText::new()
                .push("service ")
                .quoted(self.kind.as_str())
                .push(" declares more than 32 dependencies")
                .panic()
        }
        self.deps[self.dep_count] = Some(dep);
        self.dep_count += 1;
        self
    }

    /// Declares a dependency that may be left out.
    #[track_caller]
    pub const fn needs_optional<P: Protocol>(
        self,
        slot: &'static str,
        dep: &Option<Dep<P>>,
    ) -> Self {
        match dep {
            Some(dep) => self.needs(slot, dep),
            None => self,
        }
    }

    /// Declares a secret held in the spec field `slot`, so the runtime reads
    /// it before anything listens and `plan` shows where it comes from.
    #[track_caller]
    pub const fn secret(mut self, slot: &'static str, secret: &Secret) -> Self {
        if self.secret_count == MAX_SECRETS {
            ConstText::new()
                .push("service ")
                .quoted(self.kind.as_str())
                .push(" declares more than 8 secrets")
                .panic()
        }
        self.secrets[self.secret_count] = Some(SecretDecl {
            slot,
            secret: *secret,
        });
        self.secret_count += 1;
        self
    }

    /// Declares a secret that may be left out.
    #[track_caller]
    pub const fn secret_optional(self, slot: &'static str, secret: &Option<Secret>) -> Self {
        match secret {
            Some(secret) => self.secret(slot, secret),
            None => self,
        }
    }

    /// Records that the spec's own settings are wrong, e.g. "`access_key.id`
    /// must be ...". The topology checks report it as a problem of this
    /// service (at compile time, on its name in the `services` list). Only
    /// the first reason is kept.
    pub const fn reject(self, reason: &'static str) -> Self {
        self.reject_because(crate::text::ConstText::new().push(reason))
    }

    /// [`reject`](Self::reject) with a message built at compile time, so it
    /// can name the setting and show the bad value (`zone `example.com`,
    /// record `www` (CNAME): ...`). The first rejection is kept.
    pub const fn reject_because(mut self, reason: crate::text::ConstText) -> Self {
        if self.rejected.is_none() {
            self.rejected = Some(reason);
        }
        self
    }

    /// Records that the setting `slot` names `node` (say, a DNS record
    /// holding its address), so the topology checks that the node is
    /// declared. Each node is kept once.
    pub const fn refers_to(self, slot: &'static str, node: NodeName) -> Self {
        self.named(NodeRefDecl {
            slot,
            node,
            serves: None,
        })
    }

    /// Records that the setting `slot` names `node` as serving protocol
    /// `P` (a zone's NS record naming a node as its name server), so the
    /// topology checks that the node is declared and that something there
    /// listens speaking `P`.
    pub const fn expects_served<P: Protocol>(self, slot: &'static str, node: NodeName) -> Self {
        self.named(NodeRefDecl {
            slot,
            node,
            serves: Some(P::NAME),
        })
    }

    /// Keeps `named`; a node named again keeps its first slot, and the
    /// protocol expected there if either says one.
    const fn named(mut self, named: NodeRefDecl) -> Self {
        let mut i = 0;
        while i < self.node_ref_count {
            if let Some(known) = self.node_refs[i]
                && crate::text::same(known.node.as_str(), named.node.as_str())
            {
                if known.serves.is_none() && named.serves.is_some() {
                    self.node_refs[i] = Some(named);
                }
                return self;
            }
            i += 1;
        }
        if self.node_ref_count == MAX_NODE_REFS {
            return self.reject("its settings name more than 32 other nodes");
        }
        self.node_refs[self.node_ref_count] = Some(named);
        self.node_ref_count += 1;
        self
    }

    /// Records that the service keeps `what` named `name` for others to
    /// write into (an integrated flashdns's stored zone), so a
    /// [`ServiceDecl::writes_into`] naming it checks.
    pub const fn holds(mut self, what: &'static str, name: &'static str) -> Self {
        if self.held_count == MAX_HELD {
            return self.reject("it holds more than 16 named things for others to write into");
        }
        self.held[self.held_count] = Some(HeldDecl { what, name });
        self.held_count += 1;
        self
    }

    /// Records that the setting `slot` writes into `what` named `name`,
    /// held by the service serving `dep` (photonnet's and fiberlb's names
    /// into a flashdns's stored zone), so the topology checks that it
    /// holds it; `remedy` says what makes it so. The endpoint itself is
    /// declared with [`ServiceDecl::needs`].
    pub const fn writes_into<P: Protocol>(
        mut self,
        slot: &'static str,
        what: &'static str,
        name: &'static str,
        dep: &Dep<P>,
        remedy: &'static str,
    ) -> Self {
        if self.write_count == MAX_WRITES {
            return self.reject("it writes into more than 4 things other services hold");
        }
        self.writes[self.write_count] = Some(WriteDecl {
            slot,
            what,
            name,
            node: dep.node(),
            port: dep.port(),
            remedy,
        });
        self.write_count += 1;
        self
    }

    /// Records that the service (an integrated flashdns) keeps zone
    /// `origin` in chainfire, where others publish names into it
    /// ([`ServiceDecl::publishes_into_zone`]).
    pub const fn keeps_stored_zone(self, origin: &'static str) -> Self {
        self.holds(STORED_ZONE, origin)
    }

    /// Declares that the setting `slot` publishes names into zone `zone`
    /// kept by the flashdns at `server` (a dependency on it), so the
    /// topology checks that flashdns keeps `zone` as a stored zone.
    pub const fn publishes_into_zone(
        self,
        slot: &'static str,
        zone: &'static str,
        server: &Dep<crate::protocol::Dns>,
    ) -> Self {
        self.needs(slot, server).writes_into(
            slot,
            STORED_ZONE,
            zone,
            server,
            "list it among that flashdns's zones as `Zone::stored(...)`, and run that flashdns `Mode::Integrated` on the same chainfire",
        )
    }

    /// How many things the service holds for others.
    pub const fn held_count(&self) -> usize {
        self.held_count
    }

    /// Held thing `i` (`i < held_count()`).
    pub const fn held(&self, i: usize) -> HeldDecl {
        match self.held[i] {
            Some(h) => h,
            None => panic!("held index out of range"),
        }
    }

    /// How many things of others the service writes into.
    pub const fn write_count(&self) -> usize {
        self.write_count
    }

    /// Write `i` (`i < write_count()`).
    pub const fn write(&self, i: usize) -> WriteDecl {
        match self.writes[i] {
            Some(w) => w,
            None => panic!("write index out of range"),
        }
    }

    /// How many nodes the settings name.
    pub const fn node_ref_count(&self) -> usize {
        self.node_ref_count
    }

    /// Named node `i` (`i < node_ref_count()`).
    pub const fn node_ref(&self, i: usize) -> NodeRefDecl {
        match self.node_refs[i] {
            Some(r) => r,
            None => panic!("node reference index out of range"),
        }
    }

    /// Marks the service as a member of the cluster `name`: every service of
    /// the topology marked with the same name forms it (chainfire's initial
    /// membership), and `plan` lists the members together.
    pub const fn in_cluster(mut self, name: &'static str) -> Self {
        self.cluster = Some(name);
        self
    }

    /// Marks the service as integrated: the runtime joins it to the
    /// platform (registers it in `integration.state_store`) before it
    /// starts. [`Integration::declare`] calls this.
    pub const fn integrated(mut self, integration: Integration) -> Self {
        self.integration = Some(integration);
        self
    }

    /// Marks an integrated service as hybrid: joined to the platform, its
    /// metadata kept local. [`crate::Hybrid::declare`] calls this.
    pub const fn hybrid(mut self) -> Self {
        self.hybrid = true;
        self
    }

    /// Whether it runs hybrid (see [`ServiceDecl::hybrid`]).
    pub const fn is_hybrid(&self) -> bool {
        self.hybrid
    }

    /// What the service integrates with, when it runs integrated.
    pub const fn integration(&self) -> Option<Integration> {
        self.integration
    }

    /// The cluster the service is a member of, if any.
    pub const fn cluster(&self) -> Option<&'static str> {
        self.cluster
    }

    /// Why the spec rejected its own settings, if it did.
    pub(crate) const fn rejection(&self) -> Option<crate::text::ConstText> {
        self.rejected
    }

    /// Why the spec rejected its own settings, as text.
    pub const fn rejected(&self) -> Option<&str> {
        match &self.rejected {
            Some(reason) => Some(reason.as_str()),
            None => None,
        }
    }

    /// The service kind.
    pub const fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// The node it is placed on.
    pub const fn node(&self) -> NodeName {
        self.node
    }

    /// How many listeners.
    pub const fn listener_count(&self) -> usize {
        self.listener_count
    }

    /// Listener `i` (`i < listener_count()`).
    pub const fn listener(&self, i: usize) -> ListenerDecl {
        match self.listeners[i] {
            Some(l) => l,
            None => panic!("listener index out of range"),
        }
    }

    /// How many dependencies.
    pub const fn dep_count(&self) -> usize {
        self.dep_count
    }

    /// Dependency `i` (`i < dep_count()`).
    pub const fn dep(&self, i: usize) -> DepDecl {
        match self.deps[i] {
            Some(d) => d,
            None => panic!("dependency index out of range"),
        }
    }

    /// The listeners.
    pub fn listeners(&self) -> impl Iterator<Item = &ListenerDecl> {
        self.listeners.iter().flatten()
    }

    /// The dependencies.
    pub fn deps(&self) -> impl Iterator<Item = &DepDecl> {
        self.deps.iter().flatten()
    }

    /// The secrets.
    pub fn secrets(&self) -> impl Iterator<Item = &SecretDecl> {
        self.secrets.iter().flatten()
    }
}

impl fmt::Debug for ServiceDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceDecl")
            .field("kind", &self.kind)
            .field("node", &self.node)
            .field("listeners", &self.listeners().collect::<Vec<_>>())
            .field("deps", &self.deps().collect::<Vec<_>>())
            .field("secrets", &self.secrets().collect::<Vec<_>>())
            .field(
                "node_refs",
                &self.node_refs.iter().flatten().collect::<Vec<_>>(),
            )
            .field("held", &self.held.iter().flatten().collect::<Vec<_>>())
            .field("writes", &self.writes.iter().flatten().collect::<Vec<_>>())
            .field("rejected", &self.rejected)
            .field("cluster", &self.cluster)
            .field("integration", &self.integration)
            .finish()
    }
}

/// A service's typed configuration, placed on a node.
///
/// Implement it by delegating to the spec's inherent `const fn declare`, which
/// the `topology!` macro also calls at compile time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service spec",
    label = "cannot place this in a topology",
    note = "services are the spec types of the crates in `services/`, e.g. `echo::EchoServer<Node>`"
)]
pub trait ServiceSpec: fmt::Debug + Send + Sync + 'static {
    /// The facts the topology checks and `plan` use.
    fn declare(&self) -> ServiceDecl;
}

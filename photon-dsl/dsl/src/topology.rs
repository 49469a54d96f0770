//! [`Topology`]: the nodes, the services placed on them, the configuration
//! version and a fingerprint of the whole.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::check::{self, Problem, TopologyDecl};
use crate::{AddressPlan, ConfigVersion, DeploymentName, NodeName, ServiceDecl, ServiceSpec};

/// A service placed on a node: its declaration and its spec.
///
/// `S` is the trait object the caller needs: `dyn ServiceSpec` for planning,
/// the runtime's `dyn Service` for running.
#[derive(Debug)]
pub struct Placed<S: ?Sized> {
    /// What the checks and `plan` read.
    pub decl: ServiceDecl,
    /// The typed configuration.
    pub spec: Box<S>,
}

/// A deployment's whole configuration.
#[derive(Debug)]
pub struct Topology<S: ?Sized + ServiceSpec = dyn ServiceSpec> {
    name: DeploymentName,
    version: ConfigVersion,
    nodes: Vec<NodeName>,
    addresses: AddressPlan,
    allowed: Vec<crate::check::Allow>,
    services: Vec<Placed<S>>,
}

/// A stable digest of a topology: same configuration, same fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Display for Fingerprint {
    /// The first 16 hex digits, as shown by `plan` and `--version`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Fingerprint {
    /// All 64 hex digits.
    pub fn full_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Why a topology cannot run; every message is in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Mistakes found by the checks.
    #[error("{}", .messages.join("\n"))]
    Invalid {
        /// One sentence per mistake.
        messages: Vec<String>,
    },
    /// Services that wait on each other in a circle.
    #[error("services depend on each other in a cycle: {cycle}")]
    Cycle {
        /// `node/service -> node/service -> ...`.
        cycle: String,
    },
}

impl<S: ?Sized + ServiceSpec> Topology<S> {
    /// An empty topology.
    pub fn new(name: DeploymentName, version: ConfigVersion) -> Self {
        Topology {
            name,
            version,
            nodes: Vec::new(),
            addresses: AddressPlan::Loopback,
            allowed: Vec::new(),
            services: Vec::new(),
        }
    }

    /// Adds a node.
    pub fn with_node(mut self, node: NodeName) -> Self {
        self.nodes.push(node);
        self
    }

    /// Sets how nodes find each other.
    pub fn with_addresses(mut self, plan: AddressPlan) -> Self {
        self.addresses = plan;
        self
    }

    /// Allows what a check would otherwise refuse ([`crate::check::Allow`]).
    pub fn allowing(mut self, allow: crate::check::Allow) -> Self {
        self.allowed.push(allow);
        self
    }

    /// Places a service (its node comes from the spec).
    pub fn with_service(mut self, spec: Box<S>) -> Self {
        let decl = spec.declare();
        self.services.push(Placed { decl, spec });
        self
    }

    /// The deployment's name.
    pub fn name(&self) -> DeploymentName {
        self.name
    }

    /// Its configuration version.
    pub fn version(&self) -> ConfigVersion {
        self.version
    }

    /// The nodes, in declaration order.
    pub fn nodes(&self) -> &[NodeName] {
        &self.nodes
    }

    /// The address plan.
    pub fn addresses(&self) -> &AddressPlan {
        &self.addresses
    }

    /// The placed services, in declaration order.
    pub fn services(&self) -> &[Placed<S>] {
        &self.services
    }

    /// Runs every topology check (the same ones the build runs) and the
    /// address plan's; returns all mistakes at once.
    pub fn check(&self) -> Result<(), TopologyError> {
        let decls: Vec<ServiceDecl> = self.services.iter().map(|p| p.decl).collect();
        let t = TopologyDecl {
            nodes: &self.nodes,
            services: &decls,
            allowed: &self.allowed,
        };
        let mut messages: Vec<String> = check::problems(&t)
            .iter()
            .map(|p: &Problem| p.message(&t).to_string())
            .collect();
        if let AddressPlan::Static(map) = &self.addresses {
            for node in &self.nodes {
                if !map.iter().any(|(n, _)| n == node) {
                    messages.push(format!(
                        "node `{node}` has no address in the compiled address plan"
                    ));
                }
            }
            for (n, _) in map {
                if !self.nodes.contains(n) {
                    messages.push(format!(
                        "the address plan names node `{n}`, which the topology does not declare"
                    ));
                }
            }
        }
        if messages.is_empty() {
            self.start_order().map(|_| ())
        } else {
            Err(TopologyError::Invalid { messages })
        }
    }

    /// The index of the service that provides dependency `dep` of service `of`.
    pub fn provider(&self, of: usize, dep: usize) -> Option<usize> {
        let d = self.services[of].decl.deps().nth(dep)?;
        self.services.iter().position(|p| {
            p.decl.node() == d.node
                && p.decl.listeners().any(|l| {
                    l.port == d.port
                        && l.protocol == d.protocol
                        && l.transport.overlaps(d.transport)
                })
        })
    }

    /// Indices of the services each service depends on.
    pub fn dependencies(&self, of: usize) -> Vec<usize> {
        (0..self.services[of].decl.dep_count())
            .filter_map(|d| self.provider(of, d))
            .filter(|&p| p != of)
            .collect()
    }

    /// Service indices in start order: every service after everything it
    /// depends on; ties keep declaration order, so the order is stable.
    /// Stopping uses the reverse.
    pub fn start_order(&self) -> Result<Vec<usize>, TopologyError> {
        let n = self.services.len();
        let deps: Vec<Vec<usize>> = (0..n).map(|i| self.dependencies(i)).collect();
        let mut started = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let next = (0..n).find(|&i| !started[i] && deps[i].iter().all(|&d| started[d]));
            match next {
                Some(i) => {
                    started[i] = true;
                    order.push(i);
                }
                None => {
                    return Err(TopologyError::Cycle {
                        cycle: self.describe_cycle(&deps, &started),
                    });
                }
            }
        }
        Ok(order)
    }

    fn describe_cycle(&self, deps: &[Vec<usize>], started: &[bool]) -> String {
        // Walk unstarted dependencies from any blocked service until one repeats.
        let mut at = started.iter().position(|s| !s).unwrap_or(0);
        let mut path = vec![at];
        loop {
            let next = deps[at]
                .iter()
                .copied()
                .find(|&d| !started[d])
                .unwrap_or(at);
            if let Some(pos) = path.iter().position(|&p| p == next) {
                let mut names: Vec<String> = path[pos..].iter().map(|&i| self.label(i)).collect();
                names.push(self.label(next));
                return names.join(" -> ");
            }
            path.push(next);
            at = next;
        }
    }

    /// `node/kind`, how logs and messages name a placed service.
    pub fn label(&self, index: usize) -> String {
        let d = &self.services[index].decl;
        format!("{}/{}", d.node(), d.kind())
    }

    /// Every `/metrics` the topology serves: each listener that answers
    /// `/health` (the runtime's admin surface serves both), with the index
    /// of its service. What a service that
    /// [scrapes every metrics endpoint](ServiceDecl::scrapes_every_metrics_endpoint)
    /// collects.
    pub fn metrics_endpoints(&self) -> Vec<(usize, crate::ListenerDecl)> {
        let mut found = Vec::new();
        for (i, placed) in self.services.iter().enumerate() {
            for listener in placed.decl.listeners().filter(|l| l.health) {
                found.push((i, *listener));
            }
        }
        found
    }

    /// Services placed on `node`, by index.
    pub fn services_on(&self, node: NodeName) -> Vec<usize> {
        (0..self.services.len())
            .filter(|&i| self.services[i].decl.node() == node)
            .collect()
    }

    /// The canonical text the fingerprint digests: name, version, nodes,
    /// address plan and every spec's full `Debug` form, in order.
    pub fn canonical_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "deployment {}", self.name);
        let _ = writeln!(out, "version {}", self.version);
        for node in &self.nodes {
            let _ = writeln!(out, "node {node}");
        }
        let _ = writeln!(out, "addresses {:?}", self.addresses);
        for allowed in &self.allowed {
            let _ = writeln!(out, "allow {allowed:?}");
        }
        for p in &self.services {
            let _ = writeln!(
                out,
                "service {} {} {:?}",
                p.decl.node(),
                p.decl.kind(),
                p.spec
            );
        }
        out
    }

    /// The fingerprint of the whole configuration.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(Sha256::digest(self.canonical_text().as_bytes()).into())
    }

    /// For each node, the listeners on it: `(port, transport) -> service`.
    pub fn listeners_by_node(&self) -> BTreeMap<NodeName, Vec<(usize, crate::ListenerDecl)>> {
        let mut map: BTreeMap<NodeName, Vec<(usize, crate::ListenerDecl)>> = BTreeMap::new();
        for (i, p) in self.services.iter().enumerate() {
            for l in p.decl.listeners() {
                map.entry(p.decl.node()).or_default().push((i, *l));
            }
        }
        map
    }
}

//! Whole-topology checks, written once as `const fn`.
//!
//! The `topology!` macro evaluates [`assert_valid`] in a `const`, so a wrong
//! topology fails `cargo build` with `evaluation panicked: <message>`; the
//! runtime calls [`problems`] on the same data at start-up (for topologies
//! assembled at run time) and prints the same messages.

use crate::text::{ConstText, same, same_domain};
use crate::{NodeName, Port, ServiceDecl, ServiceKind, Transport};

/// The facts a topology check reads.
#[derive(Debug, Clone, Copy)]
pub struct TopologyDecl<'a> {
    /// Declared nodes, in order.
    pub nodes: &'a [NodeName],
    /// Placed services, in order.
    pub services: &'a [ServiceDecl],
    /// What the topology says it does on purpose that the checks would
    /// otherwise refuse (`allow: [...]`).
    pub allowed: &'a [Allow],
}

/// Something a topology does on purpose that a check would otherwise
/// refuse, said where the topology is declared (`allow: [...]` in
/// `topology!` and `deployment!`), so a reviewer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// The cluster of this name (`"chainfire"`) has an even number of
    /// members, which tolerates no more failures than one member fewer:
    /// on the way from one odd size to the next, say.
    EvenCluster(&'static str),
}

/// One listener of one service, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerRef {
    /// The service kind.
    pub service: ServiceKind,
    /// The listener name.
    pub listener: &'static str,
    /// Its transports.
    pub transport: Transport,
    /// Its protocol.
    pub protocol: &'static str,
}

/// A mistake in a topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// A rejection's text is built in const fns, where nothing can be boxed;
// problems are few and short-lived, so the size is no cost.
#[allow(clippy::large_enum_variant)]
pub enum Problem {
    /// The topology declares no node.
    NoNodes,
    /// A node is listed twice.
    DuplicateNode {
        /// The node.
        node: NodeName,
    },
    /// A service is placed on a node the topology does not list.
    UndeclaredNode {
        /// The service kind.
        service: ServiceKind,
        /// Where it was placed.
        node: NodeName,
    },
    /// A service's settings name a node the topology does not list
    /// ([`ServiceDecl::refers_to`]).
    UnknownNodeNamed {
        /// The service kind.
        service: ServiceKind,
        /// Its node.
        node: NodeName,
        /// The setting that names it.
        slot: &'static str,
        /// The node named.
        target: NodeName,
    },
    /// A service's settings say a node serves a protocol that nothing
    /// placed there listens for ([`ServiceDecl::expects_served`]).
    NotServedThere {
        /// The service kind.
        service: ServiceKind,
        /// Its node.
        node: NodeName,
        /// The setting that names the node.
        slot: &'static str,
        /// The node named.
        target: NodeName,
        /// The protocol it should serve.
        expected: &'static str,
    },
    /// A spec rejected its own settings ([`ServiceDecl::reject`]).
    InvalidSettings {
        /// The service kind.
        service: ServiceKind,
        /// Its node.
        node: NodeName,
        /// What is wrong, in the spec's words.
        reason: ConstText,
    },
    /// Two services of one kind on one node.
    DuplicateService {
        /// The node.
        node: NodeName,
        /// The kind.
        service: ServiceKind,
    },
    /// Two listeners on one node share a port and a transport.
    PortTaken {
        /// The node.
        node: NodeName,
        /// The port.
        port: Port,
        /// The listener declared first.
        first: ListenerRef,
        /// The listener declared second.
        second: ListenerRef,
    },
    /// A dependency points where no service listens.
    NothingListens {
        /// The dependent service.
        service: ServiceKind,
        /// Its node.
        node: NodeName,
        /// The spec field.
        slot: &'static str,
        /// The protocol it needs.
        protocol: &'static str,
        /// Where it points.
        target: NodeName,
        /// At which port.
        port: Port,
        /// The kind of service that endpoint came from, when known.
        provider: &'static str,
    },
    /// A cluster of an even number of members, not allowed.
    EvenCluster {
        /// The cluster's name (`chainfire`).
        cluster: &'static str,
        /// Its members.
        members: usize,
    },
    /// A service keeps its state in chainfire but lists only some of the
    /// cluster's members in its `state_store`.
    PartialStateStore {
        /// The service.
        service: ServiceKind,
        /// Its node.
        node: NodeName,
        /// How many members it lists.
        listed: usize,
        /// How many the cluster has.
        members: usize,
        /// A member it does not list.
        missing: NodeName,
    },
    /// A setting writes into something (a stored zone) that the service it
    /// names does not hold ([`ServiceDecl::writes_into`]).
    NotHeldThere {
        /// The writing service.
        service: ServiceKind,
        /// Its node.
        node: NodeName,
        /// The setting that says so.
        slot: &'static str,
        /// What it writes into (`stored zone`).
        what: &'static str,
        /// Its name.
        name: &'static str,
        /// The service named.
        holder: ServiceKind,
        /// Its node.
        target: NodeName,
        /// What makes the holder keep it.
        remedy: &'static str,
    },
    /// A dependency points at a listener speaking another protocol.
    WrongProtocolThere {
        /// The dependent service.
        service: ServiceKind,
        /// Its node.
        node: NodeName,
        /// The spec field.
        slot: &'static str,
        /// The protocol it needs.
        protocol: &'static str,
        /// Where it points.
        target: NodeName,
        /// At which port.
        port: Port,
        /// What actually listens there.
        found: ListenerRef,
    },
}

const fn listener_ref(s: &ServiceDecl, i: usize) -> ListenerRef {
    let l = s.listener(i);
    ListenerRef {
        service: s.kind(),
        listener: l.name,
        transport: l.transport,
        protocol: l.protocol,
    }
}

/// Whether the topology lists `node`.
const fn is_declared(t: &TopologyDecl<'_>, node: NodeName) -> bool {
    let mut k = 0;
    while k < t.nodes.len() {
        if same(t.nodes[k].as_str(), node.as_str()) {
            return true;
        }
        k += 1;
    }
    false
}

/// ", which the topology does not declare (declared nodes: a, b)".
const fn not_declared(text: ConstText, t: &TopologyDecl<'_>) -> ConstText {
    let mut text = text.push(", which the topology does not declare (declared nodes: ");
    let mut i = 0;
    while i < t.nodes.len() {
        if i > 0 {
            text = text.push(", ");
        }
        text = text.push(t.nodes[i].as_str());
        i += 1;
    }
    text.push(")")
}

/// The `n`-th problem (0-based) in a fixed order, or `None` if there are fewer.
///
/// Const code cannot build a list, so callers that want every problem ask for
/// `0, 1, 2, ...` until `None`.
pub const fn nth_problem(t: &TopologyDecl<'_>, n: usize) -> Option<Problem> {
    match nth_located(t, n) {
        Some((problem, _)) => Some(problem),
        None => None,
    }
}

/// Like [`nth_problem`], with the index of the service the problem belongs
/// to (the one whose line the compiler error points at), or `None` for a
/// problem of the topology as a whole.
pub const fn nth_located(t: &TopologyDecl<'_>, n: usize) -> Option<(Problem, Option<usize>)> {
    let mut seen = 0;
    macro_rules! found {
        ($p:expr) => {
            found!($p, None)
        };
        ($p:expr, $culprit:expr) => {{
            if seen == n {
                return Some(($p, $culprit));
            }
            seen += 1;
        }};
    }

    if t.nodes.is_empty() {
        found!(Problem::NoNodes);
    }
    let mut i = 0;
    while i < t.nodes.len() {
        let mut j = 0;
        while j < i {
            if same(t.nodes[i].as_str(), t.nodes[j].as_str()) {
                found!(Problem::DuplicateNode { node: t.nodes[i] });
                break;
            }
            j += 1;
        }
        i += 1;
    }

    // Placement.
    let mut s = 0;
    while s < t.services.len() {
        let svc = &t.services[s];
        if let Some(reason) = svc.rejection() {
            found!(
                Problem::InvalidSettings {
                    service: svc.kind(),
                    node: svc.node(),
                    reason,
                },
                Some(s)
            );
        }
        if !is_declared(t, svc.node()) {
            found!(
                Problem::UndeclaredNode {
                    service: svc.kind(),
                    node: svc.node(),
                },
                Some(s)
            );
        }
        let mut n = 0;
        while n < svc.node_ref_count() {
            let named = svc.node_ref(n);
            if !is_declared(t, named.node) {
                found!(
                    Problem::UnknownNodeNamed {
                        service: svc.kind(),
                        node: svc.node(),
                        slot: named.slot,
                        target: named.node,
                    },
                    Some(s)
                );
            } else if let Some(expected) = named.serves
                && !serves_on(t, named.node, expected)
            {
                found!(
                    Problem::NotServedThere {
                        service: svc.kind(),
                        node: svc.node(),
                        slot: named.slot,
                        target: named.node,
                        expected,
                    },
                    Some(s)
                );
            }
            n += 1;
        }
        let mut r = 0;
        while r < s {
            let other = &t.services[r];
            if same(other.node().as_str(), svc.node().as_str())
                && same(other.kind().as_str(), svc.kind().as_str())
            {
                found!(
                    Problem::DuplicateService {
                        node: svc.node(),
                        service: svc.kind(),
                    },
                    Some(s)
                );
                break;
            }
            r += 1;
        }
        s += 1;
    }

    // Port collisions: every pair of listeners on one node (including two of one service).
    let mut a = 0;
    while a < t.services.len() {
        let sa = &t.services[a];
        let mut la = 0;
        while la < sa.listener_count() {
            let mut b = a;
            while b < t.services.len() {
                let sb = &t.services[b];
                let mut lb = if b == a { la + 1 } else { 0 };
                while lb < sb.listener_count() {
                    let (x, y) = (sa.listener(la), sb.listener(lb));
                    if same(sa.node().as_str(), sb.node().as_str())
                        && x.port.get() == y.port.get()
                        && x.transport.overlaps(y.transport)
                    {
                        found!(
                            Problem::PortTaken {
                                node: sa.node(),
                                port: x.port,
                                first: listener_ref(sa, la),
                                second: listener_ref(sb, lb),
                            },
                            Some(b)
                        );
                    }
                    lb += 1;
                }
                b += 1;
            }
            la += 1;
        }
        a += 1;
    }

    // Dependencies: something of the right protocol must listen where each points.
    let mut s = 0;
    while s < t.services.len() {
        let svc = &t.services[s];
        let mut d = 0;
        while d < svc.dep_count() {
            let dep = svc.dep(d);
            let mut matched = false;
            let mut other: Option<ListenerRef> = None;
            let mut p = 0;
            while p < t.services.len() {
                let provider = &t.services[p];
                if same(provider.node().as_str(), dep.node.as_str()) {
                    let mut l = 0;
                    while l < provider.listener_count() {
                        let listener = provider.listener(l);
                        if listener.port.get() == dep.port.get()
                            && listener.transport.overlaps(dep.transport)
                        {
                            if same(listener.protocol, dep.protocol) {
                                matched = true;
                            } else {
                                other = Some(listener_ref(provider, l));
                            }
                        }
                        l += 1;
                    }
                }
                p += 1;
            }
            if !matched {
                match other {
                    Some(found) => found!(
                        Problem::WrongProtocolThere {
                            service: svc.kind(),
                            node: svc.node(),
                            slot: dep.slot,
                            protocol: dep.protocol,
                            target: dep.node,
                            port: dep.port,
                            found,
                        },
                        Some(s)
                    ),
                    None => found!(
                        Problem::NothingListens {
                            service: svc.kind(),
                            node: svc.node(),
                            slot: dep.slot,
                            protocol: dep.protocol,
                            target: dep.node,
                            port: dep.port,
                            provider: dep.provider,
                        },
                        Some(s)
                    ),
                }
            }
            d += 1;
        }
        s += 1;
    }

    // Writes into what another service holds: the service at the named
    // endpoint (if any: a missing one is a dependency problem above) must
    // hold it.
    let mut s = 0;
    while s < t.services.len() {
        let svc = &t.services[s];
        let mut w = 0;
        while w < svc.write_count() {
            let write = svc.write(w);
            if let Some(holder) = serving(t, write.node, write.port)
                && !holds(&t.services[holder], write.what, write.name)
            {
                found!(
                    Problem::NotHeldThere {
                        service: svc.kind(),
                        node: svc.node(),
                        slot: write.slot,
                        what: write.what,
                        name: write.name,
                        holder: t.services[holder].kind(),
                        target: write.node,
                        remedy: write.remedy,
                    },
                    Some(s)
                );
            }
            w += 1;
        }
        s += 1;
    }

    // Clusters: an even number of members gains no fault tolerance over
    // one fewer (a majority of 2k is k+1, surviving k-1 down, as 2k-1
    // members do), unless the topology says it means it.
    let mut s = 0;
    while s < t.services.len() {
        if let Some(cluster) = t.services[s].cluster() {
            let (mut members, mut first, mut last) = (0, usize::MAX, 0);
            let mut m = 0;
            while m < t.services.len() {
                if let Some(other) = t.services[m].cluster()
                    && same(other, cluster)
                {
                    members += 1;
                    if first == usize::MAX {
                        first = m;
                    }
                    last = m;
                }
                m += 1;
            }
            if first == s && members % 2 == 0 && !allows_even(t, cluster) {
                found!(Problem::EvenCluster { cluster, members }, Some(last));
            }
        }
        s += 1;
    }

    // State stores: a service that keeps its state in chainfire lists every
    // member of the cluster, or it loses chainfire whenever the members it
    // lists are down, though the cluster has its majority.
    let members = state_store_members(t);
    let mut s = 0;
    while s < t.services.len() {
        let svc = &t.services[s];
        if let Some(integration) = svc.integration() {
            let (mut listed, mut missing) = (0, None);
            let mut m = 0;
            while m < t.services.len() {
                if let Some(port) = state_store_port(&t.services[m]) {
                    let member = t.services[m].node();
                    let mut found = false;
                    let mut i = 0;
                    while i < integration.state_store.len() {
                        let dep = &integration.state_store[i];
                        if same(dep.node().as_str(), member.as_str())
                            && dep.port().get() == port.get()
                        {
                            found = true;
                        }
                        i += 1;
                    }
                    if found {
                        listed += 1;
                    } else if missing.is_none() {
                        missing = Some(member);
                    }
                }
                m += 1;
            }
            if let Some(missing) = missing
                && listed > 0
            {
                found!(
                    Problem::PartialStateStore {
                        service: svc.kind(),
                        node: svc.node(),
                        listed,
                        members,
                        missing,
                    },
                    Some(s)
                );
            }
        }
        s += 1;
    }
    None
}

/// Whether the topology allows cluster `cluster` an even size.
const fn allows_even(t: &TopologyDecl<'_>, cluster: &str) -> bool {
    let mut a = 0;
    while a < t.allowed.len() {
        let Allow::EvenCluster(allowed) = t.allowed[a];
        if same(allowed, cluster) {
            return true;
        }
        a += 1;
    }
    false
}

/// The index of the service listening on `port` of `node`, if one does.
const fn serving(t: &TopologyDecl<'_>, node: NodeName, port: Port) -> Option<usize> {
    let mut s = 0;
    while s < t.services.len() {
        let svc = &t.services[s];
        if same(svc.node().as_str(), node.as_str()) {
            let mut l = 0;
            while l < svc.listener_count() {
                if svc.listener(l).port.get() == port.get() {
                    return Some(s);
                }
                l += 1;
            }
        }
        s += 1;
    }
    None
}

/// Whether `svc` holds `what` named `name`.
const fn holds(svc: &ServiceDecl, what: &str, name: &str) -> bool {
    let mut h = 0;
    while h < svc.held_count() {
        let held = svc.held(h);
        if same(held.what, what) && same_domain(held.name, name) {
            return true;
        }
        h += 1;
    }
    false
}

/// Whether a service on `node` listens speaking `protocol`.
const fn serves_on(t: &TopologyDecl<'_>, node: NodeName, protocol: &str) -> bool {
    let mut s = 0;
    while s < t.services.len() {
        let svc = &t.services[s];
        if same(svc.node().as_str(), node.as_str()) {
            let mut l = 0;
            while l < svc.listener_count() {
                if same(svc.listener(l).protocol, protocol) {
                    return true;
                }
                l += 1;
            }
        }
        s += 1;
    }
    false
}

/// The port a member of a clustered state store (a service in a cluster
/// that speaks the etcd v3 API: chainfire) takes clients on, if `svc` is
/// one.
const fn state_store_port(svc: &ServiceDecl) -> Option<Port> {
    if svc.cluster().is_none() {
        return None;
    }
    let mut l = 0;
    while l < svc.listener_count() {
        let listener = svc.listener(l);
        if same(listener.protocol, "etcd-v3") {
            return Some(listener.port);
        }
        l += 1;
    }
    None
}

/// How many members the topology's state-store cluster has.
const fn state_store_members(t: &TopologyDecl<'_>) -> usize {
    let mut count = 0;
    let mut s = 0;
    while s < t.services.len() {
        if state_store_port(&t.services[s]).is_some() {
            count += 1;
        }
        s += 1;
    }
    count
}

/// The first problem, if any.
pub const fn first_problem(t: &TopologyDecl<'_>) -> Option<Problem> {
    nth_problem(t, 0)
}

/// Every problem, in order (run time).
pub fn problems(t: &TopologyDecl<'_>) -> Vec<Problem> {
    (0..).map_while(|n| nth_problem(t, n)).collect()
}

/// Fails the build (in a `const`) with the first problem's message.
#[track_caller]
pub const fn assert_valid(t: &TopologyDecl<'_>) {
    if let Some(problem) = first_problem(t) {
        problem.message(t).panic()
    }
}

/// Fails the build with the first problem of the topology as a whole (no
/// nodes, a node listed twice); `topology!` runs it on the `nodes` list.
#[track_caller]
pub const fn assert_topology(t: &TopologyDecl<'_>) {
    assert_located(t, None)
}

/// Fails the build with the first problem that belongs to service `index`;
/// `topology!` runs it once per service, spanned on that service's name, so
/// the error points at the line that introduced the mistake.
#[track_caller]
pub const fn assert_service(t: &TopologyDecl<'_>, index: usize) {
    assert_located(t, Some(index))
}

#[track_caller]
const fn assert_located(t: &TopologyDecl<'_>, culprit: Option<usize>) {
    let mut n = 0;
    while let Some((problem, at)) = nth_located(t, n) {
        let mine = match (at, culprit) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        if mine {
            problem.message(t).panic()
        }
        n += 1;
    }
}

const fn listener_text(text: ConstText, l: ListenerRef) -> ConstText {
    text.quoted(l.service.as_str())
        .push(" (")
        .push(l.protocol)
        .push(" listener ")
        .quoted(l.listener)
        .push(")")
}

/// "service `kind` on node `node`", the subject of most messages.
const fn service_on(text: ConstText, service: ServiceKind, node: NodeName) -> ConstText {
    text.push("service ")
        .quoted(service.as_str())
        .push(" on node ")
        .quoted(node.as_str())
}

/// "needs <protocol> (`slot`) at node `target` port N".
const fn needs_at(
    text: ConstText,
    protocol: &str,
    slot: &str,
    target: NodeName,
    port: Port,
) -> ConstText {
    text.push(" needs ")
        .push(protocol)
        .push(" (")
        .quoted(slot)
        .push(") at node ")
        .quoted(target.as_str())
        .push(" port ")
        .number(port.get() as i128)
}

impl Problem {
    /// The message, in the user's terms (node, service, port, protocol).
    pub const fn message(&self, t: &TopologyDecl<'_>) -> ConstText {
        let text = ConstText::new();
        match *self {
            Problem::NoNodes => {
                text.push("the topology declares no nodes: list them in `nodes: [...]`")
            }
            Problem::DuplicateNode { node } => text
                .push("two nodes in `nodes: [...]` are named ")
                .quoted(node.as_str())
                .push(": a node is listed twice, or two node types share the name; give each node its own name in `nodes!`"),
            Problem::UndeclaredNode { service, node } => not_declared(
                text.push("service ")
                    .quoted(service.as_str())
                    .push(" is placed on node ")
                    .quoted(node.as_str()),
                t,
            ),
            Problem::UnknownNodeNamed {
                service,
                node,
                slot,
                target,
            } => not_declared(
                service_on(text, service, node)
                    .push(": ")
                    .quoted(slot)
                    .push(" names node ")
                    .quoted(target.as_str()),
                t,
            ),
            Problem::NotServedThere {
                service,
                node,
                slot,
                target,
                expected,
            } => service_on(text, service, node)
                .push(": ")
                .quoted(slot)
                .push(" names node ")
                .quoted(target.as_str())
                .push(", but nothing on it serves protocol ")
                .quoted(expected)
                .push(": place a ")
                .quoted(expected)
                .push(" server there (or a balancer in front of some), or name a node that has one"),
            Problem::NotHeldThere {
                service,
                node,
                slot,
                what,
                name,
                holder,
                target,
                remedy,
            } => service_on(text, service, node)
                .push(": ")
                .quoted(slot)
                .push(" writes into the ")
                .push(what)
                .push(" ")
                .quoted(name)
                .push(" of ")
                .quoted(holder.as_str())
                .push(" on node ")
                .quoted(target.as_str())
                .push(", which does not keep it: ")
                .push(remedy),
            Problem::InvalidSettings {
                service,
                node,
                reason,
            } => service_on(text, service, node)
                .push(": ")
                .push(reason.as_str()),
            Problem::DuplicateService { node, service } => text
                .push("node ")
                .quoted(node.as_str())
                .push(" runs service ")
                .quoted(service.as_str())
                .push(" twice: place one per node"),
            Problem::PortTaken {
                node,
                port,
                first,
                second,
            } => {
                let text = text
                    .push("node ")
                    .quoted(node.as_str())
                    .push(": port ")
                    .number(port.get() as i128)
                    .push(" is taken by both ");
                let text = listener_text(text, first).push(" and ");
                listener_text(text, second)
            }
            Problem::NothingListens {
                service,
                node,
                slot,
                protocol,
                target,
                port,
                provider,
            } => {
                let text = needs_at(service_on(text, service, node), protocol, slot, target, port)
                    .push(", but no service of the topology listens there");
                if provider.is_empty() {
                    text
                } else {
                    text.push(": the ")
                        .quoted(provider)
                        .push(" that endpoint comes from is not in `services: [...]`")
                }
            }
            Problem::EvenCluster { cluster, members } => text
                .push("the ")
                .quoted(cluster)
                .push(" cluster has ")
                .number(members as i128)
                .push(" members: a majority of them is ")
                .number((members / 2 + 1) as i128)
                .push(", so it survives ")
                .number((members / 2 - 1) as i128)
                .push(" down, as ")
                .number((members - 1) as i128)
                .push(if members == 2 { " member would" } else { " members would" })
                .push("; make it ")
                .number((members - 1) as i128)
                .push(" or ")
                .number((members + 1) as i128)
                .push(", or say it is meant with `allow: [Allow::EvenCluster(\"")
                .push(cluster)
                .push("\")]` in the topology"),
            Problem::PartialStateStore {
                service,
                node,
                listed,
                members,
                missing,
            } => service_on(text, service, node)
                .push(" lists ")
                .number(listed as i128)
                .push(" of the state store's ")
                .number(members as i128)
                .push(" members in its `state_store`, not the one on node ")
                .quoted(missing.as_str())
                .push(": list every member, or it loses its state whenever those it lists are down, though the cluster still has a majority"),
            Problem::WrongProtocolThere {
                service,
                node,
                slot,
                protocol,
                target,
                port,
                found,
            } => {
                let text = needs_at(
                    service_on(text, service, node),
                    protocol,
                    slot,
                    target,
                    port,
                )
                .push(", but what listens there is ");
                listener_text(text, found)
            }
        }
    }
}

//! The address resolver: node -> address, as in the article's `AddressResolver`.

use std::net::{IpAddr, Ipv4Addr};

use crate::{HostName, NodeName};

/// How the nodes of a deployment find each other, compiled into the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPlan {
    /// Every node on this machine, node `i` (0-based, in `nodes: [...]` order)
    /// on loopback address `base + i + 1` (`127.0.1.1`, `127.0.1.2`, ...).
    /// `up` always uses this; so does `run` for deployments that compile no
    /// other plan.
    Loopback,
    /// Fixed addresses, known when the deployment is built.
    Static(Vec<(NodeName, IpAddr)>),
    /// Each node is reachable by its name as a host name (`server`, or
    /// `server.<domain>`), resolved through the system resolver at connect time.
    HostNames {
        /// Appended to every node name, if set.
        domain: Option<HostName>,
    },
    /// Each node's address as a standalone server's configuration writes
    /// it: the server itself, and the remote endpoints it names (which may
    /// share a host: they are told apart by port).
    Listed(Vec<(NodeName, NodeAddress)>),
}

/// The first loopback block `up` uses unless told otherwise.
pub const DEFAULT_LOOPBACK_BASE: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 0);

/// Where to connect to reach a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAddress {
    /// A literal address.
    Ip(IpAddr),
    /// A host name for the system resolver.
    Host(String),
}

impl std::fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeAddress::Ip(ip) => write!(f, "{ip}"),
            NodeAddress::Host(host) => f.write_str(host),
        }
    }
}

impl NodeAddress {
    /// `host:port`, brackets around an IPv6 address.
    pub fn with_port(&self, port: u16) -> String {
        match self {
            NodeAddress::Ip(ip) => std::net::SocketAddr::new(*ip, port).to_string(),
            NodeAddress::Host(host) => format!("{host}:{port}"),
        }
    }
}

/// Why a node has no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The node is not part of the topology.
    #[error("unknown node `{node}`; the topology's nodes are: {known}")]
    UnknownNode {
        /// The name asked for.
        node: String,
        /// The valid names, comma-separated.
        known: String,
    },
    /// A static plan leaves this node out.
    #[error("node `{node}` has no address in the compiled address plan")]
    NoStaticAddress {
        /// The node.
        node: NodeName,
    },
    /// A static plan gives one node two addresses.
    #[error("node `{node}` has two addresses in the compiled address plan ({first} and {second})")]
    TwoStaticAddresses {
        /// The node.
        node: NodeName,
        /// The first address listed.
        first: IpAddr,
        /// The second.
        second: IpAddr,
    },
    /// A static plan names a node the topology does not declare.
    #[error(
        "the compiled address plan gives an address to `{node}`, which is not a node of the topology"
    )]
    StaticAddressForUnknownNode {
        /// The node.
        node: NodeName,
    },
    /// Two nodes of a static plan share an address.
    #[error(
        "nodes `{first}` and `{second}` have the same address {address} in the compiled address plan"
    )]
    SharedStaticAddress {
        /// The node listed first.
        first: NodeName,
        /// The node listed second.
        second: NodeName,
        /// The address.
        address: IpAddr,
    },
    /// The loopback base leaves no room for this many nodes.
    #[error(
        "loopback base {base} has no room for {count} nodes (the last octet plus the node count must stay below 255)"
    )]
    LoopbackFull {
        /// The base address.
        base: Ipv4Addr,
        /// How many nodes.
        count: usize,
    },
    /// The loopback base is not in 127.0.0.0/8.
    #[error("loopback base {base} is not a loopback address (127.x.y.z)")]
    NotLoopback {
        /// The base address.
        base: Ipv4Addr,
    },
}

/// A static plan must give every node exactly one address of its own, so a
/// gap is found when the binary starts, not when a dependency is first dialled.
/// (Two nodes on one address would also let their ports collide unseen: the
/// port checks are per node.)
fn check_static_plan(nodes: &[NodeName], map: &[(NodeName, IpAddr)]) -> Result<(), ResolveError> {
    for (i, &(node, address)) in map.iter().enumerate() {
        if !nodes.contains(&node) {
            return Err(ResolveError::StaticAddressForUnknownNode { node });
        }
        for &(earlier, earlier_address) in &map[..i] {
            if earlier == node {
                return Err(ResolveError::TwoStaticAddresses {
                    node,
                    first: earlier_address,
                    second: address,
                });
            }
            if earlier_address == address {
                return Err(ResolveError::SharedStaticAddress {
                    first: earlier,
                    second: node,
                    address,
                });
            }
        }
    }
    match nodes.iter().find(|n| !map.iter().any(|(m, _)| m == *n)) {
        Some(&node) => Err(ResolveError::NoStaticAddress { node }),
        None => Ok(()),
    }
}

/// Maps node names to addresses for one run of a deployment.
#[derive(Debug, Clone)]
pub struct Resolver {
    nodes: Vec<NodeName>,
    plan: AddressPlan,
    loopback_base: Ipv4Addr,
}

impl Resolver {
    /// A resolver for `nodes` following `plan`; `loopback_base` is used by
    /// [`AddressPlan::Loopback`].
    pub fn new(
        nodes: Vec<NodeName>,
        plan: AddressPlan,
        loopback_base: Ipv4Addr,
    ) -> Result<Self, ResolveError> {
        if plan == AddressPlan::Loopback {
            if !loopback_base.is_loopback() {
                return Err(ResolveError::NotLoopback {
                    base: loopback_base,
                });
            }
            if loopback_base.octets()[3] as usize + nodes.len() >= 255 {
                return Err(ResolveError::LoopbackFull {
                    base: loopback_base,
                    count: nodes.len(),
                });
            }
        }
        if let AddressPlan::Static(map) = &plan {
            check_static_plan(&nodes, map)?;
        }
        if let AddressPlan::Listed(map) = &plan
            && let Some(&node) = nodes.iter().find(|n| !map.iter().any(|(m, _)| m == *n))
        {
            return Err(ResolveError::NoStaticAddress { node });
        }
        Ok(Resolver {
            nodes,
            plan,
            loopback_base,
        })
    }

    /// A resolver for exactly the nodes `addresses` lists, each where it
    /// says ([`AddressPlan::Listed`]: a standalone server and the remotes
    /// its configuration names).
    pub fn listed(addresses: Vec<(NodeName, NodeAddress)>) -> Result<Self, ResolveError> {
        Resolver::new(
            addresses.iter().map(|(node, _)| *node).collect(),
            AddressPlan::Listed(addresses),
            DEFAULT_LOOPBACK_BASE,
        )
    }

    /// The plan in use.
    pub fn plan(&self) -> &AddressPlan {
        &self.plan
    }

    /// The node called `name`, or an error listing the valid names.
    pub fn node(&self, name: &str) -> Result<NodeName, ResolveError> {
        self.nodes
            .iter()
            .copied()
            .find(|n| n.as_str() == name)
            .ok_or_else(|| ResolveError::UnknownNode {
                node: name.to_owned(),
                known: self
                    .nodes
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Where to connect to reach `node`.
    pub fn resolve(&self, node: NodeName) -> Result<NodeAddress, ResolveError> {
        let index = self
            .nodes
            .iter()
            .position(|n| *n == node)
            .ok_or_else(|| self.node(node.as_str()).unwrap_err())?;
        Ok(match &self.plan {
            AddressPlan::Loopback => {
                let [a, b, c, d] = self.loopback_base.octets();
                NodeAddress::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d + index as u8 + 1)))
            }
            AddressPlan::Static(map) => map
                .iter()
                .find(|(n, _)| *n == node)
                .map(|(_, ip)| NodeAddress::Ip(*ip))
                .ok_or(ResolveError::NoStaticAddress { node })?,
            AddressPlan::Listed(map) => map
                .iter()
                .find(|(n, _)| *n == node)
                .map(|(_, address)| address.clone())
                .ok_or(ResolveError::NoStaticAddress { node })?,
            AddressPlan::HostNames { domain } => NodeAddress::Host(match domain {
                Some(domain) => format!("{node}.{domain}"),
                None => node.to_string(),
            }),
        })
    }

    /// The address a service on `node` binds to: its own loopback alias on a
    /// local run, every interface otherwise.
    pub fn bind_ip(&self, node: NodeName) -> Result<IpAddr, ResolveError> {
        match self.plan {
            AddressPlan::Loopback => match self.resolve(node)? {
                NodeAddress::Ip(ip) => Ok(ip),
                NodeAddress::Host(_) => unreachable!("loopback plan yields addresses"),
            },
            _ => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<NodeName> {
        vec![
            NodeName::from_literal("server"),
            NodeName::from_literal("client"),
        ]
    }

    #[test]
    fn loopback_gives_each_node_its_own_address() {
        let r = Resolver::new(names(), AddressPlan::Loopback, DEFAULT_LOOPBACK_BASE).unwrap();
        let server = r.node("server").unwrap();
        let client = r.node("client").unwrap();
        assert_eq!(
            r.resolve(server).unwrap(),
            NodeAddress::Ip("127.0.1.1".parse().unwrap())
        );
        assert_eq!(
            r.resolve(client).unwrap(),
            NodeAddress::Ip("127.0.1.2".parse().unwrap())
        );
        assert_eq!(
            r.bind_ip(client).unwrap(),
            "127.0.1.2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn loopback_base_is_checked() {
        let err =
            Resolver::new(names(), AddressPlan::Loopback, Ipv4Addr::new(10, 0, 0, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "loopback base 10.0.0.0 is not a loopback address (127.x.y.z)"
        );
        assert!(
            Resolver::new(
                names(),
                AddressPlan::Loopback,
                Ipv4Addr::new(127, 0, 0, 253)
            )
            .is_err()
        );
    }

    #[test]
    fn unknown_node_lists_the_valid_ones() {
        let r = Resolver::new(names(), AddressPlan::Loopback, DEFAULT_LOOPBACK_BASE).unwrap();
        assert_eq!(
            r.node("sever").unwrap_err().to_string(),
            "unknown node `sever`; the topology's nodes are: server, client"
        );
    }

    #[test]
    fn a_static_plan_must_give_each_node_one_address_of_its_own() {
        let server = NodeName::from_literal("server");
        let client = NodeName::from_literal("client");
        let stray = NodeName::from_literal("stray");
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let check = |map: Vec<(NodeName, IpAddr)>| {
            Resolver::new(names(), AddressPlan::Static(map), DEFAULT_LOOPBACK_BASE)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            check(vec![(server, a)]),
            "node `client` has no address in the compiled address plan"
        );
        assert_eq!(
            check(vec![(server, a), (client, b), (server, b)]),
            "node `server` has two addresses in the compiled address plan (10.0.0.1 and 10.0.0.2)"
        );
        assert_eq!(
            check(vec![(server, a), (client, a)]),
            "nodes `server` and `client` have the same address 10.0.0.1 in the compiled address plan"
        );
        assert_eq!(
            check(vec![(server, a), (client, b), (stray, a)]),
            "the compiled address plan gives an address to `stray`, which is not a node of the topology"
        );
    }

    #[test]
    fn static_and_host_name_plans() {
        let server = NodeName::from_literal("server");
        let client = NodeName::from_literal("client");
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let other: IpAddr = "10.1.2.4".parse().unwrap();
        let r = Resolver::new(
            names(),
            AddressPlan::Static(vec![(server, ip), (client, other)]),
            DEFAULT_LOOPBACK_BASE,
        )
        .unwrap();
        assert_eq!(r.resolve(server).unwrap(), NodeAddress::Ip(ip));
        assert_eq!(
            r.bind_ip(server).unwrap(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );

        let r = Resolver::new(
            names(),
            AddressPlan::HostNames {
                domain: Some(HostName::from_literal("corp.example")),
            },
            DEFAULT_LOOPBACK_BASE,
        )
        .unwrap();
        assert_eq!(
            r.resolve(client).unwrap(),
            NodeAddress::Host("client.corp.example".into())
        );
    }
}

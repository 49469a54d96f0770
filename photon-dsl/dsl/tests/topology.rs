//! Topology checks, start order and fingerprint, on small test services.

use photon_dsl::prelude::*;
use photon_dsl::{NodeName, Provides, ServiceDecl, ServiceSpec, Topology, TopologyError};

nodes! {
    pub A = "node-a";
    pub B = "node-b";
}

/// A server speaking `P` on one port.
// `node` fixes the node type; only `Debug` (the fingerprint) reads it.
#[allow(dead_code)]
#[derive(Debug)]
struct Server<N: Node, P: Protocol> {
    node: N,
    kind: &'static str,
    port: Port,
    _p: std::marker::PhantomData<fn() -> P>,
}

impl<N: Node, P: Protocol> Server<N, P> {
    const fn new(node: N, kind: &'static str, port: Port) -> Self {
        Server {
            node,
            kind,
            port,
            _p: std::marker::PhantomData,
        }
    }
    const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>(self.kind).listens::<P>("main", self.port)
    }
    const fn endpoint(&self) -> Endpoint<N, P> {
        Endpoint::provided_by(self, self.port, None)
    }
}
impl<N: Node, P: Protocol> ServiceSpec for Server<N, P> {
    fn declare(&self) -> ServiceDecl {
        Server::declare(self)
    }
}
impl<N: Node, P: Protocol> Provides<P> for Server<N, P> {
    type OnNode = N;
}

/// A client needing `P`.
#[allow(dead_code)]
#[derive(Debug)]
struct Client<N: Node, P: Protocol> {
    node: N,
    kind: &'static str,
    upstream: Dep<P>,
}
impl<N: Node, P: Protocol> Client<N, P> {
    const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>(self.kind).needs("upstream", &self.upstream)
    }
}
impl<N: Node, P: Protocol> ServiceSpec for Client<N, P> {
    fn declare(&self) -> ServiceDecl {
        Client::declare(self)
    }
}

const KV: Server<A, EtcdV3> = Server::new(A, "kv", port!(2379));
const DNS: Server<B, Dns> = Server::new(B, "dns", port!(53));

fn base() -> Topology {
    Topology::new(
        photon_dsl::DeploymentName::from_literal("test"),
        photon_dsl::ConfigVersion::from_literal("1.0.0", "main"),
    )
    .with_node(A::NAME)
    .with_node(B::NAME)
}

fn messages(t: &Topology) -> Vec<String> {
    match t.check() {
        Ok(()) => vec![],
        Err(TopologyError::Invalid { messages }) => messages,
        Err(other) => vec![other.to_string()],
    }
}

#[test]
fn a_valid_topology_passes_and_starts_providers_first() {
    let t = base()
        .with_service(Box::new(Client {
            node: B,
            kind: "app",
            upstream: Dep::on(KV.endpoint()),
        }))
        .with_service(Box::new(KV));
    assert_eq!(messages(&t), Vec::<String>::new());
    // The client was declared first but depends on kv, so kv starts first.
    assert_eq!(t.start_order().unwrap(), vec![1, 0]);
}

#[test]
fn port_collision_names_node_port_and_both_services() {
    let t = base()
        .with_service(Box::new(KV))
        .with_service(Box::new(Server::<A, S3>::new(A, "store", port!(2379))));
    assert_eq!(
        messages(&t),
        vec![
            "node `node-a`: port 2379 is taken by both `kv` (etcd-v3 listener `main`) and `store` (s3 listener `main`)"
        ]
    );
}

#[test]
fn tcp_and_udp_on_one_port_do_not_collide() {
    #[derive(Debug)]
    struct Udp;
    impl Protocol for Udp {
        const NAME: &'static str = "udp-thing";
        const TRANSPORT: Transport = Transport::Udp;
        const HAS_PATH: bool = false;
    }
    let t = base()
        .with_service(Box::new(Server::<A, RawTcp>::new(
            A,
            "tcp-svc",
            port!(9000),
        )))
        .with_service(Box::new(Server::<A, Udp>::new(A, "udp-svc", port!(9000))));
    assert_eq!(messages(&t), Vec::<String>::new());
    // But DNS (TCP and UDP) collides with either.
    let t = base()
        .with_service(Box::new(Server::<B, Udp>::new(B, "udp-svc", port!(53))))
        .with_service(Box::new(DNS));
    assert_eq!(messages(&t).len(), 1);
}

#[test]
fn undeclared_node_and_dangling_dependency_are_reported() {
    nodes! { pub C = "node-c"; }
    let t = base()
        .with_service(Box::new(Server::<C, S3>::new(C, "store", port!(9000))))
        .with_service(Box::new(Client {
            node: A,
            kind: "app",
            upstream: Dep::on(KV.endpoint()),
        }));
    assert_eq!(
        messages(&t),
        vec![
            "service `store` is placed on node `node-c`, which the topology does not declare (declared nodes: node-a, node-b)".to_string(),
            "service `app` on node `node-a` needs etcd-v3 (`upstream`) at node `node-a` port 2379, but no service of the topology listens there".to_string(),
        ]
    );
}

#[test]
fn a_node_named_in_settings_must_be_declared() {
    nodes! { pub C = "node-c"; }
    /// A service whose settings name nodes (as a DNS zone's records do).
    #[derive(Debug)]
    struct Namer(&'static [NodeName]);
    impl ServiceSpec for Namer {
        fn declare(&self) -> ServiceDecl {
            let mut decl = ServiceDecl::new::<A>("namer");
            for node in self.0 {
                decl = decl.refers_to("zones", *node);
            }
            decl
        }
    }
    let known = base().with_service(Box::new(Namer(&[B::NAME, A::NAME, B::NAME])));
    assert_eq!(messages(&known), Vec::<String>::new());
    let unknown = base().with_service(Box::new(Namer(&[B::NAME, C::NAME, C::NAME])));
    assert_eq!(
        messages(&unknown),
        vec![
            "service `namer` on node `node-a`: `zones` names node `node-c`, which the topology does not declare (declared nodes: node-a, node-b)"
        ],
        "named once, reported once"
    );
}

#[test]
fn a_write_into_a_zone_needs_the_named_server_to_hold_it() {
    /// A DNS server holding the stored zones it lists.
    #[derive(Debug)]
    struct Holder(&'static [&'static str]);
    impl ServiceSpec for Holder {
        fn declare(&self) -> ServiceDecl {
            let mut decl = ServiceDecl::new::<B>("dns").listens::<Dns>("dns", port!(53));
            for zone in self.0 {
                decl = decl.holds("stored zone", zone);
            }
            decl
        }
    }
    /// A service publishing names into `zone` of that server.
    #[derive(Debug)]
    struct Writer(&'static str);
    impl ServiceSpec for Writer {
        fn declare(&self) -> ServiceDecl {
            let server = Dep::on(DNS.endpoint());
            ServiceDecl::new::<A>("writer")
                .needs("dns", &server)
                .writes_into("dns", "stored zone", self.0, &server, "hold it")
        }
    }
    let with = |held: &'static [&'static str], zone| {
        messages(
            &base()
                .with_service(Box::new(Holder(held)))
                .with_service(Box::new(Writer(zone))),
        )
    };
    assert_eq!(
        with(&["apps.internal", "VPC.internal."], "vpc.internal"),
        Vec::<String>::new(),
        "names compare without case or the root dot"
    );
    assert_eq!(
        with(&["apps.internal"], "vpc.internal"),
        vec![
            "service `writer` on node `node-a`: `dns` writes into the stored zone `vpc.internal` of `dns` on node `node-b`, which does not keep it: hold it"
        ]
    );
    // Nothing at the endpoint is the dependency's problem, said once.
    let alone = base().with_service(Box::new(Writer("vpc.internal")));
    assert_eq!(messages(&alone).len(), 1, "{:?}", messages(&alone));
    assert!(messages(&alone)[0].contains("no service of the topology listens there"));
}

#[test]
fn dependency_pointing_at_another_protocol_says_what_is_there() {
    // A hand-made endpoint pretending kv speaks DNS: only possible for a spec
    // that declares it provides DNS, and the check still sees the lie.
    let liar: Server<A, Dns> = Server::new(A, "liar", port!(2379));
    let t = base()
        .with_service(Box::new(KV))
        .with_service(Box::new(Client {
            node: B,
            kind: "app",
            upstream: Dep::on(liar.endpoint()),
        }));
    assert_eq!(
        messages(&t),
        vec![
            "service `app` on node `node-b` needs dns (`upstream`) at node `node-a` port 2379, but what listens there is `kv` (etcd-v3 listener `main`)"
        ]
    );
}

#[test]
fn duplicate_service_and_node_are_reported() {
    let t = base()
        .with_node(A::NAME)
        .with_service(Box::new(KV))
        .with_service(Box::new(Server::<A, EtcdV3>::new(A, "kv", port!(2380))));
    assert_eq!(
        messages(&t),
        vec![
            "two nodes in `nodes: [...]` are named `node-a`: a node is listed twice, or two node types share the name; give each node its own name in `nodes!`",
            "node `node-a` runs service `kv` twice: place one per node",
        ]
    );
}

#[test]
fn dependency_cycles_are_named() {
    // Two services that each need the other.
    #[allow(dead_code)]
    #[derive(Debug)]
    struct Peer<N: Node> {
        node: N,
        kind: &'static str,
        port: Port,
        other: Dep<RawTcp>,
    }
    impl<N: Node> ServiceSpec for Peer<N> {
        fn declare(&self) -> ServiceDecl {
            ServiceDecl::new::<N>(self.kind)
                .listens::<RawTcp>("peer", self.port)
                .needs("other", &self.other)
        }
    }
    impl<N: Node> Provides<RawTcp> for Peer<N> {
        type OnNode = N;
    }
    // Endpoints minted from stand-ins on the same nodes and port.
    let a_ep: Endpoint<A, RawTcp> = Server::<A, RawTcp>::new(A, "x", port!(7000)).endpoint();
    let b_ep: Endpoint<B, RawTcp> = Server::<B, RawTcp>::new(B, "x", port!(7000)).endpoint();
    let t = base()
        .with_service(Box::new(Peer {
            node: A,
            kind: "p",
            port: port!(7000),
            other: Dep::on(b_ep),
        }))
        .with_service(Box::new(Peer {
            node: B,
            kind: "p",
            port: port!(7000),
            other: Dep::on(a_ep),
        }));
    assert_eq!(
        t.check().unwrap_err().to_string(),
        "services depend on each other in a cycle: node-a/p -> node-b/p -> node-a/p"
    );
}

#[test]
fn fingerprint_is_stable_and_changes_with_any_setting() {
    let build = |port: Port| base().with_service(Box::new(Server::<A, S3>::new(A, "store", port)));
    let one = build(port!(9000)).fingerprint();
    assert_eq!(
        one,
        build(port!(9000)).fingerprint(),
        "same source, same fingerprint"
    );
    assert_ne!(
        one,
        build(port!(9001)).fingerprint(),
        "a port change is a new fingerprint"
    );
    let renamed = base().with_node(photon_dsl::NodeName::from_literal("extra"));
    assert_ne!(base().fingerprint(), renamed.fingerprint());
    assert_eq!(one.to_string().len(), 16);
    assert_eq!(one.full_hex().len(), 64);
}

#[test]
fn each_problem_belongs_to_the_service_that_introduced_it() {
    use photon_dsl::check::{TopologyDecl, nth_located};
    let decls = [
        KV.declare(),
        Server::<A, S3>::new(A, "store", port!(2379)).declare(),
        Client {
            node: B,
            kind: "app",
            upstream: Dep::on(Server::<B, Nats>::new(B, "bus", port!(4222)).endpoint()),
        }
        .declare(),
    ];
    let nodes = [A::NAME, A::NAME, B::NAME];
    let t = TopologyDecl {
        nodes: &nodes,
        services: &decls,
        allowed: &[],
    };
    let culprits: Vec<Option<usize>> = (0..)
        .map_while(|n| nth_located(&t, n))
        .map(|(_, at)| at)
        .collect();
    // The node listed twice is the topology's; the port collision is the
    // second listener's (`store`); the dangling dependency is `app`'s.
    assert_eq!(culprits, vec![None, Some(1), Some(2)]);
}

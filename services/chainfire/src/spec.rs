//! chainfire's typed configuration (light: photon-dsl only).

use photon_dsl::protocol::EtcdV3;
use photon_dsl::{
    Declares, Endpoint, Node, Port, Protocol, Provides, ServiceDecl, ServiceSpec, Transport,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "chainfire";

/// Raft traffic between the members of one chainfire cluster. Only
/// chainfire speaks it, so it is declared here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaftPeer {}

impl Protocol for RaftPeer {
    const NAME: &'static str = "raft-peer";
    const TRANSPORT: Transport = Transport::Tcp;
    const HAS_PATH: bool = false;
}

photon_dsl::listener! {
    /// Where etcd v3 clients connect (and `/health`, `/metrics`).
    pub ClientListener: EtcdV3 = "client";
    /// Where the other members send Raft traffic.
    pub PeerListener: RaftPeer = "peer";
}

/// One chainfire member, placed on node `N`.
///
/// The cluster is every `Chainfire` in the topology: membership is compiled
/// in, so there is no member list to keep in step by hand.
#[derive(Debug, Clone, Copy)]
pub struct Chainfire<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Where etcd v3 clients connect (etcd's default is 2379).
    pub client_port: Port,
    /// Where the other members send Raft traffic (etcd's default is 2380).
    pub peer_port: Port,
    /// What one request may ask ([`Limits::DEFAULT`] is etcd's).
    pub limits: Limits,
}

/// How far a member lets requests and its Raft log grow, bounded as etcd's
/// flags bound them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Compares, or operations in either branch, that one transaction may
    /// hold (etcd's `--max-txn-ops`); a larger one is refused with etcd's
    /// error before it is proposed.
    pub max_txn_ops: u32,
    /// Log entries applied between two Raft snapshots (etcd's
    /// `--snapshot-count`). A member that falls further behind than this
    /// (and the 1 000 entries kept after a snapshot) catches up from a
    /// snapshot instead of the log.
    pub snapshot_count: u32,
}

impl Limits {
    /// etcd's defaults: 128 operations per transaction, a snapshot every
    /// 100 000 entries.
    pub const DEFAULT: Limits = Limits {
        max_txn_ops: 128,
        snapshot_count: 100_000,
    };
}

impl<N: Node> Chainfire<N> {
    /// A member on `node` with etcd's ports (clients on 2379, peers on
    /// 2380) and [`Limits::DEFAULT`]; change a field with struct update
    /// (`Chainfire { client_port: port!(12379), ..Chainfire::new(Kv) }`).
    pub const fn new(node: N) -> Chainfire<N> {
        Chainfire {
            node,
            client_port: photon_dsl::port!(2379),
            peer_port: photon_dsl::port!(2380),
            limits: Limits::DEFAULT,
        }
    }

    /// The same member settings on node `node`: the other members of a
    /// cluster, written once (`const KV_2: Chainfire<Kv2> = KV_1.on(Kv2);`).
    pub const fn on<M: Node>(self, node: M) -> Chainfire<M> {
        Chainfire {
            node,
            client_port: self.client_port,
            peer_port: self.peer_port,
            limits: self.limits,
        }
    }

    /// Its listeners, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<ClientListener>(self.client_port)
            // `/health` and `/metrics` over HTTP/1.1 beside gRPC
            .with_health()
            .listens_on::<PeerListener>(self.peer_port)
            .in_cluster("chainfire");
        if self.limits.max_txn_ops == 0 {
            decl.reject("`limits.max_txn_ops` must be at least 1 (etcd's default is 128: `Limits::DEFAULT`)")
        } else if self.limits.snapshot_count == 0 {
            decl.reject("`limits.snapshot_count` must be at least 1 (etcd's default is 100000: `Limits::DEFAULT`)")
        } else {
            decl
        }
    }

    /// The etcd v3 endpoint integrated services keep their state in.
    pub const fn kv(&self) -> Endpoint<N, EtcdV3> {
        Endpoint::provided_by(self, self.client_port, None)
    }

    /// The Raft endpoint the other members talk to.
    pub const fn peer(&self) -> Endpoint<N, RaftPeer> {
        Endpoint::provided_by(self, self.peer_port, None)
    }
}

impl<N: Node> ServiceSpec for Chainfire<N> {
    fn declare(&self) -> ServiceDecl {
        Chainfire::declare(self)
    }
}

impl<N: Node> Declares<ClientListener> for Chainfire<N> {}
impl<N: Node> Declares<PeerListener> for Chainfire<N> {}

impl<N: Node> Provides<EtcdV3> for Chainfire<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

impl<N: Node> Provides<RaftPeer> for Chainfire<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

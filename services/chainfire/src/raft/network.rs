//! Member-to-member traffic over gRPC (`chainfire.raft.RaftPeer`), the
//! sending side and the messages: openraft's RPCs, plus the requests a
//! follower sends its leader (a client's write to propose, a read index for
//! a linearizable read, a lease question). The receiving side is
//! [`crate::member::peer_service`], which hands them to a member.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, LogId};
use serde::{Deserialize, Serialize};
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::{CommandResult, TypeConfig, decode, encode};
use crate::proto::raftpb::Frame;
use crate::proto::raftpb::raft_peer_client::RaftPeerClient;

/// Largest message between members (snapshot chunks are cut below it).
pub const MAX_PEER_MESSAGE: usize = 64 * 1024 * 1024;

/// What the leader answers a forwarded write.
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardedWrite {
    /// Applied.
    Done(CommandResult),
    /// The receiver is not (or no longer) the leader.
    NotLeader {
        /// Who it thinks leads.
        leader: Option<u64>,
    },
    /// Raft failed on the leader.
    Failed(String),
}

/// What the leader answers a read-index request.
#[derive(Debug, Serialize, Deserialize)]
pub enum ReadIndex {
    /// Reads are linearizable once the asker has applied this log id.
    At(Option<LogId<u64>>),
    /// The receiver is not (or no longer) the leader.
    NotLeader {
        /// Who it thinks leads.
        leader: Option<u64>,
    },
    /// The leader could not confirm its leadership.
    Failed(String),
}

/// A lease question a follower asks the leader, whose clock is the one that
/// counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum LeaseQuestion {
    /// Restart the lease's clock (a keep-alive).
    Renew(i64),
    /// How long the lease has left.
    Remaining(i64),
}

/// The leader's answer to a [`LeaseQuestion`].
#[derive(Debug, Serialize, Deserialize)]
pub enum LeaseAnswer {
    /// For `Renew`: the granted TTL, or `None` if the lease does not exist.
    Renewed(Option<i64>),
    /// For `Remaining`: (seconds left, granted TTL), or `None`.
    Remaining(Option<(i64, i64)>),
    /// The receiver is not (or no longer) the leader.
    NotLeader,
    /// The leader failed to answer.
    Failed(String),
}

/// A member's peer address that cannot be dialled.
#[derive(Debug, thiserror::Error)]
#[error("`{addr}` is not a usable peer address: {source}")]
pub struct PeerAddressError {
    addr: String,
    source: tonic::codegen::http::uri::InvalidUri,
}

/// The configuration a member presents on every call to a peer
/// (`photon-config` metadata), so that members built from different
/// topologies notice each other (see `photon_runtime::skew`).
#[derive(Debug, Clone, Default)]
pub struct Presenting(pub Option<std::sync::Arc<photon_runtime::skew::ConfigCheck>>);

impl tonic::service::Interceptor for Presenting {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        if let Some(config) = self
            .0
            .as_ref()
            .and_then(|c| c.presented())
            .and_then(|v| MetadataValue::<Ascii>::try_from(v.as_bytes()).ok())
        {
            request
                .metadata_mut()
                .insert(photon_runtime::skew::HEADER, config);
        }
        Ok(request)
    }
}

/// A gRPC client to one member's peer listener.
pub type PeerClient = RaftPeerClient<InterceptedService<Channel, Presenting>>;

/// A client of the member whose peer listener is at `addr`, presenting
/// `presenting`.
pub fn peer_client(addr: &str, presenting: &Presenting) -> Result<PeerClient, PeerAddressError> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .map_err(|source| PeerAddressError {
            addr: addr.to_owned(),
            source,
        })?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(
        RaftPeerClient::with_interceptor(channel, presenting.clone())
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE),
    )
}

/// openraft's view of the other members.
#[derive(Debug, Clone, Default)]
pub struct Network(pub Presenting);

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        Peer {
            target,
            client: peer_client(&node.addr, &self.0),
        }
    }
}

/// One member, as openraft talks to it.
#[derive(Debug)]
pub struct Peer {
    target: u64,
    client: Result<PeerClient, PeerAddressError>,
}

type RpcResult<T, E> = Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

impl Peer {
    async fn call<Req, Resp, E>(
        &mut self,
        method: Method,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: for<'de> Deserialize<'de>,
        E: std::error::Error + for<'de> Deserialize<'de>,
    {
        let client = match &mut self.client {
            Ok(client) => client,
            Err(e) => return Err(RPCError::Unreachable(Unreachable::new(&*e))),
        };
        // A member that is still starting (or restarting) refuses
        // connections for a moment. Within the RPC's soft budget (for a
        // vote, the election timeout) that is retried here rather than
        // reported: openraft logs every failed vote as an error, and a
        // refusal that clears before the election ends is not one.
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        let body = encode(request);
        let body = loop {
            let mut frame = Request::new(Frame { body: body.clone() });
            frame.set_timeout(option.hard_ttl());
            let reply = match method {
                Method::AppendEntries => client.append_entries(frame).await,
                Method::Vote => client.vote(frame).await,
                Method::InstallSnapshot => client.install_snapshot(frame).await,
            };
            match reply {
                Ok(reply) => break reply.into_inner().body,
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    if started.elapsed() + pause >= option.soft_ttl() {
                        return Err(RPCError::Unreachable(Unreachable::new(&status)));
                    }
                    tracing::debug!(target = self.target, error = %status, "peer not reachable yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(status) => return Err(RPCError::Network(NetworkError::new(&status))),
            }
        };
        let result: Result<Resp, RaftError<u64, E>> =
            decode(&body).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[derive(Debug, Clone, Copy)]
enum Method {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>, openraft::error::Infallible> {
        // openraft bounds a request by its number of entries only; one the
        // peer would refuse as too large is sent again with fewer.
        let size: usize = rpc
            .entries
            .iter()
            .map(|entry| match &entry.payload {
                openraft::EntryPayload::Normal(command) => command.size() + 32,
                _ => 256,
            })
            .sum();
        if size > MAX_PEER_MESSAGE / 2 && rpc.entries.len() > 1 {
            let fit = (rpc.entries.len() * (MAX_PEER_MESSAGE / 2) / size).max(1);
            return Err(RPCError::PayloadTooLarge(
                openraft::error::PayloadTooLarge::new_entries_hint(fit as u64),
            ));
        }
        self.call(Method::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.call(Method::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>, openraft::error::Infallible> {
        self.call(Method::Vote, &rpc, &option).await
    }
}

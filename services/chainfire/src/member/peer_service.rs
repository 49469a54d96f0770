//! The receiving side of member-to-member traffic: the peer listener's
//! gRPC service, which hands each message to this member's Raft (and lease
//! questions to its lease clock). The messages and the sending side are
//! [`crate::raft::network`].

use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use super::Member;
use crate::proto::raftpb::Frame;
use crate::proto::raftpb::raft_peer_server::RaftPeer;
use crate::raft::network::{ForwardedWrite, LeaseQuestion, ReadIndex};
use crate::raft::{Command, TypeConfig, decode, encode};

/// The peer listener's service: hands each message to the local Raft (and
/// lease questions to the local lease clock).
#[derive(Clone)]
pub struct PeerService {
    member: Member,
}

impl std::fmt::Debug for PeerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerService").finish_non_exhaustive()
    }
}

impl PeerService {
    /// Serves `member`.
    pub fn new(member: Member) -> Self {
        PeerService { member }
    }
}

fn frame<T: Serialize>(value: &T) -> Result<Response<Frame>, Status> {
    Ok(Response::new(Frame {
        body: encode(value),
    }))
}

fn body<T: for<'de> Deserialize<'de>>(request: Request<Frame>) -> Result<T, Status> {
    decode(&request.into_inner().body)
        .map_err(|e| Status::invalid_argument(format!("malformed peer message: {e}")))
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(&self, request: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = body(request)?;
        frame(&self.member.raft().append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc: VoteRequest<u64> = body(request)?;
        frame(&self.member.raft().vote(rpc).await)
    }

    async fn install_snapshot(&self, request: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = body(request)?;
        let _receiving = self.member.hold_elections();
        frame(&self.member.raft().install_snapshot(rpc).await)
    }

    async fn forward(&self, request: Request<Frame>) -> Result<Response<Frame>, Status> {
        let command: Command = body(request)?;
        let outcome = match self.member.propose(command).await {
            Ok(Some(result)) => ForwardedWrite::Done(result),
            Ok(None) => ForwardedWrite::NotLeader {
                leader: self.member.term_and_leader().1,
            },
            Err(e) => ForwardedWrite::Failed(e.to_string()),
        };
        frame(&outcome)
    }

    async fn lease(&self, request: Request<Frame>) -> Result<Response<Frame>, Status> {
        let question: LeaseQuestion = body(request)?;
        frame(&self.member.answer_lease_question(question).await)
    }

    async fn timeout_now(&self, _request: Request<Frame>) -> Result<Response<Frame>, Status> {
        tracing::info!("the leader hands its leadership over; starting an election");
        let started = self.member.raft().trigger().elect().await.is_ok();
        frame(&started)
    }

    async fn read_index(&self, _request: Request<Frame>) -> Result<Response<Frame>, Status> {
        let outcome = match self.member.raft().get_read_log_id().await {
            Ok((read, _applied)) => ReadIndex::At(read),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(to))) => {
                ReadIndex::NotLeader {
                    leader: to.leader_id,
                }
            }
            Err(e) => ReadIndex::Failed(e.to_string()),
        };
        frame(&outcome)
    }
}

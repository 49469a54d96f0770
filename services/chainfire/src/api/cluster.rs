//! `etcdserverpb.Cluster`: the members are the compiled topology's chainfire
//! nodes, so only `MemberList` is served; changing membership means
//! deploying a new topology.

use tonic::{Request, Response, Status};

use super::header;
use crate::member::Member;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::{
    Member as EtcdMember, MemberAddRequest, MemberAddResponse, MemberListRequest,
    MemberListResponse, MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest,
    MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};

/// The Cluster service of one member.
#[derive(Debug, Clone)]
pub struct ClusterService {
    member: Member,
}

impl ClusterService {
    /// Serves `member`.
    pub fn new(member: Member) -> Self {
        ClusterService { member }
    }
}

fn compiled() -> Status {
    Status::failed_precondition(
        "etcdserver: chainfire's membership is the compiled topology; change it by deploying a new one",
    )
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        _: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        Err(compiled())
    }

    async fn member_remove(
        &self,
        _: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        Err(compiled())
    }

    async fn member_update(
        &self,
        _: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        Err(compiled())
    }

    async fn member_list(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let members = self
            .member
            .members()
            .iter()
            .map(|(&id, (name, addrs))| EtcdMember {
                id,
                name: name.clone(),
                peer_ur_ls: vec![format!("http://{}", addrs.peer)],
                client_ur_ls: vec![format!("http://{}", addrs.client)],
                is_learner: false,
            })
            .collect();
        let revision = self.member.revision();
        Ok(Response::new(MemberListResponse {
            header: header(&self.member, revision),
            members,
        }))
    }

    async fn member_promote(
        &self,
        _: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(compiled())
    }
}

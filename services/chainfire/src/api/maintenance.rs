//! `etcdserverpb.Maintenance`: status, alarms (none are raised),
//! defragmentation (RocksDB compacts on its own) and history hashes (to
//! compare members). Snapshots over the API and leader transfer are not
//! served yet.

use std::pin::Pin;

use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::header;
use crate::member::Member;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, HashKvRequest,
    HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest, MoveLeaderResponse,
    SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse, alarm_request,
};

/// The etcd API version chainfire implements; clients read it from `Status`.
pub const API_VERSION: &str = "3.5.0";

/// The Maintenance service of one member.
#[derive(Debug, Clone)]
pub struct MaintenanceService {
    member: Member,
}

impl MaintenanceService {
    /// Serves `member`.
    pub fn new(member: Member) -> Self {
        MaintenanceService { member }
    }
}

/// Bytes of the files directly in `dir` (RocksDB keeps its files flat).
fn dir_size(dir: &std::path::Path) -> i64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len() as i64)
                .sum()
        })
        .unwrap_or(0)
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        match request.into_inner().action() {
            alarm_request::AlarmAction::Get => Ok(Response::new(AlarmResponse {
                header: header(&self.member, self.member.revision()),
                alarms: Vec::new(),
            })),
            _ => Err(Status::unimplemented(
                "etcdserver: chainfire raises no alarms, so none can be set or cleared",
            )),
        }
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let metrics = self.member.raft().metrics().borrow().clone();
        let db_size = dir_size(self.member.data_dir());
        Ok(Response::new(StatusResponse {
            header: header(&self.member, self.member.revision()),
            version: API_VERSION.into(),
            db_size,
            leader: metrics.current_leader.unwrap_or(0),
            raft_index: metrics.last_log_index.unwrap_or(0),
            raft_term: metrics.current_term,
            raft_applied_index: metrics.last_applied.map_or(0, |id| id.index),
            errors: Vec::new(),
            db_size_in_use: db_size,
            is_learner: false,
        }))
    }

    async fn defragment(
        &self,
        _: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        Ok(Response::new(DefragmentResponse {
            header: header(&self.member, self.member.revision()),
        }))
    }

    async fn hash(&self, _: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        let store = self.member.read_store();
        let (hash, _) = store.hash_kv(0).map_err(|e| super::status_of(&e))?;
        Ok(Response::new(HashResponse {
            header: header(&self.member, store.revision()),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        let store = self.member.read_store();
        let (hash, compact_revision) = store
            .hash_kv(request.into_inner().revision)
            .map_err(|e| super::status_of(&e))?;
        Ok(Response::new(HashKvResponse {
            header: header(&self.member, store.revision()),
            hash,
            compact_revision,
        }))
    }

    type SnapshotStream =
        Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send + 'static>>;

    async fn snapshot(
        &self,
        _: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(Status::unimplemented(
            "etcdserver: snapshots over the API are not served yet",
        ))
    }

    async fn move_leader(
        &self,
        _: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        Err(Status::unimplemented(
            "etcdserver: MoveLeader is not served yet",
        ))
    }
}

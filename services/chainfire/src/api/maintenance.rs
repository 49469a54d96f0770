//! `etcdserverpb.Maintenance`: status, alarms (none are raised),
//! defragmentation (RocksDB compacts on its own) and history hashes (to
//! compare members), backups (`etcdctl snapshot save`, see
//! [`crate::backup`]) and leader transfer (`etcdctl move-leader`).

use std::pin::Pin;

use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::header;
use crate::member::{Member, MoveLeaderError};
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, HashKvRequest,
    HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest, MoveLeaderResponse,
    SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse, alarm_request,
};

/// The etcd API version chainfire implements; clients read it from `Status`.
pub const API_VERSION: &str = "3.5.0";

/// How long a leader transfer may take (etcdctl gives up after 5 s).
const MOVE_LEADER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Bytes per message of a snapshot stream (etcd's).
const SNAPSHOT_CHUNK: usize = 32 * 1024;

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
        let store = self.member.read_store().await;
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
        let store = self.member.read_store().await;
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
        let db = self.member.read_store().await.db().clone();
        let dir = self.member.data_dir().to_owned();
        let mut header = header(&self.member, self.member.revision());
        let (chunks, stream) = tokio::sync::mpsc::channel(4);
        // Written whole first (see `backup::write_to_unlinked`), then sent
        // in etcd's chunk size, the header with the first.
        tokio::task::spawn_blocking(move || {
            let send = |item| chunks.blocking_send(item).is_ok();
            let mut file = match crate::backup::write_to_unlinked(&db, &dir) {
                Ok(file) => file,
                Err(e) => {
                    tracing::error!(error = %e, "cannot write a backup");
                    send(Err(Status::internal(format!(
                        "etcdserver: cannot write the snapshot: {e}"
                    ))));
                    return;
                }
            };
            let mut remaining = file.metadata().map_or(0, |m| m.len());
            let mut buf = vec![0; SNAPSHOT_CHUNK];
            while remaining > 0 {
                let n = match std::io::Read::read(&mut file, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        send(Err(Status::internal(format!(
                            "etcdserver: cannot read the snapshot: {e}"
                        ))));
                        return;
                    }
                };
                remaining = remaining.saturating_sub(n as u64);
                let chunk = SnapshotResponse {
                    header: header.take(),
                    remaining_bytes: remaining,
                    blob: buf[..n].to_vec(),
                };
                if !send(Ok(chunk)) {
                    return; // the client went away
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(stream),
        )))
    }

    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let target = request.into_inner().target_id;
        match self.member.move_leader(target, MOVE_LEADER_WITHIN).await {
            Ok(()) => Ok(Response::new(MoveLeaderResponse {
                header: header(&self.member, self.member.revision()),
            })),
            Err(e @ (MoveLeaderError::NotLeader | MoveLeaderError::BadTransferee)) => {
                Err(Status::failed_precondition(e.to_string()))
            }
            Err(e @ MoveLeaderError::TimedOut) => Err(Status::unavailable(e.to_string())),
        }
    }
}

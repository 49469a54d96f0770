//! The etcd v3 gRPC API over a [`Member`]: what `etcdctl` and etcd client
//! libraries talk to.
//!
//! Errors carry etcd's gRPC codes and messages (clients match on them), in
//! one place: [`status_of`] and [`member_status`].

mod cluster;
mod kv;
mod lease;
mod maintenance;
mod watch;
pub mod wire;

use tonic::Status;

pub use cluster::ClusterService;
pub use kv::KvService;
pub use lease::{LeaseService, MAX_LEASE_TTL, MIN_LEASE_TTL};
pub use maintenance::MaintenanceService;
pub use watch::WatchService;

use crate::member::{Member, MemberError};
use crate::mvcc::MvccError;
use crate::proto::etcdserverpb::ResponseHeader;
use crate::proto::etcdserverpb::cluster_server::ClusterServer;
use crate::proto::etcdserverpb::kv_server::KvServer;
use crate::proto::etcdserverpb::lease_server::LeaseServer;
use crate::proto::etcdserverpb::maintenance_server::MaintenanceServer;
use crate::proto::etcdserverpb::watch_server::WatchServer;

/// Largest request etcd accepts by default (`--max-request-bytes`).
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;
/// What gRPC itself lets through (etcd adds the same overhead), so that a
/// request a little too large still gets etcd's own error.
pub const MAX_GRPC_MESSAGE: usize = MAX_REQUEST_BYTES + 512 * 1024;

/// etcd's answer for a store error.
pub fn status_of(error: &MvccError) -> Status {
    match error {
        MvccError::Compacted { .. } | MvccError::FutureRevision { .. } => {
            Status::out_of_range(format!("etcdserver: {error}"))
        }
        MvccError::DuplicateKey | MvccError::KeyNotFound | MvccError::EmptyKey => {
            Status::invalid_argument(error.to_string())
        }
        MvccError::LeaseNotFound => Status::not_found(error.to_string()),
        MvccError::LeaseExists => Status::failed_precondition(error.to_string()),
        MvccError::Storage(_) | MvccError::Corrupt(_) => {
            tracing::error!(error = %error, "storage failure");
            Status::internal(format!("etcdserver: {error}"))
        }
    }
}

/// etcd's answer when the cluster cannot serve a request.
pub fn member_status(error: &MemberError) -> Status {
    match error {
        MemberError::NoLeader => Status::unavailable(error.to_string()),
        MemberError::Raft(_) | MemberError::TimedOut => Status::unavailable(error.to_string()),
    }
}

/// etcd's answer for a request over [`MAX_REQUEST_BYTES`].
pub fn too_large() -> Status {
    Status::invalid_argument("etcdserver: request is too large")
}

/// The header every response carries.
pub fn header(member: &Member, revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        cluster_id: member.cluster_id(),
        member_id: member.id(),
        revision,
        raft_term: member.term_and_leader().0,
    })
}

pub use photon_runtime::grpc::incoming;

/// The client-facing services of `member`, with etcd's message limits.
#[derive(Debug)]
pub struct Services {
    /// KV.
    pub kv: KvServer<KvService>,
    /// Watch.
    pub watch: WatchServer<WatchService>,
    /// Lease.
    pub lease: LeaseServer<LeaseService>,
    /// Cluster.
    pub cluster: ClusterServer<ClusterService>,
    /// Maintenance.
    pub maintenance: MaintenanceServer<MaintenanceService>,
}

impl Services {
    /// The services for `member`, within `limits`.
    pub fn new(member: &Member, limits: crate::Limits) -> Services {
        Services {
            kv: KvServer::new(KvService::new(member.clone(), limits))
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(usize::MAX),
            watch: WatchServer::new(WatchService::new(member.clone()))
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(usize::MAX),
            lease: LeaseServer::new(LeaseService::new(member.clone())),
            cluster: ClusterServer::new(ClusterService::new(member.clone())),
            maintenance: MaintenanceServer::new(MaintenanceService::new(member.clone())),
        }
    }
}

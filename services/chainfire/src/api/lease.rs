//! `etcdserverpb.Lease`: grants and revokes go through Raft. Keep-alives
//! and time-to-live questions go to the leader's lease clock
//! ([`Member::ask_lease_clock`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::{header, member_status, status_of};
use crate::member::ELECTION_TIMEOUT_MS;
use crate::member::Member;
use crate::proto::etcdserverpb::lease_server::Lease;
use crate::proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use crate::raft::network::{LeaseAnswer, LeaseQuestion};
use crate::raft::{Command, CommandResult};

/// Shortest lease granted, derived as etcd derives it: one and a half
/// election timeouts, rounded up to whole seconds (2 s, as with etcd's
/// defaults). A TTL below it is raised, so a leader election cannot
/// outlast a lease.
pub const MIN_LEASE_TTL: i64 = (3 * ELECTION_TIMEOUT_MS / 2).div_ceil(1000) as i64;
/// Longest lease etcd accepts.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// The Lease service of one member.
#[derive(Debug)]
pub struct LeaseService {
    member: Member,
    next_id: AtomicU64,
}

impl LeaseService {
    /// Serves `member`.
    pub fn new(member: Member) -> Self {
        // Ids from this member start from its id and the clock, so members
        // (and restarts) do not hand out the same ids.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let seed = (member.id() << 40) ^ (now << 8);
        LeaseService {
            member,
            next_id: AtomicU64::new(seed),
        }
    }

    fn new_id(&self) -> i64 {
        // Positive and non-zero: etcd's ids are int64 > 0.
        let id = (self.next_id.fetch_add(1, Ordering::Relaxed) & (i64::MAX as u64)) as i64;
        id.max(1)
    }
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let request = request.into_inner();
        if request.ttl > MAX_LEASE_TTL {
            return Err(Status::out_of_range("etcdserver: too large lease TTL"));
        }
        if request.id < 0 {
            return Err(Status::invalid_argument(
                "etcdserver: lease ID must be positive",
            ));
        }
        let id = if request.id == 0 {
            self.new_id()
        } else {
            request.id
        };
        let ttl = request.ttl.max(MIN_LEASE_TTL);
        match self
            .member
            .write(Command::LeaseGrant { id, ttl })
            .await
            .map_err(|e| member_status(&e))?
        {
            CommandResult::Leased { revision } => {
                // Start the clock now rather than at the leader's next tick.
                let _ = self.member.ask_lease_clock(LeaseQuestion::Renew(id)).await;
                Ok(Response::new(LeaseGrantResponse {
                    header: header(&self.member, revision),
                    id,
                    ttl,
                    error: String::new(),
                }))
            }
            CommandResult::Rejected(rejection) => Err(status_of(&rejection.into_error())),
            other => Err(Status::internal(format!(
                "etcdserver: unexpected apply result {other:?}"
            ))),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let id = request.into_inner().id;
        match self
            .member
            .write(Command::LeaseRevoke { id })
            .await
            .map_err(|e| member_status(&e))?
        {
            CommandResult::Leased { revision } => Ok(Response::new(LeaseRevokeResponse {
                header: header(&self.member, revision),
            })),
            CommandResult::Rejected(rejection) => Err(status_of(&rejection.into_error())),
            other => Err(Status::internal(format!(
                "etcdserver: unexpected apply result {other:?}"
            ))),
        }
    }

    type LeaseKeepAliveStream =
        Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send + 'static>>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut incoming = request.into_inner();
        let member = self.member.clone();
        let (out, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok(Some(request)) = incoming.message().await {
                let reply = match member
                    .ask_lease_clock(LeaseQuestion::Renew(request.id))
                    .await
                {
                    Ok(LeaseAnswer::Renewed(ttl)) => {
                        let revision = member.revision();
                        Ok(LeaseKeepAliveResponse {
                            header: header(&member, revision),
                            id: request.id,
                            // 0: the lease does not exist (etcd's answer).
                            ttl: ttl.unwrap_or(0),
                        })
                    }
                    Ok(other) => Err(Status::internal(format!(
                        "etcdserver: unexpected lease answer {other:?}"
                    ))),
                    Err(e) => Err(member_status(&e)),
                };
                let failed = reply.is_err();
                if out.send(reply).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .member
            .ask_lease_clock(LeaseQuestion::Remaining(request.id))
            .await
            .map_err(|e| member_status(&e))?;
        let remaining = match answer {
            LeaseAnswer::Remaining(remaining) => remaining,
            other => {
                return Err(Status::internal(format!(
                    "etcdserver: unexpected lease answer {other:?}"
                )));
            }
        };
        let keys = match (&remaining, request.keys) {
            (Some(_), true) => self
                .member
                .read_store()
                .await
                .lease_keys(request.id)
                .map_err(|e| status_of(&e))?,
            _ => Vec::new(),
        };
        let (ttl, granted_ttl) = remaining.unwrap_or((-1, 0));
        Ok(Response::new(LeaseTimeToLiveResponse {
            header: header(&self.member, self.member.revision()),
            id: request.id,
            // -1: expired or never granted (etcd's answer).
            ttl,
            granted_ttl,
            keys,
        }))
    }

    async fn lease_leases(
        &self,
        _: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        self.member
            .linearize()
            .await
            .map_err(|e| member_status(&e))?;
        let leases = self
            .member
            .read_store()
            .await
            .leases()
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(LeaseLeasesResponse {
            header: header(&self.member, self.member.revision()),
            leases: leases
                .into_iter()
                .map(|(id, _)| LeaseStatus { id })
                .collect(),
        }))
    }
}

//! One chainfire member: its store, its Raft, and the two things every
//! request needs from them: propose a write (wherever the leader is) and
//! make a read linearizable.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, LogId};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mvcc::{MvccError, MvccStore, open_db};
use crate::proto::raftpb::Frame;
use crate::raft::log_store::{LogStore, RAFT_LOG, RAFT_STATE};
use crate::raft::network::{
    ForwardedWrite, LeaseAnswer, LeaseQuestion, Network, PeerClient, Presenting, ReadIndex,
    peer_client,
};
use crate::raft::state_machine::StateMachine;
use crate::raft::{Command, CommandResult, Raft, decode, encode};

pub mod peer_service;
pub use peer_service::PeerService;

/// Where a linearizable read may be served from, as a read-index round
/// found it.
#[derive(Debug, Clone, Copy)]
enum ReadPoint {
    /// Once this member has applied the log up to this entry.
    After(LogId<u64>),
    /// At once: the log is empty, nothing was ever committed.
    Anywhere,
    /// No leader could confirm it still leads; ask again.
    NoLeader,
}

impl From<Option<LogId<u64>>> for ReadPoint {
    fn from(read: Option<LogId<u64>>) -> Self {
        read.map_or(ReadPoint::Anywhere, ReadPoint::After)
    }
}

/// How long a request waits for a leader before answering "no leader".
pub const LEADER_WAIT: Duration = Duration::from_secs(5);

/// How long a proposed write may wait to be committed before the client
/// is told "request timed out": etcd's 5 s plus two election timeouts. A
/// leader whose followers are gone cannot commit, and must not hold its
/// clients forever; the write may still be applied later, as with etcd.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(5_000 + 2 * ELECTION_TIMEOUT_MS);

/// A member's Raft id: derived from its node name, so it is the same on
/// every member without a list to keep in step, and stable when the
/// topology is reordered.
pub fn member_id(node: &str) -> u64 {
    let digest = Sha256::digest(format!("chainfire/{node}").as_bytes());
    let id = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    // 0 means "none" in etcd's API.
    id.max(1)
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {dir}")]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// RocksDB would not open.
    #[error("cannot open the store in {dir}")]
    Store {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: MvccError,
    },
    /// The data directory holds another member's log and store.
    #[error(
        "the data directory {dir} belongs to member `{owner}`, not `{name}`: start `{owner}` on it, or give `{name}` a directory of its own"
    )]
    OtherMember {
        /// The directory.
        dir: PathBuf,
        /// The member starting.
        name: String,
        /// The member it belongs to.
        owner: String,
    },
    /// The member's identity could not be read or written.
    #[error("cannot read or record which member owns {dir}")]
    Owner {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: rocksdb::Error,
    },
    /// A snapshot install a crash cut short could not be finished.
    #[error("cannot finish installing the snapshot kept in {dir}")]
    Snapshot {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Raft would not start.
    #[error("cannot start raft: {0}")]
    Raft(String),
}

/// Why a request could not be served by the cluster.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// No leader could be found in time.
    #[error("etcdserver: no leader")]
    NoLeader,
    /// Raft or the network between members failed.
    #[error("etcdserver: {0}")]
    Raft(String),
    /// A write was not committed within [`REQUEST_TIMEOUT`] (no quorum);
    /// it may or may not be applied later.
    #[error("etcdserver: request timed out")]
    TimedOut,
}

/// Why leadership could not be moved (`etcdctl move-leader`); the texts
/// and status codes are etcd's.
#[derive(Debug, thiserror::Error)]
pub enum MoveLeaderError {
    /// Asked of a member that does not lead.
    #[error("etcdserver: not leader")]
    NotLeader,
    /// The target is not a voting member.
    #[error("etcdserver: bad leader transferee")]
    BadTransferee,
    /// The target did not take over in time (it lags, or writes kept the
    /// other members' leases fresh).
    #[error("etcdserver: request timed out, leader transfer took too long")]
    TimedOut,
}

/// Where one member listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAddrs {
    /// The peer listener (`host:port`), for the other members.
    pub peer: String,
    /// The etcd v3 listener (`host:port`), for clients.
    pub client: String,
}

/// The election timeout, in ms: a follower that hears no leader for this
/// long (plus up to as much again, at random) starts an election. etcd's
/// default `--election-timeout` is 1000.
pub const ELECTION_TIMEOUT_MS: u64 = 750;
/// How long a follower may take to receive one snapshot chunk, or to
/// install the snapshot after the last one.
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 120_000;
/// How long a follower, after hearing from its leader, refuses to vote for
/// another (openraft's leader lease: the largest election timeout).
const LEADER_LEASE_MS: u64 = 2 * ELECTION_TIMEOUT_MS;

/// Who the members are.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// This member's node name.
    pub name: String,
    /// Where its data lives.
    pub data_dir: PathBuf,
    /// Every member (this one included), by node name.
    pub members: BTreeMap<String, MemberAddrs>,
    /// Log entries between two Raft snapshots ([`crate::Limits`]).
    pub snapshot_count: u64,
    /// What this member presents on calls to its peers: its node's
    /// configuration (`None` outside a deployment).
    pub presenting: Presenting,
}

/// A running member.
#[derive(Clone)]
pub struct Member {
    id: u64,
    name: String,
    data_dir: PathBuf,
    raft: Raft,
    state: StateMachine,
    members: BTreeMap<u64, (String, MemberAddrs)>,
    peers: Arc<Mutex<HashMap<u64, PeerClient>>>,
    presenting: Presenting,
    leases: Arc<LeaseClock>,
    reads: Arc<ReadRounds>,
    proposals: tokio::sync::mpsc::UnboundedSender<Proposal>,
    /// Log entries proposed and not yet applied ([`PROPOSALS_IN_FLIGHT`]
    /// permits), shared by [`Member::propose`] and the batching task.
    slots: Arc<tokio::sync::Semaphore>,
    /// True while leadership is being handed over: proposals wait, so the
    /// target stays caught up and the followers' leases can run out.
    handing_over: watch::Sender<bool>,
    /// One hand-over at a time.
    hand_over_turn: Arc<tokio::sync::Mutex<()>>,
    /// Snapshot chunks being received (see [`Member::hold_elections`]).
    election_hold: Arc<Mutex<ElectionHold>>,
    stop: CancellationToken,
}

/// A command waiting to be proposed, and where its result goes (`None`:
/// this member is not the leader; find it and try there).
type Proposal = (
    Command,
    tokio::sync::oneshot::Sender<Result<Option<CommandResult>, MemberError>>,
);

/// Most client writes in one log entry.
const MAX_BATCH: usize = 512;
/// Bytes of client writes after which a log entry takes no more (so an
/// entry stays far below the largest message between members).
const MAX_BATCH_BYTES: usize = 8 << 20;
/// Log entries proposed and not yet applied, at most.
const PROPOSALS_IN_FLIGHT: usize = 4;

/// Snapshot chunks being received, and a count of them all, so the last
/// one to finish lets elections resume.
#[derive(Debug, Default)]
struct ElectionHold {
    in_flight: usize,
    received: u64,
}

/// Held while a snapshot chunk from the leader is received or installed;
/// elections resume a leader lease after the last one is dropped.
#[must_use]
#[derive(Debug)]
pub struct ElectionGuard {
    member: Member,
}

impl Drop for ElectionGuard {
    fn drop(&mut self) {
        let member = self.member.clone();
        let received = {
            let mut hold = member
                .election_hold
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            hold.in_flight -= 1;
            hold.received
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(LEADER_LEASE_MS)).await;
            let hold = member
                .election_hold
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if hold.in_flight == 0 && hold.received == received {
                member.raft.runtime_config().elect(true);
            }
        });
    }
}

/// Shared read-index rounds (see [`Member::linearize`]).
#[derive(Debug, Default)]
struct ReadRounds {
    /// One round at a time.
    turn: tokio::sync::Mutex<()>,
    /// Rounds started so far.
    started: AtomicU64,
    /// The last round that succeeded, and its index.
    finished: Mutex<Option<(u64, Option<LogId<u64>>)>>,
}

/// When each lease expires. Only the leader's clock counts: it is reset
/// (every lease gets its full TTL again) whenever this member becomes
/// leader, as etcd does, so a leader change never expires a lease early.
#[derive(Debug, Default)]
struct LeaseClock {
    deadlines: Mutex<HashMap<i64, Instant>>,
    /// The term in which this member last reset the clock as leader.
    led_in: Mutex<Option<u64>>,
    /// Leases whose revoke is in flight.
    revoking: Mutex<std::collections::HashSet<i64>>,
}

/// How often the leader looks for expired leases.
const LEASE_TICK: Duration = Duration::from_millis(200);

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &format_args!("{:x}", self.id))
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Member {
    /// Opens the store, starts Raft and, on first start, records the
    /// initial membership (every member does the same, so any of them may
    /// win the first election).
    pub async fn start(config: MemberConfig) -> Result<Member, StartError> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| StartError::DataDir {
            dir: dir.clone(),
            source,
        })?;
        let store_error = |source| StartError::Store {
            dir: dir.clone(),
            source,
        };
        let db = open_db(&dir, &[RAFT_LOG, RAFT_STATE]).map_err(store_error)?;
        let log = LogStore::new(db.clone());
        if let Some(owner) = log
            .claim(&config.name)
            .map_err(|source| StartError::Owner {
                dir: dir.clone(),
                source,
            })?
        {
            return Err(StartError::OtherMember {
                dir,
                name: config.name,
                owner,
            });
        }
        let store = MvccStore::with_db(db.clone(), false).map_err(store_error)?;
        let state = StateMachine::new(store, &dir).map_err(|source| StartError::Snapshot {
            dir: dir.clone(),
            source,
        })?;
        let id = member_id(&config.name);
        let raft_config = Config {
            cluster_name: "chainfire".into(),
            heartbeat_interval: 150,
            election_timeout_min: ELECTION_TIMEOUT_MS,
            election_timeout_max: LEADER_LEASE_MS,
            max_payload_entries: 1024,
            // Per snapshot chunk; the last chunk's answer waits for the
            // whole install (openraft 0.9), so this bounds an install. A
            // transfer that times out starts over from the first chunk.
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
            // As etcd (`--snapshot-count`): a snapshot reads the whole
            // store, so not too often.
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_count),
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let raft = Raft::new(
            id,
            Arc::new(raft_config),
            Network(config.presenting.clone()),
            log,
            state.clone(),
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let members: BTreeMap<u64, (String, MemberAddrs)> = config
            .members
            .iter()
            .map(|(name, addrs)| (member_id(name), (name.clone(), addrs.clone())))
            .collect();
        let initial: BTreeMap<u64, BasicNode> = members
            .iter()
            .map(|(&id, (_, addrs))| (id, BasicNode::new(&addrs.peer)))
            .collect();
        match raft.initialize(initial).await {
            Ok(()) => {}
            // Already initialized (a restart): the log has the membership.
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
            Err(e) => return Err(StartError::Raft(e.to_string())),
        }
        let (proposals, queue) = tokio::sync::mpsc::unbounded_channel();
        let (handing_over, _) = watch::channel(false);
        let slots = Arc::new(tokio::sync::Semaphore::new(PROPOSALS_IN_FLIGHT));
        tokio::spawn(propose_batches(
            raft.clone(),
            queue,
            slots.clone(),
            handing_over.subscribe(),
        ));
        let member = Member {
            id,
            name: config.name,
            data_dir: dir,
            raft,
            state,
            members,
            peers: Arc::default(),
            presenting: config.presenting.clone(),
            leases: Arc::default(),
            reads: Arc::default(),
            proposals,
            slots,
            handing_over,
            hand_over_turn: Arc::default(),
            election_hold: Arc::default(),
            stop: CancellationToken::new(),
        };
        tokio::spawn(member.clone().expire_leases());
        Ok(member)
    }

    /// This member's Raft id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// This member's node name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every member: id -> (node name, addresses).
    pub fn members(&self) -> &BTreeMap<u64, (String, MemberAddrs)> {
        &self.members
    }

    /// The Raft handle.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The service for the peer listener.
    pub fn peer_service(&self) -> PeerService {
        PeerService::new(self.clone())
    }

    /// The local store (reads).
    pub fn store(&self) -> &Arc<tokio::sync::RwLock<MvccStore>> {
        self.state.store()
    }

    /// The local store, locked for reading; waits (without holding a
    /// worker) while an apply writes.
    pub async fn read_store(&self) -> tokio::sync::RwLockReadGuard<'_, MvccStore> {
        self.store().read().await
    }

    /// The local store's revision after the last applied batch.
    pub fn revision(&self) -> i64 {
        self.state.revision()
    }

    /// The store's revision after every applied batch.
    pub fn revisions(&self) -> watch::Receiver<i64> {
        self.state.revisions()
    }

    /// The current term and leader, as this member knows them.
    pub fn term_and_leader(&self) -> (u64, Option<u64>) {
        let metrics = self.raft.metrics().borrow().clone();
        (metrics.current_term, metrics.current_leader)
    }

    fn peer(&self, id: u64) -> Result<PeerClient, MemberError> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = peers.get(&id) {
            return Ok(client.clone());
        }
        let (_, addrs) = self
            .members
            .get(&id)
            .ok_or_else(|| MemberError::Raft(format!("leader {id:x} is not a known member")))?;
        let client = peer_client(&addrs.peer, &self.presenting)
            .map_err(|e| MemberError::Raft(e.to_string()))?;
        peers.insert(id, client.clone());
        Ok(client)
    }

    /// Waits (up to [`LEADER_WAIT`]) until some leader is known.
    async fn leader(&self) -> Result<u64, MemberError> {
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                if let Some(leader) = metrics.borrow_and_update().current_leader {
                    return Some(leader);
                }
                if metrics.changed().await.is_err() {
                    return None;
                }
            }
        };
        match tokio::time::timeout(LEADER_WAIT, wait).await {
            Ok(Some(leader)) => Ok(leader),
            _ => Err(MemberError::NoLeader),
        }
    }

    /// Proposes `command` and returns what applying it gave: locally if
    /// this member leads, through the leader otherwise.
    pub async fn write(&self, command: Command) -> Result<CommandResult, MemberError> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let leader = self.leader().await?;
            if leader == self.id {
                if let Some(result) = self.propose(command.clone()).await? {
                    return Ok(result);
                }
            } else {
                let mut client = self.peer(leader)?;
                match client
                    .forward(Frame {
                        body: encode(&command),
                    })
                    .await
                {
                    Ok(reply) => match decode::<ForwardedWrite>(&reply.into_inner().body) {
                        Ok(ForwardedWrite::Done(result)) => return Ok(result),
                        Ok(ForwardedWrite::NotLeader { .. }) => {}
                        Ok(ForwardedWrite::Failed(e)) => return Err(relayed(e)),
                        Err(e) => return Err(MemberError::Raft(e.to_string())),
                    },
                    // No connection was made, so nothing was proposed: the
                    // leader is probably dead; look for the next one.
                    Err(status) if never_sent(&status) => {}
                    // The write may have reached the leader before the
                    // connection failed: sending it again could apply it
                    // twice, so the client is told the outcome is unknown.
                    Err(status) => {
                        return Err(MemberError::Raft(format!(
                            "the leader did not answer ({}); the write may or may not have been applied",
                            status.message()
                        )));
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MemberError::NoLeader);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Proposes `command` through this member's Raft, batched with other
    /// clients' writes; `None` if this member is not the leader.
    pub async fn propose(&self, command: Command) -> Result<Option<CommandResult>, MemberError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let answered = async {
            rx.await
                .map_err(|_| MemberError::Raft("the member is shutting down".into()))?
        };
        // With nothing in flight there is nothing to batch with: proposed
        // from this task, without the two hops through the batching task
        // and back (a lone client's every write).
        let idle =
            !*self.handing_over.borrow() && self.slots.available_permits() == PROPOSALS_IN_FLIGHT;
        let outcome = match idle.then(|| self.slots.clone().try_acquire_owned().ok()) {
            Some(Some(slot)) => {
                let raft = self.raft.clone();
                let written = async move {
                    propose_group(&raft, vec![(command, tx)]).await;
                    drop(slot);
                    answered.await
                };
                tokio::time::timeout(REQUEST_TIMEOUT, written).await
            }
            _ => {
                self.proposals
                    .send((command, tx))
                    .map_err(|_| MemberError::Raft("the member is shutting down".into()))?;
                tokio::time::timeout(REQUEST_TIMEOUT, answered).await
            }
        };
        outcome.unwrap_or(Err(MemberError::TimedOut))
    }

    /// Returns once this member's store reflects every write committed
    /// before the call: the leader confirms it still leads (read index),
    /// and this member waits until it has applied that far.
    pub async fn linearize(&self) -> Result<(), MemberError> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            match self.shared_read_index().await? {
                ReadPoint::After(read) => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    self.raft
                        .wait(Some(left.max(Duration::from_millis(1))))
                        .applied_index_at_least(Some(read.index), "linearizable read")
                        .await
                        .map_err(|_| MemberError::NoLeader)?;
                    return Ok(());
                }
                ReadPoint::Anywhere => return Ok(()),
                ReadPoint::NoLeader => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MemberError::NoLeader);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A read index good for a read that arrived now. Concurrent callers
    /// share rounds (as etcd batches read indexes): a caller may reuse the
    /// answer of any round that *started* after it arrived, because that
    /// round's index covers every write committed before the caller came.
    async fn shared_read_index(&self) -> Result<ReadPoint, MemberError> {
        let arrived = self.reads.started.load(Ordering::SeqCst);
        let _turn = self.reads.turn.lock().await;
        if let Some((round, index)) = *self
            .reads
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            && round > arrived
        {
            return Ok(ReadPoint::from(index));
        }
        let round = self.reads.started.fetch_add(1, Ordering::SeqCst) + 1;
        let result = self.read_index_round().await?;
        let index = match result {
            ReadPoint::After(read) => Some(read),
            ReadPoint::Anywhere => None,
            ReadPoint::NoLeader => return Ok(result),
        };
        *self
            .reads
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((round, index));
        Ok(result)
    }

    /// One read-index round: the leader confirms it still leads and says up
    /// to which log index a read must wait.
    async fn read_index_round(&self) -> Result<ReadPoint, MemberError> {
        let leader = self.leader().await?;
        if leader == self.id {
            return match self.raft.get_read_log_id().await {
                Ok((read, _)) => Ok(ReadPoint::from(read)),
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => {
                    Ok(ReadPoint::NoLeader)
                }
                Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                    Ok(ReadPoint::NoLeader)
                }
                Err(e) => Err(MemberError::Raft(e.to_string())),
            };
        }
        let mut client = self.peer(leader)?;
        match client.read_index(Frame { body: Vec::new() }).await {
            Ok(reply) => match decode::<ReadIndex>(&reply.into_inner().body) {
                Ok(ReadIndex::At(read)) => Ok(ReadPoint::from(read)),
                Ok(ReadIndex::NotLeader { .. }) | Ok(ReadIndex::Failed(_)) => {
                    Ok(ReadPoint::NoLeader)
                }
                Err(e) => Err(MemberError::Raft(e.to_string())),
            },
            Err(_) => Ok(ReadPoint::NoLeader),
        }
    }

    /// The cluster's id: the same on every member, from the member ids.
    pub fn cluster_id(&self) -> u64 {
        let mut hasher = Sha256::new();
        for id in self.members.keys() {
            hasher.update(id.to_be_bytes());
        }
        let digest = hasher.finalize();
        u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// The leader's side of the lease clock: while this member leads, revoke
    /// (through Raft) every lease whose deadline passed.
    async fn expire_leases(self) {
        let mut ticks = tokio::time::interval(LEASE_TICK);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let (term, leader) = self.term_and_leader();
            if leader != Some(self.id) {
                *self.leases.led_in.lock().unwrap_or_else(|e| e.into_inner()) = None;
                continue;
            }
            let leases = match self.read_store().await.leases() {
                Ok(leases) => leases,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read leases");
                    continue;
                }
            };
            let now = Instant::now();
            let expired: Vec<i64> = {
                let mut led_in = self.leases.led_in.lock().unwrap_or_else(|e| e.into_inner());
                let mut deadlines = self
                    .leases
                    .deadlines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if *led_in != Some(term) {
                    // Newly leader: every lease starts a full TTL from now.
                    deadlines.clear();
                    *led_in = Some(term);
                }
                deadlines.retain(|id, _| leases.iter().any(|(l, _)| l == id));
                leases
                    .iter()
                    .filter_map(|&(id, ttl)| {
                        let deadline = *deadlines
                            .entry(id)
                            .or_insert_with(|| now + Duration::from_secs(ttl as u64));
                        (deadline <= now).then_some(id)
                    })
                    .collect()
            };
            for id in expired {
                if !self
                    .leases
                    .revoking
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id)
                {
                    continue;
                }
                let member = self.clone();
                tokio::spawn(async move {
                    tracing::debug!(lease = id, "lease expired; revoking");
                    if let Err(e) = member.write(Command::LeaseRevoke { id }).await {
                        tracing::warn!(lease = id, error = %e, "could not revoke an expired lease");
                    }
                    member
                        .leases
                        .revoking
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                });
            }
        }
    }

    /// Answers a lease question with this member's clock (if it leads).
    pub async fn answer_lease_question(&self, question: LeaseQuestion) -> LeaseAnswer {
        if !self.is_leader() {
            return LeaseAnswer::NotLeader;
        }
        let id = match question {
            LeaseQuestion::Renew(id) | LeaseQuestion::Remaining(id) => id,
        };
        let granted = self.read_store().await.lease_ttl(id);
        match question {
            LeaseQuestion::Renew(id) => match granted {
                Ok(Some(ttl)) => {
                    self.leases
                        .deadlines
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, Instant::now() + Duration::from_secs(ttl as u64));
                    LeaseAnswer::Renewed(Some(ttl))
                }
                Ok(None) => LeaseAnswer::Renewed(None),
                Err(e) => LeaseAnswer::Failed(e.to_string()),
            },
            LeaseQuestion::Remaining(id) => match granted {
                Ok(Some(ttl)) => {
                    let deadline = self
                        .leases
                        .deadlines
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&id)
                        .copied();
                    let left = deadline.map_or(ttl, |d| {
                        d.saturating_duration_since(Instant::now())
                            .as_secs_f64()
                            .ceil() as i64
                    });
                    LeaseAnswer::Remaining(Some((left, ttl)))
                }
                Ok(None) => LeaseAnswer::Remaining(None),
                Err(e) => LeaseAnswer::Failed(e.to_string()),
            },
        }
    }

    /// Asks the leader's lease clock (this member's, if it leads).
    pub async fn ask_lease_clock(
        &self,
        question: LeaseQuestion,
    ) -> Result<LeaseAnswer, MemberError> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let leader = self.leader().await?;
            let answer = if leader == self.id {
                self.answer_lease_question(question).await
            } else {
                let mut client = self.peer(leader)?;
                match client
                    .lease(Frame {
                        body: encode(&question),
                    })
                    .await
                {
                    Ok(reply) => decode::<LeaseAnswer>(&reply.into_inner().body)
                        .map_err(|e| MemberError::Raft(e.to_string()))?,
                    Err(_) => LeaseAnswer::NotLeader,
                }
            };
            match answer {
                LeaseAnswer::NotLeader => {}
                LeaseAnswer::Failed(e) => return Err(relayed(e)),
                answer => return Ok(answer),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MemberError::NoLeader);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Holds off this member's elections while a snapshot chunk from the
    /// leader is received or installed. openraft 0.9 receives chunks
    /// outside its core, so a transfer longer than the election timeout
    /// would otherwise look like a dead leader to the member receiving it,
    /// whose election would restart the transfer, again and again.
    pub fn hold_elections(&self) -> ElectionGuard {
        let mut hold = self.election_hold.lock().unwrap_or_else(|e| e.into_inner());
        hold.in_flight += 1;
        hold.received += 1;
        self.raft.runtime_config().elect(false);
        ElectionGuard {
            member: self.clone(),
        }
    }

    /// Hands this member's leadership to `target` (etcd's MoveLeader):
    /// proposals are held, the target is let catch up, heartbeats stop
    /// until the other members' leader leases have run out, and the target
    /// is told to start an election, which its complete log wins. Returns
    /// once the target leads, or [`MoveLeaderError::TimedOut`] after
    /// `within`. Runs to the end even if the caller goes away, so
    /// heartbeats and proposals always resume.
    pub async fn move_leader(&self, target: u64, within: Duration) -> Result<(), MoveLeaderError> {
        let member = self.clone();
        tokio::spawn(async move { member.hand_over(target, within).await })
            .await
            .unwrap_or(Err(MoveLeaderError::TimedOut))
    }

    async fn hand_over(&self, target: u64, within: Duration) -> Result<(), MoveLeaderError> {
        let _turn = self.hand_over_turn.lock().await;
        let deadline = Instant::now() + within;
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.current_leader != Some(self.id) {
            return Err(MoveLeaderError::NotLeader);
        }
        if !metrics
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == target)
        {
            return Err(MoveLeaderError::BadTransferee);
        }
        if target == self.id {
            return Ok(());
        }
        let mut client = self
            .peer(target)
            .map_err(|_| MoveLeaderError::BadTransferee)?;
        self.handing_over.send_replace(true);
        let outcome = async {
            // The target must hold every entry the others may have.
            self.raft
                .wait(Some(deadline.saturating_duration_since(Instant::now())))
                .metrics(
                    |m| match &m.replication {
                        Some(replication) => {
                            replication
                                .get(&target)
                                .copied()
                                .flatten()
                                .map(|id| id.index)
                                == m.last_log_index
                        }
                        None => true,
                    },
                    "the target has the whole log",
                )
                .await
                .map_err(|_| MoveLeaderError::TimedOut)?;
            self.raft.runtime_config().heartbeat(false);
            // A follower refuses to vote while its leader's lease lasts.
            tokio::time::sleep(Duration::from_millis(LEADER_LEASE_MS + 100)).await;
            let _ = client.timeout_now(Frame { body: Vec::new() }).await;
            self.raft
                .wait(Some(deadline.saturating_duration_since(Instant::now())))
                .metrics(|m| m.current_leader == Some(target), "the target leads")
                .await
                .map_err(|_| MoveLeaderError::TimedOut)
        }
        .await;
        self.raft.runtime_config().heartbeat(true);
        self.handing_over.send_replace(false);
        match &outcome {
            Ok(_) => tracing::info!(to = format_args!("{target:x}"), "leadership handed over"),
            Err(e) => {
                tracing::warn!(to = format_args!("{target:x}"), error = %e, "leadership not handed over")
            }
        }
        outcome.map(|_| ())
    }

    /// Stops Raft (the store closes when the last handle is dropped).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
    }
}

/// Proposes queued commands: every put, delete and transaction waiting at
/// that moment goes into one [`Command::Batch`] entry (one fsync for all),
/// other commands alone; up to [`PROPOSALS_IN_FLIGHT`] entries at a time,
/// none while leadership is handed over.
async fn propose_batches(
    raft: Raft,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Proposal>,
    slots: Arc<tokio::sync::Semaphore>,
    mut handing_over: watch::Receiver<bool>,
) {
    while let Some(first) = queue.recv().await {
        // Held while leadership is handed over (then proposed here, which
        // answers "not leader", and forwarded to the new leader).
        let _ = handing_over.wait_for(|handing| !handing).await;
        let mut bytes = first.0.size();
        let mut waiting = vec![first];
        while waiting.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(next) => {
                    bytes += next.0.size();
                    waiting.push(next);
                }
                Err(_) => break,
            }
        }
        let (writes, others): (Vec<Proposal>, Vec<Proposal>) =
            waiting.into_iter().partition(|(c, _)| {
                matches!(
                    c,
                    Command::Put(_) | Command::DeleteRange(_) | Command::Txn(_)
                )
            });
        let mut groups: Vec<Vec<Proposal>> = others.into_iter().map(|p| vec![p]).collect();
        if !writes.is_empty() {
            groups.push(writes);
        }
        for group in groups {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let raft = raft.clone();
            tokio::spawn(async move {
                let _slot = slot;
                propose_group(&raft, group).await;
            });
        }
    }
}

/// A write slower than this to commit and apply is logged.
const SLOW_WRITE: Duration = Duration::from_secs(1);

async fn propose_group(raft: &Raft, group: Vec<Proposal>) {
    let (commands, replies): (Vec<Command>, Vec<_>) = group.into_iter().unzip();
    let single = commands.len() == 1;
    let command = if single {
        commands.into_iter().next().expect("one command")
    } else {
        Command::Batch(commands)
    };
    let started = std::time::Instant::now();
    let written = raft.client_write(command).await;
    let took = started.elapsed();
    if took > SLOW_WRITE {
        // As etcd's "apply request took too long": a sign of an
        // overloaded disk or machine, or of a request too large.
        tracing::warn!(
            took_ms = took.as_millis() as u64,
            requests = replies.len(),
            "a write took long to commit and apply"
        );
    }
    match written {
        Ok(written) => match (single, written.data) {
            (true, result) => {
                for reply in replies {
                    let _ = reply.send(Ok(Some(result.clone())));
                }
            }
            (false, CommandResult::Batch(results)) if results.len() == replies.len() => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(Some(result)));
                }
            }
            (false, other) => {
                for reply in replies {
                    let _ = reply.send(Err(MemberError::Raft(format!(
                        "a batch was answered with {other:?}"
                    ))));
                }
            }
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
            for reply in replies {
                let _ = reply.send(Ok(None));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(MemberError::Raft(e.to_string())));
            }
        }
    }
}

/// The leader's error, relayed by a follower, worded once.
fn relayed(error: String) -> MemberError {
    match error.strip_prefix("etcdserver: ") {
        Some("request timed out") => MemberError::TimedOut,
        Some(rest) => MemberError::Raft(rest.to_owned()),
        None => MemberError::Raft(error),
    }
}

/// Whether a failed peer call certainly never reached the peer: the TCP
/// connection itself was refused or timed out.
fn never_sent(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable && status.message().starts_with("tcp connect error")
}

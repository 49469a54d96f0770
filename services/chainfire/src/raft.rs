//! Consensus: openraft over chainfire's RocksDB.
//!
//! A write request becomes a [`Command`] in the Raft log. Once a quorum holds
//! it, every member applies it to its [`MvccStore`](crate::mvcc::MvccStore)
//! in log order, so all members reach the same revisions. The log, the vote
//! and the store share one RocksDB database. The log is fsynced; the store's
//! writes are not, because after a crash the log replays whatever they lost.

// openraft's storage traits return its (large) `StorageError`; our helpers
// return the same type rather than boxing and unboxing around every call.
#![allow(clippy::result_large_err)]

pub mod log_store;
pub mod network;
pub mod snapshot_file;
pub mod state_machine;

use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::mvcc::{MvccError, WriteRequest, WriteResponse};
use crate::proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, TxnRequest, TxnResponse,
};

openraft::declare_raft_types!(
    /// chainfire's Raft types.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
/// A storage failure, as openraft reports it.
pub type StorageError = openraft::StorageError<u64>;

/// A change to the store, as it travels in the Raft log: the etcd request,
/// protobuf-encoded as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// An encoded `PutRequest`.
    Put(#[serde(with = "serde_bytes")] Vec<u8>),
    /// An encoded `DeleteRangeRequest`.
    DeleteRange(#[serde(with = "serde_bytes")] Vec<u8>),
    /// An encoded `TxnRequest`.
    Txn(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Compact the history up to this revision.
    Compact(i64),
    /// Grant a lease; the id was chosen by the member that proposed it.
    LeaseGrant {
        /// The lease id (positive).
        id: i64,
        /// Its time to live, in seconds.
        ttl: i64,
    },
    /// Revoke a lease (a client asked, or the leader saw it expire) and
    /// delete its keys.
    LeaseRevoke {
        /// The lease id.
        id: i64,
    },
    /// Several clients' puts, deletes and transactions proposed as one log
    /// entry (one fsync for all of them); each still runs at its own
    /// revision, in order.
    Batch(Vec<Command>),
}

impl Command {
    /// Its size in a log entry, roughly: the encoded requests it carries.
    pub fn size(&self) -> usize {
        match self {
            Command::Put(bytes) | Command::DeleteRange(bytes) | Command::Txn(bytes) => bytes.len(),
            Command::Batch(commands) => commands.iter().map(Command::size).sum(),
            Command::Compact(_) | Command::LeaseGrant { .. } | Command::LeaseRevoke { .. } => 16,
        }
    }

    /// The command for a write request.
    pub fn write(request: &WriteRequest) -> Command {
        match request {
            WriteRequest::Put(r) => Command::Put(r.encode_to_vec()),
            WriteRequest::DeleteRange(r) => Command::DeleteRange(r.encode_to_vec()),
            WriteRequest::Txn(r) => Command::Txn(r.encode_to_vec()),
        }
    }
}

/// What applying a [`Command`] gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// A put, delete or transaction ran at `revision`; `response` is the
    /// encoded etcd response (without header).
    Written {
        /// The store's revision after it.
        revision: i64,
        /// The encoded `PutResponse`, `DeleteRangeResponse` or `TxnResponse`.
        #[serde(with = "serde_bytes")]
        response: Vec<u8>,
    },
    /// The history up to the command's revision was compacted.
    Compacted {
        /// The store's revision.
        revision: i64,
    },
    /// A lease was granted or revoked; `revision` is the store's revision
    /// after it (a revoke that deleted keys raises it).
    Leased {
        /// The store's revision.
        revision: i64,
    },
    /// A log entry that changes no key (a leader's blank entry, a
    /// membership change).
    Noop {
        /// The store's revision.
        revision: i64,
    },
    /// The store refused the command (the same way on every member).
    Rejected(Rejection),
    /// One result per command of a [`Command::Batch`], in order.
    Batch(Vec<CommandResult>),
}

/// Why the store refused a command; each maps back to an [`MvccError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    /// See [`MvccError::Compacted`].
    Compacted {
        /// Asked for.
        requested: i64,
        /// Oldest readable.
        compacted: i64,
    },
    /// See [`MvccError::FutureRevision`].
    FutureRevision {
        /// Asked for.
        requested: i64,
        /// The store's revision.
        current: i64,
    },
    /// See [`MvccError::DuplicateKey`].
    DuplicateKey,
    /// See [`MvccError::KeyNotFound`].
    KeyNotFound,
    /// See [`MvccError::EmptyKey`].
    EmptyKey,
    /// See [`MvccError::LeaseNotFound`].
    LeaseNotFound,
    /// See [`MvccError::LeaseExists`].
    LeaseExists,
    /// The command did not decode (a member with another version wrote it).
    Malformed,
}

impl Rejection {
    /// The rejection for a deterministic store error; `None` for a storage
    /// failure, which must stop the member instead.
    pub fn of(error: &MvccError) -> Option<Rejection> {
        Some(match *error {
            MvccError::Compacted {
                requested,
                compacted,
            } => Rejection::Compacted {
                requested,
                compacted,
            },
            MvccError::FutureRevision { requested, current } => {
                Rejection::FutureRevision { requested, current }
            }
            MvccError::DuplicateKey => Rejection::DuplicateKey,
            MvccError::KeyNotFound => Rejection::KeyNotFound,
            MvccError::EmptyKey => Rejection::EmptyKey,
            MvccError::LeaseNotFound => Rejection::LeaseNotFound,
            MvccError::LeaseExists => Rejection::LeaseExists,
            MvccError::Storage(_) | MvccError::Corrupt(_) => return None,
        })
    }

    /// Back to the store's error, for the client's answer.
    pub fn into_error(self) -> MvccError {
        match self {
            Rejection::Compacted {
                requested,
                compacted,
            } => MvccError::Compacted {
                requested,
                compacted,
            },
            Rejection::FutureRevision { requested, current } => {
                MvccError::FutureRevision { requested, current }
            }
            Rejection::DuplicateKey => MvccError::DuplicateKey,
            Rejection::KeyNotFound => MvccError::KeyNotFound,
            Rejection::EmptyKey => MvccError::EmptyKey,
            Rejection::LeaseNotFound => MvccError::LeaseNotFound,
            Rejection::LeaseExists => MvccError::LeaseExists,
            Rejection::Malformed => MvccError::Corrupt("a log entry did not decode".into()),
        }
    }
}

/// Decodes a command's request.
pub fn decode_write(command: &Command) -> Option<WriteRequest> {
    Some(match command {
        Command::Put(bytes) => WriteRequest::Put(PutRequest::decode(bytes.as_slice()).ok()?),
        Command::DeleteRange(bytes) => {
            WriteRequest::DeleteRange(DeleteRangeRequest::decode(bytes.as_slice()).ok()?)
        }
        Command::Txn(bytes) => WriteRequest::Txn(TxnRequest::decode(bytes.as_slice()).ok()?),
        Command::Compact(_)
        | Command::LeaseGrant { .. }
        | Command::LeaseRevoke { .. }
        | Command::Batch(_) => {
            return None;
        }
    })
}

/// Encodes a write response for [`CommandResult::Written`].
pub fn encode_response(response: &WriteResponse) -> Vec<u8> {
    match response {
        WriteResponse::Put(r) => r.encode_to_vec(),
        WriteResponse::DeleteRange(r) => r.encode_to_vec(),
        WriteResponse::Txn(r) => r.encode_to_vec(),
    }
}

/// Decodes the response of `command` from [`CommandResult::Written`].
pub fn decode_response(command: &Command, bytes: &[u8]) -> Option<WriteResponse> {
    Some(match command {
        Command::Put(_) => WriteResponse::Put(PutResponse::decode(bytes).ok()?),
        Command::DeleteRange(_) => {
            WriteResponse::DeleteRange(DeleteRangeResponse::decode(bytes).ok()?)
        }
        Command::Txn(_) => WriteResponse::Txn(TxnResponse::decode(bytes).ok()?),
        Command::Compact(_)
        | Command::LeaseGrant { .. }
        | Command::LeaseRevoke { .. }
        | Command::Batch(_) => {
            return None;
        }
    })
}

/// postcard with openraft's error shape: storage values that do not decode
/// are corruption, named by what was being read.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("serialising to a Vec cannot fail")
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, std::io::Error> {
    postcard::from_bytes(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};

    use super::log_store::{LogStore, RAFT_LOG, RAFT_STATE};
    use super::state_machine::StateMachine;
    use super::{StorageError, TypeConfig};
    use crate::mvcc::{MvccStore, open_db};

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let db = open_db(dir.path(), &[RAFT_LOG, RAFT_STATE]).expect("the database opens");
            let store = MvccStore::with_db(db.clone(), false).expect("the store opens");
            let state = StateMachine::new(store, dir.path()).expect("a fresh store opens");
            Ok((LogStore::new(db), state, dir)).map(|(log, sm, dir)| (dir, log, sm))
        }
    }

    /// openraft's conformance suite for log and state-machine storage.
    #[test]
    fn openraft_storage_suite() -> Result<(), StorageError> {
        Suite::test_all(Builder)
    }
}

#[cfg(test)]
mod encoding_tests {
    use serde::Serialize;

    use super::{Command, encode};

    /// The commands as logs written before their bytes were encoded whole.
    #[derive(Serialize)]
    enum Earlier {
        Put(Vec<u8>),
    }

    #[test]
    fn request_bytes_encode_as_in_logs_already_written() {
        let bytes = vec![0, 1, 2, 255, 128];
        assert_eq!(
            encode(&Command::Put(bytes.clone())),
            encode(&Earlier::Put(bytes))
        );
    }
}

//! `etcdserverpb.KV`: reads from the local store (after a read-index round
//! unless `serializable`), writes through Raft.

use prost::Message as _;
use tonic::{Request, Response, Status};

use super::{MAX_REQUEST_BYTES, header, member_status, status_of, too_large};
use crate::Limits;
use crate::member::Member;
use crate::mvcc::{MvccError, WriteRequest, WriteResponse};
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse, request_op,
};
use crate::raft::{Command, CommandResult, decode_response};

/// The KV service of one member.
#[derive(Debug, Clone)]
pub struct KvService {
    member: Member,
    limits: Limits,
}

impl KvService {
    /// Serves `member`, refusing requests over `limits`.
    pub fn new(member: Member, limits: Limits) -> Self {
        KvService { member, limits }
    }

    /// Proposes a write and returns its response and revision.
    async fn write(&self, request: WriteRequest) -> Result<(i64, WriteResponse), Status> {
        let command = Command::write(&request);
        let encoded = match &command {
            Command::Put(b) | Command::DeleteRange(b) | Command::Txn(b) => b.len(),
            _ => 0,
        };
        if encoded > MAX_REQUEST_BYTES {
            return Err(too_large());
        }
        match self
            .member
            .write(command.clone())
            .await
            .map_err(|e| member_status(&e))?
        {
            CommandResult::Written { revision, response } => {
                let response = decode_response(&command, &response)
                    .ok_or_else(|| Status::internal("etcdserver: malformed apply result"))?;
                Ok((revision, response))
            }
            CommandResult::Rejected(rejection) => Err(status_of(&rejection.into_error())),
            other => Err(Status::internal(format!(
                "etcdserver: unexpected apply result {other:?}"
            ))),
        }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let request = request.into_inner();
        if request.key.is_empty() {
            return Err(status_of(&crate::mvcc::MvccError::EmptyKey));
        }
        if !request.serializable {
            self.member
                .linearize()
                .await
                .map_err(|e| member_status(&e))?;
        }
        let store = self.member.read_store().await;
        let mut response = store.range(&request).map_err(|e| status_of(&e))?;
        response.header = header(&self.member, store.revision());
        Ok(Response::new(response))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let request = request.into_inner();
        if request.encoded_len() > MAX_REQUEST_BYTES {
            return Err(too_large());
        }
        match self.write(WriteRequest::Put(request)).await? {
            (revision, WriteResponse::Put(mut response)) => {
                response.header = header(&self.member, revision);
                Ok(Response::new(response))
            }
            _ => Err(Status::internal(
                "etcdserver: a put answered as something else",
            )),
        }
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        match self
            .write(WriteRequest::DeleteRange(request.into_inner()))
            .await?
        {
            (revision, WriteResponse::DeleteRange(mut response)) => {
                response.header = header(&self.member, revision);
                Ok(Response::new(response))
            }
            _ => Err(Status::internal(
                "etcdserver: a delete answered as something else",
            )),
        }
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let request = request.into_inner();
        check_txn(&request, self.limits.max_txn_ops as usize)?;
        match self.write(WriteRequest::Txn(request)).await? {
            (revision, WriteResponse::Txn(mut response)) => {
                response.header = header(&self.member, revision);
                Ok(Response::new(response))
            }
            _ => Err(Status::internal(
                "etcdserver: a txn answered as something else",
            )),
        }
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let revision = request.into_inner().revision;
        match self
            .member
            .write(Command::Compact(revision))
            .await
            .map_err(|e| member_status(&e))?
        {
            CommandResult::Compacted { revision } => Ok(Response::new(CompactionResponse {
                header: header(&self.member, revision),
            })),
            CommandResult::Rejected(rejection) => Err(status_of(&rejection.into_error())),
            other => Err(Status::internal(format!(
                "etcdserver: unexpected apply result {other:?}"
            ))),
        }
    }
}

/// etcd's check before a transaction is proposed: at most `max_ops`
/// compares, or operations in either branch, with a nested transaction
/// counted against what its parent leaves; no empty operation.
fn check_txn(request: &TxnRequest, max_ops: usize) -> Result<(), Status> {
    let ops = request
        .compare
        .len()
        .max(request.success.len())
        .max(request.failure.len());
    if ops > max_ops {
        return Err(Status::invalid_argument(
            "etcdserver: too many operations in txn request",
        ));
    }
    for op in request.success.iter().chain(&request.failure) {
        match &op.request {
            Some(request_op::Request::RequestTxn(nested)) => check_txn(nested, max_ops - ops)?,
            Some(_) => {}
            None => return Err(status_of(&MvccError::KeyNotFound)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::{Compare, RequestOp};

    fn put() -> RequestOp {
        RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: b"k".to_vec(),
                ..Default::default()
            })),
        }
    }

    fn nested(ops: usize) -> RequestOp {
        RequestOp {
            request: Some(request_op::Request::RequestTxn(TxnRequest {
                success: vec![put(); ops],
                ..Default::default()
            })),
        }
    }

    #[test]
    fn the_limit_counts_the_largest_part_and_nested_transactions_share_it() {
        let txn = |compare: usize, success: Vec<RequestOp>, failure: usize| TxnRequest {
            compare: vec![Compare::default(); compare],
            success,
            failure: vec![put(); failure],
        };
        assert!(check_txn(&txn(4, vec![put(); 4], 4), 4).is_ok());
        for over in [
            txn(5, vec![], 0),
            txn(0, vec![put(); 5], 0),
            txn(0, vec![], 5),
        ] {
            let refused = check_txn(&over, 4).unwrap_err();
            assert_eq!(refused.code(), tonic::Code::InvalidArgument);
            assert_eq!(
                refused.message(),
                "etcdserver: too many operations in txn request"
            );
        }
        // Two ops leave 2 of 4 for the nested transaction.
        assert!(check_txn(&txn(0, vec![put(), nested(2)], 0), 4).is_ok());
        assert!(check_txn(&txn(0, vec![put(), nested(3)], 0), 4).is_err());
        let empty = txn(0, vec![RequestOp { request: None }], 0);
        assert_eq!(
            check_txn(&empty, 4).unwrap_err().message(),
            "etcdserver: key not found"
        );
    }
}

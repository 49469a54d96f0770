//! The etcd v3 wire types and gRPC service stubs, generated from `proto/`
//! (written for chainfire from the documented etcd v3 API).

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

/// `mvccpb`: key-value versions and watch events.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// `etcdserverpb`: the KV, Watch, Lease, Cluster and Maintenance services.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// `chainfire.raft`: member-to-member traffic.
pub mod raftpb {
    tonic::include_proto!("chainfire.raft");
}

//! One chainfire member on its own, served in the calling process, with no
//! runtime around it: what a benchmark measures against (chainfire's own
//! against etcd, lightningstor's with its metadata in chainfire).

use std::path::Path;

use crate::api::{Services, incoming};
use crate::member::{Member, MemberAddrs, MemberConfig};
use crate::proto::raftpb::raft_peer_server::RaftPeerServer;

/// Serves a one-member cluster named `name` with its data in `dir`, the
/// etcd v3 API on `client` and the Raft peer API on `peer` (`host:port`
/// each), until the process ends.
pub async fn serve(
    name: &str,
    dir: &Path,
    client: &str,
    peer: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let member = Member::start(MemberConfig {
        name: name.into(),
        data_dir: dir.into(),
        members: [(
            name.to_owned(),
            MemberAddrs {
                peer: peer.to_owned(),
                client: client.to_owned(),
            },
        )]
        .into(),
        snapshot_count: crate::Limits::DEFAULT.snapshot_count.into(),
    })
    .await?;
    let services = Services::new(&member, crate::Limits::DEFAULT);
    let peers = tonic::transport::Server::builder()
        .add_service(RaftPeerServer::new(member.peer_service()))
        .serve_with_incoming(incoming(tokio::net::TcpListener::bind(peer).await?));
    let clients = tonic::transport::Server::builder()
        .add_service(services.kv)
        .add_service(services.watch)
        .add_service(services.lease)
        .add_service(services.cluster)
        .add_service(services.maintenance)
        .serve_with_incoming(incoming(tokio::net::TcpListener::bind(client).await?));
    let (peers, clients) = tokio::join!(peers, clients);
    peers?;
    clients?;
    Ok(())
}

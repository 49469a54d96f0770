//! Three members in one process, talking over real gRPC on loopback: writes
//! from any member, linearizable reads on any member, a leader that dies,
//! and a member that comes back from its data directory.

use std::collections::BTreeMap;
use std::time::Duration;

use chainfire::member::{Member, MemberAddrs, MemberConfig};
use chainfire::mvcc::WriteRequest;
use chainfire::proto::etcdserverpb::PutRequest;
use chainfire::proto::raftpb::raft_peer_server::RaftPeerServer;
use chainfire::raft::network::MAX_PEER_MESSAGE;
use chainfire::raft::{Command, CommandResult};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct Running {
    member: Member,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

async fn start(
    name: &str,
    listener: TcpListener,
    members: &BTreeMap<String, MemberAddrs>,
    root: &std::path::Path,
) -> Running {
    let member = Member::start(MemberConfig {
        name: name.into(),
        data_dir: root.join(name),
        members: members.clone(),
    })
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let service = RaftPeerServer::new(member.peer_service())
        .max_decoding_message_size(MAX_PEER_MESSAGE)
        .max_encoding_message_size(MAX_PEER_MESSAGE);
    let token = stop.clone();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                chainfire::api::incoming(listener),
                token.cancelled_owned(),
            )
            .await
            .unwrap();
    });
    Running {
        member,
        stop,
        server,
    }
}

fn put(key: &str, value: &str) -> Command {
    Command::write(&WriteRequest::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }))
}

fn value(member: &Member, key: &str) -> Option<Vec<u8>> {
    let store = member.store().read().unwrap();
    store
        .get(key.as_bytes(), store.revision())
        .unwrap()
        .map(|kv| kv.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_agree_survive_a_dead_leader_and_catch_up_after_restart() {
    let root = tempfile::tempdir().unwrap();
    let names = ["cf-a", "cf-b", "cf-c"];
    let mut listeners = Vec::new();
    let mut members = BTreeMap::new();
    for name in names {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        members.insert(
            name.to_owned(),
            MemberAddrs {
                peer: addr.clone(),
                client: addr,
            },
        );
        listeners.push(listener);
    }
    let mut nodes = Vec::new();
    for (name, listener) in names.iter().zip(listeners) {
        nodes.push(start(name, listener, &members, root.path()).await);
    }

    // A write through every member, leader or not.
    for (i, node) in nodes.iter().enumerate() {
        let result = node.member.write(put("k", &format!("v{i}"))).await.unwrap();
        assert!(
            matches!(result, CommandResult::Written { .. }),
            "{result:?}"
        );
    }
    // A linearizable read on each member sees the last one.
    for node in &nodes {
        node.member.linearize().await.unwrap();
        assert_eq!(value(&node.member, "k").as_deref(), Some(&b"v2"[..]));
    }

    // The leader dies.
    let leader = nodes[0].member.term_and_leader().1.expect("a leader");
    let dead = nodes.iter().position(|n| n.member.id() == leader).unwrap();
    let gone = nodes.remove(dead);
    let dead_name = gone.member.name().to_owned();
    gone.stop.cancel();
    gone.member.shutdown().await;
    let Running { member, server, .. } = gone;
    server.await.unwrap();
    // Every handle to the dead member's store must be gone before it reopens.
    drop(member);

    // The other two elect a new leader and keep taking writes.
    let result = nodes[0].member.write(put("k", "after")).await.unwrap();
    assert!(
        matches!(result, CommandResult::Written { .. }),
        "{result:?}"
    );
    nodes[1].member.linearize().await.unwrap();
    assert_eq!(value(&nodes[1].member, "k").as_deref(), Some(&b"after"[..]));

    // The dead member restarts from its data directory and catches up.
    let listener = TcpListener::bind(&members[&dead_name].peer).await.unwrap();
    let back = start(&dead_name, listener, &members, root.path()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while value(&back.member, "k").as_deref() != Some(&b"after"[..]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted member never caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let revisions: Vec<i64> = nodes
        .iter()
        .chain([&back])
        .map(|n| n.member.store().read().unwrap().revision())
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] == w[1]), "{revisions:?}");

    for node in nodes.into_iter().chain([back]) {
        node.stop.cancel();
        node.member.shutdown().await;
    }
}

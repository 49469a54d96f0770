//! Three members in one process, talking over real gRPC on loopback: writes
//! from any member, linearizable reads on any member, a leader that dies,
//! a member that comes back from its data directory, and one so far behind
//! that it is sent a snapshot.

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
        snapshot_count: chainfire::Limits::DEFAULT.snapshot_count.into(),
        presenting: Default::default(),
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

/// `key`'s value on `member` now.
async fn value(member: &Member, key: &str) -> Option<Vec<u8>> {
    let store = member.store().read().await;
    store
        .get(key.as_bytes(), store.revision())
        .unwrap()
        .map(|kv| kv.value)
}

/// Three members on loopback listeners; their peer addresses.
async fn listeners(names: &[&str]) -> (Vec<TcpListener>, BTreeMap<String, MemberAddrs>) {
    let mut listeners = Vec::new();
    let mut members = BTreeMap::new();
    for name in names {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        members.insert(
            (*name).to_owned(),
            MemberAddrs {
                peer: addr.clone(),
                client: addr,
            },
        );
        listeners.push(listener);
    }
    (listeners, members)
}

async fn stop(node: Running) {
    node.stop.cancel();
    node.member.shutdown().await;
    let Running { member, server, .. } = node;
    server.await.unwrap();
    // Every handle to the member's store must be gone before it reopens.
    drop(member);
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_behind_the_purged_log_is_sent_a_snapshot_and_matches() {
    let root = tempfile::tempdir().unwrap();
    let names = ["sn-a", "sn-b", "sn-c"];
    let (listeners, members) = listeners(&names).await;
    let mut nodes = Vec::new();
    for (name, listener) in names.iter().zip(listeners) {
        nodes.push(start(name, listener, &members, root.path()).await);
    }
    nodes[0].member.write(put("before", "1")).await.unwrap();
    let behind = nodes.pop().unwrap();
    let behind_name = behind.member.name().to_owned();
    stop(behind).await;

    // Enough writes that the snapshot is more than one chunk's worth of
    // nothing, some overwritten so history rows travel too.
    let value_of = |i: usize| format!("{i:0>300}");
    for i in 0..400 {
        let result = nodes[i % 2]
            .member
            .write(put(&format!("k{}", i % 150), &value_of(i)))
            .await
            .unwrap();
        assert!(
            matches!(result, CommandResult::Written { .. }),
            "{result:?}"
        );
    }
    let leader_id = nodes[0].member.term_and_leader().1.expect("a leader");
    let leader = nodes.iter().find(|n| n.member.id() == leader_id).unwrap();
    let raft = leader.member.raft();
    let mut metrics = raft.metrics();
    let applied = metrics.borrow().last_applied.expect("applied").index;
    raft.trigger().snapshot().await.unwrap();
    let snapshot = metrics
        .wait_for(|m| m.snapshot.is_some_and(|s| s.index >= applied))
        .await
        .unwrap()
        .snapshot
        .unwrap();
    raft.trigger().purge_log(snapshot.index).await.unwrap();
    metrics
        .wait_for(|m| m.purged.is_some_and(|p| p.index >= snapshot.index))
        .await
        .unwrap();

    let listener = TcpListener::bind(&members[&behind_name].peer)
        .await
        .unwrap();
    let back = start(&behind_name, listener, &members, root.path()).await;
    let mut back_metrics = back.member.raft().metrics();
    back_metrics
        .wait_for(|m| m.snapshot.is_some_and(|s| s.index >= snapshot.index))
        .await
        .unwrap();
    let target = leader.member.revision();
    wait_for("the member sent a snapshot catches up", || {
        back.member.revision() >= target
    })
    .await;
    for i in 250..400 {
        assert_eq!(
            value(&back.member, &format!("k{}", i % 150)).await,
            Some(value_of(i).into_bytes())
        );
    }
    assert_eq!(
        value(&back.member, "before").await.as_deref(),
        Some(&b"1"[..])
    );
    // Past revisions travelled too: the first value of k0 is still readable.
    let first = back
        .member
        .read_store()
        .await
        .get(b"k0", 3)
        .unwrap()
        .map(|kv| kv.value);
    assert_eq!(first, Some(value_of(0).into_bytes()));

    for node in nodes.into_iter().chain([back]) {
        stop(node).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_agree_survive_a_dead_leader_and_catch_up_after_restart() {
    let root = tempfile::tempdir().unwrap();
    let names = ["cf-a", "cf-b", "cf-c"];
    let (listeners, members) = listeners(&names).await;
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
        assert_eq!(value(&node.member, "k").await.as_deref(), Some(&b"v2"[..]));
    }

    // The leader dies.
    let leader = nodes[0].member.term_and_leader().1.expect("a leader");
    let dead = nodes.iter().position(|n| n.member.id() == leader).unwrap();
    let gone = nodes.remove(dead);
    let dead_name = gone.member.name().to_owned();
    stop(gone).await;

    // The other two elect a new leader and keep taking writes.
    let result = nodes[0].member.write(put("k", "after")).await.unwrap();
    assert!(
        matches!(result, CommandResult::Written { .. }),
        "{result:?}"
    );
    nodes[1].member.linearize().await.unwrap();
    assert_eq!(
        value(&nodes[1].member, "k").await.as_deref(),
        Some(&b"after"[..])
    );

    // The dead member restarts from its data directory and catches up.
    let listener = TcpListener::bind(&members[&dead_name].peer).await.unwrap();
    let back = start(&dead_name, listener, &members, root.path()).await;
    let target = nodes[0].member.revision();
    wait_for("the restarted member catches up", || {
        back.member.revision() >= target
    })
    .await;
    assert_eq!(
        value(&back.member, "k").await.as_deref(),
        Some(&b"after"[..])
    );
    let revisions: Vec<i64> = nodes
        .iter()
        .chain([&back])
        .map(|n| n.member.revision())
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] == w[1]), "{revisions:?}");

    for node in nodes.into_iter().chain([back]) {
        stop(node).await;
    }
}

/// A lone write is proposed straight from its caller, one log entry each;
/// writes that arrive while others are in flight still share entries
/// (one fsync for many), and every one of them is applied at its own
/// revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lone_writes_take_an_entry_each_and_concurrent_ones_share_entries() {
    let root = tempfile::tempdir().unwrap();
    let (mut listeners, members) = listeners(&["solo"]).await;
    let node = start("solo", listeners.remove(0), &members, root.path()).await;
    let member = node.member.clone();
    wait_for("a leader", || {
        member.term_and_leader().1 == Some(member.id())
    })
    .await;
    let last_index = || member.raft().metrics().borrow().last_log_index.unwrap_or(0);

    let before = last_index();
    for i in 0..20 {
        member.write(put(&format!("lone/{i}"), "v")).await.unwrap();
    }
    assert_eq!(last_index() - before, 20, "one entry per lone write");

    let before = last_index();
    let writes: Vec<_> = (0..400)
        .map(|i| {
            let member = member.clone();
            tokio::spawn(async move { member.write(put(&format!("many/{i}"), "v")).await })
        })
        .collect();
    let mut revisions = std::collections::BTreeSet::new();
    for write in writes {
        match write.await.unwrap().unwrap() {
            CommandResult::Written { revision, .. } => assert!(revisions.insert(revision)),
            other => panic!("a put answered {other:?}"),
        }
    }
    assert_eq!(revisions.len(), 400);
    let entries = last_index() - before;
    assert!(
        entries < 200,
        "400 concurrent writes took {entries} entries"
    );
    assert_eq!(value(&member, "many/399").await.as_deref(), Some(&b"v"[..]));
    stop(node).await;
}

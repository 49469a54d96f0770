//! Acknowledged writes survive `kill -9`, of a lone member and of the leader
//! of a three-member cluster in the middle of a stream of writes. The history
//! the clients saw is linearizable, as judged by stateright's
//! linearizability tester on each key.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::Loopback;
use e2e::Running;
use e2e::etcd::{MEMBERS, leader_index, run_node, start_cluster};
use etcd_client::{Client, GetOptions};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

/// Waits until `endpoint` reports a leader; returns the leader's id.
async fn leader_at(endpoint: &str, within: Duration) -> u64 {
    e2e::etcd::leader(endpoint, within)
        .await
        .unwrap_or_else(|problem| panic!("{problem}"))
}

/// SIGKILLs a member's process and waits until it is gone.
fn kill(node: &mut Option<Running>) {
    node.take().expect("the member is running").kill();
}

/// Every key under `prefix`, read from `endpoint` alone.
async fn keys_at(endpoint: &str, prefix: &str) -> Vec<String> {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let response = client
        .get(
            prefix,
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_keys_only()
                    .with_serializable(),
            ),
        )
        .await
        .unwrap();
    response
        .kvs()
        .iter()
        .map(|kv| kv.key_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_member_killed_with_sigkill_keeps_every_acknowledged_write() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let endpoint = &format!("{net}.1:2379");
    let mut node = run_node("chainfire-single", "kv", &format!("{net}"), state.path());
    leader_at(endpoint, Duration::from_secs(20)).await;
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let mut acked = Vec::new();
    for i in 0..200 {
        let key = format!("durable/{i:04}");
        client.put(key.as_str(), "v", None).await.unwrap();
        acked.push(key);
    }
    node.signal("KILL");
    node.wait(Duration::from_secs(10));
    drop(node);

    let _again = run_node("chainfire-single", "kv", &format!("{net}"), state.path());
    leader_at(endpoint, Duration::from_secs(20)).await;
    assert_eq!(keys_at(endpoint, "durable/").await, acked);
}

/// One client's operations are one "thread" of the history; after an
/// operation whose outcome is unknown the client continues as a new thread,
/// leaving that operation in flight (it may or may not have taken effect).
#[derive(Debug, Clone)]
enum Recorded {
    Invoke(u64, String, RegisterOp<u64>),
    Return(u64, RegisterRet<u64>),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_during_writes_loses_nothing_acknowledged_and_stays_linearizable() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let base = &format!("{net}");
    let (mut nodes, endpoints) = start_cluster(base, state.path()).await;

    let seq = Arc::new(AtomicU64::new(0));
    let threads = Arc::new(AtomicU64::new(100));
    let history: Arc<Mutex<Vec<(u64, Recorded)>>> = Arc::default();
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let (seq, threads, history, acked, stop, endpoints) = (
            seq.clone(),
            threads.clone(),
            history.clone(),
            acked.clone(),
            stop.clone(),
            endpoints.clone(),
        );
        clients.push(tokio::spawn(async move {
            // Each client talks to one member and moves to the next when a
            // request fails, as an application behind a member list would.
            let mut at_endpoint = c as usize % endpoints.len();
            let mut client = Client::connect([endpoints[at_endpoint].as_str()], None)
                .await
                .unwrap();
            let mut thread = threads.fetch_add(1, Ordering::SeqCst);
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                // A write to a key of its own, kept to check durability.
                let key = format!("acked/{c}/{n:06}");
                let written = tokio::time::timeout(
                    Duration::from_secs(2),
                    client.put(key.as_str(), "v", None),
                )
                .await;
                if let Ok(Ok(_)) = written {
                    acked.lock().unwrap().push((key, Instant::now()));
                } else {
                    at_endpoint = (at_endpoint + 1) % endpoints.len();
                    if let Ok(next) = Client::connect([endpoints[at_endpoint].as_str()], None).await
                    {
                        client = next;
                    }
                    continue;
                }
                // An operation on a shared register.
                let register = format!("lin/{}", n % 3);
                let value = c * 1_000_000 + n;
                let op = if n.is_multiple_of(2) {
                    RegisterOp::Write(value)
                } else {
                    RegisterOp::Read
                };
                let at = seq.fetch_add(1, Ordering::SeqCst);
                history
                    .lock()
                    .unwrap()
                    .push((at, Recorded::Invoke(thread, register.clone(), op.clone())));
                let outcome = match op {
                    RegisterOp::Write(v) => tokio::time::timeout(
                        Duration::from_secs(2),
                        client.put(register.as_str(), v.to_string(), None),
                    )
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .map(|_| RegisterRet::WriteOk),
                    RegisterOp::Read => tokio::time::timeout(
                        Duration::from_secs(2),
                        client.get(register.as_str(), None),
                    )
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .map(|r| {
                        RegisterRet::ReadOk(
                            r.kvs()
                                .first()
                                .map_or(0, |kv| kv.value_str().unwrap().parse().unwrap()),
                        )
                    }),
                };
                match outcome {
                    Some(ret) => {
                        let at = seq.fetch_add(1, Ordering::SeqCst);
                        history
                            .lock()
                            .unwrap()
                            .push((at, Recorded::Return(thread, ret)));
                    }
                    None => {
                        // Unknown outcome: leave it in flight, go on as a new thread.
                        thread = threads.fetch_add(1, Ordering::SeqCst);
                        at_endpoint = (at_endpoint + 1) % endpoints.len();
                        if let Ok(next) =
                            Client::connect([endpoints[at_endpoint].as_str()], None).await
                        {
                            client = next;
                        }
                    }
                }
            }
        }));
    }

    // Let the writes run, then kill the leader with SIGKILL.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dead = leader_index(&endpoints).await;
    let killed_at = Instant::now();
    kill(&mut nodes[dead]);

    // Writes go on against the other two, then the dead member comes back.
    // Failing over takes up to a leader lease (1.5 s) and an election
    // timeout (up to 1.5 s), and longer on a loaded machine: the window is
    // twice that.
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    nodes[dead] = Some(run_node(
        "chainfire-cluster",
        MEMBERS[dead],
        base,
        state.path(),
    ));
    leader_at(&endpoints[dead], Duration::from_secs(30)).await;

    // Durability: every acknowledged key is on every member, the restarted
    // one included, once it has caught up.
    let acked = acked.lock().unwrap().clone();
    let after_kill = acked.iter().filter(|(_, t)| *t > killed_at).count();
    assert!(after_kill > 0, "no write succeeded after the leader died");
    let mut want: Vec<String> = acked.into_iter().map(|(k, _)| k).collect();
    want.sort();
    for e in &endpoints {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let have = keys_at(e, "acked/").await;
            let missing: Vec<&String> = want
                .iter()
                .filter(|k| have.binary_search(k).is_err())
                .collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{e} lacks {} acknowledged keys, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Linearizability, key by key (each key is an independent register).
    let mut events = history.lock().unwrap().clone();
    events.sort_by_key(|(at, _)| *at);
    let mut key_of_thread: BTreeMap<u64, String> = BTreeMap::new();
    let mut testers: BTreeMap<String, LinearizabilityTester<u64, Register<u64>>> = BTreeMap::new();
    let mut operations = 0;
    for (_, event) in events {
        match event {
            Recorded::Invoke(thread, key, op) => {
                operations += 1;
                key_of_thread.insert(thread, key.clone());
                testers
                    .entry(key)
                    .or_insert_with(|| LinearizabilityTester::new(Register(0)))
                    .on_invoke(thread, op)
                    .unwrap();
            }
            Recorded::Return(thread, ret) => {
                let key = &key_of_thread[&thread];
                testers
                    .get_mut(key)
                    .unwrap()
                    .on_return(thread, ret)
                    .unwrap();
            }
        }
    }
    assert!(operations > 50, "only {operations} register operations ran");
    for (key, tester) in &testers {
        assert!(
            tester.serialized_history().is_some(),
            "the history of {key} is not linearizable ({} operations)",
            tester.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_sees_every_write_once_in_order_across_a_leader_change() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let base = &format!("{net}");
    let (mut nodes, endpoints) = start_cluster(base, state.path()).await;
    let leader_index = leader_index(&endpoints).await;
    // The watcher sits on a member that survives; the writer uses another.
    let watched = (leader_index + 1) % 3;
    let writer_at = (leader_index + 2) % 3;
    let mut watcher = Client::connect([endpoints[watched].as_str()], None)
        .await
        .unwrap();
    let mut stream = watcher
        .watch("seq/", Some(etcd_client::WatchOptions::new().with_prefix()))
        .await
        .unwrap();
    let mut writer = Client::connect([endpoints[writer_at].as_str()], None)
        .await
        .unwrap();

    let mut acked: Vec<(String, i64)> = Vec::new();
    let started = Instant::now();
    let mut killed = false;
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(6) {
        if !killed && started.elapsed() > Duration::from_secs(2) {
            kill(&mut nodes[leader_index]);
            killed = true;
        }
        n += 1;
        let key = format!("seq/{n:05}");
        if let Ok(Ok(put)) =
            tokio::time::timeout(Duration::from_secs(2), writer.put(key.as_str(), "v", None)).await
        {
            acked.push((key, put.header().unwrap().revision()));
        }
    }
    assert!(killed);
    let last = acked.last().expect("writes succeeded").1;

    // Collect events until the last acknowledged revision has been seen.
    let mut seen: Vec<(String, i64)> = Vec::new();
    while seen.last().is_none_or(|(_, r)| *r < last) {
        let response = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("events keep coming")
            .unwrap()
            .expect("the stream stays open");
        for event in response.events() {
            let kv = event.kv().unwrap();
            seen.push((kv.key_str().unwrap().to_owned(), kv.mod_revision()));
        }
    }
    let revisions: Vec<i64> = seen.iter().map(|(_, r)| *r).collect();
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "events out of order or duplicated"
    );
    for (key, revision) in &acked {
        assert!(
            seen.iter().any(|(k, r)| k == key && r == revision),
            "the watch missed {key} at revision {revision}"
        );
    }
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_lost_its_quorum_answers_no_leader_and_recovers_with_it() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let base = &format!("{net}");
    let (mut nodes, endpoints) = start_cluster(base, state.path()).await;
    // Two of three go away: the last one cannot form a majority.
    for node in &mut nodes[1..] {
        kill(node);
    }
    let mut client = Client::connect([endpoints[0].as_str()], None)
        .await
        .unwrap();
    let refused = client.put("quorum", "lost", None).await.unwrap_err();
    match refused {
        etcd_client::Error::GRpcStatus(status) => {
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            assert!(status.message().starts_with("etcdserver:"), "{status:?}");
        }
        other => panic!("expected a gRPC status, got {other:?}"),
    }
    // A linearizable read cannot be served either; a serializable one can.
    assert!(client.get("quorum", None).await.is_err());
    assert!(
        client
            .get("quorum", Some(GetOptions::new().with_serializable()))
            .await
            .is_ok()
    );
    // With a majority back, writes go through again.
    nodes[1] = Some(run_node(
        "chainfire-cluster",
        MEMBERS[1],
        base,
        state.path(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.put("quorum", "back", None).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "writes never resumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

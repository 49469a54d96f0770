//! The operator's tools, with Debian's `etcdctl`: `snapshot save` from any
//! member and the restore that brings a new cluster up from the file;
//! `move-leader`; and a lagging member catching up from a Raft snapshot
//! in bounded memory.

use std::process::Output;
use std::time::Duration;

use e2e::etcd::{deployment_up, deployment_up_in, leader};
use e2e::{Loopback, Running};
use etcd_client::{Client, GetOptions, PutOptions};

fn etcdctl(endpoints: &[&str], args: &[&str]) -> Output {
    std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(args)
        .output()
        .expect("etcdctl runs (.ci/setup installs etcd-client)")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every key with its revisions, version, lease and value.
type Dump = Vec<(String, i64, i64, i64, i64, String)>;

async fn dump(client: &mut Client, revision: i64) -> (i64, Dump) {
    let mut options = GetOptions::new().with_all_keys();
    if revision > 0 {
        options = options.with_revision(revision);
    }
    let got = client.get("", Some(options)).await.unwrap();
    let kvs = got
        .kvs()
        .iter()
        .map(|kv| {
            (
                kv.key_str().unwrap().to_owned(),
                kv.create_revision(),
                kv.mod_revision(),
                kv.version(),
                kv.lease(),
                kv.value_str().unwrap().to_owned(),
            )
        })
        .collect();
    (got.header().unwrap().revision(), kvs)
}

/// The member id and the leader id `endpoint` reports.
async fn ids(endpoint: &str) -> (u64, u64) {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let status = client.status().await.unwrap();
    (status.header().unwrap().member_id(), status.leader())
}

fn restore(state: &std::path::Path, node: &str, from: &std::path::Path) -> Output {
    e2e::output(
        "chainfire-cluster",
        &[
            "restore",
            "--node",
            node,
            "--service",
            "chainfire",
            "--from",
            from.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_snapshot_save_from_a_follower_restores_into_a_new_cluster_with_every_key_and_revision()
 {
    let net = Loopback::block();
    let (mut running, _state, endpoints) = deployment_up("chainfire-cluster", &net, 3).await;
    let mut client = Client::connect(endpoints.clone(), None).await.unwrap();
    // History worth keeping: keys written several times, a delete, a
    // compaction, a lease with a key on it.
    for round in 0..3 {
        for i in 0..200 {
            client
                .put(format!("key/{i:03}"), format!("v{round}-{i}"), None)
                .await
                .unwrap();
        }
    }
    client.delete("key/007", None).await.unwrap();
    let compacted_at = client
        .get("key/000", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision()
        - 100;
    client.compact(compacted_at, None).await.unwrap();
    let lease = client.lease_grant(600, None).await.unwrap().id();
    client
        .put(
            "leased",
            "with a lease",
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .unwrap();
    let (revision, before) = dump(&mut client, 0).await;
    let (_, in_history) = dump(&mut client, compacted_at + 50).await;
    assert_eq!(before.len(), 200, "199 keys and the leased one");

    // Saved by etcdctl from a member that does not lead.
    let mut follower = None;
    for endpoint in &endpoints {
        let (id, leader) = ids(endpoint).await;
        if id != leader {
            follower = Some(endpoint.clone());
        }
    }
    let follower = follower.expect("two of three members follow");
    let files = tempfile::tempdir().unwrap();
    let backup = files.path().join("backup.db");
    let saved = etcdctl(
        &[&follower],
        &["snapshot", "save", backup.to_str().unwrap()],
    );
    assert!(saved.status.success(), "{}", text(&saved));
    assert!(
        text(&saved).contains("Snapshot saved at"),
        "{}",
        text(&saved)
    );
    running.signal("TERM");
    assert!(running.wait(Duration::from_secs(20)).0.success());

    // A damaged copy is refused before anything is written.
    let restored = tempfile::tempdir().unwrap();
    let damaged = files.path().join("damaged.db");
    let mut bytes = std::fs::read(&backup).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&damaged, &bytes).unwrap();
    let refused = restore(restored.path(), "kv-1", &damaged);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("is damaged: its SHA-256 does not match its contents"),
        "{}",
        text(&refused)
    );
    assert!(
        std::fs::read_dir(restored.path()).unwrap().next().is_none(),
        "a refused restore left files behind"
    );
    let not_a_backup = restore(
        restored.path(),
        "kv-1",
        std::path::Path::new("/etc/hostname"),
    );
    assert!(
        text(&not_a_backup).contains("is not a chainfire backup"),
        "{}",
        text(&not_a_backup)
    );

    // Every member restores the same file; the new cluster starts on it.
    for node in ["kv-1", "kv-2", "kv-3"] {
        let out = restore(restored.path(), node, &backup);
        assert!(out.status.success(), "{node}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("at revision {revision}")),
            "{}",
            text(&out)
        );
    }
    let again = restore(restored.path(), "kv-1", &backup);
    assert!(
        text(&again).contains("is not empty: a backup is restored into a new data directory"),
        "{}",
        text(&again)
    );
    let net = Loopback::block();
    let (_running, endpoints) =
        deployment_up_in("chainfire-cluster", &net, 3, restored.path()).await;
    for endpoint in &endpoints {
        let mut client = Client::connect([endpoint.as_str()], None).await.unwrap();
        assert_eq!(dump(&mut client, 0).await, (revision, before.clone()));
        assert_eq!(dump(&mut client, compacted_at + 50).await.1, in_history);
        let too_old = client
            .get(
                "key/000",
                Some(GetOptions::new().with_revision(compacted_at - 1)),
            )
            .await
            .unwrap_err();
        assert!(
            too_old
                .to_string()
                .contains("required revision has been compacted"),
            "{too_old}"
        );
    }
    let mut client = Client::connect(endpoints.clone(), None).await.unwrap();
    let ttl = client.lease_time_to_live(lease, None).await.unwrap();
    assert_eq!(ttl.granted_ttl(), 600);
    let put = client.put("after", "the restore", None).await.unwrap();
    assert_eq!(put.header().unwrap().revision(), revision + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_move_leader_hands_leadership_over_while_writes_go_on() {
    let net = Loopback::block();
    let (running, _state, endpoints) = deployment_up("chainfire-cluster", &net, 3).await;
    let all: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    let (_, old_leader) = ids(&endpoints[0]).await;
    let mut target = 0;
    let mut follower_endpoint = String::new();
    for endpoint in &endpoints {
        let (id, _) = ids(endpoint).await;
        if id != old_leader {
            target = id;
            follower_endpoint = endpoint.clone();
        }
    }

    // Asked of a follower: etcd's refusal.
    let mut at_follower = Client::connect([follower_endpoint.as_str()], None)
        .await
        .unwrap();
    let refused = at_follower.move_leader(old_leader).await.unwrap_err();
    assert!(
        refused.to_string().contains("etcdserver: not leader"),
        "{refused}"
    );

    // A writer keeps going through the hand-over; none of its writes fail.
    let writer_endpoints = endpoints.clone();
    let writer = tokio::spawn(async move {
        let mut client = Client::connect(writer_endpoints, None).await.unwrap();
        for i in 0..300 {
            client
                .put(format!("during/{i:03}"), "x", None)
                .await
                .map_err(|e| format!("write {i}: {e}"))?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok::<_, String>(())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let moved = etcdctl(&all, &["move-leader", &format!("{target:x}")]);
    assert!(
        moved.status.success(),
        "{}\nlog:\n{}",
        text(&moved),
        running.log()
    );
    assert!(
        text(&moved).contains(&format!(
            "Leadership transferred from {old_leader:x} to {target:x}"
        )),
        "{}",
        text(&moved)
    );
    for endpoint in &endpoints {
        assert_eq!(
            leader(endpoint, Duration::from_secs(5)).await.unwrap(),
            target
        );
    }
    writer.await.unwrap().unwrap();
    let mut client = Client::connect(endpoints.clone(), None).await.unwrap();
    let during = client
        .get(
            "during/",
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await
        .unwrap();
    assert_eq!(during.count(), 300);

    // A member id that is not in the cluster: etcd's refusal.
    let bad = etcdctl(&all, &["move-leader", "abcdef"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("etcdserver: bad leader transferee"),
        "{}",
        text(&bad)
    );
}

/// `chainfire-server` for node `node` of the cluster deployment, from the
/// configuration the deployment exports, snapshotting every 100 entries.
fn server(net: &Loopback, state: &std::path::Path, node: &str) -> Running {
    let exported = e2e::export_config(
        "chainfire-cluster",
        node,
        "chainfire",
        &net.base(),
        state.to_str().unwrap(),
    );
    let config = state.join(format!("{node}.toml"));
    std::fs::write(&config, exported).unwrap();
    Running::start_server(
        "chainfire",
        &[
            "--config",
            config.to_str().unwrap(),
            "--set",
            "standalone.limits.snapshot_count=100",
        ],
        &[],
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_far_behind_installs_a_snapshot_larger_than_its_memory_peak() {
    const VALUE: usize = 1 << 20;
    const BIG_VALUES: usize = 256;
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut kv1 = server(&net, state.path(), "kv-1");
    let mut kv2 = server(&net, state.path(), "kv-2");
    kv1.wait_for("all services started", Duration::from_secs(30));
    kv2.wait_for("all services started", Duration::from_secs(30));
    let endpoints = [net.addr(1, 2379), net.addr(2, 2379)];
    for endpoint in &endpoints {
        leader(endpoint, Duration::from_secs(20)).await.unwrap();
    }
    // 256 MiB of values, then enough small writes that the log kv-3 would
    // need is purged (a snapshot every 100 entries, 1 000 kept after it).
    let mut client = Client::connect(endpoints.clone(), None).await.unwrap();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let value = "v".repeat(VALUE);
                for i in (writer..BIG_VALUES).step_by(8) {
                    client
                        .put(format!("big/{i:03}"), value.as_str(), None)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for i in 0..1300 {
        client
            .put(format!("small/{i:04}"), "s", None)
            .await
            .unwrap();
    }
    let revision = client
        .get("big/000", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();

    let mut kv3 = server(&net, state.path(), "kv-3");
    kv3.wait_for("all services started", Duration::from_secs(30));
    let mut alone = Client::connect([net.addr(3, 2379)], None).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let got = alone
            .get("small/1299", Some(GetOptions::new().with_serializable()))
            .await;
        if got.is_ok_and(|got| got.header().is_some_and(|h| h.revision() >= revision)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kv-3 never caught up; log:\n{}",
            kv3.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It caught up from a snapshot (the log it lacked is gone), which it
    // keeps as its own.
    assert!(
        state
            .path()
            .join("chainfire-cluster/kv-3/chainfire/snapshot.bin")
            .exists()
    );
    let keys = alone
        .get(
            "big/",
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_keys_only()
                    .with_serializable(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(keys.kvs().len(), BIG_VALUES);
    for key in ["big/000", "big/128", "big/255"] {
        let got = alone
            .get(key, Some(GetOptions::new().with_serializable()))
            .await
            .unwrap();
        assert_eq!(got.kvs()[0].value().len(), VALUE, "{key}");
    }
    let peak = e2e::memory_kib(kv3.pid(), "VmHWM") * 1024;
    let store = (BIG_VALUES * VALUE) as u64;
    eprintln!(
        "kv-3 installed a {} MiB snapshot with a peak of {} MiB resident",
        store >> 20,
        peak >> 20
    );
    // Bounded by RocksDB's write buffers, not by the store (one write batch
    // of the whole store held all of it in memory, and more).
    assert!(
        peak < store,
        "installing a {} MiB snapshot peaked at {} MiB resident",
        store >> 20,
        peak >> 20
    );
    for server in [&mut kv1, &mut kv2, &mut kv3] {
        server.signal("TERM");
    }
}

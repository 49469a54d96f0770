//! `deploy-flaredb`: sixteen shards over three nodes, driven with
//! flaredb's routing client. Writers keep writing while shards move from
//! node to node; every write they were answered for is read back, after
//! the moves and again after the whole deployment restarts on its disks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::{Loopback, Running};
use flaredb::client::Client;

const TOKEN: &str = "flaredb-token-0123456789abcdef";
const ENV: [(&str, &str); 1] = [("FLAREDB_TOKEN", TOKEN)];
const NODES: [&str; 3] = ["db-1", "db-2", "db-3"];

fn up(net: &Loopback, state: &std::path::Path) -> Running {
    Running::up("flaredb", net, state, &ENV, Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_on_while_shards_move_and_every_acknowledged_one_is_read_back() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut deployment = up(&net, state.path());
    let client = Arc::new(Client::connect(&net.addr(2, 50060), TOKEN).await.unwrap());
    let first = client.map();
    assert_eq!(first.shards(), 16);
    assert_eq!(first.nodes.len(), 3);

    // Four writers, each its own keys, until the moves are done.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}-{i}");
                    let value = format!("value {i} of writer {w}");
                    client.put(key.as_bytes(), value.as_bytes()).await.unwrap();
                    acknowledged.push((key, value));
                    i += 1;
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Six shards each moved to the next node, one after another, while
    // the writers write.
    let mut moved = Vec::new();
    for shard in 0..6u16 {
        let from = client.map().owner(shard).unwrap().to_owned();
        let at = NODES.iter().position(|n| *n == from).unwrap();
        let to = NODES[(at + 1) % NODES.len()];
        client.move_shard(shard, to).await.unwrap();
        moved.push((shard, to));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() > 200,
        "{} writes in all",
        acknowledged.len()
    );

    // The map says where each moved shard is now, in one more epoch per
    // move; every acknowledged write reads back.
    let map = client.map();
    assert_eq!(map.epoch, first.epoch + 6);
    for (shard, to) in &moved {
        assert_eq!(map.owner(*shard), Some(*to), "shard {shard}");
    }
    for (key, value) in &acknowledged {
        let got = client.get(key.as_bytes()).await.unwrap();
        assert_eq!(got.as_deref(), Some(value.as_bytes()), "{key}");
    }
    let held: usize = shards_held(&net).await;
    assert_eq!(held, 16, "each shard held by one node");

    // The whole deployment stopped and started again on its disks: the
    // map and every acknowledged write are as they were.
    deployment.signal("INT");
    deployment.wait(Duration::from_secs(30));
    let _again = up(&net, state.path());
    let client = Client::connect(&net.addr(3, 50060), TOKEN).await.unwrap();
    assert_eq!(client.map(), map);
    for (key, value) in acknowledged.iter().step_by(7) {
        let got = client.get(key.as_bytes()).await.unwrap();
        assert_eq!(
            got.as_deref(),
            Some(value.as_bytes()),
            "{key} after a restart"
        );
    }
    assert!(client.delete(acknowledged[0].0.as_bytes()).await.unwrap());
    assert_eq!(
        client.get(acknowledged[0].0.as_bytes()).await.unwrap(),
        None
    );

    // Without the token: refused.
    let refused = Client::connect(&net.addr(2, 50060), "not-the-token")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
}

/// The shards the three nodes say they hold, summed.
async fn shards_held(net: &Loopback) -> usize {
    let mut held = 0;
    for host in 2..=4 {
        let (code, metrics) = e2e::http_get(&net.url(host, 50060), "/metrics").await;
        assert_eq!(code, 200);
        let line = metrics
            .lines()
            .find(|l| l.starts_with("flaredb_shards_held "))
            .unwrap_or_else(|| panic!("{metrics}"));
        held += line.rsplit(' ').next().unwrap().parse::<usize>().unwrap();
    }
    held
}

/// `flaredb-server` from the TOML the deployment exports for one of its
/// nodes, renamed and readdressed by `PHOTON_*` variables as an operator
/// adding a machine would: it joins the map holding no shard, takes the
/// shards `photonctl db move` moves to it, and a 40 MB one moved while a
/// writer writes into it, serves them, and after a restart on its disk
/// still holds them and their data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaredb_server_joins_from_exported_toml_and_takes_shards_moved_to_it() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let text = e2e::export_config(
        "flaredb",
        "db-3",
        "flaredb",
        &net.base(),
        state.path().join("exported").to_str().unwrap(),
    );
    for expected in [
        "component_id = \"db-3\"".to_owned(),
        format!("chainfire_endpoints = [\"{}\"]", net.url(1, 2379)),
        format!("advertise_addr = \"{}\"", net.addr(4, 50060)),
        "admin_token_env = \"FLAREDB_TOKEN\"".to_owned(),
        "count = 16".to_owned(),
        format!("name = \"db-1\"\naddr = \"{}\"", net.addr(2, 50060)),
    ] {
        assert!(text.contains(&expected), "{expected} in {text}");
    }
    let _deployment = up(&net, state.path());
    let config = state.path().join("db-4.toml");
    std::fs::write(&config, &text).unwrap();
    let (addr, data) = (
        net.addr(5, 50060),
        state.path().join("db-4").to_str().unwrap().to_owned(),
    );
    let env = [
        ("FLAREDB_TOKEN", TOKEN),
        ("PHOTON_COMPONENT_ID", "db-4"),
        ("PHOTON__STANDALONE__SERVER__GRPC_ADDR", addr.as_str()),
        ("PHOTON__STANDALONE__SERVER__ADVERTISE_ADDR", addr.as_str()),
        ("PHOTON__STANDALONE__STORAGE__DATA_DIR", data.as_str()),
    ];
    let args = ["--config", config.to_str().unwrap()];
    let mut server = Running::start_server("flaredb", &args, &env, None);
    server.wait_for("all services started", Duration::from_secs(60));
    assert!(
        server
            .log()
            .contains("joined the shard map holding no shard"),
        "{}",
        server.log()
    );

    // The operator's view and moves: photonctl, with the token in a file.
    let token_file = state.path().join("flaredb.token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let db1 = net.addr(2, 50060);
    let photonctl = |args: &[&str]| {
        let mut all = vec![
            "db",
            "--endpoint",
            db1.as_str(),
            "--token-file",
            token_file.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let out = e2e::tool_output("photonctl", &all);
        assert!(
            out.status.success(),
            "photonctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let map = photonctl(&["map"]);
    assert!(
        map.contains(&format!("db-4 {addr} 0 shard(s): -\n")),
        "{map}"
    );
    let moved = photonctl(&["move", "--to", "db-4", "3", "11"]);
    assert!(
        moved.starts_with("shard 3 on db-4 (") && moved.contains("shard 11 on db-4 ("),
        "{moved}"
    );
    let map = photonctl(&["map"]);
    assert!(
        map.contains(&format!("db-4 {addr} 2 shard(s): 3,11\n")),
        "{map}"
    );
    let client = Arc::new(Client::connect(&db1, TOKEN).await.unwrap());
    assert_eq!(client.map().owner(11), Some("db-4"));

    // Shard 5, some 40 MB, moved to db-4 while a writer writes into it:
    // the writes go on during the copy (the move then catches them up)
    // and every acknowledged one reads back from db-4.
    const BIG: u16 = 5;
    let in_big = |prefix: &str, n: usize| -> Vec<String> {
        (0..)
            .map(|i| format!("{prefix}{i}"))
            .filter(|k| flaredb::shard::shard_of(k.as_bytes(), 16) == BIG)
            .take(n)
            .collect()
    };
    let bulk = in_big("bulk-", 400);
    for key in &bulk {
        client
            .put(key.as_bytes(), &[key.as_bytes()[5]; 100_000])
            .await
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (client, stop, keys) = (client.clone(), stop.clone(), in_big("live-", 100_000));
        async move {
            let mut acknowledged = Vec::new();
            for key in keys {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                client.put(key.as_bytes(), key.as_bytes()).await.unwrap();
                acknowledged.push(key);
            }
            acknowledged
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let moved = client.move_shard(BIG, "db-4").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let live = writer.await.unwrap();
    assert!(moved.keys >= 400, "{moved:?}");
    assert!(
        moved.caught_up > 0,
        "writes went on during the copy: {moved:?}"
    );
    assert_eq!(client.map().owner(BIG), Some("db-4"));
    for key in &live {
        let got = client.get(key.as_bytes()).await.unwrap();
        assert_eq!(got.as_deref(), Some(key.as_bytes()), "{key}");
    }
    for key in bulk.iter().step_by(20) {
        let got = client.get(key.as_bytes()).await.unwrap().unwrap();
        assert_eq!(got, vec![key.as_bytes()[5]; 100_000], "{key}");
    }
    // Keys of every shard, so some land on the new node.
    for i in 0..200 {
        let key = format!("k{i}");
        client.put(key.as_bytes(), key.as_bytes()).await.unwrap();
    }
    let (code, health) = e2e::http_get(&format!("http://{addr}"), "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("holds 3 of 16 shards"), "{health}");

    // Restarted on its disk: still in the map with its two shards, and
    // their keys read back through it.
    server.signal("INT");
    server.wait(Duration::from_secs(30));
    let mut server = Running::start_server("flaredb", &args, &env, None);
    server.wait_for("all services started", Duration::from_secs(60));
    let again = Client::connect(&addr, TOKEN).await.unwrap();
    let map = again.map();
    assert_eq!(map.owner(3), Some("db-4"));
    assert_eq!(map.owner(11), Some("db-4"));
    assert_eq!(map.owner(BIG), Some("db-4"));
    assert_eq!(
        again.get(live[0].as_bytes()).await.unwrap().as_deref(),
        Some(live[0].as_bytes())
    );
    let mine = (0..200)
        .filter(|i| [3, 11].contains(&flaredb::shard::shard_of(format!("k{i}").as_bytes(), 16)))
        .count();
    assert!(mine > 10, "{mine} keys in the moved shards");
    for i in 0..200 {
        let key = format!("k{i}");
        let got = again.get(key.as_bytes()).await.unwrap();
        assert_eq!(got.as_deref(), Some(key.as_bytes()), "{key}");
    }
}

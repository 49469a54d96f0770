//! flaredb's puts and gets against chainfire's and RocksDB's own, on this
//! machine, in the same run: `cargo bench -p flaredb`.
//!
//! - RocksDB's own: the store flaredb's nodes use (`NodeStore`, every
//!   write synced to its log) called in-process: the floor under flaredb.
//! - flaredb: two nodes serving sixteen shards over gRPC on loopback (the
//!   shard map in a chainfire member), driven through `flaredb::client`,
//!   which routes each key to its shard's node.
//! - chainfire: one member (its own process, fsyncing every commit),
//!   driven with the etcd client: what a service would otherwise keep
//!   such data in.
//!
//! Workloads: put with 1 client, put with 16 clients, get with 16
//! clients; 100-byte values under distinct keys. `BENCH_SCALE` (default
//! 1.0) scales the operations.
//!
//! Measured on this 2-core machine on 2026-12-06 (ops/s, p99 ms; RocksDB,
//! flaredb, chainfire): put with 1 client 3 048 (0.54), 1 667 (0.84),
//! 1 412 (0.98); put with 16 clients 13 571 (2.23), 6 501 (5.04), 4 551
//! (6.03); get with 16 clients 39 094 (2.55), 11 197 (2.91), 12 564
//! (3.32). flaredb's puts are ahead of chainfire's (no consensus round,
//! the shards' nodes write in parallel) and half RocksDB's own (gRPC, the
//! routing); its gets are chainfire's. The first run showed 40 ms puts:
//! the bench's nodes were served without `TCP_NODELAY` (Nagle against
//! delayed ACKs); they are now served as a deployment serves them
//! (`photon_runtime::grpc::incoming`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chainfire::lone::{self, Measured};
use flaredb::api::Node;
use flaredb::client::Client;
use flaredb::shard::{MapStore, ShardMap};
use flaredb::store::NodeStore;

const TOKEN: &str = "bench-token-0123456789";

fn main() {
    if lone::serve_if_asked() {
        return;
    }
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let ops = |n: f64| ((n * scale) as usize).max(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (mut chainfire, endpoint) = lone::OnStore::Chainfire
        .start(&dir.path().join("chainfire"))
        .expect("chainfire starts");
    let table = runtime.block_on(async {
        let etcd = connect(&endpoint).await;
        let value = vec![b'v'; 100];

        let rocks = Arc::new(NodeStore::open(&dir.path().join("rocks")).expect("RocksDB opens"));
        let rocks_row = workloads(ops(2_000.0), ops(8_000.0), {
            let (rocks, value) = (rocks.clone(), value.clone());
            move |key: String, put: bool| {
                let (rocks, value) = (rocks.clone(), value.clone());
                async move {
                    if put {
                        rocks.put(0, key.as_bytes(), value).await.expect("a put");
                    } else {
                        rocks.get(0, key.as_bytes()).await.expect("a get");
                    }
                }
            }
        })
        .await;

        let client = Arc::new(flaredb_of_two(&etcd, &dir.path().join("flaredb")).await);
        let flaredb_row = workloads(ops(1_000.0), ops(4_000.0), {
            let (client, value) = (client.clone(), value.clone());
            move |key: String, put: bool| {
                let (client, value) = (client.clone(), value.clone());
                async move {
                    if put {
                        client.put(key.as_bytes(), &value).await.expect("a put");
                    } else {
                        client.get(key.as_bytes()).await.expect("a get");
                    }
                }
            }
        })
        .await;

        let chainfire_row = workloads(ops(1_000.0), ops(4_000.0), {
            let (etcd, value) = (etcd.clone(), value.clone());
            move |key: String, put: bool| {
                let (mut etcd, value) = (etcd.clone(), value.clone());
                async move {
                    let key = format!("bench/{key}");
                    if put {
                        etcd.put(key, value, None).await.expect("a put");
                    } else {
                        etcd.get(key, None).await.expect("a get");
                    }
                }
            }
        })
        .await;
        [
            ("RocksDB (in-process)", rocks_row),
            ("flaredb (2 nodes)", flaredb_row),
            ("chainfire (1 member)", chainfire_row),
        ]
    });
    let _ = chainfire.kill();
    let _ = chainfire.wait();
    print_table(&table);
}

/// An etcd client of the member at `endpoint` once it answers.
async fn connect(endpoint: &str) -> etcd_client::Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut client) = etcd_client::Client::connect([endpoint], None).await
            && client.put("bench/ready", "1", None).await.is_ok()
        {
            return client;
        }
        assert!(Instant::now() < deadline, "{endpoint} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two flaredb nodes in this process, sixteen shards dealt between them,
/// the map in chainfire through `etcd`; the routing client.
async fn flaredb_of_two(etcd: &etcd_client::Client, dir: &std::path::Path) -> Client {
    let mut listeners = Vec::new();
    let mut nodes = std::collections::BTreeMap::new();
    for name in ["db-1", "db-2"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        nodes.insert(name.to_owned(), listener.local_addr().unwrap().to_string());
        listeners.push((name, listener));
    }
    let maps = MapStore::new(etcd.clone(), "bench");
    let map = ShardMap::dealt(16, nodes);
    assert!(maps.write(&map, None).await.expect("the map is written"));
    for (name, listener) in listeners {
        let store = NodeStore::open(&dir.join(name)).expect("RocksDB opens");
        let node = Node::new(
            name.to_owned(),
            store,
            maps.clone(),
            map.clone(),
            TOKEN.to_owned().into(),
        );
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(Node::server(node))
                .serve_with_incoming(photon_runtime::grpc::incoming(listener)),
        );
    }
    let first = map.nodes["db-1"].clone();
    Client::connect(&first, TOKEN)
        .await
        .expect("flaredb answers")
}

/// Put with 1 client (`one` puts), put with 16 clients and get with 16
/// clients (`many` each), through `call(key, is_put)`.
async fn workloads<F, Fut>(one: usize, many: usize, call: F) -> Vec<(&'static str, Measured)>
where
    F: Fn(String, bool) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    vec![
        ("put, 1 client", run(1, one, "a", true, call.clone()).await),
        (
            "put, 16 clients",
            run(16, many / 16, "b", true, call.clone()).await,
        ),
        (
            "get, 16 clients",
            run(16, many / 16, "b", false, call).await,
        ),
    ]
}

/// `per_client` calls by each of `clients` at once, keys `<tag>-<c>-<i>`.
async fn run<F, Fut>(
    clients: usize,
    per_client: usize,
    tag: &'static str,
    put: bool,
    call: F,
) -> Measured
where
    F: Fn(String, bool) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    lone::clients(clients, per_client, move |c, i| {
        call(format!("{tag}-{c}-{i}"), put)
    })
    .await
}

#[allow(clippy::print_stdout)] // the report is the point of a bench binary
fn print_table(rows: &[(&str, Vec<(&'static str, Measured)>)]) {
    println!(
        "\n{:<18} {:>22} {:>22} {:>22}",
        "ops/s (p99 ms)", rows[0].0, rows[1].0, rows[2].0
    );
    for (i, (workload, _)) in rows[0].1.iter().enumerate() {
        let cell =
            |m: &Measured| format!("{:.0} ({:.2})", m.ops_per_sec, m.p99.as_secs_f64() * 1000.0);
        println!(
            "{:<18} {:>22} {:>22} {:>22}",
            workload,
            cell(&rows[0].1[i].1),
            cell(&rows[1].1[i].1),
            cell(&rows[2].1[i].1)
        );
    }
    println!("(every put synced to disk before it is answered, in all three)");
}

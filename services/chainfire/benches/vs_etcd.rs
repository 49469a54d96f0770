//! chainfire against etcd on this machine, in the same run:
//! `cargo bench -p chainfire`.
//!
//! Both run as single-member clusters in their own process with their data
//! in a temporary directory, and both fsync every commit (etcd's default;
//! chainfire's Raft log). The same client (the `etcd-client` crate) drives
//! both with 256-byte values over 10 000 keys:
//! - put with 1 client, then with 64 concurrent clients;
//! - linearizable single-key range with 64 concurrent clients.
//!
//! The etcd binary is Debian's `etcd-server` (installed by `.ci/setup`), or
//! `$ETCD_BIN`. Set `BENCH_SCALE` (default 1.0) to run more or fewer
//! operations.

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainfire::lone;
use etcd_client::Client;

const VALUE_SIZE: usize = 256;
const KEYS: u64 = 10_000;

fn main() {
    if lone::serve_if_asked() {
        return;
    }
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let etcd_bin = lone::etcd_binary().unwrap_or_else(|why| {
        eprintln!("{why}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let mut rows = Vec::new();
    for system in [System::Etcd(etcd_bin.clone()), System::Chainfire] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (client_port, peer_port) = (lone::free_port(), lone::free_port());
        let mut child = system.start(dir.path(), client_port, peer_port);
        let endpoint = format!("127.0.0.1:{client_port}");
        let results = runtime.block_on(async {
            wait_ready(&endpoint).await;
            let ops = |n: f64| ((n * scale) as usize).max(64);
            vec![
                ("put, 1 client", put(&endpoint, 1, ops(2_000.0)).await),
                ("put, 64 clients", put(&endpoint, 64, ops(20_000.0)).await),
                (
                    "range, 64 clients",
                    range(&endpoint, 64, ops(40_000.0)).await,
                ),
            ]
        });
        let _ = child.kill();
        let _ = child.wait();
        rows.push((system.name(), results));
    }
    print_table(&rows);
}

enum System {
    Etcd(String),
    Chainfire,
}

impl System {
    fn name(&self) -> &'static str {
        match self {
            System::Etcd(_) => "etcd",
            System::Chainfire => "chainfire",
        }
    }

    fn start(&self, dir: &Path, client: u16, peer: u16) -> Child {
        match self {
            System::Etcd(bin) => lone::spawn_etcd(bin, dir, client, peer),
            System::Chainfire => lone::spawn(
                dir,
                &format!("127.0.0.1:{client}"),
                &format!("127.0.0.1:{peer}"),
            ),
        }
        .expect("the server starts")
    }
}

async fn wait_ready(endpoint: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut client) = Client::connect([endpoint], None).await
            && client.put("bench/ready", "1", None).await.is_ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{endpoint} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Throughput (ops/s) and latencies of one workload.
struct Measured {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn key(i: u64) -> String {
    format!("bench/{:05}", i.wrapping_mul(2_654_435_761) % KEYS)
}

async fn run_clients<F, Fut>(endpoint: &str, clients: usize, total: usize, op: F) -> Measured
where
    F: Fn(Client, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let per_client = total / clients;
    let mut connections = Vec::new();
    for _ in 0..clients {
        connections.push(Client::connect([endpoint], None).await.expect("connect"));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, client) in connections.into_iter().enumerate() {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let t = Instant::now();
                op(client.clone(), (c * per_client + i) as u64).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a client task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Measured {
        ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

async fn put(endpoint: &str, clients: usize, total: usize) -> Measured {
    let value = vec![b'v'; VALUE_SIZE];
    run_clients(endpoint, clients, total, move |mut client, i| {
        let value = value.clone();
        async move {
            client.put(key(i), value, None).await.expect("put");
        }
    })
    .await
}

async fn range(endpoint: &str, clients: usize, total: usize) -> Measured {
    run_clients(endpoint, clients, total, |mut client, i| async move {
        client.get(key(i), None).await.expect("get");
    })
    .await
}

#[allow(clippy::print_stdout)] // the report is the point of a bench binary
fn print_table(rows: &[(&str, Vec<(&str, Measured)>)]) {
    let (etcd, chainfire) = (&rows[0].1, &rows[1].1);
    println!(
        "\n{:<18} {:>12} {:>12} {:>8}   {:>17} {:>17}",
        "workload", "etcd ops/s", "chainfire", "ratio", "etcd p50/p99 ms", "chainfire p50/p99"
    );
    for ((name, e), (_, c)) in etcd.iter().zip(chainfire) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<18} {:>12.0} {:>12.0} {:>7.2}x   {:>8.2}/{:<8.2} {:>8.2}/{:<8.2}",
            name,
            e.ops_per_sec,
            c.ops_per_sec,
            c.ops_per_sec / e.ops_per_sec,
            ms(e.p50),
            ms(e.p99),
            ms(c.p50),
            ms(c.p99)
        );
    }
    println!("(ratio = chainfire / etcd throughput; both fsync every commit)");
}

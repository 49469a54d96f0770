//! photonnet's address management on chainfire against the same on etcd,
//! on this machine, in the same run: `cargo bench -p photonnet`.
//!
//! There is no IPAM server an operator would run beside PhotonCloud to
//! compare with, so the peer is the store: photonnet's own allocation path
//! (`NetStore`: read the subnet's allocations, take a free address in one
//! transaction guarded by that address being absent and the subnet
//! unchanged, retry on conflict) run against a single-member chainfire and
//! a single-member etcd, each in its own process with its data in a
//! temporary directory, each fsyncing every commit. Workloads, in one /20
//! subnet per row:
//! - allocate with 1 client, then with 16 clients at once (conflicts and
//!   retries included: two allocators that pick the same address both
//!   read again);
//! - allocate with a DNS name, 16 clients (the A record written into the
//!   VPC zone in the same transaction, as with `VpcDns::Zone`);
//! - release, 16 clients.
//!
//! What it shows: an allocation is two reads and a transaction, so a
//! store's transaction latency sets the pace; with 16 allocators in one
//! subnet, retries after conflicting picks cost throughput, on both
//! stores alike. Each allocation reads the subnet's whole allocation list,
//! so the rows fall as a subnet fills (a /16 with tens of thousands of
//! allocations would want a free-list key; noted for issue 24).
//!
//! Measured on this 2-core machine on 2026-12-05 (allocations/s, etcd then
//! chainfire): 1 client 458 / 425 (0.93x); 16 clients 687 / 439 (0.64x,
//! p50 19.5 / 32.7 ms); 16 clients with names 37 / 33 (0.89x, p99 over 2 s);
//! release 2 514 / 2 902 (1.15x). Two things to take up in issue 24: named
//! allocations all serialize on the VPC zone's SOA (each apply is guarded by
//! its revision and bumps the serial), so 16 allocators mostly retry; and
//! chainfire loses ground to etcd when many guarded transactions conflict.
//!
//! The etcd binary is Debian's `etcd-server` (`.ci/setup`), or `$ETCD_BIN`.
//! `BENCH_SCALE` (default 1.0) scales the operations.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainfire::lone::{self, Measured};
use photonnet::store::NetStore;

fn main() {
    if lone::serve_if_asked() {
        return;
    }
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let stores = lone::OnStore::both().unwrap_or_else(|why| {
        eprintln!("{why}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let ops = |n: f64| ((n * scale) as usize).max(16);
    let mut rows = Vec::new();
    for system in stores {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (mut child, endpoint) = system.start(dir.path()).expect("the server starts");
        let results = runtime.block_on(async {
            let plain = connect(&endpoint, false).await;
            let named = connect(&endpoint, true).await;
            plain
                .create_vpc("bench", "vpc", "10.0.0.0/8")
                .await
                .expect("a VPC");
            vec![
                (
                    "allocate, 1 client",
                    allocate(&plain, "one", 1, ops(300.0), false).await,
                ),
                (
                    "allocate, 16 clients",
                    allocate(&plain, "many", 16, ops(1_000.0), false).await,
                ),
                (
                    "allocate + name, 16",
                    allocate(&named, "named", 16, ops(1_000.0), true).await,
                ),
                ("release, 16 clients", release(&plain, "many", 16).await),
            ]
        });
        let _ = child.kill();
        let _ = child.wait();
        rows.push((system.name(), results));
    }
    print_table(&rows);
}

/// photonnet's store on the server at `endpoint` once it answers; with
/// VPC DNS into `vpc.internal` when `named`.
async fn connect(endpoint: &str, named: bool) -> NetStore {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        if let Ok(mut client) = etcd_client::Client::connect([endpoint], None).await
            && client.put("bench/ready", "1", None).await.is_ok()
        {
            break client;
        }
        assert!(Instant::now() < deadline, "{endpoint} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let store = NetStore::new(client, "bench");
    if named {
        store
            .with_dns("bench", "vpc.internal", Ipv4Addr::LOCALHOST.into())
            .await
            .expect("the VPC zone")
    } else {
        store
    }
}

/// Subnets of the bench's VPC, a /20 each.
fn subnet_cidr(subnet: &str) -> &'static str {
    match subnet {
        "one" => "10.0.0.0/20",
        "many" => "10.0.16.0/20",
        _ => "10.0.32.0/20",
    }
}

/// `total` allocations in `subnet` by `clients` at once, named when
/// `named`.
async fn allocate(
    store: &NetStore,
    subnet: &'static str,
    clients: usize,
    total: usize,
    named: bool,
) -> Measured {
    store
        .create_subnet("bench", "vpc", subnet, subnet_cidr(subnet))
        .await
        .expect("a subnet");
    let store = Arc::new(store.clone());
    let per_client = total / clients;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let store = store.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let name = format!("host-{c}-{i}");
                let t = Instant::now();
                store
                    .allocate("bench", "vpc", subnet, named.then_some(name.as_str()), None)
                    .await
                    .expect("an address");
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("an allocating client"));
    }
    Measured::of(latencies, started.elapsed())
}

/// Every allocation of `subnet` released by `clients` at once.
async fn release(store: &NetStore, subnet: &'static str, clients: usize) -> Measured {
    let addresses: Vec<Ipv4Addr> = store
        .allocations("bench", "vpc", subnet)
        .await
        .expect("the allocations")
        .into_iter()
        .map(|a| a.address)
        .collect();
    let store = Arc::new(store.clone());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let store = store.clone();
        let mine: Vec<Ipv4Addr> = addresses.iter().skip(c).step_by(clients).copied().collect();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(mine.len());
            for address in mine {
                let t = Instant::now();
                store
                    .release("bench", "vpc", subnet, address)
                    .await
                    .expect("released");
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("a releasing client"));
    }
    Measured::of(latencies, started.elapsed())
}

#[allow(clippy::print_stdout)] // the report is the point of a bench binary
fn print_table(rows: &[(&str, Vec<(&str, Measured)>)]) {
    print!("{}", lone::side_by_side("photonnet workload", rows));
}

//! chainfire against etcd on this machine, in the same run:
//! `cargo bench -p chainfire`.
//!
//! Each system runs first as a one-member cluster, then as a three-member
//! cluster (three processes on loopback, as etcd's own benchmarks run a
//! local cluster), each member with its data in a temporary directory, and
//! both fsync every commit (etcd's default; chainfire's Raft log, on every
//! member before it acknowledges). The same client (the `etcd-client`
//! crate, given every member's endpoint) drives both with 256-byte values
//! over 10 000 keys:
//! - one member: put with 1 and 64 concurrent clients, linearizable
//!   single-key range with 64;
//! - three members: put with 1, 16 and 64 clients, linearizable range with
//!   64; then `etcdctl check perf --load=l` (etcd's own verdict: 60 s of
//!   puts from 500 clients at 8 000/s) against the three.
//!
//! Throughput, p50 and p99 latency per workload, and the peak resident
//! memory of the members (VmHWM, summed over a cluster's members).
//!
//! The machine's speed drifts by tens of percent within a run, so each
//! system runs twice, in the order etcd, chainfire, chainfire, etcd, and
//! each row sums a system's two passes (`check perf` runs on each
//! system's first pass only); each system's members start after `sync`
//! and a pause, so that none is measured while its predecessor's I/O
//! drains.
//!
//! Profile (perf record on the leader under `check perf --load=l`,
//! 2026-12-06): 29 % kernel (TCP, fsync), 22 % RocksDB, 20 % libc
//! (malloc/free 8 %, memmove), 24 % chainfire. The largest single cost
//! was reading before writing: `MvccStore::version_at` sought a RocksDB
//! iterator to the key's latest revision on every put (10 % of the
//! leader's time; 15 % in seeks with block decompression), where etcd
//! keeps its key index in memory. Now the store keeps every live key's
//! newest version (without its value) in memory too: a put reads nothing
//! from RocksDB unless it returns or keeps the old value, and a delete or
//! keys-only range finds its keys in memory (one store, 180 000 puts of
//! 1.8 KiB values: 7.9 s before, 2.7 s after; deleting them all in one
//! request: 2.6 s before, 1.3 s with scans stepping over old versions
//! instead of seeking, 0.74 s from the index).
//!
//! `check perf` answering "etcdserver: request timed out" is its last
//! step: one request deleting the ~180 000 keys it wrote (256-byte keys,
//! mostly zero bytes, which the history's key escaping doubles). First
//! cause: the delete was applied on an async worker holding the store's
//! lock, reads queued behind it held the other worker, heartbeats stopped
//! and the followers elected (seen in the members' logs,
//! `CHAINFIRE_BENCH_LOG=info`). Now an entry that may take long (a delete,
//! a transaction, a revoke, a compaction) is applied on a blocking thread
//! while readers wait on an async lock without holding a worker; puts are
//! applied in place, since a thread hop on every write's path cost
//! one-member one-client puts 0.78-0.83x etcd's against 1.04-1.18x in
//! place. Second cause:
//! the delete itself took 4.4-7.4 s on each member, near or past the 6.5 s
//! request timeout. Its RocksDB batch is 226 MB (per key: the history key,
//! a tombstone that repeated the key, the event), and it was built from a
//! vector of owned writes, after a scan into a vector and a map, with every
//! tombstone held again in two maps: one store deleting 200 000 such keys
//! peaked 925 MB above its resting size, and a third of the leader's time
//! was the kernel zeroing fresh pages. Now puts and deletes write straight
//! into the batch (a transaction's writes wait for its last operation, which
//! may still refuse it), a delete takes its keys from the index without
//! collecting them, and neither a tombstone nor the index repeats the key:
//! that store's delete 2.47 s -> 1.52 s and 380 MB, puts 5.1 -> 4.2 s; in the
//! cluster the delete takes 2.3-2.9 s per member and `check perf` passed
//! in all eight runs since (latency and stddev; throughput fails for both
//! systems on this machine), and the members' RSS after it is 0.5 GiB each
//! (1.05 before). Tried and reverted: appending entries without waiting for
//! the disk and reporting them durable from a flushing thread (openraft's
//! asynchronous `append`, one fsync for every append that arrived
//! meanwhile): single-client puts fell to 0.64-0.85x and the cluster's to
//! 0.68x, 16 clients to 0.84x; RocksDB's own group commit of synchronous
//! writes in the Raft core's call is faster here.
//!
//! What is left: puts on three members with few clients. In the last run
//! (2026-12-06, the README's table): three members, one client 0.74x
//! etcd's (p50 2.25 against 1.63 ms), 16 clients 0.89x, 64 clients 1.26x;
//! one member, one client 1.45x, 64 clients 1.26x; ranges 1.27-1.56x;
//! peak RSS 0.47-0.78x; `check perf` 1.13x, slowest request 0.17 against
//! 0.58 s. The run before it gave three-member one-client puts 0.72x, and
//! single-pass runs that day 0.65-0.99x. Replication costs chainfire
//! 1.2-1.5 ms per one-client put (p50 0.76 ms on one member, 2.25 on three
//! in the last run) against etcd's 0.7-0.8 (0.82, 1.63). Where it goes,
//! from syscall tracepoints (`perf record -e
//! 'syscalls:sys_*_{fdatasync,writev,write,recvfrom,read}'` on all three
//! members, 40 one-client puts sent to the leader, medians in µs from the
//! request's arrival, 2026-12-06; tracing slows both):
//!
//! | | log write | leader's fsync done | sent to followers | first follower's fsync done | reply |
//! |---|---|---|---|---|---|
//! | chainfire | 238-267 | 647-719 | 902-1006 | 1627-1955 | 2126-2598 |
//! | etcd | 290-295 | 1191-1314 (overlapped) | 426-466 | 1458-1537 | 2078-2332 |
//!
//! etcd sends the entries before its own fsync and overlaps the two;
//! chainfire sends them after. openraft 0.9's core awaits the log's flush
//! callback inside its append (`RaftCore::append_to_log`) before it runs
//! the next command, replication, so an `append` that returns early and
//! reports the flush later (tried twice, last in the trace above: the
//! entries still left 180 µs after the flush) cannot overlap them; lifting
//! that needs openraft's pipelined log I/O (0.10, not a stable release) or
//! a leader that counts itself before its fsync, which loses acknowledged
//! writes when it crashes and a follower without the entry wins the next
//! election. On this disk overlapping buys less than the table suggests:
//! three members' fdatasyncs at once slow each other (etcd's leader's
//! takes ~1 ms overlapped, chainfire's ~0.45 ms alone), and under the
//! trace the two systems' replies are 2-11 % apart. Each fdatasync here
//! is three device requests in series (the data block, the inode, a cache flush;
//! `block:block_rq_issue`; ext4 without a journal): the Raft log moved out
//! of RocksDB into segment files allocated up front (as etcd's WAL) did not
//! shorten it (median 455 µs either way) and was not kept. Forwarding is
//! not the cost: through a follower's endpoint, one-client puts ran 1.64x
//! etcd's in the same run (etcd forwards slower) and 0.77x through the
//! leader's. Whatever is left is in the task hops from quorum to reply
//! (replication task, core, state-machine worker, core, request task:
//! 450 µs against etcd's 210 µs from the follower's answer to the reply).
//! Of our own hops, a write arriving with nothing in flight is now
//! proposed from its request's task rather than through the batching
//! task and back (arrival to log write 238-267 -> 207-214 µs under the
//! trace; one-member one-client p50 0.72-1.06 -> 0.68-0.76 ms over three
//! alternating runs, within this machine's noise).
//!
//! The etcd binary is Debian's `etcd-server` (installed by `.ci/setup`), or
//! `$ETCD_BIN`. Set `BENCH_SCALE` (default 1.0) to run more or fewer
//! operations.

use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainfire::lone::{self, Seat};
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
    let ops = |n: f64| ((n * scale) as usize).max(64);

    // Each system runs twice, in the order etcd, chainfire, chainfire, etcd,
    // and each row sums a system's two passes: a drift of this machine's
    // speed during the run (tens of percent here) then weighs on both
    // alike instead of on whichever ran later.
    let order = [
        System::Etcd(etcd_bin.clone()),
        System::Chainfire,
        System::Chainfire,
        System::Etcd(etcd_bin),
    ];
    let mut single: Vec<Pass> = Vec::new();
    let mut cluster: Vec<Pass> = Vec::new();
    let mut verdicts = Vec::new();
    for (pass, system) in order.iter().enumerate() {
        let members = Members::start(system, 1);
        let results = runtime.block_on(async {
            let endpoints = members.endpoints();
            wait_ready(&endpoints).await;
            vec![
                ("put, 1 client", put(&endpoints, 1, ops(2_000.0)).await),
                ("put, 64 clients", put(&endpoints, 64, ops(20_000.0)).await),
                (
                    "range, 64 clients",
                    range(&endpoints, 64, ops(40_000.0)).await,
                ),
            ]
        });
        single.push((system.name(), results, members.peak_rss_kib()));
        drop(members);

        let members = Members::start(system, 3);
        let results = runtime.block_on(async {
            let endpoints = members.endpoints();
            wait_ready(&endpoints).await;
            vec![
                ("put, 1 client", put(&endpoints, 1, ops(1_000.0)).await),
                ("put, 16 clients", put(&endpoints, 16, ops(8_000.0)).await),
                ("put, 64 clients", put(&endpoints, 64, ops(20_000.0)).await),
                (
                    "range, 64 clients",
                    range(&endpoints, 64, ops(40_000.0)).await,
                ),
            ]
        });
        // `check perf` (a minute of writes) once per system, on its first
        // pass.
        if order[..pass].iter().all(|s| s.name() != system.name()) {
            verdicts.push((system.name(), check_perf(&members.endpoints())));
        }
        cluster.push((system.name(), results, members.peak_rss_kib()));
        drop(members);
    }
    print_table("one member", &both_passes(single));
    print_table("three members", &both_passes(cluster));
    print_check_perf(&verdicts);
}

/// One pass of one system: its name, workloads and peak RSS (KiB).
type Pass = (&'static str, Vec<(&'static str, Measured)>, u64);

/// Each system's passes together, etcd's first: every workload's samples
/// and time summed, the higher peak RSS.
fn both_passes(passes: Vec<Pass>) -> Vec<Pass> {
    ["etcd", "chainfire"]
        .into_iter()
        .map(|name| {
            let mine: Vec<&Pass> = passes.iter().filter(|p| p.0 == name).collect();
            let workloads = mine[0]
                .1
                .iter()
                .enumerate()
                .map(|(i, (workload, _))| {
                    let runs: Vec<&Measured> = mine.iter().map(|p| &p.1[i].1).collect();
                    (*workload, Measured::together(&runs))
                })
                .collect();
            let rss = mine.iter().map(|p| p.2).max().unwrap_or(0);
            (name, workloads, rss)
        })
        .collect()
}

/// A cluster's member processes, killed when dropped (with their data).
struct Members {
    seats: Vec<Seat>,
    children: Vec<Child>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Members {
    fn start(system: &System, count: usize) -> Members {
        settle_disk();
        let seats: Vec<Seat> = (1..=count)
            .map(|i| Seat::on_loopback(&format!("m{i}")))
            .collect();
        let mut children = Vec::new();
        let mut dirs = Vec::new();
        for seat in &seats {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let child = match system {
                System::Etcd(bin) => lone::spawn_etcd_member(bin, dir.path(), &seat.name, &seats),
                System::Chainfire => lone::spawn_member(dir.path(), &seat.name, &seats),
            }
            .expect("the member starts");
            children.push(child);
            dirs.push(dir);
        }
        Members {
            seats,
            children,
            _dirs: dirs,
        }
    }

    fn endpoints(&self) -> Vec<String> {
        self.seats.iter().map(|s| s.client.clone()).collect()
    }

    /// The members' peak resident memory, summed, KiB.
    fn peak_rss_kib(&self) -> u64 {
        self.children.iter().map(|c| peak_rss_kib(c.id())).sum()
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Lets the disk finish what the previous members left (their files'
/// writeback, the deletion of their data) before the next ones start, so
/// that no system is measured while its predecessor's I/O drains.
fn settle_disk() {
    if let Err(error) = std::process::Command::new("sync").status() {
        eprintln!("sync did not run: {error}");
    }
    std::thread::sleep(Duration::from_secs(2));
}

/// A process's peak resident set (VmHWM in /proc), KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    photon_runtime::process::peak_rss_kib(pid).expect("VmHWM in /proc status")
}

/// `etcdctl check perf --load=l` against `endpoints`: its verdict lines
/// (PASS or FAIL, and "Slowest request took too long", which has neither).
fn check_perf(endpoints: &[String]) -> Vec<String> {
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(["check", "perf", "--load=l"])
        .output();
    match out {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
            .filter(|l| {
                l.starts_with("PASS")
                    || l.starts_with("FAIL")
                    || l.starts_with("Slowest")
                    || l.contains("Error")
            })
            .map(str::to_owned)
            .collect(),
        Err(error) => vec![format!("etcdctl did not run: {error}")],
    }
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
}

async fn wait_ready(endpoints: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut client) = Client::connect(endpoints, None).await
            && client.put("bench/ready", "1", None).await.is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{endpoints:?} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One workload's latencies (sorted) and the time it took.
struct Measured {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Measured {
    fn ops_per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0.5: the median).
    fn at(&self, q: f64) -> Duration {
        self.latencies[((self.latencies.len() - 1) as f64 * q) as usize]
    }

    /// Several runs of one workload as one: their samples and times summed.
    fn together(runs: &[&Measured]) -> Measured {
        let mut latencies: Vec<Duration> = runs
            .iter()
            .flat_map(|r| r.latencies.iter().copied())
            .collect();
        latencies.sort();
        Measured {
            latencies,
            elapsed: runs.iter().map(|r| r.elapsed).sum(),
        }
    }
}

fn key(i: u64) -> String {
    format!("bench/{:05}", i.wrapping_mul(2_654_435_761) % KEYS)
}

async fn run_clients<F, Fut>(endpoints: &[String], clients: usize, total: usize, op: F) -> Measured
where
    F: Fn(Client, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let per_client = total / clients;
    let mut connections = Vec::new();
    for _ in 0..clients {
        connections.push(Client::connect(endpoints, None).await.expect("connect"));
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
    Measured { latencies, elapsed }
}

async fn put(endpoints: &[String], clients: usize, total: usize) -> Measured {
    let value = vec![b'v'; VALUE_SIZE];
    run_clients(endpoints, clients, total, move |mut client, i| {
        let value = value.clone();
        async move {
            client.put(key(i), value, None).await.expect("put");
        }
    })
    .await
}

async fn range(endpoints: &[String], clients: usize, total: usize) -> Measured {
    run_clients(endpoints, clients, total, |mut client, i| async move {
        client.get(key(i), None).await.expect("get");
    })
    .await
}

#[allow(clippy::print_stdout)] // the report is the point of a bench binary
fn print_table(title: &str, rows: &[Pass]) {
    let (etcd, chainfire) = (&rows[0].1, &rows[1].1);
    println!(
        "\n{title}\n{:<18} {:>12} {:>12} {:>8}   {:>17} {:>17}",
        "workload", "etcd ops/s", "chainfire", "ratio", "etcd p50/p99 ms", "chainfire p50/p99"
    );
    for ((name, e), (_, c)) in etcd.iter().zip(chainfire) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<18} {:>12.0} {:>12.0} {:>7.2}x   {:>8.2}/{:<8.2} {:>8.2}/{:<8.2}",
            name,
            e.ops_per_sec(),
            c.ops_per_sec(),
            c.ops_per_sec() / e.ops_per_sec(),
            ms(e.at(0.50)),
            ms(e.at(0.99)),
            ms(c.at(0.50)),
            ms(c.at(0.99))
        );
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{:<18} {:>12.1} {:>12.1} {:>7.2}x",
        "peak RSS, MiB",
        mib(rows[0].2),
        mib(rows[1].2),
        mib(rows[1].2) / mib(rows[0].2)
    );
    println!("(ratio = chainfire / etcd; both fsync every commit)");
}

#[allow(clippy::print_stdout)] // the report is the point of a bench binary
fn print_check_perf(verdicts: &[(&str, Vec<String>)]) {
    println!("\netcdctl check perf --load=l, three members");
    for (name, lines) in verdicts {
        for line in lines {
            println!("{name:<10} {line}");
        }
    }
}

//! nightlight against Prometheus on this machine, in the same run:
//! `cargo bench -p nightlight`.
//!
//! Both scrape the same targets (this benchmark in a child process:
//! `TARGETS` endpoints of `SERIES` counters each, every value moving each
//! scrape) every second for `BENCH_SECONDS` (default 300, long enough for
//! every series to write chunks), each into its own empty data directory. Printed, side by side with the ratios:
//! - ingestion: samples stored per second of wall time and per CPU second
//!   the server spent (from each one's own counter of samples appended
//!   and `/proc/<pid>/stat`), the CPU figure being what a machine running
//!   it pays;
//! - query latency: the median of 9 range queries over 10,000 series
//!   (`rate(...[10s])` over the last 20 s at 1 s steps, and `rate(...[30s])`
//!   over the whole run at 5 s steps, which reads chunks), through each
//!   one's HTTP API, both answering for as many series;
//! - bytes on disk per sample stored (nightlight: its RocksDB; Prometheus:
//!   its WAL and head chunks, where the first two hours live).
//!
//! nightlight is the release `nightlight-server`; Prometheus is Debian's
//! (2.42), with its defaults. Counters and CPU are read from both at the
//! same moment, before any query.
//!
//! The goal (issue 22): at least 1.0x Prometheus's ingestion, at most 1.0x
//! its query latency. Reached. 2026-12-05, this 2-core machine, 300 s:
//!
//! ```text
//!             samples/s   samples/CPU s   query 20 s (ms)   query run (ms)   bytes/sample
//! nightlight      50030         1729147              76.6            394.7           5.85
//! Prometheus      50025          754904             136.7            409.8           6.29
//! ratio           1.00x           2.29x             0.56x            0.96x          0.93x
//! ```
//!
//! Where the time went, and what changed (perf on the running server):
//! the first run (0.15x ingestion per CPU second, 3.1x the 20 s query)
//! spent ~80% of its ingestion CPU in RocksDB memtable inserts (a key per
//! sample), SipHash and label-set allocation per sample. Now an append is
//! one write-ahead record, each target keeps its lines' series by their
//! text (a hash lookup per line, labels parsed for new lines only), and
//! label sets are shared with their hash computed once. Queries spent
//! their time copying each series' window at every step, hashing label
//! sets and, over long ranges, waiting on memory (every step touched every
//! series); now windows are read in place, a range function over a range
//! selector is computed a series at a time across all steps, and chunks
//! are read with one RocksDB iterator per query. What is left in the
//! profiles: Gorilla decoding, the range functions themselves, and
//! formatting floats for the JSON answer (as Prometheus does).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TARGET_IP: &str = "127.0.131.10";
const NIGHTLIGHT: &str = "127.0.131.1:9090";
const PROMETHEUS: &str = "127.0.131.2:9090";
const TARGETS: usize = 5;
const SERIES: usize = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve-targets") {
        serve_targets();
        return;
    }
    if args.iter().any(|a| a == "--bench") || !args.iter().any(|a| a.starts_with("--")) {
        run();
    }
}

/// Kills its process when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("`prometheus` is not installed (Debian's package; .ci/setup installs it)");
        std::process::exit(2);
    }
    let work = tempfile::tempdir().expect("a work directory");
    let _targets = Process(
        Command::new(std::env::current_exe().expect("this benchmark"))
            .arg("--serve-targets")
            .spawn()
            .expect("the targets"),
    );
    for i in 0..TARGETS {
        wait_port(&format!("{TARGET_IP}:{}", 9100 + i));
    }
    let addresses: Vec<String> = (0..TARGETS)
        .map(|i| format!("\"{TARGET_IP}:{}\"", 9100 + i))
        .collect();

    let nightlight_dir = work.path().join("nightlight");
    let config = work.path().join("nightlight.toml");
    std::fs::write(
        &config,
        format!(
            "[standalone.server]\nhttp_addr = \"{NIGHTLIGHT}\"\n[standalone.storage]\ndata_dir = \"{}\"\nretention_days = 1\n[standalone.collection]\nscrape_interval_sec = 1\nscrape_timeout_sec = 1\n[[standalone.scrape_targets]]\nname = \"bench\"\nstatic_configs = [{}]\n",
            nightlight_dir.display(),
            addresses.join(", ")
        ),
    )
    .expect("config");
    let nightlight = Process(
        Command::new(env!("CARGO_BIN_EXE_nightlight-server"))
            .arg("--config")
            .arg(&config)
            .arg("--log-level")
            .arg("warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("nightlight-server"),
    );
    let prometheus_dir = work.path().join("prometheus");
    let prometheus_config = work.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [{}]\n",
            addresses.join(", ")
        ),
    )
    .expect("config");
    let prometheus = Process(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!("--storage.tsdb.path={}", prometheus_dir.display()))
            .arg(format!("--web.listen-address={PROMETHEUS}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    wait_port(NIGHTLIGHT);
    wait_port(PROMETHEUS);
    std::thread::sleep(Duration::from_secs(5));

    // each one's own counter, from its own /metrics (summed over its
    // labels: Prometheus 2.42 splits it by sample type)
    let count = |addr: &str, metric: &str| -> f64 {
        get(addr, "/metrics")
            .lines()
            .filter(|line| {
                line.strip_prefix(metric)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let ours = (
        "nightlight",
        NIGHTLIGHT,
        nightlight.0.id(),
        "nightlight_samples_appended_total",
        &nightlight_dir,
    );
    let theirs = (
        "Prometheus",
        PROMETHEUS,
        prometheus.0.id(),
        "prometheus_tsdb_head_samples_appended_total",
        &prometheus_dir,
    );
    let start: Vec<(f64, f64)> = [&ours, &theirs]
        .iter()
        .map(|s| (count(s.1, s.3), cpu_seconds(s.2)))
        .collect();
    let began = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let wall = began.elapsed().as_secs_f64();
    // both read at the end of the same window, before any query
    let end: Vec<(f64, f64)> = [&ours, &theirs]
        .iter()
        .map(|s| (count(s.1, s.3), cpu_seconds(s.2)))
        .collect();
    let first = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        - seconds;
    let mut rows = Vec::new();
    let mut answers = Vec::new();
    for (i, s) in [&ours, &theirs].iter().enumerate() {
        let samples = end[i].0 - start[i].0;
        let cpu = end[i].1 - start[i].1;
        let selector = "bench_counter{instance=%22127.0.131.10:9100%22}";
        let (recent, series) = median_query(s.1, s.0, |now| {
            format!(
                "/api/v1/query_range?query=rate({selector}[10s])&start={}&end={now}&step=1",
                now - 20
            )
        });
        let (whole, _) = median_query(s.1, s.0, |now| {
            format!(
                "/api/v1/query_range?query=rate({selector}[30s])&start={first}&end={now}&step=5"
            )
        });
        answers.push(series);
        let total = count(s.1, s.3);
        rows.push((
            s.0,
            samples / wall,
            samples / cpu.max(1e-9),
            recent,
            whole,
            dir_bytes(s.4) as f64 / total.max(1.0),
        ));
    }
    drop(nightlight);
    drop(prometheus);
    assert_eq!(answers[0], answers[1], "both answer for as many series");
    print_table(&rows, wall);
}

/// The median of 9 runs of the query `path(now)` makes (ms), and how
/// many series it answered with.
fn median_query(addr: &str, who: &str, path: impl Fn(u64) -> String) -> (f64, usize) {
    let mut series = 0;
    let mut latencies: Vec<f64> = (0..9)
        .map(|_| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_secs();
            let t = Instant::now();
            let body = get(addr, &path(now));
            let took = t.elapsed().as_secs_f64() * 1000.0;
            assert!(body.contains("\"success\""), "{who}: {body}");
            series = body.matches("\"metric\":").count();
            took
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    (latencies[4], series)
}

/// A row: who, samples/s, samples per CPU second, median range query
/// over the last 20 s and over the whole run (ms), bytes per sample.
type Row = (&'static str, f64, f64, f64, f64, f64);

#[allow(clippy::print_stdout)] // the report is the point of a bench binary
fn print_table(rows: &[Row], wall: f64) {
    println!("\n{TARGETS} targets x {SERIES} series, scraped every second for {wall:.0} s\n");
    println!(
        "{:<12} {:>12} {:>15} {:>17} {:>17} {:>14}",
        "", "samples/s", "samples/CPU s", "query 20 s (ms)", "query run (ms)", "bytes/sample"
    );
    for r in rows {
        println!(
            "{:<12} {:>12.0} {:>15.0} {:>17.1} {:>17.1} {:>14.2}",
            r.0, r.1, r.2, r.3, r.4, r.5
        );
    }
    let (a, b) = (&rows[0], &rows[1]);
    println!(
        "{:<12} {:>11.2}x {:>14.2}x {:>16.2}x {:>16.2}x {:>13.2}x",
        "ratio",
        a.1 / b.1,
        a.2 / b.2,
        a.3 / b.3,
        a.4 / b.4,
        a.5 / b.5
    );
    println!("\n(goal: ingestion at least 1.0x Prometheus's, query latency at most 1.0x)");
}

/// User plus system CPU seconds of `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`
    (ticks(11) + ticks(12)) / 100.0
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn wait_port(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{addr} did not open");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` over HTTP/1.0: the body.
fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned())
}

/// `TARGETS` endpoints of `SERIES` counters each, every one a little
/// higher at each scrape (a thread per endpoint, HTTP/1.0).
fn serve_targets() {
    let handles: Vec<_> = (0..TARGETS)
        .map(|i| {
            std::thread::spawn(move || {
                let listener = std::net::TcpListener::bind(format!("{TARGET_IP}:{}", 9100 + i)).expect("bind");
                let mut scrape = 0u64;
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request);
                    scrape += 1;
                    let mut body = String::with_capacity(SERIES * 48);
                    body.push_str("# TYPE bench_counter counter\n");
                    for s in 0..SERIES {
                        body.push_str(&format!("bench_counter{{series=\"{s}\"}} {}\n", scrape * (s as u64 % 7 + 1)));
                    }
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

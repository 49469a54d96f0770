//! flashdns against Knot DNS on this machine, in the same run:
//! `cargo bench -p flashdns`.
//!
//! Both serve the test zone `tests/dns/zones/example.com.zone` on loopback;
//! `dnsperf` (Debian's, installed by `.ci/setup`) replays the differential
//! check's questions (`tests/dns/queries.txt`: answers, NXDOMAIN, NODATA,
//! wildcards, CNAME chains, referrals) for `BENCH_SECONDS` (default 10)
//! over UDP, then over TCP (`-m tcp`, queries pipelined on 4 connections),
//! against each, and reports queries per second and queries lost; then
//! each server's peak resident memory (VmHWM). flashdns runs in a child
//! process of this benchmark (release build, tokio's default worker count,
//! the front end a deployment runs), Knot with its default worker count.
//!
//! Profile (perf record -g on the server under this load, 2026-12-06):
//! - Before: hickory-server's front end at 0.46x Knot over UDP (54,566 against
//!   117,862 queries/s, 12 lost). 60 % of the server's CPU in user space:
//!   hickory's name comparison and label iteration, message encoding,
//!   malloc/free and memmove, a spawned task per datagram; 39 % in the
//!   kernel's sendto/recvfrom.
//! - After (`flashdns::front`: receive loops on the socket, no task per
//!   query, the answer cache): 84 % of the server's CPU is the kernel's
//!   UDP send and receive path (loopback transmit, routing lookup, socket
//!   locks), 10 % libc's syscall wrappers, 6 % flashdns itself. What is
//!   left was one recvfrom and one sendto per query: over UDP the ratio
//!   moved between 0.94 and 1.11 over six runs (parity within this
//!   machine's noise).
//! - Then (`front::udp`): each receiving task takes up to 32 datagrams
//!   with one `recvmmsg` and sends their responses with one `sendmmsg`, as
//!   Knot does (nix's and rustix's safe wrappers; the workspace forbids
//!   `unsafe`). The per-packet network stack work is unchanged (92 % of
//!   the server's CPU is still the kernel's, most of it waking the socket's
//!   readers and the loopback's softirq), but a system call is entered
//!   once per batch rather than twice per query, which leaves more of the
//!   two cores to dnsperf, which runs beside the server: 1.17, 1.28 and
//!   1.18 over three runs, none lost (Knot lost 13 and 1 in two of them).
//!   Over TCP flashdns answers pipelined queries 2 to 3 times Knot's rate.
//!   Both one worker task per core and one in all were measured: per core
//!   is faster.

use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashdns::dns::{Counters, DnsHandler};
use flashdns::front::Front;
use flashdns::spec::Zone;
use flashdns::zone::typed::NodeAddressError::NoAddress;
use flashdns::zones::Zones;
use tokio_util::sync::CancellationToken;

const FLASHDNS: &str = "127.0.120.1";
const KNOT: &str = "127.0.120.2";
const PORT: u16 = 5300;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The server child is started as `<exe> --serve-flashdns <zone file>`.
    if let Some(i) = args.iter().position(|a| a == "--serve-flashdns") {
        serve(&args[i + 1]);
        return;
    }
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    for tool in ["dnsperf", "knotd"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            eprintln!("`{tool}` is not installed: run .ci/setup");
            std::process::exit(2);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dns");
    let zone_file = root.join("zones/example.com.zone");
    let work = tempfile::tempdir().expect("a temporary directory");
    let queries = work.path().join("queries");
    write_queries(&root.join("queries.txt"), &queries);

    let ours = Server(
        Command::new(std::env::current_exe().unwrap())
            .args(["--serve-flashdns", zone_file.to_str().unwrap()])
            .stderr(Stdio::null())
            .spawn()
            .expect("flashdns starts"),
    );
    let flashdns = measure(&ours, FLASHDNS, &queries, seconds);
    drop(ours);

    let knot = Server(start_knot(work.path(), &zone_file));
    let knot_run = measure(&knot, KNOT, &queries, seconds);
    drop(knot);

    // The table goes to stdout (cargo bench's output), not through a logger.
    let mut table = format!(
        "\n| dnsperf, {seconds} s each | flashdns | knot | flashdns/knot |\n|---|---|---|---|\n"
    );
    let mut row = |name: &str, ours: f64, theirs: f64, decimals: usize, ratio: bool| {
        let ratio = if ratio {
            format!("{:.2}", ours / theirs)
        } else {
            String::new()
        };
        table.push_str(&format!(
            "| {name} | {ours:.decimals$} | {theirs:.decimals$} | {ratio} |\n"
        ));
    };
    row(
        "queries/s over UDP",
        flashdns.udp.0,
        knot_run.udp.0,
        0,
        true,
    );
    row(
        "lost over UDP",
        flashdns.udp.1 as f64,
        knot_run.udp.1 as f64,
        0,
        false,
    );
    row(
        "queries/s over TCP",
        flashdns.tcp.0,
        knot_run.tcp.0,
        0,
        true,
    );
    row(
        "lost over TCP",
        flashdns.tcp.1 as f64,
        knot_run.tcp.1 as f64,
        0,
        false,
    );
    row(
        "peak RSS, MiB",
        flashdns.peak_rss_kib as f64 / 1024.0,
        knot_run.peak_rss_kib as f64 / 1024.0,
        1,
        true,
    );
    std::io::stdout().write_all(table.as_bytes()).unwrap();
}

/// One server's figures.
struct Run {
    /// (queries per second, queries lost) over UDP.
    udp: (f64, u64),
    /// The same over TCP.
    tcp: (f64, u64),
    /// The server's peak resident memory (VmHWM), KiB.
    peak_rss_kib: u64,
}

/// dnsperf over UDP then TCP against the server at `ip`, then its peak
/// memory.
fn measure(server: &Server, ip: &str, queries: &Path, seconds: u64) -> Run {
    wait_for(ip);
    let udp = dnsperf(ip, queries, seconds, "udp");
    let tcp = dnsperf(ip, queries, seconds, "tcp");
    Run {
        udp,
        tcp,
        peak_rss_kib: peak_rss_kib(server.0.id()),
    }
}

/// A process's peak resident set (VmHWM in /proc), KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    photon_runtime::process::peak_rss_kib(pid).expect("VmHWM in /proc status")
}

/// Kills its process when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dnsperf's input: `name type` from the differential check's questions
/// (class IN, no options).
fn write_queries(from: &Path, to: &Path) {
    let text = std::fs::read_to_string(from).expect("tests/dns/queries.txt");
    let mut out = std::fs::File::create(to).unwrap();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with('#') || words.len() != 2 {
            continue;
        }
        writeln!(out, "{} {}", words[0], words[1]).unwrap();
    }
}

/// Waits until `ip` answers a SOA query over UDP.
fn wait_for(ip: &str) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // A SOA query for example.com, id 1.
    let query = [
        0u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c',
        b'o', b'm', 0, 0, 6, 0, 1,
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr: SocketAddr = format!("{ip}:{PORT}").parse().unwrap();
    let mut buffer = [0u8; 512];
    while Instant::now() < deadline {
        let _ = socket.send_to(&query, addr);
        if socket.recv_from(&mut buffer).is_ok() {
            return;
        }
    }
    panic!("{ip}:{PORT} did not answer within 20 s");
}

/// Runs dnsperf for `seconds` over `mode` (udp, tcp); (queries per
/// second, queries lost).
fn dnsperf(ip: &str, queries: &Path, seconds: u64, mode: &str) -> (f64, u64) {
    let out = Command::new("dnsperf")
        .args(["-m", mode, "-s", ip, "-p", &PORT.to_string(), "-d"])
        .arg(queries)
        .args(["-l", &seconds.to_string(), "-c", "4", "-q", "200"])
        .output()
        .expect("dnsperf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no `{label}` in dnsperf's output:\n{text}"))
            .trim()
            .to_owned()
    };
    let qps: f64 = field("Queries per second:").parse().unwrap();
    let lost: u64 = field("Queries lost:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (qps, lost)
}

fn start_knot(work: &Path, zone_file: &Path) -> Child {
    let conf = work.join("knot.conf");
    let zones: PathBuf = zone_file.parent().unwrap().to_path_buf();
    std::fs::write(
        &conf,
        format!(
            "server:\n    listen: {KNOT}@{PORT}\n    rundir: {run}\ndatabase:\n    storage: {run}\nlog:\n  - target: stderr\n    any: error\ntemplate:\n  - id: default\n    storage: {zones}\n    zonefile-sync: -1\n    journal-content: none\nzone:\n  - domain: example.com\n    file: example.com.zone\n",
            run = work.display(),
            zones = zones.display(),
        ),
    )
    .unwrap();
    Command::new("knotd")
        .arg("-c")
        .arg(&conf)
        .stderr(Stdio::null())
        .spawn()
        .expect("knotd starts")
}

/// The benchmark's flashdns: the zone file served by the same handler and
/// front end a deployment runs.
fn serve(zone_file: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let zones = [Zone::file(
            "example.com",
            Box::leak(zone_file.to_owned().into_boxed_str()),
        )];
        let no_state = std::env::temp_dir();
        let zones = Zones::load(
            &zones,
            &flashdns::ZoneFileLimits::DEFAULT,
            &|host| {
                Err(NoAddress {
                    host: host.to_string(),
                })
            },
            &no_state,
        )
        .expect("the zone");
        let handler = DnsHandler::new(
            zones.catalog().clone(),
            Vec::new(),
            Arc::new(Counters::default()),
        );
        let front = Front::new(handler, None);
        let addr = format!("{FLASHDNS}:{PORT}");
        let udp = tokio::net::UdpSocket::bind(&addr).await.unwrap();
        let tcp = tokio::net::TcpListener::bind(&addr).await.unwrap();
        let forever = CancellationToken::new();
        let (udp, ()) = tokio::join!(
            flashdns::front::udp::serve(udp, front.clone(), forever.clone()),
            flashdns::front::tcp::serve(tcp, front, forever.clone()),
        );
        udp.unwrap();
    });
}

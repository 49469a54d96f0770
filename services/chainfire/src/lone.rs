//! chainfire members on their own, each served in a process with no
//! runtime around it: what a benchmark measures against (chainfire's own
//! against etcd, lightningstor's with its metadata in chainfire,
//! photonnet's on each). A bench runs a member in a child process of its
//! own binary ([`spawn`] for a one-member cluster, [`spawn_member`] for one
//! of several, answered by [`serve_if_asked`] in the bench's `main`), and
//! etcd beside it the same way ([`spawn_etcd`], [`spawn_etcd_member`]).
//!
//! A member's output is discarded unless [`LOG_ENV`] names a log filter
//! (`CHAINFIRE_BENCH_LOG=info,openraft=debug`): then each member logs
//! through it to `<its data dir>.log`, for finding out after a run why a
//! request was slow.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::api::{Services, incoming};
use crate::member::{Member, MemberAddrs, MemberConfig};
use crate::proto::raftpb::raft_peer_server::RaftPeerServer;

/// One member of a cluster: its name and where it listens (`host:port`
/// each).
#[derive(Debug, Clone)]
pub struct Seat {
    /// The member's name.
    pub name: String,
    /// The etcd v3 API.
    pub client: String,
    /// The Raft peer API.
    pub peer: String,
}

impl Seat {
    /// A member on 127.0.0.1 with two free ports.
    pub fn on_loopback(name: &str) -> Seat {
        Seat {
            name: name.to_owned(),
            client: format!("127.0.0.1:{}", free_port()),
            peer: format!("127.0.0.1:{}", free_port()),
        }
    }

    /// `name=client=peer`, as [`spawn_member`] passes it.
    fn to_arg(&self) -> String {
        format!("{}={}={}", self.name, self.client, self.peer)
    }

    fn from_arg(arg: &str) -> Option<Seat> {
        let mut parts = arg.splitn(3, '=');
        Some(Seat {
            name: parts.next()?.to_owned(),
            client: parts.next()?.to_owned(),
            peer: parts.next()?.to_owned(),
        })
    }
}

/// Serves the member `name` of the cluster `seats` with its data in `dir`,
/// the etcd v3 API and the Raft peer API where its seat says, until the
/// process ends.
pub async fn serve(
    name: &str,
    dir: &Path,
    seats: &[Seat],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let own = seats
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("{name} is not one of the members"))?;
    let member = Member::start(MemberConfig {
        name: name.into(),
        data_dir: dir.into(),
        members: seats
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    MemberAddrs {
                        peer: s.peer.clone(),
                        client: s.client.clone(),
                    },
                )
            })
            .collect(),
        snapshot_count: crate::Limits::DEFAULT.snapshot_count.into(),
        presenting: Default::default(),
    })
    .await?;
    let services = Services::new(&member, crate::Limits::DEFAULT);
    let peers = tonic::transport::Server::builder()
        .add_service(RaftPeerServer::new(member.peer_service()))
        .serve_with_incoming(incoming(tokio::net::TcpListener::bind(&own.peer).await?));
    let clients = tonic::transport::Server::builder()
        .add_service(services.kv)
        .add_service(services.watch)
        .add_service(services.lease)
        .add_service(services.cluster)
        .add_service(services.maintenance)
        .serve_with_incoming(incoming(tokio::net::TcpListener::bind(&own.client).await?));
    let (peers, clients) = tokio::join!(peers, clients);
    peers?;
    clients?;
    Ok(())
}

/// The environment variable that makes spawned members log (a `tracing`
/// filter), each to `<data dir>.log`.
pub const LOG_ENV: &str = "CHAINFIRE_BENCH_LOG";

/// The flag a bench binary is started with to serve a member.
const SERVE: &str = "--serve-chainfire";

/// If this process was started by [`spawn`] or [`spawn_member`] (`<exe>
/// --serve-chainfire <dir> <name> <seat>...`), serves that member until it
/// is killed and returns `true`; a bench's `main` calls it first and
/// returns when it is `true`.
pub fn serve_if_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let Some(i) = args.iter().position(|a| a == SERVE) else {
        return false;
    };
    let (dir, name) = (&args[i + 1], &args[i + 2]);
    let seats: Vec<Seat> = args[i + 3..]
        .iter()
        .map(|a| Seat::from_arg(a).expect("name=client=peer"))
        .collect();
    if let Ok(filter) = std::env::var(LOG_ENV) {
        photon_runtime::install_logging(&filter);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(serve(name, Path::new(dir), &seats))
        .expect("chainfire serves");
    true
}

/// A one-member cluster in a child process of this binary (whose `main`
/// calls [`serve_if_asked`]), its data in `dir`, clients on `client` and
/// peers on `peer` (`host:port` each), its output discarded.
pub fn spawn(dir: &Path, client: &str, peer: &str) -> std::io::Result<Child> {
    let seat = Seat {
        name: "bench".to_owned(),
        client: client.to_owned(),
        peer: peer.to_owned(),
    };
    spawn_member(dir, "bench", &[seat])
}

/// The member `name` of the cluster `seats` in a child process of this
/// binary, as [`spawn`].
pub fn spawn_member(dir: &Path, name: &str, seats: &[Seat]) -> std::io::Result<Child> {
    let log = match std::env::var_os(LOG_ENV) {
        Some(_) => {
            let mut path = dir.as_os_str().to_owned();
            path.push(".log");
            Stdio::from(std::fs::File::create(path)?)
        }
        None => Stdio::null(),
    };
    Command::new(std::env::current_exe()?)
        .arg(SERVE)
        .arg(dir)
        .arg(name)
        .args(seats.iter().map(Seat::to_arg))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
}

/// The etcd binary a bench compares with: `$ETCD_BIN`, else Debian's
/// `etcd-server` (`.ci/setup`); why not, if it is not there.
pub fn etcd_binary() -> Result<String, String> {
    let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "/usr/bin/etcd".into());
    if Path::new(&bin).exists() {
        Ok(bin)
    } else {
        Err(format!(
            "etcd not found at {bin}: run .ci/setup (Debian's etcd-server) or set ETCD_BIN"
        ))
    }
}

/// A one-member etcd as [`spawn`] runs chainfire, on 127.0.0.1 (`client`
/// and `peer` ports), with etcd's defaults (it fsyncs every commit).
pub fn spawn_etcd(bin: &str, dir: &Path, client: u16, peer: u16) -> std::io::Result<Child> {
    let seat = Seat {
        name: "bench".to_owned(),
        client: format!("127.0.0.1:{client}"),
        peer: format!("127.0.0.1:{peer}"),
    };
    spawn_etcd_member(bin, dir, "bench", &[seat])
}

/// The member `name` of the etcd cluster `seats`, as [`spawn_member`]
/// runs chainfire's.
pub fn spawn_etcd_member(
    bin: &str,
    dir: &Path,
    name: &str,
    seats: &[Seat],
) -> std::io::Result<Child> {
    let own = seats
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| std::io::Error::other(format!("{name} is not one of the members")))?;
    let (client, peer) = (
        format!("http://{}", own.client),
        format!("http://{}", own.peer),
    );
    let cluster: Vec<String> = seats
        .iter()
        .map(|s| format!("{}=http://{}", s.name, s.peer))
        .collect();
    Command::new(bin)
        .args(["--name", name, "--data-dir"])
        .arg(dir)
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &cluster.join(",")])
        .args(["--initial-cluster-state", "new"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// A port on 127.0.0.1 free now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The single-member store a store-path bench runs its workload on:
/// etcd, the peer, or chainfire; each in its own process with its data in
/// a temporary directory, each fsyncing every commit (photonnet's and
/// creditservice's benches).
#[derive(Debug, Clone)]
pub enum OnStore {
    /// etcd, this binary.
    Etcd(String),
    /// A chainfire member ([`spawn`]).
    Chainfire,
}

impl OnStore {
    /// etcd, then chainfire; why not, when etcd is not installed.
    pub fn both() -> Result<[OnStore; 2], String> {
        Ok([OnStore::Etcd(etcd_binary()?), OnStore::Chainfire])
    }

    /// Its name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            OnStore::Etcd(_) => "etcd",
            OnStore::Chainfire => "chainfire",
        }
    }

    /// Starts it with its data in `dir`; the child and its client
    /// endpoint (`127.0.0.1:port`).
    pub fn start(&self, dir: &Path) -> std::io::Result<(Child, String)> {
        let (client, peer) = (free_port(), free_port());
        let child = match self {
            OnStore::Etcd(bin) => spawn_etcd(bin, dir, client, peer),
            OnStore::Chainfire => spawn(
                dir,
                &format!("127.0.0.1:{client}"),
                &format!("127.0.0.1:{peer}"),
            ),
        }?;
        Ok((child, format!("127.0.0.1:{client}")))
    }
}

/// Throughput (operations a second) and latencies of one workload.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Operations a second, over the workload's wall time.
    pub ops_per_sec: f64,
    /// The median latency.
    pub p50: std::time::Duration,
    /// The 99th percentile.
    pub p99: std::time::Duration,
}

impl Measured {
    /// From every operation's latency and the workload's wall time.
    pub fn of(mut latencies: Vec<std::time::Duration>, elapsed: std::time::Duration) -> Measured {
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        Measured {
            ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

/// Runs `per_client` calls of `call(client, i)` on each of `clients` at
/// once, each timed: what a bench's workload measures.
pub async fn clients<F, Fut>(clients: usize, per_client: usize, call: F) -> Measured
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = std::sync::Arc::new(call);
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let call = call.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let t = std::time::Instant::now();
                call(c, i).await;
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("a client"));
    }
    Measured::of(latencies, started.elapsed())
}

/// The table comparing workloads on etcd (`rows[0]`) and on chainfire
/// (`rows[1]`), with the ratio and latencies of each: what a store-path
/// bench prints.
pub fn side_by_side(title: &str, rows: &[(&str, Vec<(&str, Measured)>)]) -> String {
    use std::fmt::Write as _;
    let (etcd, chainfire) = (&rows[0].1, &rows[1].1);
    let mut out = format!(
        "\n{:<22} {:>11} {:>11} {:>8}   {:>17} {:>17}\n",
        title, "on etcd/s", "chainfire", "ratio", "etcd p50/p99 ms", "chainfire p50/p99"
    );
    for ((name, e), (_, c)) in etcd.iter().zip(chainfire) {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let _ = writeln!(
            out,
            "{:<22} {:>11.0} {:>11.0} {:>7.2}x   {:>8.2}/{:<8.2} {:>8.2}/{:<8.2}",
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
    out.push_str("(ratio = on chainfire / on etcd; both single members fsyncing every commit)\n");
    out
}

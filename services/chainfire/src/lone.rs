//! One chainfire member on its own, served in the calling process, with no
//! runtime around it: what a benchmark measures against (chainfire's own
//! against etcd, lightningstor's with its metadata in chainfire,
//! photonnet's on each). A bench runs it in a child process of its own
//! binary ([`spawn`], answered by [`serve_if_asked`] in the bench's
//! `main`), and etcd beside it the same way ([`spawn_etcd`]).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::api::{Services, incoming};
use crate::member::{Member, MemberAddrs, MemberConfig};
use crate::proto::raftpb::raft_peer_server::RaftPeerServer;

/// Serves a one-member cluster named `name` with its data in `dir`, the
/// etcd v3 API on `client` and the Raft peer API on `peer` (`host:port`
/// each), until the process ends.
pub async fn serve(
    name: &str,
    dir: &Path,
    client: &str,
    peer: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let member = Member::start(MemberConfig {
        name: name.into(),
        data_dir: dir.into(),
        members: [(
            name.to_owned(),
            MemberAddrs {
                peer: peer.to_owned(),
                client: client.to_owned(),
            },
        )]
        .into(),
        snapshot_count: crate::Limits::DEFAULT.snapshot_count.into(),
        presenting: Default::default(),
    })
    .await?;
    let services = Services::new(&member, crate::Limits::DEFAULT);
    let peers = tonic::transport::Server::builder()
        .add_service(RaftPeerServer::new(member.peer_service()))
        .serve_with_incoming(incoming(tokio::net::TcpListener::bind(peer).await?));
    let clients = tonic::transport::Server::builder()
        .add_service(services.kv)
        .add_service(services.watch)
        .add_service(services.lease)
        .add_service(services.cluster)
        .add_service(services.maintenance)
        .serve_with_incoming(incoming(tokio::net::TcpListener::bind(client).await?));
    let (peers, clients) = tokio::join!(peers, clients);
    peers?;
    clients?;
    Ok(())
}

/// The flag a bench binary is started with to serve a member.
const SERVE: &str = "--serve-chainfire";

/// If this process was started by [`spawn`] (`<exe> --serve-chainfire <dir>
/// <client> <peer>`), serves that member until it is killed and returns
/// `true`; a bench's `main` calls it first and returns when it is `true`.
pub fn serve_if_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let Some(i) = args.iter().position(|a| a == SERVE) else {
        return false;
    };
    let [dir, client, peer] = [&args[i + 1], &args[i + 2], &args[i + 3]];
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(serve("bench", Path::new(dir), client, peer))
        .expect("chainfire serves");
    true
}

/// A member in a child process of this binary (whose `main` calls
/// [`serve_if_asked`]), its data in `dir`, clients on `client` and peers on
/// `peer` (`host:port` each), its output discarded.
pub fn spawn(dir: &Path, client: &str, peer: &str) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .arg(SERVE)
        .arg(dir)
        .args([client, peer])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
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
    let (client, peer) = (
        format!("http://127.0.0.1:{client}"),
        format!("http://127.0.0.1:{peer}"),
    );
    Command::new(bin)
        .args(["--name", "bench", "--data-dir"])
        .arg(dir)
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("bench={peer}")])
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

//! flashdns fixtures: a running `deploy-flashdns-files` over a directory of
//! zone files, and hickory DNS clients (UDP and TCP) for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt as _;
use hickory_net::client::Client;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::DnsHandle as _;
use hickory_proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::Running;

/// The zone files the tests (and the differential check) serve.
pub fn zone_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dns/zones")
}

/// A running flashdns (a deployment, or `flashdns-server`) and the
/// directory its zone files are in.
#[derive(Debug)]
pub struct Server {
    /// The deployment process.
    pub running: Running,
    /// The working directory: `zones/` holds the served files.
    pub dir: tempfile::TempDir,
    /// The DNS address (UDP and TCP).
    pub addr: SocketAddr,
    /// `http://<addr>:8053`.
    pub admin: String,
}

impl Server {
    /// The path of a served zone file, to rewrite it.
    pub fn zone_file(&self, file: &str) -> PathBuf {
        self.dir.path().join("zones").join(file)
    }

    /// Replaces a served zone file atomically (write aside, rename).
    pub fn write_zone(&self, file: &str, text: &str) {
        let path = self.zone_file(file);
        let aside = path.with_extension("new");
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, &path).unwrap();
    }
}

/// Copies the test zones into a fresh directory.
pub fn zones_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    for entry in std::fs::read_dir(zone_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), zones.join(entry.file_name())).unwrap();
    }
    dir
}

/// Starts `deploy-flashdns-files` on loopback block `net` (node `ns` on
/// `.1`) over a copy of the test zones.
pub fn start(net: &crate::Loopback) -> Server {
    start_in(net, zones_copy())
}

/// Starts `flashdns-server` on `net` (DNS on `.1:5300`, admin on `.1:8053`)
/// serving `zones` (file name, text) from a fresh `zones/` directory.
/// `more` is TOML written right after `zone_dir` in `[standalone.zones]`:
/// lines before its first table header are more zone settings.
pub fn start_server(net: &crate::Loopback, zones: &[(&str, &str)], more: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let zone_dir = dir.path().join("zones");
    std::fs::create_dir(&zone_dir).unwrap();
    for (file, text) in zones {
        std::fs::write(zone_dir.join(file), text).unwrap();
    }
    let config = dir.path().join("flashdns.toml");
    std::fs::write(
        &config,
        format!(
            "[standalone.server]\ndns_addr = \"{}\"\nadmin_api_addr = \"{}\"\n\n[standalone.zones]\nzone_dir = \"{}\"\n{more}",
            net.addr(1, 5300),
            net.addr(1, 8053),
            zone_dir.display()
        ),
    )
    .unwrap();
    let mut running = Running::start_server(
        "flashdns",
        &["--config", config.to_str().unwrap()],
        &[],
        None,
    );
    running.wait_for("all services started", Duration::from_secs(30));
    Server {
        running,
        dir,
        addr: net.addr(1, 5300).parse().unwrap(),
        admin: net.url(1, 8053),
    }
}

/// Starts `deploy-flashdns-files` on `net` in `dir`.
pub fn start_in(net: &crate::Loopback, dir: tempfile::TempDir) -> Server {
    let state = dir.path().join("state");
    let mut running = Running::start_in(
        "flashdns-files",
        &[
            "up",
            "--loopback-base",
            &net.base(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
        Some(dir.path()),
    );
    running.wait_for("all services started", Duration::from_secs(30));
    Server {
        running,
        dir,
        addr: net.addr(1, 5300).parse().unwrap(),
        admin: net.url(1, 8053),
    }
}

/// A DNS client over tokio.
pub type DnsClient = Client<TokioRuntimeProvider>;

/// A UDP client (from an address the OS picks, or `bind`).
pub fn udp(addr: SocketAddr, bind: Option<SocketAddr>) -> DnsClient {
    let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(3)))
        .with_bind_addr(bind)
        .build();
    let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
    tokio::spawn(background);
    client
}

/// A TCP client (from an address the OS picks, or `bind`).
pub async fn tcp(addr: SocketAddr, bind: Option<SocketAddr>) -> Client<TokioRuntimeProvider> {
    let (connect, sender) = TcpClientStream::new(
        addr,
        bind,
        Some(Duration::from_secs(3)),
        TokioRuntimeProvider::default(),
    );
    let stream = connect.await.expect("TCP connect");
    let (client, background) = Client::<TokioRuntimeProvider>::new(stream, sender);
    tokio::spawn(background);
    client
}

/// Asks `name`/`rtype` as a stub resolver would, without recursion
/// desired; `edns` is the UDP payload size offered (`None`: no EDNS).
pub async fn ask_with(
    client: &Client<TokioRuntimeProvider>,
    name: &str,
    rtype: RecordType,
    edns: Option<u16>,
) -> DnsResponse {
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = false;
    options.use_edns = edns.is_some();
    if let Some(payload) = edns {
        options.edns_payload_len = payload;
    }
    try_ask(client, name, rtype, options)
        .await
        .unwrap_or_else(|e| panic!("{name} {rtype}: {e}"))
}

/// Asks with these options; the client's error if no answer came.
pub async fn try_ask(
    client: &Client<TokioRuntimeProvider>,
    name: &str,
    rtype: RecordType,
    options: DnsRequestOptions,
) -> Result<DnsResponse, String> {
    let query = Query::query(Name::from_ascii(name).unwrap(), rtype);
    let mut responses = client.send(DnsRequest::from_query(query, options));
    match responses.next().await {
        Some(Ok(response)) => Ok(response),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the client closed without a response".to_owned()),
    }
}

/// Asks with EDNS (payload 1232), as modern resolvers do.
pub async fn ask(
    client: &Client<TokioRuntimeProvider>,
    name: &str,
    rtype: RecordType,
) -> DnsResponse {
    ask_with(client, name, rtype, Some(1232)).await
}

/// A section as sorted `owner ttl class type data` lines.
pub fn lines(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    let mut lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    lines.sort();
    lines
}

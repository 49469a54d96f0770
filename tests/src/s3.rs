//! lightningstor fixtures for the S3 tests: a running
//! `deploy-lightningstor-single`, `aws-sdk-s3` clients for it, raw HTTP for
//! what the SDK would sign, and test data.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::Running;

/// The operator's key id in `deploy-lightningstor-single`.
pub const KEY_ID: &str = "PHOTONADMIN";
/// The operator's secret key the tests give it.
pub const SECRET: &str = "e2e-secret-key-0123456789abcdef";

/// A running lightningstor with its state in a temporary directory.
#[derive(Debug)]
pub struct Store {
    /// The deployment process.
    pub running: Running,
    /// Its state directory.
    pub state: tempfile::TempDir,
    /// `http://<addr>:9000`.
    pub endpoint: String,
}

/// Starts `deploy-lightningstor-single` on loopback block `net` (node
/// `storage` on `.1`) with a fresh state directory.
pub async fn up(net: &crate::Loopback) -> Store {
    start(net, tempfile::tempdir().unwrap()).await
}

/// Starts `deploy-lightningstor-single` on `net` over an existing state
/// directory (a restart).
pub async fn start(net: &crate::Loopback, state: tempfile::TempDir) -> Store {
    start_deployment(net, Deployment::SINGLE, state).await
}

/// A deployment with a lightningstor the tests drive.
#[derive(Debug, Clone, Copy)]
pub struct Deployment {
    /// `deploy-<name>`.
    pub name: &'static str,
    /// The host of the loopback block lightningstor's node is on.
    pub host: u8,
}

impl Deployment {
    /// `deploy-lightningstor-single`: metadata in RocksDB, node `storage`
    /// on `.1`.
    pub const SINGLE: Deployment = Deployment {
        name: "lightningstor-single",
        host: 1,
    };
    /// `deploy-lightningstor-integrated`: chainfire on `.1`, lightningstor
    /// on `.2` with its metadata in that chainfire.
    pub const INTEGRATED: Deployment = Deployment {
        name: "lightningstor-integrated",
        host: 2,
    };
}

/// Starts `deployment` on `net` over the state directory `state`.
pub async fn start_deployment(
    net: &crate::Loopback,
    deployment: Deployment,
    state: tempfile::TempDir,
) -> Store {
    let mut running = Running::start_with_env(
        deployment.name,
        &[
            "up",
            "--loopback-base",
            &net.base(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &[("LIGHTNINGSTOR_SECRET_KEY", SECRET)],
    );
    running.wait_for("all services started", Duration::from_secs(60));
    Store {
        running,
        state,
        endpoint: net.url(deployment.host, 9000),
    }
}

/// The whole body of `bucket`/`key`, read through `s3`.
pub async fn get_bytes(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap_or_else(|e| panic!("reading {bucket}/{key}: {e}"))
        .into_bytes()
        .to_vec()
}

/// A path-style client for `endpoint` with this key.
pub fn client_with(endpoint: &str, id: &str, secret: &str) -> Client {
    client_with_token(endpoint, id, secret, None)
}

/// A path-style client with temporary credentials and (if given) their
/// session token.
pub fn client_with_token(endpoint: &str, id: &str, secret: &str, token: Option<&str>) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            id,
            secret,
            token.map(str::to_owned),
            None,
            "e2e",
        ))
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// A client with the operator's key.
pub fn client(store: &Store) -> Client {
    client_with(&store.endpoint, KEY_ID, SECRET)
}

/// The S3 error code of an SDK error.
pub fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_owned()
}

/// Deterministic bytes that differ at every offset.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

/// Hex MD5, as in a simple object's ETag.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// A raw HTTP/1.1 request: (status, body). For presigned URLs and unsigned
/// requests, where the SDK would sign.
pub async fn raw(url: &str, method: &str, body: &[u8]) -> (u16, Vec<u8>) {
    raw_with(url, method, &[], body).await
}

/// [`raw`] with extra request headers.
pub async fn raw_with(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let host = &rest[..rest.find('/').unwrap()];
    raw_via(host, url, method, headers, body).await
}

/// [`raw_with`], connecting to `addr` whatever host the URL names (a
/// virtual-hosted bucket name that no resolver knows).
pub async fn raw_via(
    addr: &str,
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    send_raw(addr, url, method, &extra, body, body.len(), async {}).await
}

/// A raw request whose body is sent in two halves, `between` running once
/// the first is out: what a slow client does while other requests change
/// what it is writing into. (status, body).
pub async fn raw_with_a_pause(
    url: &str,
    method: &str,
    body: &[u8],
    between: impl std::future::Future<Output = ()>,
) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let host = &rest[..rest.find('/').unwrap()];
    send_raw(host, url, method, "", body, body.len() / 2, between).await
}

async fn send_raw(
    addr: &str,
    url: &str,
    method: &str,
    extra: &str,
    body: &[u8],
    pause_at: usize,
    between: impl std::future::Future<Output = ()>,
) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..pause_at]).await.unwrap();
    stream.flush().await.unwrap();
    between.await;
    stream.write_all(&body[pause_at..]).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = input.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&input[..line_end]).unwrap().trim(), 16)
                .unwrap();
        input = &input[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&input[..size]);
        input = &input[size + 2..];
    }
}

/// Every file under `dir`, recursively (none if it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

//! `fiberlb-server` from a few lines of TOML, for the tests that put it in
//! front of `crate::http::Backend`s: its admin API on `.1:8404` of the
//! test's loopback block.

use std::time::Duration;

use crate::http::Backend;
use crate::{Loopback, Running};

/// `fiberlb-server` with `balancers` (TOML) after the server section;
/// returns once it serves. The directory holds its configuration and
/// state.
pub fn start(net: &Loopback, balancers: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fiberlb.toml");
    std::fs::write(
        &config,
        format!(
            "[photon]\nmode = \"standalone\"\n[standalone.server]\nadmin_api_addr = \"{}\"\n{balancers}",
            net.addr(1, 8404)
        ),
    )
    .unwrap();
    let mut running = Running::start_server(
        "fiberlb",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
        None,
    );
    running.wait_for("all services started", Duration::from_secs(30));
    (running, dir)
}

/// A `[[standalone.loadbalancers.backends]]` entry for `backend`.
pub fn backend(backend: &Backend, weight: u16) -> String {
    format!(
        "[[standalone.loadbalancers.backends]]\naddress = \"{}\"\nport = {}\nweight = {weight}\n",
        backend.addr.ip(),
        backend.addr.port()
    )
}

/// HAProxy (Debian's, installed by `.ci/setup`) running a configuration:
/// the peer fiberlb is compared with. Stopped when dropped.
#[derive(Debug)]
pub struct Haproxy {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts HAProxy with `config` (checked with `haproxy -c` first) and
    /// returns once `front` accepts connections.
    pub fn start(config: &str, front: std::net::SocketAddr) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        let checked = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&file)
            .output()
            .expect("haproxy is installed (.ci/setup)");
        assert!(
            checked.status.success(),
            "haproxy refuses the configuration:\n{config}\n{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("haproxy starts");
        let mut haproxy = Haproxy { child, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(front).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "haproxy never listened on {front}: {}",
                haproxy.log()
            );
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                panic!("haproxy exited with {status}: {}", haproxy.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        haproxy
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// fiberlb's `/health` on its admin address (`.1:8404`).
pub async fn health(net: &Loopback) -> serde_json::Value {
    let (_, body) = crate::http_get(&net.url(1, 8404), "/health").await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Waits (up to 10 s) until `/health` says `want` of `balancer`
/// (`ok: 2 of 2 backends up`).
pub async fn wait_health(net: &Loopback, balancer: &str, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let health = health(net).await;
        if health["checks"][balancer] == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{balancer} never became `{want}`: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many of `names` (which backend answered each request) each backend
/// has.
pub fn tally(names: &[String]) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for name in names {
        *counts.entry(name.clone()).or_default() += 1;
    }
    counts
}

//! `roll`: the web tier of `deploy-fiberlb-web` restarted one node at a
//! time behind its balancer while a client keeps asking through it, and
//! not one request fails. Each node runs as its own process, restarted by
//! the command given to `roll` (here a script that stops the node's
//! process with SIGTERM, as systemd would, and starts it again).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::Loopback;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Nodes started by the script, stopped when the test ends however it ends.
struct Nodes {
    dir: PathBuf,
}

impl Nodes {
    /// Starts `nodes` through `script`, each its own process.
    fn start(dir: &Path, script: &Path, nodes: &[&str]) -> Nodes {
        let started = Nodes {
            dir: dir.to_owned(),
        };
        for node in nodes {
            let status = std::process::Command::new("sh")
                .arg(script)
                .arg(node)
                .status()
                .unwrap();
            assert!(status.success(), "{node} did not start");
        }
        started
    }

    fn pid(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{node}.pid")))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{node}.log"))).unwrap_or_default()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "pid")
                && let Ok(pid) = std::fs::read_to_string(&path)
            {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid.trim()])
                    .status();
            }
        }
    }
}

/// `restart.sh <node> [binary]`: stops the node's process if it runs
/// (SIGTERM, then waits for it to exit) and starts it again in the
/// background, with `binary` if given (a new revision), refusing calls
/// from other configurations outside a roll.
fn restart_script(dir: &Path, binary: &Path, net: &Loopback, state: &Path) -> PathBuf {
    let script = dir.join("restart.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
node="$1"
pidfile="{dir}/$node.pid"
if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null
    # gone, or a zombie nobody reaps
    while kill -0 "$pid" 2>/dev/null && [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" != "Z" ]; do
        sleep 0.05
    done
fi
binary="${{2:-{binary}}}"
"$binary" run --node "$node" --loopback-base {base} --state-dir "{state}" --config-skew refuse >> "{dir}/$node.log" 2>&1 &
echo $! > "$pidfile"
"#,
            dir = dir.display(),
            binary = binary.display(),
            base = net.base(),
            state = state.display(),
        ),
    )
    .unwrap();
    script
}

/// `GET /echo/<n>` through the balancer on a new connection: whether it
/// answered 200 with the message.
async fn ask(addr: &str, n: u64) -> bool {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /echo/m{n} HTTP/1.1\r\nHost: site\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let text = String::from_utf8_lossy(&answer);
        Some(text.starts_with("HTTP/1.1 200") && text.ends_with(&format!("m{n}")))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_the_web_tier_behind_fiberlb_fails_no_request() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let binary = e2e::deployment("fiberlb-web");
    let script = restart_script(dir.path(), &binary, &net, &dir.path().join("state"));
    let nodes = Nodes::start(dir.path(), &script, &["web-1", "web-2", "edge"]);
    let front = net.addr(1, 8080);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ask(&front, 0).await {
        assert!(
            Instant::now() < deadline,
            "the balancer never answered; edge:\n{}",
            nodes.log("edge")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A client asking all the time, one new connection per request.
    let stop = Arc::new(AtomicBool::new(false));
    let (asked, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let client = {
        let (stop, asked, failed, front) =
            (stop.clone(), asked.clone(), failed.clone(), front.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                asked.fetch_add(1, Ordering::Relaxed);
                if !ask(&front, n).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = [nodes.pid("web-1"), nodes.pid("web-2")];
    let restart = format!("sh {} {{node}}", script.display());
    let rolled = e2e::output(
        "fiberlb-web",
        &[
            "roll",
            "--restart",
            &restart,
            "--node",
            "web-1",
            "--node",
            "web-2",
            "--loopback-base",
            &net.base(),
            "--timeout",
            "30",
        ],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();

    let report = String::from_utf8_lossy(&rolled.stdout);
    assert!(
        rolled.status.success(),
        "{report}{}\nedge:\n{}",
        String::from_utf8_lossy(&rolled.stderr),
        nodes.log("edge")
    );
    assert!(report.contains("rolled web-1 (1 of 2)"), "{report}");
    assert!(report.contains("rolled web-2 (2 of 2)"), "{report}");
    assert!(
        report.contains("drained from 1 balancer backend(s)"),
        "{report}"
    );
    assert!(report.contains("2 node(s) rolled"), "{report}");
    // both really restarted
    assert_ne!(nodes.pid("web-1"), before[0]);
    assert_ne!(nodes.pid("web-2"), before[1]);
    assert_eq!(
        nodes.log("web-1").matches("echo server listening").count(),
        2
    );
    // drained first, neither was ever tried while it was down: the
    // balancer saw no failed connection to either (it would retry one on
    // the other backend, hiding it from the client)
    let (_, balancers) = e2e::http_get(&net.url(1, 8404), "/balancers").await;
    let balancers: serde_json::Value = serde_json::from_str(&balancers).unwrap();
    let web = balancers
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "web")
        .unwrap();
    for backend in web["backends"].as_array().unwrap() {
        assert_eq!(backend["failures"], 0, "{web}");
        assert_eq!(backend["takes_new_traffic"], true, "{web}");
    }
    let (asked, failed) = (
        asked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    assert!(asked > 50, "only {asked} requests asked during the roll");
    assert_eq!(
        failed, 0,
        "{failed} of {asked} requests failed during the roll"
    );
}

/// `echo-canary` 1.0.0 rolled to 1.1.0 with the new binary's `roll`, every
/// node refusing calls from other configurations: while old and new run
/// side by side the roll's window lets their calls through, so none is
/// refused; afterwards all run the new configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roll_to_the_next_revision_lets_old_and_new_talk_under_refuse() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (
        e2e::deployment("echo-canary"),
        e2e::deployment("echo-canary-next"),
    );
    let script = restart_script(dir.path(), &old, &net, &dir.path().join("state"));
    let nodes = Nodes::start(dir.path(), &script, &["server", "client", "canary"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !nodes.log("client").contains("echo reply") {
        assert!(
            Instant::now() < deadline,
            "client:\n{}",
            nodes.log("client")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Each restart waits a second first: the old client polls every
    // 200 ms, and must get to call the new server before its own restart
    // (roll moves on as soon as a node is healthy, within milliseconds).
    let restart = format!(
        "sleep 1; sh {} {{node}} {}",
        script.display(),
        new.display()
    );
    let rolled = e2e::output(
        "echo-canary-next",
        &[
            "roll",
            "--restart",
            &restart,
            "--loopback-base",
            &net.base(),
            "--timeout",
            "30",
        ],
    );
    let report = String::from_utf8_lossy(&rolled.stdout);
    assert!(
        rolled.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&rolled.stderr)
    );
    assert!(report.contains("3 node(s) rolled"), "{report}");
    // the new server was called by the old client inside the window: served
    let logs = nodes.log("server") + &nodes.log("client");
    assert!(
        logs.contains("a caller runs another configuration"),
        "the revisions never met:\n{logs}"
    );
    assert!(!logs.contains("refused the call"), "{logs}");
    // afterwards every node runs 1.1.0, with the window closed
    for url in [net.url(1, 8080), net.url(3, 8091)] {
        let (status, body) = e2e::http_get(&url, "/health").await;
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(health["config"]["version"], "1.1.0+main", "{body}");
        assert_eq!(health["config"]["skew"]["rolling"], false, "{body}");
    }
    // and the client keeps being answered
    let replies = nodes.log("client").matches("echo reply").count();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(nodes.log("client").matches("echo reply").count() > replies);
}

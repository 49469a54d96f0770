//! Prometheus fixtures: Debian's `prometheus` started for a test (killed
//! when dropped), `promtool check metrics` on a `/metrics` text, and the
//! `/metrics` URLs a deployment serves, read from its plan.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Loopback;

/// A Prometheus server, killed when dropped.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    /// `http://address:port`.
    pub base: String,
}

impl Prometheus {
    /// Starts `prometheus` on `listen` with `config` and its data in
    /// `data` (plus `extra` flags), and waits until it says it is ready.
    pub async fn start(listen: &str, config: &Path, data: &Path, extra: &[&str]) -> Prometheus {
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={listen}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package; .ci/setup installs it)");
        let prometheus = Prometheus {
            child,
            base: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(listen).is_err()
            || crate::s3::raw(&format!("{}/-/ready", prometheus.base), "GET", &[])
                .await
                .0
                != 200
        {
            assert!(Instant::now() < deadline, "Prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prometheus
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Panics with promtool's complaint unless `promtool check metrics`
/// accepts `text` (what `url` served).
pub fn check_metrics(url: &str, text: &str) {
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/setup installs it)");
    std::io::Write::write_all(check.stdin.as_mut().expect("stdin"), text.as_bytes())
        .expect("promtool's input");
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics refuses {url}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `/metrics` URL of `deploy-<name>` on `net`: each listener its
/// plan says answers `/health` and `/metrics`.
pub fn metrics_urls(name: &str, net: &Loopback) -> Vec<String> {
    let out = crate::output(
        name,
        &["plan", "--format", "json", "--loopback-base", &net.base()],
    );
    assert!(
        out.status.success(),
        "plan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the plan's JSON");
    let address = |node: &str| {
        plan["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["name"] == node)
            .and_then(|n| n["address"].as_str())
            .unwrap_or_else(|| panic!("node {node} has no address in the plan"))
            .to_owned()
    };
    let mut urls = Vec::new();
    for service in plan["services"].as_array().expect("services") {
        let node = service["node"].as_str().expect("node");
        for listener in service["listens"].as_array().expect("listens") {
            if listener["health"] == true {
                urls.push(format!(
                    "http://{}:{}/metrics",
                    address(node),
                    listener["port"]
                ));
            }
        }
    }
    urls
}

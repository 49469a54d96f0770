//! etcd v3 servers for the tests: a chainfire deployment or
//! `chainfire-server` started and waited for, and Debian's etcd, the reference chainfire is compared with
//! side by side (one member on a loopback address, its data in a temporary
//! directory, killed when dropped).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `deploy-<name> up` on `net`, its state in a fresh directory, and
/// waits until each of its `members` (on `net.ip(1..=members)`, port 2379)
/// reports a leader; returns the members' client endpoints.
pub async fn deployment_up(
    name: &str,
    net: &crate::Loopback,
    members: u8,
) -> (crate::Running, tempfile::TempDir, Vec<String>) {
    let state = tempfile::tempdir().expect("a temporary directory");
    let (running, endpoints) = deployment_up_in(name, net, members, state.path()).await;
    (running, state, endpoints)
}

/// [`deployment_up`] with its state in `state` (a restored one, say).
pub async fn deployment_up_in(
    name: &str,
    net: &crate::Loopback,
    members: u8,
    state: &Path,
) -> (crate::Running, Vec<String>) {
    let running = crate::Running::up(name, net, state, &[], Duration::from_secs(30));
    let endpoints: Vec<String> = (1..=members).map(|i| net.addr(i, 2379)).collect();
    for endpoint in &endpoints {
        if let Err(problem) = leader(endpoint, Duration::from_secs(20)).await {
            panic!("{problem}; log:\n{}", running.log());
        }
    }
    (running, endpoints)
}

/// Waits up to `timeout` until the etcd v3 server at `endpoint` reports a
/// leader; the leader's id.
pub async fn leader(endpoint: &str, timeout: Duration) -> Result<u64, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut client) = etcd_client::Client::connect([endpoint], None).await
            && let Ok(status) = client.status().await
            && status.leader() != 0
        {
            return Ok(status.leader());
        }
        if Instant::now() >= deadline {
            return Err(format!("no leader at {endpoint} after {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs node `node` of deployment `name` on loopback block `base`
/// (`127.0.x`) in a process of its own (`run --node`), its state in
/// `state`.
pub fn run_node(name: &str, node: &str, base: &str, state: &Path) -> crate::Running {
    run_node_with_env(name, node, base, state, &[])
}

/// [`run_node`] with `env` set for the node's process (its secrets).
pub fn run_node_with_env(
    name: &str,
    node: &str,
    base: &str,
    state: &Path,
    env: &[(&str, &str)],
) -> crate::Running {
    crate::Running::start_node(name, &format!("{base}.0"), node, state, env)
}

/// The nodes of `deploy-chainfire-cluster`.
pub const MEMBERS: [&str; 3] = ["kv-1", "kv-2", "kv-3"];

/// `deploy-chainfire-cluster`'s three members as separate processes on
/// loopback block `base`, once each of them sees a leader; with their etcd
/// endpoints.
pub async fn start_cluster(base: &str, state: &Path) -> (Vec<Option<crate::Running>>, Vec<String>) {
    let endpoints: Vec<String> = (1..=3).map(|i| format!("{base}.{i}:2379")).collect();
    let nodes = MEMBERS
        .iter()
        .map(|n| Some(run_node("chainfire-cluster", n, base, state)))
        .collect();
    for e in &endpoints {
        if let Err(problem) = leader(e, Duration::from_secs(30)).await {
            panic!("{problem}");
        }
    }
    (nodes, endpoints)
}

/// A [`start_cluster`] cluster whose leader a test kills once, mid-run
/// (between the cases of a conformance suite, say).
#[derive(Debug)]
pub struct LeaderToKill {
    members: Vec<Option<crate::Running>>,
    leading: usize,
    /// The members' etcd endpoints.
    pub endpoints: Vec<String>,
}

impl LeaderToKill {
    /// Starts the cluster on loopback block `base` and finds its leader.
    pub async fn start(base: &str, state: &Path) -> LeaderToKill {
        let (members, endpoints) = start_cluster(base, state).await;
        let leading = leader_index(&endpoints).await;
        LeaderToKill {
            members,
            leading,
            endpoints,
        }
    }

    /// A client of every member (it moves on when one dies).
    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect(&self.endpoints, None)
            .await
            .expect("the cluster answers")
    }

    /// SIGKILLs the leader found at start and waits for it to die.
    pub fn kill_leader(&mut self) {
        let mut member = self.members[self.leading]
            .take()
            .expect("the leader is killed once");
        member.signal("KILL");
        member.wait(Duration::from_secs(10));
    }

    /// Whether [`kill_leader`](Self::kill_leader) ran.
    pub fn killed(&self) -> bool {
        self.members[self.leading].is_none()
    }
}

/// Which of `endpoints` belongs to the leader.
pub async fn leader_index(endpoints: &[String]) -> usize {
    let leader = leader(&endpoints[0], Duration::from_secs(5))
        .await
        .unwrap_or_else(|problem| panic!("{problem}"));
    for (i, e) in endpoints.iter().enumerate() {
        let mut client = etcd_client::Client::connect([e.as_str()], None)
            .await
            .expect("a member answers");
        let id = client
            .status()
            .await
            .expect("a member answers Status")
            .header()
            .map(|h| h.member_id());
        if id == Some(leader) {
            return i;
        }
    }
    panic!("the leader {leader:x} is none of {endpoints:?}");
}

/// Starts `chainfire-server` alone (member `cf-<host>`) with its client
/// URL on `net.ip(host):2379`, its peer URL on port 2380 and its data in
/// `dir`, and waits until it has elected itself.
pub async fn chainfire_server(net: &crate::Loopback, host: u8, dir: &Path) -> crate::Running {
    let running = start_chainfire_server(net, host, dir);
    if let Err(problem) = leader(&net.addr(host, 2379), Duration::from_secs(20)).await {
        panic!("{problem}; chainfire's log:\n{}", running.log());
    }
    running
}

/// [`chainfire_server`] without the wait.
pub fn start_chainfire_server(net: &crate::Loopback, host: u8, dir: &Path) -> crate::Running {
    crate::Running::start_server(
        "chainfire",
        &[
            "--component-id",
            &format!("cf-{host}"),
            "--set",
            &format!("standalone.server.client_addr={}", net.addr(host, 2379)),
            "--set",
            &format!("standalone.server.peer_addr={}", net.addr(host, 2380)),
            "--set",
            &format!(
                "standalone.storage.data_dir={}",
                dir.join("chainfire").display()
            ),
        ],
        &[],
        None,
    )
}

/// A running single-member etcd.
#[derive(Debug)]
pub struct Etcd {
    child: Child,
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Etcd {
    /// Starts `etcd` (`$ETCD_BIN`, else Debian's `/usr/bin/etcd`, which
    /// `.ci/setup` installs) with its client URL on `net.ip(host):2379` and
    /// its peer URL on port 2380, and waits until it has elected itself.
    pub async fn start(net: &crate::Loopback, host: u8) -> Etcd {
        let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "/usr/bin/etcd".into());
        assert!(
            Path::new(&bin).exists(),
            "etcd not found at {bin}: run .ci/setup (Debian's etcd-server) or set ETCD_BIN"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let client = net.url(host, 2379);
        let peer = net.url(host, 2380);
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("etcd's log file");
        let child = Command::new(&bin)
            .args(["--name", "reference", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("reference={peer}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} does not start: {e}"));
        let etcd = Etcd {
            child,
            dir,
            endpoint: net.addr(host, 2379),
        };
        if let Err(problem) = leader(etcd.endpoint(), Duration::from_secs(20)).await {
            panic!("{problem}; etcd's log:\n{}", etcd.log());
        }
        etcd
    }

    /// `ip:port` of its client URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

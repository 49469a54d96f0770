//! Helpers for end-to-end tests: build a deployment binary once, run it as a
//! child process, watch its log lines, signal it.

pub mod auth;
pub mod dns;
pub mod etcd;
pub mod fiberlb;
pub mod grpc;
pub mod http;
pub mod linearizability;
pub mod net;
pub mod netns;
pub mod prometheus;
pub mod s3;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The path of `deploy-<name>`, built once per test binary with cargo.
pub fn deployment(name: &str) -> PathBuf {
    let package = format!("deploy-{name}");
    binary(&package, &package)
}

/// The path of a component's standalone server, `<component>-server`
/// (`resource-manager-server` of package `resource-manager`); a second
/// service of a crate has a binary of its own name (`echo-client`, in
/// package `echo`).
pub fn server(component: &str) -> PathBuf {
    /// Second services' binaries, by package.
    const SECOND: [(&str, &str); 1] = [("echo-client", "echo")];
    match SECOND.iter().find(|(bin, _)| *bin == component) {
        Some((bin, package)) => binary(package, bin),
        None => binary(component, &format!("{component}-server")),
    }
}

/// A tool `.ci/setup` installs outside the clone (`s3s-e2e`,
/// `check-jsonschema`): under `$PHOTON_TOOLS/bin`, by default
/// `~/.cache/photoncloud/tools/bin`. Fails the test, naming the fix, when
/// it is missing.
pub fn installed_tool(name: &str) -> PathBuf {
    let tools = std::env::var("PHOTON_TOOLS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/photoncloud/tools",
            std::env::var("HOME").expect("HOME is set")
        )
    });
    let path = PathBuf::from(tools).join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run .ci/setup, which installs it",
        path.display()
    );
    path
}

/// Runs the operator tool `name` (a package whose binary has its name,
/// `photonctl`) with `args` to completion.
pub fn tool_output(name: &str, args: &[&str]) -> Output {
    Command::new(binary(name, name))
        .args(args)
        .env_remove("PHOTON_CHAINFIRE_ENDPOINTS")
        .output()
        .unwrap_or_else(|e| panic!("{name} does not run: {e}"))
}

/// The binary `bin` of `package`, built once per test binary with cargo.
fn binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == bin) {
        return path.clone();
    }
    let run = escargot::CargoBuild::new()
        .package(package)
        .bin(bin)
        .current_target()
        .run()
        .unwrap_or_else(|e| panic!("building {bin} failed: {e}"));
    let path = run.path().to_path_buf();
    built.push((bin.to_owned(), path.clone()));
    path
}

/// Runs `<component>-server <args>` to completion, with only `env` of the
/// `PHOTON_` variables set.
pub fn server_output(component: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(server(component));
    for (name, _) in std::env::vars() {
        if name.starts_with("PHOTON_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the server binary runs")
}

/// Runs `<component>-server <args>` to completion: its exit code and the
/// last line of its stderr (where a refusal says why).
pub fn last_words(component: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = server_output(component, args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code(),
        stderr.lines().last().unwrap_or_default().to_owned(),
    )
}

/// Runs a deployment command to completion.
pub fn output(name: &str, args: &[&str]) -> Output {
    output_with_env(name, args, &[])
}

/// Runs a deployment command to completion with extra environment variables.
pub fn output_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(deployment(name))
        .args(args)
        .env_remove("PHOTON_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the deployment binary runs")
}

/// `deploy-<name> export-config` for `service` on `node`, its addresses
/// from `loopback_base` and its state under `state`: the TOML it prints
/// (the test fails with its stderr if it fails).
pub fn export_config(
    name: &str,
    node: &str,
    service: &str,
    loopback_base: &str,
    state: &str,
) -> String {
    let out = output(
        name,
        &[
            "export-config",
            "--node",
            node,
            "--service",
            service,
            "--loopback-base",
            loopback_base,
            "--state-dir",
            state,
        ],
    );
    assert!(
        out.status.success(),
        "export-config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 TOML")
}

/// A running deployment process whose log (stderr) is collected line by line.
#[derive(Debug)]
pub struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    new_lines: Receiver<String>,
    started: Instant,
}

impl Running {
    /// Starts `deploy-<name> <args>`.
    pub fn start(name: &str, args: &[&str]) -> Running {
        Running::start_with_env(name, args, &[])
    }

    /// Starts `deploy-<name> <args>` with extra environment variables.
    pub fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        Running::start_in(name, args, env, None)
    }

    /// `deploy-<name> up` on `net` with its state under `state` and extra
    /// environment variables, once every service started (within
    /// `timeout`).
    pub fn up(
        name: &str,
        net: &Loopback,
        state: &std::path::Path,
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Running {
        let mut running = Running::start_with_env(
            name,
            &[
                "up",
                "--loopback-base",
                &net.base(),
                "--state-dir",
                state.to_str().expect("a UTF-8 path"),
            ],
            env,
        );
        running.wait_for("all services started", timeout);
        running
    }

    /// `deploy-<name> run --node <node>` on `net` (one node in a process
    /// of its own, as on its own machine) with its state under `state` and
    /// extra environment variables, once its services started (within
    /// `timeout`).
    pub fn run_node(
        name: &str,
        net: &Loopback,
        node: &str,
        state: &std::path::Path,
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Running {
        let mut running = Running::start_node(name, &net.base(), node, state, env);
        running.wait_for("all services started", timeout);
        running
    }

    /// Starts `deploy-<name> run --node <node>` on loopback block `base`
    /// (`127.0.x.0`), without waiting.
    pub fn start_node(
        name: &str,
        base: &str,
        node: &str,
        state: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Running {
        Running::start_with_env(
            name,
            &[
                "run",
                "--node",
                node,
                "--loopback-base",
                base,
                "--state-dir",
                state.to_str().expect("a UTF-8 path"),
            ],
            env,
        )
    }

    /// Starts `deploy-<name> <args>` with extra environment variables, in
    /// `dir` if given (for deployments that read files relative to it).
    pub fn start_in(
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
        dir: Option<&std::path::Path>,
    ) -> Running {
        Running::spawn(deployment(name), args, env, dir)
    }

    /// Starts `<component>-server <args>` with only `env` of the `PHOTON_`
    /// variables set, in `dir` if given.
    pub fn start_server(
        component: &str,
        args: &[&str],
        env: &[(&str, &str)],
        dir: Option<&std::path::Path>,
    ) -> Running {
        Running::spawn(server(component), args, env, dir)
    }

    /// Starts `program args` (a path, or a name found on `PATH`) with
    /// `env` added.
    pub fn start_program(
        program: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Running {
        Running::spawn(program.to_owned(), args, env, None)
    }

    /// Starts the operator tool `name` (`photonctl`) with `args`, for a
    /// test that interrupts it.
    pub fn start_tool(name: &str, args: &[&str]) -> Running {
        Running::spawn(binary(name, name), args, &[], None)
    }

    fn spawn(
        program: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
        dir: Option<&std::path::Path>,
    ) -> Running {
        let mut command = Command::new(program);
        for (name, _) in std::env::vars() {
            if name.starts_with("PHOTON_") {
                command.env_remove(name);
            }
        }
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command
            .args(args)
            .env_remove("PHOTON_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the deployment binary starts");
        let stderr = child.stderr.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            new_lines: rx,
            started: Instant::now(),
        }
    }

    /// Waits for a log line containing `needle`; panics with the log so far on timeout.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.new_lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => panic!(
                    "no log line containing {needle:?} within {timeout:?}; log:\n{}",
                    self.log()
                ),
            }
        }
    }

    /// Sends a signal (`INT`, `TERM`) with the system's `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// SIGKILLs the process (a machine losing power) and waits until it
    /// is gone.
    pub fn kill(&mut self) {
        self.signal("KILL");
        self.wait(Duration::from_secs(10));
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for exit (killing it after `timeout`); returns the status and how
    /// long the process ran in all.
    pub fn wait(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread drain the pipe.
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.started.elapsed());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "process still running after {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every log line so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Log lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's memory from `/proc/<pid>/status`, in KiB: `VmRSS` (now)
/// or `VmHWM` (its peak so far).
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    photon_runtime::process::memory_kib(pid, field)
        .unwrap_or_else(|| panic!("no {field} in kB in /proc/{pid}/status"))
}

/// A process's peak resident memory so far, in MiB.
pub fn peak_rss_mib(pid: u32) -> u64 {
    memory_kib(pid, "VmHWM") / 1024
}

/// `GET <base><path>` (`http://127.0.0.1:8053`, `/health`): (status,
/// body as text).
pub async fn http_get(base: &str, path: &str) -> (u16, String) {
    let (status, body) = s3::raw(&format!("{base}{path}"), "GET", &[]).await;
    (
        status,
        String::from_utf8(body).expect("the server answers text"),
    )
}

/// `/health` at `base` as JSON, once `wanted(status, health)` holds;
/// fails the test, with `running`'s log, if it does not within 20 s.
pub async fn health_when(
    base: &str,
    running: &Running,
    wanted: impl Fn(u16, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http_get(base, "/health").await;
        let health: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        if wanted(status, &health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "/health stayed {status}: {body}; log:\n{}",
            running.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A loopback block, `127.0.N.0/24`, that this test holds alone while the
/// value lives: tests running at the same time (threads of one binary, or
/// other test binaries) never get the same one, so no two of them bind the
/// same address. Held by an advisory lock on a file per block, which the
/// system releases when the process ends however it ends.
///
/// Displays as `127.0.N`, so `format!("{net}.1:2379")` is node 1's client
/// address and [`Loopback::base`] is what `--loopback-base` takes.
#[derive(Debug)]
pub struct Loopback {
    third: u8,
    _held: std::fs::File,
}

/// The blocks handed out: clear of `127.0.0.0/24` (the usual loopback
/// address) and of `127.0.1.0/24` (where `up` puts nodes by default).
const BLOCKS: std::ops::RangeInclusive<u8> = 20..=250;

impl Loopback {
    /// The first free block.
    pub fn block() -> Loopback {
        let dir = std::env::temp_dir().join("photoncloud-test-loopback");
        std::fs::create_dir_all(&dir).expect("the lock directory");
        for third in BLOCKS {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(format!("{third}.lock")))
                .expect("a lock file");
            if file.try_lock().is_ok() {
                return Loopback { third, _held: file };
            }
        }
        panic!("every loopback block of 127.0.{BLOCKS:?}.0 is held by a running test");
    }

    /// `127.0.N.0`: the block, as `--loopback-base` takes it (node `i` of
    /// a deployment is then `127.0.N.<i+1>`).
    pub fn base(&self) -> String {
        format!("{self}.0")
    }

    /// `127.0.N.host`.
    pub fn ip(&self, host: u8) -> String {
        format!("{self}.{host}")
    }

    /// `127.0.N.host:port`.
    pub fn addr(&self, host: u8, port: u16) -> String {
        format!("{self}.{host}:{port}")
    }

    /// `http://127.0.N.host:port`.
    pub fn url(&self, host: u8, port: u16) -> String {
        format!("http://{self}.{host}:{port}")
    }
}

impl std::fmt::Display for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "127.0.{}", self.third)
    }
}

#[cfg(test)]
mod tests {
    use super::Loopback;

    #[test]
    fn blocks_held_at_once_are_different() {
        let held: Vec<Loopback> = (0..3).map(|_| Loopback::block()).collect();
        let mut names: Vec<String> = held.iter().map(ToString::to_string).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(held[0].base(), format!("{}.0", held[0]));
        assert_eq!(held[0].addr(1, 2379), format!("{}.1:2379", held[0]));
    }
}

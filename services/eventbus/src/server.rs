//! The event bus as a service of a deployment: Debian's `nats-server`,
//! run as a child with a configuration written from the spec, its
//! JetStream store in the service's state directory, its streams kept as
//! the spec declares them, and `/health` and `/metrics` on the admin port
//! read from its monitoring endpoint (which listens on loopback only).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use photon_dsl::Node;
use photon_runtime::admin::{Checks, LastLook, Metrics, Report};
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

use crate::spec::{AdminListener, ClientListener, EventBus};

/// How long nats-server gets to come up (JetStream recovering its
/// streams included).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long it gets to stop after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// How often its monitoring is read for `/health` and `/metrics`.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long after nats-server exits it is started again, at first and
/// at most (doubling while it keeps failing to start).
const RESTART_FIRST: Duration = Duration::from_secs(1);
const RESTART_MOST: Duration = Duration::from_secs(30);
/// How many of its last log lines an error quotes.
const TAIL_LINES: usize = 12;
/// Where the executable is looked for when `PATH` does not have it
/// (Debian installs it in `/usr/sbin`).
const SBIN: [&str; 2] = ["/usr/sbin", "/usr/local/sbin"];
/// util-linux's tool that sets the parent-death signal before it runs
/// nats-server (present on every Debian: util-linux is essential).
const SETPRIV: &str = "setpriv";

/// Why the bus could not run.
#[derive(Debug, thiserror::Error)]
pub enum BusServerError {
    /// No executable.
    #[error(
        "nats-server not found in PATH or /usr/sbin: install Debian's `nats-server` package, or set PHOTON_NATS_SERVER to its path"
    )]
    NotInstalled,
    /// `PHOTON_NATS_SERVER` names no file.
    #[error(
        "PHOTON_NATS_SERVER is {0}, which is not a file: set it to nats-server's path, or unset it to use the installed one"
    )]
    NotAt(PathBuf),
    /// Could not start it.
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// The executable.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It exited.
    #[error("nats-server exited ({status}); its last lines:\n{tail}")]
    Exited {
        /// How.
        status: std::process::ExitStatus,
        /// What it said last.
        tail: String,
    },
    /// It did not become ready.
    #[error(
        "nats-server did not report healthy within {within:?} ({last}); its last lines:\n{tail}"
    )]
    NotReady {
        /// How long it had.
        within: Duration,
        /// The last probe's answer.
        last: String,
        /// What it said last.
        tail: String,
    },
    /// A path nats-server's configuration cannot quote.
    #[error(
        "the state directory {0} has a character nats-server's configuration cannot hold (`\"`, `\\` or a line break)"
    )]
    Path(PathBuf),
}

/// The executable: `PHOTON_NATS_SERVER`, else `nats-server` on `PATH` or
/// in `/usr/sbin`.
pub fn executable() -> Result<PathBuf, BusServerError> {
    if let Some(path) = std::env::var_os("PHOTON_NATS_SERVER") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(BusServerError::NotAt(path))
        };
    }
    which("nats-server").ok_or(BusServerError::NotInstalled)
}

/// `name` on `PATH` or in the `sbin` directories.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// nats-server's configuration for `spec`, listening on `client`, its
/// monitoring on `monitor`, JetStream's files under `store`.
pub fn nats_config<N: Node>(
    spec: &EventBus<N>,
    name: &str,
    client: SocketAddr,
    monitor: SocketAddr,
    store: &Path,
) -> Result<String, BusServerError> {
    let store_text = store.to_string_lossy();
    if store_text.contains(['"', '\\', '\n', '\r']) {
        return Err(BusServerError::Path(store.to_owned()));
    }
    let limits = spec.limits;
    Ok(format!(
        "# Written by PhotonCloud from the deployment's eventbus spec; rewritten at every start.\n\
         server_name: \"{name}\"\n\
         listen: \"{client}\"\n\
         http: \"{monitor}\"\n\
         max_payload: {payload}\n\
         max_connections: {connections}\n\
         # the runtime's log adds the time\n\
         logtime: false\n\
         jetstream {{\n  store_dir: \"{store_text}\"\n  max_file_store: {file}\n  max_memory_store: {memory}\n}}\n",
        payload = u64::from(limits.max_payload_kib) * 1024,
        connections = limits.max_connections,
        file = u64::from(limits.store_mib) * 1024 * 1024,
        memory = 64 * 1024 * 1024,
    ))
}

/// The last lines nats-server wrote, for errors.
#[derive(Debug, Clone, Default)]
struct Tail(Arc<Mutex<std::collections::VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Forwards nats-server's log lines to ours at their level, keeping the
/// last ones.
async fn forward_log(stream: impl tokio::io::AsyncRead + Unpin, tail: Tail) {
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        // `[pid] [LVL] message` (without times: the config says `logtime: false`)
        let text = match line.split_once("] ") {
            Some((pid, rest)) if pid.starts_with('[') => rest,
            _ => line.as_str(),
        };
        if let Some(error) = text
            .strip_prefix("[ERR] ")
            .or_else(|| text.strip_prefix("[FTL] "))
        {
            tracing::error!(target: "nats-server", "{error}");
        } else if let Some(warning) = text.strip_prefix("[WRN] ") {
            tracing::warn!(target: "nats-server", "{warning}");
        } else if let Some(detail) = text
            .strip_prefix("[DBG] ")
            .or_else(|| text.strip_prefix("[TRC] "))
        {
            tracing::debug!(target: "nats-server", "{detail}");
        } else {
            let info = text.strip_prefix("[INF] ").unwrap_or(text);
            tracing::info!(target: "nats-server", "{info}");
        }
        tail.push(line);
    }
}

/// A free port on loopback for nats-server's monitoring (it binds it
/// itself, a moment later).
fn free_loopback_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// How to start nats-server, and what it said last.
struct Nats {
    path: PathBuf,
    config: PathBuf,
    monitor: SocketAddr,
    tail: Tail,
}

impl Nats {
    /// Starts it and waits until it reports healthy.
    async fn start(&self) -> Result<Child, BusServerError> {
        // Through util-linux's `setpriv --pdeathsig`: nats-server gets
        // SIGTERM when the runtime dies without stopping it (SIGKILL, the
        // OOM killer), instead of living on, holding the port and the
        // JetStream store the next start needs.
        let mut command = match which(SETPRIV) {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "TERM", "--"]).arg(&self.path);
                command
            }
            None => Command::new(&self.path),
        };
        let mut child = command
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches the
            // runtime alone, which stops the bus after the services that
            // use it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BusServerError::Spawn {
                path: self.path.clone(),
                source,
            })?;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_log(out, self.tail.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward_log(err, self.tail.clone()));
        }
        match ready(&mut child, self.monitor, &self.tail).await {
            Ok(()) => Ok(child),
            Err(e) => {
                let _ = child.kill().await;
                Err(e)
            }
        }
    }
}

/// What nats-server's monitoring said at the last look.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Its version.
    pub version: String,
    /// Clients connected now.
    pub connections: u64,
    /// Counters since it started.
    pub in_msgs: u64,
    /// Messages sent to clients.
    pub out_msgs: u64,
    /// Bytes received.
    pub in_bytes: u64,
    /// Bytes sent.
    pub out_bytes: u64,
    /// Clients that fell behind and were cut off.
    pub slow_consumers: u64,
    /// Its resident memory, bytes.
    pub memory: u64,
    /// Each stream: name, messages, bytes, consumers.
    pub streams: Vec<(String, u64, u64, u64)>,
}

fn number(value: &serde_json::Value, key: &str) -> u64 {
    value
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// Reads `/varz` and `/jsz` from the monitoring port.
async fn look(monitor: SocketAddr) -> Result<Seen, String> {
    let timeout = Duration::from_secs(2);
    let health = photon_runtime::http::get(monitor, "/healthz", timeout)
        .await
        .map_err(|e| format!("nats-server's monitoring does not answer: {e}"))?;
    if !health.status.is_success() {
        return Err(format!(
            "nats-server reports unhealthy: {}",
            health.body.trim()
        ));
    }
    let json = |body: &str, what: &str| {
        serde_json::from_str::<serde_json::Value>(body).map_err(|e| format!("{what}: {e}"))
    };
    let varz = photon_runtime::http::get(monitor, "/varz", timeout)
        .await
        .map_err(|e| e.to_string())?;
    let varz = json(&varz.body, "/varz")?;
    let jsz = photon_runtime::http::get(monitor, "/jsz?accounts=true&streams=true", timeout)
        .await
        .map_err(|e| e.to_string())?;
    let jsz = json(&jsz.body, "/jsz")?;
    let mut streams = Vec::new();
    for account in jsz["account_details"].as_array().into_iter().flatten() {
        for stream in account["stream_detail"].as_array().into_iter().flatten() {
            let state = &stream["state"];
            streams.push((
                stream["name"].as_str().unwrap_or_default().to_owned(),
                number(state, "messages"),
                number(state, "bytes"),
                number(state, "consumer_count"),
            ));
        }
    }
    streams.sort();
    Ok(Seen {
        version: varz["version"].as_str().unwrap_or_default().to_owned(),
        connections: number(&varz, "connections"),
        in_msgs: number(&varz, "in_msgs"),
        out_msgs: number(&varz, "out_msgs"),
        in_bytes: number(&varz, "in_bytes"),
        out_bytes: number(&varz, "out_bytes"),
        slow_consumers: number(&varz, "slow_consumers"),
        memory: number(&varz, "mem"),
        streams,
    })
}

/// `/health` and `/metrics` from the last look.
struct Reported {
    seen: Arc<LastLook<Seen>>,
    /// Times nats-server exited and was started again.
    restarts: Arc<AtomicU64>,
}

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        let seen = self.seen.last();
        checks.check(
            "nats",
            seen.as_ref().map(|s| {
                format!(
                    "ok: nats-server {}, {} connections",
                    s.version, s.connections
                )
            }),
        );
        checks.check(
            "jetstream",
            seen.map(|s| {
                let messages: u64 = s.streams.iter().map(|(_, m, _, _)| m).sum();
                format!("ok: {} streams, {messages} messages kept", s.streams.len())
            }),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        out.counter(
            "eventbus_server_restarts_total",
            "Times nats-server exited and was started again.",
        )
        .value(self.restarts.load(Ordering::Relaxed));
        let Ok(seen) = self.seen.last() else {
            return;
        };
        out.gauge("eventbus_connections", "Clients connected now.")
            .value(seen.connections);
        out.counter(
            "eventbus_in_messages_total",
            "Messages received from clients.",
        )
        .value(seen.in_msgs);
        out.counter("eventbus_out_messages_total", "Messages sent to clients.")
            .value(seen.out_msgs);
        out.counter("eventbus_in_bytes_total", "Bytes received from clients.")
            .value(seen.in_bytes);
        out.counter("eventbus_out_bytes_total", "Bytes sent to clients.")
            .value(seen.out_bytes);
        out.counter(
            "eventbus_slow_consumers_total",
            "Clients cut off because they fell behind.",
        )
        .value(seen.slow_consumers);
        out.gauge(
            "eventbus_server_memory_bytes",
            "nats-server's resident memory.",
        )
        .value(seen.memory);
        let mut messages = out.gauge("eventbus_stream_messages", "Messages a stream keeps.");
        for (name, count, _, _) in &seen.streams {
            messages.labelled(&[("stream", name)], *count);
        }
        let mut bytes = out.gauge("eventbus_stream_bytes", "Bytes a stream keeps.");
        for (name, _, size, _) in &seen.streams {
            bytes.labelled(&[("stream", name)], *size);
        }
        let mut consumers = out.gauge(
            "eventbus_stream_consumers",
            "Durable subscribers of a stream.",
        );
        for (name, _, _, count) in &seen.streams {
            consumers.labelled(&[("stream", name)], *count);
        }
    }
}

/// Waits until nats-server's monitoring reports healthy, or it exits.
async fn ready(child: &mut Child, monitor: SocketAddr, tail: &Tail) -> Result<(), BusServerError> {
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    let mut last;
    loop {
        if let Some(status) = child.try_wait().ok().flatten() {
            // Let the log task take its last lines.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Err(BusServerError::Exited {
                status,
                tail: tail.text(),
            });
        }
        match photon_runtime::http::get(monitor, "/healthz", Duration::from_secs(1)).await {
            Ok(answer) if answer.status.is_success() => return Ok(()),
            Ok(answer) => last = format!("{}: {}", answer.status, answer.body.trim()),
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(BusServerError::NotReady {
                within: READY_WITHIN,
                last,
                tail: tail.text(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks nats-server to stop (SIGTERM: it closes clients and flushes
/// JetStream), killing it if it has not within [`STOP_WITHIN`].
async fn stop(mut child: Child) {
    if let Some(pid) = child
        .id()
        .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    match tokio::time::timeout(STOP_WITHIN, child.wait()).await {
        Ok(Ok(status)) => tracing::info!(%status, "nats-server stopped"),
        Ok(Err(e)) => tracing::warn!(error = %e, "waiting for nats-server"),
        Err(_) => {
            tracing::warn!(within = ?STOP_WITHIN, "nats-server did not stop; killing it");
            let _ = child.kill().await;
        }
    }
}

impl<N: Node> Service for EventBus<N> {
    fn system_packages(&self) -> &'static [&'static str] {
        &["nats-server"]
    }

    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc = crate::standalone::export(self, ctx)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn noisy_log_targets(&self) -> &'static [&'static str] {
        // NATS's client says "connected" at info for each connection
        &["async_nats"]
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let path = executable()?;
            // nats-server binds the client port itself: the runtime's
            // socket only proved it free.
            let client = ctx.tcp(ClientListener, &spec)?.local_addr()?;
            let admin_listener = ctx.tcp(AdminListener, &spec)?;
            let monitor = free_loopback_port()?;
            std::fs::create_dir_all(&ctx.state_dir)?;
            // nats-server keeps JetStream's files in `<store_dir>/jetstream`
            let store = ctx.state_dir.clone();
            let name = format!("{}-{}", ctx.cluster, ctx.instance).replace(' ', "_");
            let config = nats_config(&spec, &name, client, monitor, &store)?;
            let config_path = ctx.state_dir.join("nats-server.conf");
            // whole, then renamed: nats-server never reads half of it
            let partial = config_path.with_extension("partial");
            std::fs::write(&partial, config)?;
            std::fs::rename(&partial, &config_path)?;
            let nats = Nats {
                path,
                config: config_path,
                monitor,
                tail: Tail::default(),
            };
            let mut child = nats.start().await?;
            let bus = photon_bus::Bus::connect(
                &client.to_string(),
                &format!("eventbus-{}", ctx.instance),
            )
            .await?;
            for stream in spec.streams {
                bus.keep(stream).await?;
            }
            drop(bus);
            tracing::info!(
                nats = %client,
                admin = %admin_listener.local_addr()?,
                monitoring = %monitor,
                streams = spec.streams.len(),
                store = %store.display(),
                "eventbus listening (nats-server, JetStream)"
            );
            let restarts = Arc::new(AtomicU64::new(0));
            let reported = Reported {
                seen: LastLook::every(PROBE_EVERY, ctx.shutdown.clone(), move || look(monitor))
                    .await,
                restarts: restarts.clone(),
            };
            let admin = Arc::new(ctx.admin(env!("CARGO_PKG_VERSION"), reported));
            let running: Running = Box::pin(async move {
                let shutdown = ctx.shutdown.clone();
                let serving =
                    photon_runtime::http::serve_admin(admin_listener, shutdown.clone(), admin);
                tokio::pin!(serving);
                let mut backoff = RESTART_FIRST;
                // Whether the admin listener has finished (only after
                // shutdown): a finished future is not polled again.
                let mut served = false;
                loop {
                    // The admin listener serves until shutdown; nats-server
                    // exiting before it is restarted, as systemd would.
                    tokio::select! {
                        status = child.wait() => {
                            // Let the log task take its last lines.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            tracing::error!(
                                status = %status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                                restart_in = ?backoff,
                                "nats-server exited; its last lines:\n{}",
                                nats.tail.text()
                            );
                            restarts.fetch_add(1, Ordering::Relaxed);
                            tokio::select! {
                                () = shutdown.cancelled() => break,
                                () = tokio::time::sleep(backoff) => {}
                            }
                            match nats.start().await {
                                Ok(again) => {
                                    tracing::info!("nats-server restarted; JetStream recovered its streams");
                                    child = again;
                                    backoff = RESTART_FIRST;
                                }
                                Err(e) => {
                                    tracing::error!(error = %e, "nats-server did not restart");
                                    backoff = (backoff * 2).min(RESTART_MOST);
                                    // `child` has exited: the next wait
                                    // returns at once and retries.
                                }
                            }
                        }
                        () = shutdown.cancelled() => {
                            stop(child).await;
                            break;
                        }
                        () = &mut serving, if !served => served = true,
                    }
                }
                if !served {
                    serving.await;
                }
                tracing::info!("eventbus stopped");
                Ok(())
            });
            Ok(running)
        })
    }
}

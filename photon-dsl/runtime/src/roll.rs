//! `roll --restart CMD`: restarts a running deployment's nodes one at a
//! time, in dependency order, without dropping a request. PhotonCloud
//! does not own the processes (systemd, Kubernetes or a person does), so
//! the restart itself is the operator's command, run once per node with
//! `{node}` and `{deployment}` replaced (`ssh {node} systemctl restart
//! photoncloud-{deployment}-{node}`). Around it, for each node:
//!
//! 1. every load balancer stops sending the node new traffic and waits for
//!    what is in flight ([`Service::roll_traffic`]);
//! 2. every node opens a window in which calls between configurations are
//!    served, even under `--config-skew refuse` (the old and the new run
//!    side by side for a while);
//! 3. the command runs;
//! 4. the node's every `/health` answers healthy and names this binary's
//!    configuration;
//! 5. the balancers send it traffic again, and wait until it takes some.
//!
//! The windows close when the roll ends, or fail.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use photon_dsl::{NodeName, Resolver, Topology};

use crate::{Service, ServiceError};

/// What `roll` is told.
#[derive(Debug, Clone)]
pub struct RollOptions {
    /// The restart command, with `{node}` and `{deployment}` to replace.
    pub restart: String,
    /// Only these nodes (all when empty), still in dependency order.
    pub only: Vec<String>,
    /// How long a node may take to come back healthy, and a balancer to drain.
    pub timeout: Duration,
}

/// The nodes in the order their services start (a node first appears
/// where its first service starts).
fn node_order(topology: &Topology<dyn Service>) -> Vec<NodeName> {
    let mut order = Vec::new();
    if let Ok(start) = topology.start_order() {
        for i in start {
            let node = topology.services()[i].decl.node();
            if !order.contains(&node) {
                order.push(node);
            }
        }
    }
    for &node in topology.nodes() {
        if !order.contains(&node) {
            order.push(node);
        }
    }
    order
}

/// Opens (or, with 0, closes) the window on every node; a node that does
/// not answer is named, not fatal: it is the one restarting, or it judges
/// no caller.
async fn windows(topology: &Topology<dyn Service>, resolver: &Resolver, seconds: u64) {
    for (label, addr) in crate::service::health_listeners(topology, resolver, None).await {
        let path = format!("{}?seconds={seconds}", crate::admin::ROLL_PATH);
        let outcome = match addr {
            Ok(addr) => {
                crate::http::request(addr, hyper::Method::POST, &path, Duration::from_secs(2))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|a| {
                        if a.status.is_success() {
                            Ok(())
                        } else {
                            Err(format!("{}: {}", a.status, a.body.trim()))
                        }
                    })
            }
            Err(e) => Err(e),
        };
        if let Err(why) = outcome {
            tracing::warn!(service = %label, %why, "could not set its roll window");
        }
    }
}

/// Waits until every `/health` of `node` answers 200 and names
/// `fingerprint`.
async fn back(
    topology: &Topology<dyn Service>,
    resolver: &Resolver,
    node: NodeName,
    fingerprint: &str,
    timeout: Duration,
) -> Result<(), ServiceError> {
    let deadline = Instant::now() + timeout;
    for (label, addr) in crate::service::health_listeners(topology, resolver, Some(node)).await {
        let addr = addr?;
        loop {
            let last = match crate::http::get(addr, "/health", Duration::from_secs(2)).await {
                Ok(answer) => {
                    let config: serde_json::Value =
                        serde_json::from_str(&answer.body).unwrap_or_default();
                    let runs = config["config"]["fingerprint"].as_str().unwrap_or("");
                    if answer.status.is_success() && runs == fingerprint {
                        break;
                    }
                    if runs != fingerprint {
                        format!(
                            "it runs configuration {runs:.16}, not this binary's {fingerprint:.16}"
                        )
                    } else {
                        format!("/health answered {}", answer.status)
                    }
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!("{label} not back within {timeout:?}: {last}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Asks every service to drain (or restore) `node`'s traffic.
async fn traffic(
    topology: &Topology<dyn Service>,
    resolver: &Resolver,
    node: NodeName,
    drain: bool,
    timeout: Duration,
) -> Result<usize, ServiceError> {
    let mut changed = 0;
    for placed in topology.services() {
        changed += placed
            .spec
            .roll_traffic(resolver, node, drain, timeout)
            .await?;
    }
    Ok(changed)
}

/// Runs the restart command for `node`.
async fn restart(
    command: &str,
    topology: &Topology<dyn Service>,
    node: NodeName,
) -> Result<(), ServiceError> {
    let command = command
        .replace("{node}", node.as_str())
        .replace("{deployment}", topology.name().as_str());
    let shown = command.clone();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .status()
    })
    .await
    .map_err(|e| format!("`{shown}`: {e}"))?
    .map_err(|e| format!("`{shown}` could not run: {e}"))?;
    let command = shown;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{command}` failed ({status})").into())
    }
}

#[allow(clippy::print_stdout)] // the roll's progress is its report
fn say(line: &str) {
    println!("{line}");
}

/// The roll, node by node; stops at the first node that does not come
/// back (the others are left as they are, the window closed).
pub async fn roll(
    topology: &Topology<dyn Service>,
    resolver: &Resolver,
    options: &RollOptions,
) -> Result<usize, ServiceError> {
    let fingerprint = topology.fingerprint().full_hex();
    let nodes: Vec<NodeName> = node_order(topology)
        .into_iter()
        .filter(|n| options.only.is_empty() || options.only.iter().any(|o| o == n.as_str()))
        .collect();
    // Each node gets the whole timeout: the window covers them all.
    let window = options
        .timeout
        .as_secs()
        .saturating_mul(nodes.len() as u64 + 1);
    windows(topology, resolver, window.max(1)).await;
    let rolled = async {
        for (i, &node) in nodes.iter().enumerate() {
            let started = Instant::now();
            let drained = traffic(topology, resolver, node, true, options.timeout).await?;
            let restarted = async {
                restart(&options.restart, topology, node).await?;
                back(topology, resolver, node, &fingerprint, options.timeout).await?;
                // the restarted node starts with its window closed
                windows(topology, resolver, window.max(1)).await;
                Ok::<_, ServiceError>(())
            }
            .await;
            // traffic back either way: if the node is not healthy, the
            // balancers' own checks keep it out
            let restored = traffic(topology, resolver, node, false, options.timeout).await;
            restarted?;
            restored?;
            say(&format!(
                "rolled {node} ({} of {}) in {:.1} s: drained from {drained} balancer backend(s), back healthy on this configuration",
                i + 1,
                nodes.len(),
                started.elapsed().as_secs_f64()
            ));
        }
        Ok::<_, ServiceError>(nodes.len())
    }
    .await;
    windows(topology, resolver, 0).await;
    rolled
}

/// `roll` as a command: exit 0 when every node came back, 1 otherwise.
pub fn main(
    topology: &Topology<dyn Service>,
    resolver: &Resolver,
    options: &RollOptions,
) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(roll(topology, resolver, options)) {
        Ok(n) => {
            say(&format!("{n} node(s) rolled"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: the roll stopped: {}", crate::error_chain(&*e));
            ExitCode::from(1)
        }
    }
}

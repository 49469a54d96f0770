//! The deployment binary's command line, the same for every deployment.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use photon_dsl::{AddressPlan, DEFAULT_LOOPBACK_BASE, NodeName, Resolver, Topology};

use crate::supervisor::{self, RunOptions, error_chain};
use crate::{ProbeTarget, Service};

/// Facts about the binary itself, filled in by `deployment!`.
#[derive(Debug, Clone, Copy)]
pub struct BinaryInfo {
    /// The deployment crate's package name.
    pub package: &'static str,
    /// The deployment crate's version.
    pub version: &'static str,
}

fn command(info: BinaryInfo, topology: &Topology<dyn Service>) -> Command {
    let nodes: Vec<&'static str> = topology.nodes().iter().map(|n| n.as_str()).collect();
    let version = format!(
        "{} (config {}, fingerprint {})",
        info.version,
        topology.version(),
        topology.fingerprint()
    );
    let loopback = Arg::new("loopback-base")
        .long("loopback-base")
        .value_name("IPV4")
        .value_parser(value_parser!(Ipv4Addr))
        .default_value(DEFAULT_LOOPBACK_BASE.to_string())
        .help("Loopback block for local runs: node i gets base + i + 1");
    Command::new(info.package)
        .version(version)
        .about(format!(
            "Deployment `{}`: every node of it runs this one binary.",
            topology.name()
        ))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("log")
                .long("log")
                .global(true)
                .value_name("FILTER")
                .help("Log filter (default: $PHOTON_LOG, else info)"),
        )
        .subcommand(
            Command::new("plan")
                .about("Nodes, services, ports, dependencies, version and fingerprint")
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_parser(["table", "json", "json-schema"])
                        .default_value("table")
                        .help("json: the plan as data (its shape: json-schema, the versioned JSON Schema it follows)"),
                )
                .arg(
                    Arg::new("diff")
                        .long("diff")
                        .value_name("OTHER")
                        .value_parser(value_parser!(std::path::PathBuf))
                        .conflicts_with("format")
                        .help("What changes when this binary replaces OTHER: another deployment binary, or a plan saved with `plan --format json`. Exit code 0: no change; 2: changes; 1: OTHER could not be read"),
                )
                .arg(loopback.clone()),
        )
        .subcommand(
            Command::new("graph")
                .about("The topology as a diagram")
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_parser(["mermaid", "dot"])
                        .default_value("mermaid"),
                ),
        )
        .subcommand(
            Command::new("up")
                .about("Run every node in this process, each on its own loopback address")
                .arg(loopback.clone())
                .arg(timeout_arg())
                .arg(state_dir_arg())
                .arg(skew_arg())
                .arg(
                    Arg::new("local-secrets")
                        .long("local-secrets")
                        .action(ArgAction::SetTrue)
                        .help("Make a random value, kept under the state directory, for each secret read from an environment variable that is not set: for trying a deployment on this machine only"),
                ),
        )
        .subcommand(
            Command::new("run")
                .about("Run this machine's node")
                .arg(node_arg(&nodes))
                .arg(loopback.clone())
                .arg(host_names_arg())
                .arg(timeout_arg())
                .arg(state_dir_arg())
                .arg(skew_arg()),
        )
        .subcommand(
            Command::new("export-config")
                .about("Print one service's configuration as the standalone TOML its <component>-server reads")
                .arg(node_arg(&nodes))
                .arg(service_arg())
                .arg(loopback.clone())
                .arg(state_dir_arg()),
        )
        .subcommand(
            Command::new("export")
                .about("Write what an orchestrator needs to run every node of this deployment, each with this binary's `run --node <node> --host-names`")
                .arg(
                    Arg::new("format")
                        .long("format")
                        .required(true)
                        .value_parser(["compose", "systemd", "kubernetes", "nomad"])
                        .help("compose: compose.yaml and a Dockerfile; systemd: a unit per node; kubernetes: a ConfigMap, a headless Service and a StatefulSet per node, a Dockerfile; nomad: a job (JSON) with a group per node, a Dockerfile"),
                )
                .arg(
                    Arg::new("out")
                        .long("out")
                        .required(true)
                        .value_name("DIR")
                        .value_parser(value_parser!(std::path::PathBuf)),
                )
                .arg(
                    Arg::new("image")
                        .long("image")
                        .value_name("IMAGE")
                        .help("The container image with this binary [default: photoncloud/<binary>:<config version>]"),
                )
                .arg(
                    Arg::new("binary-path")
                        .long("binary-path")
                        .value_name("PATH")
                        .help("Where this binary is on each host (systemd) [default: /usr/local/bin/<binary>]"),
                )
                .arg(
                    Arg::new("domain")
                        .long("domain")
                        .value_name("DOMAIN")
                        .value_parser(|text: &str| {
                            photon_dsl::HostName::parse(text)
                                .map(|_| text.to_owned())
                                .map_err(|e| e.to_string())
                        })
                        .help("Appended to node names to reach them (`kv-1.DOMAIN`) [default: none; service.consul for nomad]"),
                ),
        )
        .subcommand(
            Command::new("roll")
                .about("Restart a running deployment's nodes one at a time, in dependency order: each drained from the load balancers, restarted by your command, back healthy on this binary's configuration, then given traffic again")
                .arg(
                    Arg::new("restart")
                        .long("restart")
                        .required(true)
                        .value_name("COMMAND")
                        .help("How to restart one node, run with `sh -c`; `{node}` and `{deployment}` are replaced (e.g. `ssh {node} systemctl restart photoncloud-{deployment}-{node}`)"),
                )
                .arg(
                    Arg::new("node")
                        .long("node")
                        .action(ArgAction::Append)
                        .value_parser(PossibleValuesParser::new(nodes.clone()))
                        .help("Only these nodes (default: all), still in dependency order"),
                )
                .arg(
                    Arg::new("timeout")
                        .long("timeout")
                        .value_name("SECONDS")
                        .value_parser(value_parser!(f64))
                        .default_value("60")
                        .help("How long a node may take to come back healthy (and a balancer to drain it)"),
                )
                .arg(loopback.clone())
                .arg(host_names_arg()),
        )
        .subcommand(
            Command::new("restore")
                .about("Fill one service's new state directory on a node from a backup (chainfire: `etcdctl snapshot save`'s file); run it on every node of the service, before `run`/`up`")
                .arg(node_arg(&nodes))
                .arg(service_arg())
                .arg(
                    Arg::new("from")
                        .long("from")
                        .required(true)
                        .value_name("FILE")
                        .value_parser(value_parser!(std::path::PathBuf))
                        .help("The backup"),
                )
                .arg(state_dir_arg()),
        )
        .subcommand(
            Command::new("check")
                .about("Probe every endpoint of a running deployment and report health")
                .arg(
                    Arg::new("node")
                        .long("node")
                        .action(ArgAction::Append)
                        .value_parser(PossibleValuesParser::new(nodes))
                        .help("Only these nodes (default: all)"),
                )
                .arg(loopback.clone())
                .arg(host_names_arg())
                .arg(
                    Arg::new("timeout")
                        .long("timeout")
                        .value_name("SECONDS")
                        .value_parser(value_parser!(f64))
                        .default_value("2"),
                ),
        )
}

/// `--node <name>`, one of the topology's `nodes`.
fn node_arg(nodes: &[&'static str]) -> Arg {
    Arg::new("node")
        .long("node")
        .required(true)
        .value_parser(PossibleValuesParser::new(nodes.to_vec()))
}

/// `--service <kind>`, for the commands about one service of a node.
fn service_arg() -> Arg {
    Arg::new("service")
        .long("service")
        .required(true)
        .value_name("KIND")
        .help("The service's kind, as `plan` lists it (flashdns, chainfire, ...)")
}

/// `--host-names[=DOMAIN]`: reach nodes by their names as host names (what
/// an orchestrator calls them), whatever the compiled address plan says.
fn host_names_arg() -> Arg {
    Arg::new("host-names")
        .long("host-names")
        .value_name("DOMAIN")
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("")
        .value_parser(|text: &str| {
            if text.is_empty() {
                Ok(String::new())
            } else {
                photon_dsl::HostName::parse(text)
                    .map(|_| text.to_owned())
                    .map_err(|e| e.to_string())
            }
        })
        .help("Reach every node by its name as a host name (`kv-1`, or `kv-1.DOMAIN`), as an orchestrator names them, instead of the compiled address plan; binds every interface")
}

/// `--config-skew report|refuse`: what to do with calls from nodes running
/// another configuration of the deployment.
fn skew_arg() -> Arg {
    Arg::new("config-skew")
        .long("config-skew")
        .value_name("POLICY")
        .value_parser(["report", "refuse"])
        .default_value("report")
        .env("PHOTON_CONFIG_SKEW")
        .help("Calls from nodes built from another configuration (a drifted node, a rollout half done): `report` serves them and logs, counts and shows them on /health and /metrics; `refuse` also refuses them, except during a roll")
}

fn timeout_arg() -> Arg {
    Arg::new("dependency-timeout")
        .long("dependency-timeout")
        .value_name("SECONDS")
        .value_parser(value_parser!(f64))
        .default_value("60")
        .help("How long a service waits for a dependency to answer")
}

fn state_dir_arg() -> Arg {
    Arg::new("state-dir")
        .long("state-dir")
        .value_name("DIR")
        .value_parser(value_parser!(std::path::PathBuf))
        .env("PHOTON_STATE_DIR")
        .help("Where services keep their data [default: ~/.local/state/photoncloud]")
}

/// `--state-dir`, else `$PHOTON_STATE_DIR`, else `~/.local/state/photoncloud`.
fn state_root(m: &ArgMatches) -> std::path::PathBuf {
    if let Some(dir) = m.get_one::<std::path::PathBuf>("state-dir") {
        return dir.clone();
    }
    match std::env::var_os("HOME") {
        Some(home) => std::path::PathBuf::from(home).join(".local/state/photoncloud"),
        None => std::path::PathBuf::from("photon-state"),
    }
}

fn seconds(m: &ArgMatches, name: &str) -> Duration {
    let s = m.get_one::<f64>(name).copied().unwrap_or(0.0);
    Duration::from_secs_f64(s.clamp(0.0, 86_400.0 * 365.0))
}

fn resolver(
    topology: &Topology<dyn Service>,
    m: &ArgMatches,
    force_loopback: bool,
) -> Result<Arc<Resolver>, photon_dsl::ResolveError> {
    let base = m
        .get_one::<Ipv4Addr>("loopback-base")
        .copied()
        .unwrap_or(DEFAULT_LOOPBACK_BASE);
    let host_names = m
        .try_get_one::<String>("host-names")
        .ok()
        .flatten()
        .map(|domain| AddressPlan::HostNames {
            domain: (!domain.is_empty())
                .then(|| photon_dsl::HostName::parse(domain).ok())
                .flatten(),
        });
    let plan = if force_loopback {
        AddressPlan::Loopback
    } else if let Some(host_names) = host_names {
        host_names
    } else {
        topology.addresses().clone()
    };
    Resolver::new(topology.nodes().to_vec(), plan, base).map(Arc::new)
}

fn init_logging(m: &ArgMatches, topology: &Topology<dyn Service>) {
    let filter = m
        .get_one::<String>("log")
        .cloned()
        .or_else(|| std::env::var("PHOTON_LOG").ok())
        .unwrap_or_else(|| {
            default_filter(
                "info",
                topology
                    .services()
                    .iter()
                    .flat_map(|p| p.spec.noisy_log_targets()),
            )
        });
    install_logging(&filter);
}

/// `level`, with each library a service names as noisy held at `warn` (or
/// at the level its entry gives: `openraft::replication=error`).
pub(crate) fn default_filter<'a>(
    level: &str,
    noisy: impl IntoIterator<Item = &'a &'static str>,
) -> String {
    let mut targets: Vec<&str> = noisy.into_iter().copied().collect();
    targets.sort_unstable();
    targets.dedup();
    let mut filter = level.to_owned();
    for target in targets {
        if target.contains('=') {
            filter.push_str(&format!(",{target}"));
        } else {
            filter.push_str(&format!(",{target}=warn"));
        }
    }
    filter
}

/// Logs to stderr through `filter` (a `tracing` filter; `info` if it is
/// not one), for deployment and standalone binaries alike (and the
/// servers a bench starts, when asked to log).
pub fn install_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("warning: log filter `{filter}` is not valid ({e}); using `info`");
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Reports an error once, with its causes, and picks the exit code.
fn fail(error: &(dyn std::error::Error + 'static), code: u8) -> ExitCode {
    eprintln!("error: {}", error_chain(error));
    ExitCode::from(code)
}

/// The whole binary: parse the command line, run the command, report.
///
/// Exit codes: 0 success, 1 a service failed or a check found a problem,
/// 2 a usage or configuration error (nothing was started).
pub fn main(info: BinaryInfo, topology: Topology<dyn Service>) -> ExitCode {
    // A topology that reached here was checked at compile time; check again
    // in case it was assembled at run time, before anything else happens.
    if let Err(e) = topology.check() {
        eprintln!("error: the topology of `{}` is not valid:", topology.name());
        for line in e.to_string().lines() {
            eprintln!("  - {line}");
        }
        return ExitCode::from(2);
    }
    let matches = command(info, &topology).get_matches();
    init_logging(&matches, &topology);
    let (name, sub) = matches.subcommand().expect("a subcommand is required");
    match name {
        "plan" => with_resolver(&topology, sub, false, |r| {
            if let Some(other) = sub.get_one::<std::path::PathBuf>("diff") {
                return plan_diff(&topology, &r, other, sub);
            }
            let text = match sub.get_one::<String>("format").map(String::as_str) {
                Some("json") => {
                    serde_json::to_string_pretty(&crate::plan::Plan::of(&topology, &r))
                        .unwrap_or_default()
                        + "\n"
                }
                Some("json-schema") => crate::plan::document::SCHEMA.to_owned(),
                _ => crate::plan::table(&topology, &r),
            };
            print(&text)
        }),
        "graph" => {
            let text = match sub.get_one::<String>("format").map(String::as_str) {
                Some("dot") => crate::plan::dot(&topology),
                _ => crate::plan::mermaid(&topology),
            };
            print(&text)
        }
        "up" => with_resolver(&topology, sub, true, |r| {
            if sub.get_flag("local-secrets")
                && let Err(code) = local_secrets(&topology, sub)
            {
                return code;
            }
            run(&topology, topology.nodes().to_vec(), r, sub)
        }),
        "run" => with_resolver(&topology, sub, false, |r| {
            let node = sub.get_one::<String>("node").expect("required");
            match r.node(node) {
                Ok(node) => run(&topology, vec![node], r, sub),
                Err(e) => fail(&e, 2),
            }
        }),
        "check" => with_resolver(&topology, sub, false, |r| check(&topology, r, sub)),
        "export-config" => {
            with_resolver(&topology, sub, false, |r| export_config(&topology, &r, sub))
        }
        "restore" => restore(&topology, sub),
        "export" => export(info, &topology, sub),
        "roll" => with_resolver(&topology, sub, false, |r| {
            let options = crate::roll::RollOptions {
                restart: sub.get_one::<String>("restart").cloned().expect("required"),
                only: sub
                    .get_many::<String>("node")
                    .map(|v| v.cloned().collect())
                    .unwrap_or_default(),
                timeout: seconds(sub, "timeout"),
            };
            crate::roll::main(&topology, &r, &options)
        }),
        _ => unreachable!("clap rejects unknown subcommands"),
    }
}

/// `plan --diff OTHER`: exit 0 when OTHER runs the same configuration, 2
/// when this binary would change it (the report says what), 1 when OTHER
/// cannot be read.
fn plan_diff(
    topology: &Topology<dyn Service>,
    r: &Resolver,
    other: &std::path::Path,
    m: &ArgMatches,
) -> ExitCode {
    let after = crate::plan::Plan::of(topology, r);
    let base = m
        .get_one::<Ipv4Addr>("loopback-base")
        .copied()
        .unwrap_or(DEFAULT_LOOPBACK_BASE);
    let (before, described) = match other_plan(other, base) {
        Ok(found) => found,
        Err(problem) => {
            eprintln!("error: cannot compare with {}: {problem}", other.display());
            return ExitCode::from(1);
        }
    };
    let diff = crate::plan::diff::diff(&before, &after);
    let printed = print(&diff.render(&before, &after, &described));
    if diff.is_empty() {
        printed
    } else {
        ExitCode::from(2)
    }
}

/// The plan of `other`: a saved plan document, or the one a deployment
/// binary prints (asked with the same loopback block as this one's).
fn other_plan(
    other: &std::path::Path,
    loopback_base: Ipv4Addr,
) -> Result<(crate::plan::Plan, String), String> {
    use std::io::Read as _;
    let mut head = Vec::new();
    std::fs::File::open(other)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .map_err(|e| e.to_string())?;
    let is_json = head
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    if is_json {
        let text = std::fs::read_to_string(other).map_err(|e| e.to_string())?;
        let plan = crate::plan::Plan::from_json(&text).map_err(|e| e.to_string())?;
        return Ok((plan, format!("plan file {}", other.display())));
    }
    let output = std::process::Command::new(other)
        .args(["plan", "--format", "json", "--loopback-base"])
        .arg(loopback_base.to_string())
        .output()
        .map_err(|e| format!("neither a plan document nor a binary that runs ({e})"))?;
    if !output.status.success() {
        return Err(format!(
            "`plan --format json` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let plan = crate::plan::Plan::from_json(&String::from_utf8_lossy(&output.stdout))
        .map_err(|e| e.to_string())?;
    Ok((plan, format!("binary {}", other.display())))
}

/// `export-config --node n --service kind`: the service's standalone TOML,
/// its listeners on the address the node binds.
fn export_config(topology: &Topology<dyn Service>, r: &Resolver, m: &ArgMatches) -> ExitCode {
    let node = m.get_one::<String>("node").expect("required");
    let kind = m.get_one::<String>("service").expect("required");
    let node = match r.node(node) {
        Ok(node) => node,
        Err(e) => return fail(&e, 2),
    };
    let on_node: Vec<&photon_dsl::Placed<dyn Service>> = topology
        .services()
        .iter()
        .filter(|p| p.decl.node() == node)
        .collect();
    let Some(placed) = on_node.iter().find(|p| p.decl.kind().as_str() == kind) else {
        let kinds: Vec<&str> = on_node.iter().map(|p| p.decl.kind().as_str()).collect();
        eprintln!(
            "error: node `{node}` runs no service `{kind}` (it runs: {})",
            kinds.join(", ")
        );
        return ExitCode::from(2);
    };
    let ctx = crate::service::ExportContext {
        node,
        bind_ip: match r.bind_ip(node) {
            Ok(ip) => ip,
            Err(e) => return fail(&e, 2),
        },
        component_id: format!("{node}-{kind}"),
        cluster: topology.name().to_string(),
        state_dir: crate::supervisor::state_dir_of(
            &state_root(m),
            topology.name().as_str(),
            node.as_str(),
            kind,
        ),
        resolver: Arc::new(r.clone()),
        stops_node_after: on_node.iter().find_map(|p| p.spec.stops_node_after()),
        peers: match peers_of(topology, r, node, kind) {
            Ok(peers) => peers,
            Err(e) => return fail(&e, 2),
        },
        placements: topology
            .services()
            .iter()
            .map(|p| crate::Placement::of(&p.decl))
            .collect(),
        metrics_endpoints: match topology
            .metrics_endpoints()
            .into_iter()
            .map(|(i, listener)| {
                let decl = &topology.services()[i].decl;
                r.resolve(decl.node()).map(|a| {
                    (
                        decl.kind().as_str().to_owned(),
                        a.with_port(listener.port.get()),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(endpoints) => endpoints,
            Err(e) => return fail(&e, 2),
        },
    };
    match placed.spec.export_config(&ctx) {
        Ok(text) => print(&text),
        Err(problem) => {
            eprintln!("error: cannot export `{kind}` on node `{node}`: {problem}");
            ExitCode::from(2)
        }
    }
}

/// `export --format F --out DIR`: the files written, one per line.
fn export(info: BinaryInfo, topology: &Topology<dyn Service>, m: &ArgMatches) -> ExitCode {
    let format = m
        .get_one::<String>("format")
        .and_then(|f| crate::export::Format::parse(f))
        .expect("clap checks the format");
    let out = m.get_one::<std::path::PathBuf>("out").expect("required");
    let tag = topology.version().to_string().replace('+', "-");
    let options = crate::export::ExportOptions {
        binary_name: info.package.to_owned(),
        binary_path: m
            .get_one::<String>("binary-path")
            .cloned()
            .unwrap_or_else(|| format!("/usr/local/bin/{}", info.package)),
        image: m
            .get_one::<String>("image")
            .cloned()
            .unwrap_or_else(|| format!("photoncloud/{}:{tag}", info.package)),
        domain: m.get_one::<String>("domain").cloned().or_else(|| {
            (format == crate::export::Format::Nomad).then(|| "service.consul".to_owned())
        }),
    };
    match crate::export::export(topology, format, &options, out) {
        Ok(files) => {
            let listed: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
            print(&listed)
        }
        Err(e) => fail(&e, 2),
    }
}

/// `restore --node n --service kind --from FILE`: the service's state
/// directory on that node, filled from the backup.
fn restore(topology: &Topology<dyn Service>, m: &ArgMatches) -> ExitCode {
    let node = m.get_one::<String>("node").expect("required");
    let kind = m.get_one::<String>("service").expect("required");
    let from = m.get_one::<std::path::PathBuf>("from").expect("required");
    let Some(placed) = topology
        .services()
        .iter()
        .find(|p| p.decl.node().as_str() == node && p.decl.kind().as_str() == kind)
    else {
        eprintln!("error: node `{node}` runs no service `{kind}`");
        return ExitCode::from(2);
    };
    let ctx = crate::service::RestoreContext {
        instance: node.clone(),
        state_dir: crate::supervisor::state_dir_of(
            &state_root(m),
            topology.name().as_str(),
            node,
            kind,
        ),
        from: from.clone(),
    };
    match placed.spec.restore(&ctx) {
        Ok(report) => {
            tracing::info!(node = %node, service = %kind, dir = %ctx.state_dir.display(), "{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot restore `{kind}` on node `{node}`: {}",
                crate::error_chain(&*e)
            );
            ExitCode::from(1)
        }
    }
}

/// The other services of `kind` in the topology, each with its node's name
/// and the `host:port` its listeners are reached at.
fn peers_of(
    topology: &Topology<dyn Service>,
    r: &Resolver,
    node: photon_dsl::NodeName,
    kind: &str,
) -> Result<Vec<crate::Peer>, photon_dsl::ResolveError> {
    let mut peers = Vec::new();
    for placed in topology.services() {
        if placed.decl.kind().as_str() != kind || placed.decl.node() == node {
            continue;
        }
        let host = r.resolve(placed.decl.node())?;
        peers.push(crate::Peer {
            name: placed.decl.node().to_string(),
            addrs: placed
                .decl
                .listeners()
                .map(|l| (l.name.to_owned(), host.with_port(l.port.get())))
                .collect(),
        });
    }
    Ok(peers)
}

fn with_resolver(
    topology: &Topology<dyn Service>,
    m: &ArgMatches,
    force_loopback: bool,
    then: impl FnOnce(Arc<Resolver>) -> ExitCode,
) -> ExitCode {
    match resolver(topology, m, force_loopback) {
        Ok(r) => then(r),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::print_stdout)] // `plan` and `graph` write their report to stdout.
fn print(text: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not worth a panic.
        Err(_) => ExitCode::from(1),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, std::io::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn run(
    topology: &Topology<dyn Service>,
    nodes: Vec<NodeName>,
    resolver: Arc<Resolver>,
    m: &ArgMatches,
) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&e, 1),
    };
    for &node in &nodes {
        tracing::info!(
            deployment = %topology.name(),
            config = %topology.version(),
            fingerprint = %topology.fingerprint(),
            %node,
            address = %resolver.resolve(node).map(|a| a.to_string()).unwrap_or_default(),
            "starting node"
        );
    }
    let options = RunOptions {
        nodes,
        resolver,
        dependency_timeout: seconds(m, "dependency-timeout"),
        stop_timeout: Duration::from_secs(10),
        state_root: state_root(m),
        standalone: None,
        skew: match m.get_one::<String>("config-skew").map(String::as_str) {
            Some("refuse") => crate::skew::SkewPolicy::Refuse,
            _ => crate::skew::SkewPolicy::Report,
        },
    };
    match rt.block_on(supervisor::run(topology, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, e.exit_code()),
    }
}

/// `up --local-secrets`: values for the unset environment secrets, each
/// announced loudly with the file that keeps it.
fn local_secrets(topology: &Topology<dyn Service>, m: &ArgMatches) -> Result<(), ExitCode> {
    let dir = state_root(m)
        .join(topology.name().as_str())
        .join("local-secrets");
    let secrets = topology
        .services()
        .iter()
        .flat_map(|s| s.decl.secrets().map(|d| d.secret).collect::<Vec<_>>());
    let made = crate::local_secrets::provide(secrets, &dir).map_err(|e| fail(&e, 1))?;
    for (variable, file) in &made {
        tracing::warn!(
            %variable,
            file = %file.display(),
            "LOCAL USE ONLY: not set, so a value made for this machine is used (the file keeps it; set the variable to choose one)"
        );
    }
    Ok(())
}

fn check(topology: &Topology<dyn Service>, resolver: Arc<Resolver>, m: &ArgMatches) -> ExitCode {
    let only: Vec<String> = m
        .get_many::<String>("node")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let timeout = seconds(m, "timeout");
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&e, 1),
    };
    let rows = rt.block_on(async {
        let mut rows = Vec::new();
        for placed in topology.services() {
            let node = placed.decl.node();
            if !only.is_empty() && !only.iter().any(|n| n == node.as_str()) {
                continue;
            }
            for listener in placed.decl.listeners() {
                let started = std::time::Instant::now();
                let outcome =
                    match crate::service::resolve_socket(&resolver, node, listener.port).await {
                        Err(e) => Err((String::new(), e.to_string())),
                        Ok(addr) => {
                            let target = ProbeTarget {
                                addr,
                                listener,
                                timeout,
                            };
                            match tokio::time::timeout(timeout, placed.spec.probe(target)).await {
                                Ok(Ok(what)) => Ok((addr.to_string(), what)),
                                Ok(Err(e)) => Err((addr.to_string(), error_chain(&*e))),
                                Err(_) => {
                                    Err((addr.to_string(), format!("no answer within {timeout:?}")))
                                }
                            }
                        }
                    };
                rows.push((
                    node,
                    placed.decl.kind(),
                    *listener,
                    outcome,
                    started.elapsed(),
                ));
            }
        }
        rows
    });
    let configs = rt.block_on(reported_configs(topology, &resolver, &only, timeout));
    let mut out = String::new();
    let mut unhealthy = 0;
    for (node, kind, listener, outcome, took) in &rows {
        let (addr, status, detail) = match outcome {
            Ok((addr, what)) => (addr.clone(), "ok", what.clone()),
            Err((addr, why)) => {
                unhealthy += 1;
                (addr.clone(), "FAIL", why.clone())
            }
        };
        out.push_str(&format!(
            "{status:<4}  {node}/{kind} {} {}/{} at {addr}  {:.1} ms  {detail}\n",
            listener.name,
            listener.port,
            listener.transport,
            took.as_secs_f64() * 1000.0
        ));
    }
    out.push_str(&format!(
        "{} endpoint(s) probed, {} healthy, {} failing\n",
        rows.len(),
        rows.len() - unhealthy,
        unhealthy
    ));
    let skewed = skew_report(topology, &configs, &mut out);
    let printed = print(&out);
    if unhealthy > 0 || skewed > 0 {
        ExitCode::from(1)
    } else {
        printed
    }
}

/// Each service's `/health` `config` (the first listener serving it), by
/// `node/service`; services that did not answer are left out (the probe
/// rows already say why).
async fn reported_configs(
    topology: &Topology<dyn Service>,
    resolver: &Resolver,
    only: &[String],
    timeout: Duration,
) -> Vec<(String, serde_json::Value)> {
    let mut found: Vec<(String, serde_json::Value)> = Vec::new();
    for (label, addr) in crate::service::health_listeners(topology, resolver, None).await {
        let node = label.split('/').next().unwrap_or_default();
        if (!only.is_empty() && !only.iter().any(|n| n == node))
            || found.iter().any(|(seen, _)| *seen == label)
        {
            continue;
        }
        let Ok(addr) = addr else { continue };
        let Ok(answer) = crate::http::get(addr, "/health", timeout).await else {
            continue;
        };
        if let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&answer.body) {
            found.push((label, body["config"].take()));
        }
    }
    found
}

/// Appends the configuration section of `check`'s report: which services
/// run another configuration than this binary's, and which served or
/// refused callers running another. Returns how many such findings.
fn skew_report(
    topology: &Topology<dyn Service>,
    configs: &[(String, serde_json::Value)],
    out: &mut String,
) -> usize {
    use std::fmt::Write as _;
    let describe = |c: &serde_json::Value| {
        let fingerprint = c["fingerprint"].as_str().unwrap_or("?");
        format!(
            "{} {} (fingerprint {})",
            c["deployment"].as_str().unwrap_or("?"),
            c["version"].as_str().unwrap_or("?"),
            fingerprint.get(..16).unwrap_or(fingerprint)
        )
    };
    let ours = topology.fingerprint().full_hex();
    let _ = writeln!(
        out,
        "\nconfiguration: this binary is {} {} (fingerprint {})",
        topology.name(),
        topology.version(),
        topology.fingerprint()
    );
    let (mut other, mut called) = (0, 0);
    for (label, config) in configs {
        if config["fingerprint"].as_str() != Some(ours.as_str()) {
            other += 1;
            let _ = writeln!(
                out,
                "SKEW  {label} runs {}, another configuration",
                describe(config)
            );
        }
        for caller in config["skew"]["callers"].as_array().into_iter().flatten() {
            called += 1;
            let _ = writeln!(
                out,
                "SKEW  {label} was called by {}: {} served, {} refused",
                describe(caller),
                caller["served"],
                caller["refused"]
            );
        }
    }
    let _ = writeln!(
        out,
        "{} service(s) report their configuration: {} run this one, {other} another",
        configs.len(),
        configs.len() - other
    );
    other + called
}

#[cfg(test)]
mod tests {
    use super::default_filter;

    #[test]
    fn noisy_libraries_are_held_at_warn_or_at_the_level_they_name() {
        assert_eq!(
            default_filter(
                "debug",
                &[
                    "openraft",
                    "hickory_server",
                    "openraft::replication=error",
                    "openraft",
                ]
            ),
            "debug,hickory_server=warn,openraft=warn,openraft::replication=error"
        );
        assert_eq!(default_filter("info", &[]), "info");
    }
}

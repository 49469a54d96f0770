//! One component on its own, from the design's TOML schema: the `main` of
//! every `<component>-server` binary (`flashdns-server --config
//! flashdns.toml`, `PHOTON_MODE=standalone flashdns-server`).
//!
//! The configuration is layered (file < `PHOTON_*` environment < flags) by
//! `photon-config`, turned into the component's typed spec by
//! [`StandaloneServer::build`], checked by the same `declare()` and
//! topology checks a compiled deployment gets, and run by the supervisor as
//! a one-node topology.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, Mode, Origin, Sources};
use photon_dsl::{AddressPlan, ConfigVersion, DeploymentName, Node, Resolver, Topology};

use crate::join::{DEFAULT_INTERVAL, JoinPlan, RegistrationPlan, probe};

use crate::{RunOptions, Service, error_chain};

photon_dsl::nodes! {
    /// The one node a standalone server is.
    pub Local = "local";
}

/// A component's typed spec, built from text, and where its listeners
/// bind.
#[derive(Debug)]
pub struct Built<S> {
    /// The spec, as a deployment would write it.
    pub spec: S,
    /// Each listener's address (by listener name).
    pub listen: Vec<(&'static str, IpAddr)>,
    /// Where the service keeps its state, if the configuration says
    /// (`<state dir>/standalone/local/<component>` otherwise).
    pub state_dir: Option<PathBuf>,
    /// The other members of its cluster (chainfire's peers).
    pub peers: Vec<crate::Peer>,
    /// The remote services its dependencies name (`chainfire_endpoints`),
    /// each a stand-in on a node of its own.
    pub remotes: Vec<Remote>,
    /// Services that run beside it ([`Lifetime`](photon_dsl::Lifetime)
    /// for `stop_after_ms`).
    pub companions: Vec<Box<dyn Service>>,
}

/// A remote provider a configuration names (chainfire at
/// `http://chainfire:2379`), standing in on its own node so the topology
/// checks find a provider for the dependency, as they would in a
/// deployment. It is never started here, and not probed: a text
/// configuration's remote is reached by the component itself (or by the
/// integration step, before anything starts).
#[derive(Debug, Clone)]
pub struct Remote {
    decl: photon_dsl::ServiceDecl,
    address: photon_dsl::NodeAddress,
}

impl Remote {
    /// Its node (`state-store-1`).
    pub fn node(&self) -> photon_dsl::NodeName {
        self.decl.node()
    }

    /// Where it is reached.
    pub fn address(&self) -> &photon_dsl::NodeAddress {
        &self.address
    }
}

impl photon_dsl::ServiceSpec for Remote {
    fn declare(&self) -> photon_dsl::ServiceDecl {
        self.decl
    }
}

impl Service for Remote {
    fn start(
        &self,
        _ctx: crate::StartContext,
    ) -> crate::BoxFuture<'_, Result<crate::Running, crate::ServiceError>> {
        Box::pin(async { Err("a remote service runs elsewhere; it is not started here".into()) })
    }

    fn probe<'a>(
        &'a self,
        _target: crate::ProbeTarget<'a>,
    ) -> crate::BoxFuture<'a, Result<String, crate::ServiceError>> {
        Box::pin(async { Ok("remote, written in the configuration; not checked here".to_owned()) })
    }
}

/// The dependency on protocol `P` that `url` (at `key`) names, and the
/// stand-in that provides it on node `node` (`state-store-1`): `url` is
/// `http://host:port[/path]` or `host:port`.
pub fn remote<P: photon_dsl::Protocol>(
    layers: &Layers,
    key: &str,
    node: &str,
    kind: &'static str,
    listener: &'static str,
    url: &str,
) -> Result<(photon_dsl::Dep<P>, Remote), ConfigError> {
    let problem = |what: String| config_error(layers, key, what);
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path.trim_end_matches('/'))),
        None => (rest, None),
    };
    let (host, port) = authority.rsplit_once(':').ok_or_else(|| {
        problem(format!(
            "`{url}` has no port: write `http://host:port`, such as `http://chainfire:2379`"
        ))
    })?;
    let port = port
        .parse::<u16>()
        .ok()
        .and_then(|p| photon_dsl::Port::try_from(p).ok())
        .ok_or_else(|| {
            problem(format!(
                "`{port}` in `{url}` is not a port: a port is 1 to 65535"
            ))
        })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(problem(format!("`{url}` has no host")));
    }
    let address = match host.parse::<IpAddr>() {
        Ok(ip) => photon_dsl::NodeAddress::Ip(ip),
        Err(_) => photon_dsl::NodeAddress::Host(host.to_owned()),
    };
    let path = match path {
        Some(path) if !path.is_empty() => Some(
            photon_dsl::UrlPathPrefix::parse(leak(path))
                .map_err(|e| problem(format!("the path of `{url}`: {e}")))?,
        ),
        _ => None,
    };
    let node = photon_dsl::NodeName::parse(leak(node))
        .map_err(|e| problem(format!("cannot name its node: {e}")))?;
    let decl = photon_dsl::ServiceDecl::on_node(node, kind).listens::<P>(listener, port);
    Ok((
        photon_dsl::Dep::from_text(node, port, path),
        Remote { decl, address },
    ))
}

/// `text` as the `&'static str` a spec holds: a server's configuration
/// is loaded once and lives as long as the process.
pub fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// A component that runs standalone from text.
pub trait StandaloneServer: Component + 'static {
    /// Its typed spec, placed on [`Local`].
    type Spec: Service;

    /// A log level of the component's own schema, which wins over
    /// `[photon.logging] level` (lightningstor's `[standalone.server]
    /// log_level`).
    fn log_level(doc: &ComponentDocument<Self>) -> Option<photon_config::schema::LogLevel> {
        let _ = doc;
        None
    }

    /// The spec the document describes; `layers` says where each value came
    /// from, for errors.
    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<Self::Spec>, ConfigError>;
}

/// A configuration error at `key`, located by `layers`.
pub fn config_error(layers: &Layers, key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        origin: layers.origin(key),
        problem: problem.into(),
    }
}

/// The port of a listen address as the spec's [`Port`](photon_dsl::Port).
pub fn listen_port(
    layers: &Layers,
    key: &str,
    addr: photon_config::ListenAddr,
) -> Result<photon_dsl::Port, ConfigError> {
    photon_dsl::Port::try_from(addr.port)
        .map_err(|_| config_error(layers, key, "a port is 1 to 65535"))
}

/// An empty standalone document for `C`, `mode = "standalone"` and
/// `component_id` set: where an export starts.
pub fn standalone_document<C: Component>(component_id: &str) -> ComponentDocument<C> {
    let mut doc = ComponentDocument::<C>::default();
    doc.photon.mode = Some(Mode::Standalone);
    doc.photon.component_id = Some(component_id.to_owned());
    doc
}

/// Every listener's address, for the registration: the address the
/// configuration gives it, or the loopback one the runtime binds.
fn listen_addresses<S: Service>(built: &Built<S>) -> BTreeMap<String, String> {
    built
        .spec
        .declare()
        .listeners()
        .map(|l| {
            let ip = built
                .listen
                .iter()
                .find(|(name, _)| *name == l.name)
                .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |(_, ip)| *ip);
            (
                l.name.to_owned(),
                SocketAddr::new(ip, l.port.get()).to_string(),
            )
        })
        .collect()
}

/// How an integrated start joins the platform, checked from the
/// configuration before anything starts; `local` is what the component
/// keeps local even then.
fn integration_plan<C: StandaloneServer>(
    doc: &ComponentDocument<C>,
    layers: &Layers,
    component_id: &str,
    local: Option<&'static str>,
) -> Result<JoinPlan, ConfigError> {
    let integrated = &doc.photon.integrated;
    if integrated.chainfire_endpoints.is_empty() {
        return Err(config_error(
            layers,
            "photon.integrated.chainfire_endpoints",
            "integrated mode registers the component in chainfire: give its endpoints, such as chainfire_endpoints = [\"http://chainfire:2379\"] or PHOTON_CHAINFIRE_ENDPOINTS",
        ));
    }
    let Some(cluster_id) = doc.photon.cluster_id.clone() else {
        return Err(config_error(
            layers,
            "photon.cluster_id",
            "integrated mode needs the cluster this component joins, such as cluster_id = \"cluster-1\" or PHOTON_CLUSTER_ID",
        ));
    };
    let registration = integrated.registration.clone().unwrap_or_default();
    let (heartbeat_key, heartbeat) = match (
        registration.heartbeat_interval_sec,
        integrated.heartbeat_interval_sec,
    ) {
        (Some(sec), _) => ("photon.integrated.registration.heartbeat_interval_sec", sec),
        (None, Some(sec)) => ("photon.integrated.heartbeat_interval_sec", sec),
        (None, None) => ("", DEFAULT_INTERVAL.as_secs() as u32),
    };
    if heartbeat == 0 {
        return Err(config_error(
            layers,
            heartbeat_key,
            "a heartbeat is at least 1 second apart",
        ));
    }
    let mut note: Vec<String> = local.map(str::to_owned).into_iter().collect();
    if let Some(auth) = &integrated.auth_service_endpoint {
        note.push(format!(
            "photonauth at {auth} is not used: its client is not built yet"
        ));
    }
    if let Some(bus) = &integrated.event_bus_endpoint {
        note.push(format!(
            "the event bus at {bus} is not used: its client is not built yet"
        ));
    }
    Ok(JoinPlan {
        chainfire: integrated.chainfire_endpoints.clone(),
        control_plane: integrated.control_plane_endpoint.clone(),
        timeout: integrated
            .fallback_timeout_sec
            .map_or(DEFAULT_INTERVAL, |sec| Duration::from_secs(u64::from(sec))),
        registration: registration.auto_register.then(|| RegistrationPlan {
            cluster_id,
            component: C::NAME,
            component_id: component_id.to_owned(),
            metadata: registration.metadata.clone(),
            heartbeat: Duration::from_secs(u64::from(heartbeat)),
        }),
        note: (!note.is_empty()).then(|| note.join("; ")),
    })
}

/// An integrated or hybrid start that cannot happen: standalone instead
/// when `fallback_to_standalone` allows it (logged once, and said in
/// `/health`), else the message and exit code to stop with.
fn fall_back(
    allowed: bool,
    wanted: Mode,
    reason: String,
    code: u8,
) -> Result<crate::ModeReport, (String, u8)> {
    if !allowed {
        return Err((
            format!(
                "{reason}; run it with mode = \"standalone\", or allow the fallback with [photon.integrated] fallback_to_standalone = true"
            ),
            code,
        ));
    }
    tracing::warn!(
        wanted = wanted.as_str(),
        %reason,
        "falling back to standalone (fallback_to_standalone = true)"
    );
    Ok(crate::ModeReport::fell_back(wanted.as_str(), &reason))
}

fn command(name: &'static str) -> Command {
    Command::new(name)
        .about("Runs one PhotonCloud component on its own, from the TOML schema of the design")
        .arg(
            Arg::new("config")
                .short('c')
                .long("config")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("The TOML configuration file"),
        )
        .arg(
            Arg::new("mode")
                .long("mode")
                .value_name("MODE")
                .value_parser(["standalone", "integrated", "hybrid"])
                .help("photon.mode (overrides PHOTON_MODE and the file)"),
        )
        .arg(
            Arg::new("component-id")
                .long("component-id")
                .value_name("ID")
                .help("photon.component_id"),
        )
        .arg(
            Arg::new("log-level")
                .long("log-level")
                .value_name("LEVEL")
                .help("photon.logging.level: trace, debug, info, warn, error"),
        )
        .arg(
            Arg::new("set")
                .long("set")
                .value_name("KEY=VALUE")
                .action(ArgAction::Append)
                .help("Sets any key: --set standalone.server.dns_addr=0.0.0.0:5300"),
        )
        .arg(
            Arg::new("state-dir")
                .long("state-dir")
                .value_name("DIR")
                .env("PHOTON_STATE_DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Where the component keeps its state [default: ~/.local/state/photoncloud]"),
        )
        .arg(
            Arg::new("print-config")
                .long("print-config")
                .action(ArgAction::SetTrue)
                .help("Prints the configuration after layering, checked, and exits"),
        )
        .arg(
            Arg::new("probe-timeout")
                .long("probe-timeout")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64))
                .default_value("2")
                .help("How long mode detection waits for the control plane's /health"),
        )
}

/// The layers' sources: the file, the process environment, the flags.
fn sources(m: &ArgMatches) -> Result<Sources, ConfigError> {
    let mut flags = Vec::new();
    for (flag, key) in [
        ("mode", "photon.mode"),
        ("component-id", "photon.component_id"),
        ("log-level", "photon.logging.level"),
    ] {
        if let Some(value) = m.get_one::<String>(flag) {
            flags.push((
                key.to_owned(),
                toml::Value::String(value.clone()),
                format!("--{flag}"),
            ));
        }
    }
    for set in m.get_many::<String>("set").into_iter().flatten() {
        let Some((key, value)) = set.split_once('=') else {
            return Err(ConfigError {
                key: String::new(),
                origin: Origin::Flag(format!("--set {set}")),
                problem:
                    "write --set KEY=VALUE, such as --set standalone.server.dns_addr=0.0.0.0:5300"
                        .to_owned(),
            });
        };
        flags.push((
            key.trim().to_owned(),
            photon_config::layers::value_from_text(value.trim()),
            format!("--set {key}"),
        ));
    }
    Ok(Sources {
        file: m.get_one::<PathBuf>("config").cloned(),
        env: std::env::vars().collect(),
        flags,
    })
}

fn config_failure(name: &str, error: &ConfigError) -> ExitCode {
    eprintln!("{name}: configuration error: {error}");
    ExitCode::from(2)
}

/// The whole `<component>-server` binary. Exit codes: 0 stopped cleanly,
/// 1 a service failed, 2 a configuration error (nothing was started).
pub fn main<C: StandaloneServer>(binary: &'static str) -> ExitCode {
    let m = command(binary).get_matches();
    let sources = match sources(&m) {
        Ok(sources) => sources,
        Err(e) => return config_failure(binary, &e),
    };
    let (doc, layers) = match photon_config::load::<ComponentDocument<C>>(&sources) {
        Ok(loaded) => loaded,
        Err(e) => return config_failure(binary, &e),
    };
    // Built before anything is logged, so the spec can name the libraries
    // its default log filter quiets.
    let built = match C::build(&doc, &layers) {
        Ok(built) => built,
        Err(e) => return config_failure(binary, &e),
    };
    crate::cli::install_logging(&crate::cli::default_filter(
        C::log_level(&doc)
            .unwrap_or(doc.photon.logging.level)
            .as_str(),
        built.spec.noisy_log_targets(),
    ));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{binary}: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let timeout = Duration::from_secs(*m.get_one::<u64>("probe-timeout").unwrap_or(&2));
    let detected = photon_config::detect(
        doc.photon.mode,
        &layers,
        doc.photon.integrated.control_plane_endpoint.as_deref(),
        |url| match rt.block_on(probe(url, timeout)) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(%url, error = %e, "the control plane did not answer");
                false
            }
        },
    );
    let component_id = doc
        .photon
        .component_id
        .clone()
        .unwrap_or_else(|| C::NAME.to_owned());
    tracing::info!(
        operation_mode = detected.mode.as_str(),
        reason = %detected.reason,
        component = C::NAME,
        component_id = %component_id,
        "operation mode chosen"
    );
    // Integrated mode's settings are checked before anything is printed or
    // started; hybrid mode has no backend to integrate yet.
    let joining = match detected.mode {
        Mode::Standalone => None,
        Mode::Integrated => match integration_plan::<C>(
            &doc,
            &layers,
            &component_id,
            built.spec.local_when_integrated(),
        ) {
            Ok(plan) => Some(plan),
            Err(e) => return config_failure(binary, &e),
        },
        Mode::Hybrid => None,
    };
    if m.get_flag("print-config") {
        use std::io::Write as _;
        let _ = std::io::stdout().write_all(layers.to_toml().as_bytes());
        return ExitCode::SUCCESS;
    }
    let listeners = listen_addresses(&built);
    let topology: Topology<dyn Service> = Topology::new(
        DeploymentName::from_literal("standalone"),
        ConfigVersion::from_literal("1.0.0", "standalone"),
    )
    .with_node(Local::NAME)
    .with_service(Box::new(built.spec));
    let mut addresses = vec![(
        Local::NAME,
        photon_dsl::NodeAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    )];
    let mut topology = topology;
    for companion in built.companions {
        topology = topology.with_service(companion);
    }
    for remote in built.remotes {
        let node = remote.decl.node();
        addresses.push((node, remote.address.clone()));
        topology = topology.with_node(node).with_service(Box::new(remote));
    }
    if let Err(e) = topology.check() {
        let error = ConfigError {
            key: "standalone".to_owned(),
            origin: Origin::Default,
            problem: error_chain(&e),
        };
        return config_failure(binary, &error);
    }
    let resolver = match Resolver::new(
        addresses.iter().map(|(node, _)| *node).collect(),
        AddressPlan::Listed(addresses),
        photon_dsl::DEFAULT_LOOPBACK_BASE,
    ) {
        Ok(resolver) => Arc::new(resolver),
        Err(e) => {
            eprintln!("{binary}: {e}");
            return ExitCode::from(1);
        }
    };
    let state_root = m
        .get_one::<PathBuf>("state-dir")
        .cloned()
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".local/state/photoncloud")
        });
    // Join the platform (or fall back, or stop) before serving anything.
    let fallback = doc.photon.integrated.fallback_to_standalone;
    let joined = rt.block_on(async {
        match (detected.mode, joining) {
            (Mode::Integrated, Some(plan)) => match crate::join::join(plan, listeners).await {
                Ok(joined) => Ok((joined.report.clone(), Some(joined))),
                Err(reason) => {
                    fall_back(fallback, Mode::Integrated, reason, 1).map(|r| (r, None))
                }
            },
            (Mode::Hybrid, _) => fall_back(
                fallback,
                Mode::Hybrid,
                format!(
                    "hybrid mode's integrated backends (photon.hybrid) are not available for {} yet",
                    C::NAME
                ),
                2,
            )
            .map(|r| (r, None)),
            _ => Ok((crate::ModeReport::standalone(), None)),
        }
    });
    let (mode_report, joined) = match joined {
        Ok(joined) => joined,
        Err((problem, code)) => {
            eprintln!("{binary}: {problem}");
            return ExitCode::from(code);
        }
    };
    let options = RunOptions {
        nodes: vec![Local::NAME],
        resolver,
        dependency_timeout: Duration::from_secs(30),
        stop_timeout: Duration::from_secs(10),
        state_root,
        standalone: Some(crate::StandaloneRun {
            listen_ips: built
                .listen
                .iter()
                .map(|(listener, ip)| ((*listener).to_owned(), *ip))
                .collect(),
            state_dir: built.state_dir,
            instance: component_id,
            mode: mode_report,
            peers: built.peers,
        }),
    };
    let ran = rt.block_on(async {
        let ran = crate::run(&topology, options).await;
        if let Some(joined) = joined {
            joined.leave().await;
        }
        ran
    });
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{binary}: {}", error_chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

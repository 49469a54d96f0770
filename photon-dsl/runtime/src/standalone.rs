//! One component on its own, from the design's TOML schema: the `main` of
//! every `<component>-server` binary (`flashdns-server --config
//! flashdns.toml`, `PHOTON_MODE=standalone flashdns-server`).
//!
//! The configuration is layered (file < `PHOTON_*` environment < flags) by
//! `photon-config`, turned into the component's typed spec by
//! [`StandaloneServer::build`], checked by the same `declare()` and
//! topology checks a compiled deployment gets, and run by the supervisor as
//! a one-node topology.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, Mode, Origin, Sources};
use photon_dsl::{AddressPlan, ConfigVersion, DeploymentName, Node, Resolver, Topology};

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

fn init_logging(level: &str) {
    // hickory-server narrates every query at info, openraft every election.
    crate::cli::install_logging(&format!("{level},hickory_server=warn,openraft=warn"));
}

fn config_failure(name: &str, error: &ConfigError) -> ExitCode {
    eprintln!("{name}: configuration error: {error}");
    ExitCode::from(2)
}

/// Asks `url` (the control plane's `/health`) whether it is up.
fn probe(rt: &tokio::runtime::Runtime, url: &str, timeout: Duration) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        tracing::warn!(%url, "mode detection probes only http:// control planes");
        return false;
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    rt.block_on(async {
        let Ok(Ok(mut addrs)) = tokio::time::timeout(timeout, tokio::net::lookup_host(host)).await
        else {
            return false;
        };
        let Some(addr) = addrs.next() else {
            return false;
        };
        matches!(
            crate::http::get(addr, path, timeout).await,
            Ok(answer) if answer.status.is_success()
        )
    })
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
    init_logging(
        C::log_level(&doc)
            .unwrap_or(doc.photon.logging.level)
            .as_str(),
    );
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
        |url| probe(&rt, url, timeout),
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
    // Integrated and hybrid modes are not available in these binaries yet:
    // with `fallback_to_standalone` the server runs standalone and says
    // so in `/health`; without, it stops.
    let mode_report = if detected.mode == Mode::Standalone {
        crate::ModeReport::standalone()
    } else {
        let reason = format!(
            "{} mode is not available for {} yet",
            detected.mode.as_str(),
            C::NAME
        );
        if !doc.photon.integrated.fallback_to_standalone {
            let error = ConfigError {
                key: "photon.mode".to_owned(),
                origin: layers.origin("photon.mode"),
                problem: format!(
                    "{reason}; run it with mode = \"standalone\", or allow the fallback with [photon.integrated] fallback_to_standalone = true"
                ),
            };
            return config_failure(binary, &error);
        }
        tracing::warn!(
            wanted = detected.mode.as_str(),
            %reason,
            "falling back to standalone (fallback_to_standalone = true)"
        );
        crate::ModeReport {
            mode: "standalone",
            note: Some(format!(
                "fell back from {}: {reason}",
                detected.mode.as_str()
            )),
        }
    };
    let built = match C::build(&doc, &layers) {
        Ok(built) => built,
        Err(e) => return config_failure(binary, &e),
    };
    if m.get_flag("print-config") {
        use std::io::Write as _;
        let _ = std::io::stdout().write_all(layers.to_toml().as_bytes());
        return ExitCode::SUCCESS;
    }
    let topology: Topology<dyn Service> = Topology::new(
        DeploymentName::from_literal("standalone"),
        ConfigVersion::from_literal("1.0.0", "standalone"),
    )
    .with_node(Local::NAME)
    .with_service(Box::new(built.spec));
    if let Err(e) = topology.check() {
        let error = ConfigError {
            key: "standalone".to_owned(),
            origin: Origin::Default,
            problem: error_chain(&e),
        };
        return config_failure(binary, &error);
    }
    let resolver = match Resolver::new(
        vec![Local::NAME],
        AddressPlan::Static(vec![(Local::NAME, IpAddr::V4(Ipv4Addr::LOCALHOST))]),
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
        }),
    };
    match rt.block_on(crate::run(&topology, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{binary}: {}", error_chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

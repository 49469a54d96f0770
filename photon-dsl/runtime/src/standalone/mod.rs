//! One component on its own, from the design's TOML schema: the `main` of
//! every `<component>-server` binary (`flashdns-server --config
//! flashdns.toml`, `PHOTON_MODE=standalone flashdns-server`).
//!
//! The configuration is layered (file < `PHOTON_*` environment < flags) by
//! `photon-config`, turned into the component's typed spec by
//! [`StandaloneServer::build`], checked by the same `declare()` and
//! topology checks a compiled deployment gets, and run by the supervisor as
//! a one-node topology.

mod args;
mod built;
mod integrated;
pub mod round_trip;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use photon_config::{Component, ComponentDocument, ConfigError, Layers, OperationMode, Origin};
use photon_dsl::{ConfigVersion, DeploymentName, Node, Resolver, Topology};

use crate::join::probe;
use crate::{RunOptions, Service, error_chain};
use args::{command, sources};
pub use built::{
    Built, Reach, Remote, Remotes, SecretKeys, admin_token, admin_token_section, check_fellow,
    check_host_port, config_error, integrated_only, integration, leak, listen_port, photonauth_of,
    secret_of, standalone_document, without_photonauth, write_integration,
};
use integrated::{fall_back, integration_plan, listen_addresses};

photon_dsl::nodes! {
    /// The one node a standalone server is.
    pub Local = "local";
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

fn config_failure(name: &str, error: &ConfigError) -> ExitCode {
    eprintln!("{name}: configuration error: {error}");
    ExitCode::from(2)
}

/// `--restore FILE`: the state directory the server would start on,
/// filled from the backup.
fn restore<S: Service>(
    binary: &str,
    built: &Built<S>,
    state_root: &std::path::Path,
    instance: String,
    from: &std::path::Path,
) -> ExitCode {
    let ctx = crate::RestoreContext {
        instance,
        state_dir: built.state_dir.clone().unwrap_or_else(|| {
            crate::supervisor::state_dir_of(
                state_root,
                "standalone",
                Local::NAME.as_str(),
                built.spec.declare().kind().as_str(),
            )
        }),
        from: from.to_owned(),
    };
    match built.spec.restore(&ctx) {
        Ok(report) => {
            tracing::info!(dir = %ctx.state_dir.display(), "{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{binary}: cannot restore: {}", error_chain(&*e));
            ExitCode::from(1)
        }
    }
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
    let state_root = m
        .get_one::<PathBuf>("state-dir")
        .cloned()
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".local/state/photoncloud")
        });
    let component_id = doc
        .photon
        .component_id
        .clone()
        .unwrap_or_else(|| C::NAME.to_owned());
    if let Some(from) = m.get_one::<PathBuf>("restore") {
        return restore(binary, &built, &state_root, component_id, from);
    }
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
    tracing::info!(
        operation_mode = detected.mode.as_str(),
        reason = %detected.reason,
        component = C::NAME,
        component_id = %component_id,
        "operation mode chosen"
    );
    // Integrated and hybrid mode's settings are checked before anything is
    // printed or started.
    let joining = match detected.mode {
        OperationMode::Standalone => None,
        OperationMode::Integrated | OperationMode::Hybrid => match integration_plan::<C>(
            &doc,
            &layers,
            &component_id,
            built.spec.local_when_integrated(),
            built.spec.uses_photonauth(),
            built.spec.uses_event_bus(),
        ) {
            Ok(plan) => Some(plan),
            Err(e) => return config_failure(binary, &e),
        },
    };
    if m.get_flag("print-config") {
        use std::io::Write as _;
        let text = layers.to_toml_hiding(C::SECRET_KEYS);
        let _ = std::io::stdout().write_all(text.as_bytes());
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
        addresses.push((node, remote.address().clone()));
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
    let resolver = match Resolver::listed(addresses) {
        Ok(resolver) => Arc::new(resolver),
        Err(e) => {
            eprintln!("{binary}: {e}");
            return ExitCode::from(1);
        }
    };
    // Join the platform (or fall back, or stop) before serving anything.
    let fallback = doc.photon.integrated.fallback_to_standalone;
    // Where an integrated start keeps its state, once it has joined.
    let state_store = joining.as_ref().map(|plan| crate::StateStore {
        endpoints: plan.chainfire.clone(),
        cluster: doc.photon.cluster_id.clone().unwrap_or_default(),
    });
    let joined = rt.block_on(async {
        match (detected.mode, joining) {
            (wanted @ (OperationMode::Integrated | OperationMode::Hybrid), Some(plan)) => {
                match crate::join::join(plan, listeners, None).await {
                    Ok(joined) => Ok((joined.report.clone(), Some(joined))),
                    Err(reason) => {
                        fall_back(fallback, wanted, reason.to_string(), 1).map(|r| (r, None))
                    }
                }
            }
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
            // Fallen back to standalone, it keeps its state locally.
            state_store: joined.as_ref().and(state_store),
        }),
        skew: crate::skew::SkewPolicy::Report,
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

//! The `<component>-server` command line, and the configuration layers it
//! adds (`--mode`, `--set KEY=VALUE`, ...).

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use photon_config::{ConfigError, Origin, Sources};

pub(super) fn command(name: &'static str) -> Command {
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
            Arg::new("restore")
                .long("restore")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Fills the component's new, empty state directory from a backup (chainfire: the file `etcdctl snapshot save` writes), and exits"),
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
pub(super) fn sources(m: &ArgMatches) -> Result<Sources, ConfigError> {
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

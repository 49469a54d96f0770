//! The event bus on its own machine, from TOML: `eventbus-server --config
//! eventbus.toml` runs nats-server with the streams it lists. `--help`
//! lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<eventbus::standalone::EventBusSchema>("eventbus-server")
}

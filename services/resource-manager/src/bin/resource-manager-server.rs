//! The resource manager on its own machine, from TOML:
//! `resource-manager-server --config resources.toml` (always integrated:
//! its state is in chainfire, its changes go on the event bus). `--help`
//! lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<resource_manager::standalone::ResourceManagerSchema>(
        "resource-manager-server",
    )
}

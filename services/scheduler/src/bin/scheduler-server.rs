//! The scheduler on its own machine, from TOML: `scheduler-server --config
//! scheduler.toml` (always integrated: resources are in chainfire).
//! `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<scheduler::standalone::SchedulerSchema>("scheduler-server")
}

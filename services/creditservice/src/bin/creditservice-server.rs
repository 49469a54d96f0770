//! creditservice on its own machine, from TOML: `creditservice-server
//! --config credits.toml` (always integrated: its state is in chainfire).
//! `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<creditservice::standalone::CreditServiceSchema>(
        "creditservice-server",
    )
}

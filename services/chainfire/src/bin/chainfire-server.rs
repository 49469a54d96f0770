//! chainfire on its own, a single-member cluster:
//! `chainfire-server --config chainfire.toml`. `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<chainfire::standalone::ChainfireSchema>("chainfire-server")
}

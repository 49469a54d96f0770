//! photonnet on its own machine, from TOML: `photonnet-server --config
//! photonnet.toml` (always integrated: its state is in chainfire).
//! `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<photonnet::standalone::PhotonNetSchema>("photonnet-server")
}

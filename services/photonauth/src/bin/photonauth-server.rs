//! photonauth on its own machine, from TOML: `photonauth-server --config
//! photonauth.toml` (always integrated: its state is in chainfire).
//! `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<photonauth::standalone::PhotonAuthSchema>(
        "photonauth-server",
    )
}

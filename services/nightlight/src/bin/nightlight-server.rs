//! nightlight on its own, from the design's TOML schema:
//! `nightlight-server --config nightlight.toml`. `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<nightlight::standalone::NightLightSchema>(
        "nightlight-server",
    )
}

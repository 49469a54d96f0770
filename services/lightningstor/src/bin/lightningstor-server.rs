//! lightningstor on its own, from the design's TOML schema:
//! `lightningstor-server --config standalone.toml`. `--help` lists the
//! flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<lightningstor::standalone::LightningStorSchema>(
        "lightningstor-server",
    )
}

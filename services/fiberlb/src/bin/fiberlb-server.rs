//! fiberlb on its own, from the design's TOML schema:
//! `fiberlb-server --config fiberlb.toml`. `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<fiberlb::standalone::FiberLbSchema>("fiberlb-server")
}

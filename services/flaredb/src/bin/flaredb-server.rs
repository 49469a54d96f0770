//! A flaredb node on its own machine, from TOML: `flaredb-server --config
//! db-1.toml` (always integrated: the shard map is in chainfire).
//! `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<flaredb::standalone::FlareDbSchema>("flaredb-server")
}

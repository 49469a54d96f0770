//! The echo server on its own, from TOML: `echo-server --config echo.toml`.
//! `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<echo::standalone::EchoServerSchema>("echo-server")
}

//! The echo client on its own, from TOML: `echo-client --config client.toml`
//! polls the server its `echo_url` names. `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<echo::standalone::EchoClientSchema>("echo-client")
}

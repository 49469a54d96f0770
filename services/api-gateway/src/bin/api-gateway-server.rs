//! The API gateway on its own machine, from TOML: `api-gateway-server
//! --config gateway.toml` (always integrated). `--help` lists the flags.

fn main() -> std::process::ExitCode {
    photon_runtime::standalone::main::<api_gateway::standalone::ApiGatewaySchema>(
        "api-gateway-server",
    )
}

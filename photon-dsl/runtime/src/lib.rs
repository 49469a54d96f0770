//! Runs a PhotonCloud topology.
//!
//! - [`Service`]: what a service's server half implements: acquire (bind,
//!   open storage), serve until told to stop, release; and probe itself.
//! - The supervisor starts services in dependency order, waits for each
//!   dependency to answer, and stops everything in reverse order on SIGINT or
//!   SIGTERM, or a node when its [`Lifetime`](photon_dsl::Lifetime) ends.
//! - [`deployment!`] turns a deployment file into the binary every node runs:
//!   `plan`, `graph`, `up`, `run --node`, `check`, `--version`.

pub mod accept;
pub mod admin;
mod cli;
pub mod export;
pub mod grpc;
pub mod http;
mod join;
mod lifetime;
pub mod local_secrets;
mod mode;
pub mod operations;
pub mod plan;
pub mod process;
pub mod roll;
pub mod secret;
mod service;
pub mod skew;
pub mod standalone;
mod supervisor;

pub use admin::Admin;
pub use cli::{BinaryInfo, install_logging, main};
pub use mode::{LiveCheck, ModeReport};
pub use photon_config;
pub use photon_dsl;
pub use secret::{ExposeSecret, SecretError, SecretString, read_secret, same_secret};
pub use service::{
    BindError, BoxFuture, ConnectError, ExportContext, ExportError, NodeStopper, Peer, Placement,
    ProbeTarget, RestoreContext, Running, Service, ServiceError, Sockets, StartContext, StateStore,
    TakenTwice, default_probe, resolve_socket,
};
pub use supervisor::{RunError, RunOptions, StandaloneRun, error_chain, run};

/// Declares a deployment: the `topology!` checks at compile time, plus the
/// `main` of the deployment binary.
///
/// ```text
/// photon_runtime::deployment! {
///     name: "echo-pair",
///     version: "1.0.0",
///     branch: "main",
///     nodes: [Server, Client],
///     services: [ECHO, CLIENT, CLIENT_LIFETIME],
/// }
/// ```
#[macro_export]
macro_rules! deployment {
    ($($body:tt)*) => {
        $crate::photon_dsl::__topology!(dyn $crate::Service; $($body)*);

        fn main() -> ::std::process::ExitCode {
            $crate::main(
                $crate::BinaryInfo {
                    package: env!("CARGO_PKG_NAME"),
                    version: env!("CARGO_PKG_VERSION"),
                },
                topology(),
            )
        }
    };
}

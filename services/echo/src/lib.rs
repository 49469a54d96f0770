//! The echo pair from the article: [`EchoServer`] answers `GET /<prefix>/<msg>`
//! with `<msg>`; [`EchoClient`] asks it every `poll_interval` and logs each reply.
//!
//! | feature | what it adds |
//! |---|---|
//! | `server` (default) | the running server and client (hyper) |
//!
//! Without `server`, only the [`spec`] compiles: what deployments and ui-tests
//! check against.

pub mod spec;
pub use spec::{EchoClient, EchoProtocol, EchoServer};

#[cfg(feature = "server")]
mod client;
#[cfg(feature = "server")]
mod http;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod standalone;

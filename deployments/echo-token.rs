//! The echo pair behind a bearer token. The token is a [`Secret`] reference:
//! each node reads it from its own `ECHO_TOKEN` at start-up, so the value is
//! never in this file, in the binary, or in `plan`.
//!
//! ```text
//! ECHO_TOKEN=$(openssl rand -hex 16) cargo run -p deploy-echo-token -- up
//! ```

use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    /// Answers echo requests that carry the token.
    pub Server = "server";
    /// Polls the server with the token.
    pub Client = "client";
}

/// Where both sides find the shared token on their node.
const TOKEN: Secret = Secret::env("ECHO_TOKEN");

const ECHO: EchoServer<Server> = EchoServer {
    node: Server,
    port: port!(8080),
    prefix: path!("echo"),
    token: Some(TOKEN),
};

const CLIENT: EchoClient<Client> = EchoClient {
    node: Client,
    echo: ECHO.endpoint().dep(),
    test_message: "dolly",
    poll_interval: Duration::from_millis(500),
    token: Some(TOKEN),
};

photon_runtime::deployment! {
    name: "echo-token",
    version: "1.0.0",
    branch: "main",
    nodes: [Server, Client],
    services: [ECHO, CLIENT],
}

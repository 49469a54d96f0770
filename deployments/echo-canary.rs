//! `echo-canary` 1.0.0: an echo server, a client polling it, and a second
//! echo server (the canary) that nothing depends on yet.
//!
//! `echo-canary-next.rs` is the same deployment's next revision, 1.1.0,
//! which moves the canary's port: one edit, so two binaries built from
//! topologies that differ by one port. With them the tests show
//! `plan --diff` naming that change, and nodes that run different
//! revisions noticing each other (`--config-skew report|refuse`, `check`).

use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    /// Answers echo requests.
    pub Server = "server";
    /// Polls the server.
    pub Client = "client";
    /// Answers echo requests too; where a change is tried first.
    pub Canary = "canary";
}

const ECHO: EchoServer<Server> = EchoServer {
    node: Server,
    port: port!(8080),
    prefix: path!("echo"),
    token: None,
};

const CLIENT: EchoClient<Client> = EchoClient {
    node: Client,
    echo: ECHO.endpoint().dep(),
    test_message: "canary",
    poll_interval: Duration::from_millis(200),
    token: None,
};

const CANARY: EchoServer<Canary> = EchoServer {
    node: Canary,
    port: port!(8090),
    prefix: path!("echo"),
    token: None,
};

photon_runtime::deployment! {
    name: "echo-canary",
    version: "1.0.0",
    branch: "main",
    nodes: [Server, Client, Canary],
    services: [ECHO, CLIENT, CANARY],
}

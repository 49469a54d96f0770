//! `echo-canary` 1.1.0: the next revision of `echo-canary.rs`, in which
//! the canary listens on 8091 instead of 8090 and nothing else changes
//! but the version. Built as its own binary so that the tests can run
//! both revisions side by side, as a rollout half done would.

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
    port: port!(8091),
    prefix: path!("echo"),
    token: None,
};

photon_runtime::deployment! {
    name: "echo-canary",
    version: "1.1.0",
    branch: "main",
    nodes: [Server, Client, Canary],
    services: [ECHO, CLIENT, CANARY],
}

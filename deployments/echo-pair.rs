//! The echo server on one node (runs until SIGTERM), the client on another
//! (stops after 10.5 s), wired by handing the server's endpoint to the client:
//! the port is written once, below, where the server is configured.

use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    /// Answers echo requests.
    pub Server = "server";
    /// Polls the server.
    pub Client = "client";
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
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: None,
};

const CLIENT_LIFETIME: Lifetime<Client> = Lifetime {
    node: Client,
    after: Duration::from_millis(10_500),
};

photon_runtime::deployment! {
    name: "echo-pair",
    version: "1.0.0",
    branch: "main",
    nodes: [Server, Client],
    services: [ECHO, CLIENT, CLIENT_LIFETIME],
}

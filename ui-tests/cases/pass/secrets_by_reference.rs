// Class 8, corrected: secrets named by where they live on the node.
use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
    pub Client = "client";
}

const TOKEN_FILE: Secret = Secret::file("/etc/photon/echo.token");
const ECHO: EchoServer<Server> = EchoServer {
    node: Server,
    port: port!(8080),
    prefix: path!("echo"),
    token: Some(TOKEN_FILE),
};
const CLIENT: EchoClient<Client> = EchoClient {
    node: Client,
    echo: ECHO.endpoint().dep(),
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: Some(Secret::env("ECHO_TOKEN")),
};

photon_dsl::topology! {
    name: "secrets",
    version: "1.0.0",
    branch: "main",
    nodes: [Server, Client],
    services: [ECHO, CLIENT],
}

fn main() {
    let t = topology();
    let refs: Vec<String> = t
        .services()
        .iter()
        .flat_map(|s| s.decl.secrets().map(|d| d.secret.to_string()).collect::<Vec<_>>())
        .collect();
    assert_eq!(refs, ["file /etc/photon/echo.token", "env ECHO_TOKEN"]);
}

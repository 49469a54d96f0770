// The client is wired to the echo server's endpoint, but the server is not
// placed in the topology.
use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
    pub Client = "client";
}

const ECHO: EchoServer<Server> = EchoServer { node: Server, port: port!(8080), prefix: path!("echo"), token: None };
const CLIENT: EchoClient<Client> = EchoClient {
    node: Client,
    echo: ECHO.endpoint().dep(),
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: None,
};

photon_dsl::topology! {
    name: "pair",
    version: "1.0.0",
    branch: "main",
    nodes: [Server, Client],
    services: [CLIENT],
}

fn main() {}

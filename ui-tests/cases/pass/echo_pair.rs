// The corrected forms of the fail cases: valid literals, matching protocols,
// distinct ports, every node declared.
use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
    pub Client = "client";
}

const ECHO: EchoServer<Server> = EchoServer { node: Server, port: port!(8080), prefix: path!("echo_v1"), token: None };
const ECHO_V2: EchoServer<Client> = EchoServer { node: Client, port: port!(8080), prefix: path!("v2"), token: None };
const CLIENT: EchoClient<Client> = EchoClient {
    node: Client,
    echo: ECHO.endpoint().dep(),
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: None,
};

photon_dsl::topology! {
    name: "echo-pair",
    version: "1.0.0",
    branch: "main",
    nodes: [Server, Client],
    services: [ECHO, ECHO_V2, CLIENT],
}

fn main() {
    assert_eq!(port!(1).get(), 1);
    assert_eq!(port!(65535).get(), 65535);
    assert_eq!(topology().services().len(), 3);
}

// An endpoint of the echo protocol minted by the echo *client*, which does
// not serve it, to avoid naming the server.
use echo::{EchoClient, EchoProtocol, EchoServer};
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
const FAKE: Endpoint<Client, EchoProtocol> =
    Endpoint::<Client, EchoProtocol>::provided_by(&CLIENT, port!(8080), None);

fn main() {}

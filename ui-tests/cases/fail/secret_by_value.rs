// The echo token written into the deployment as its value.
use echo::EchoServer;
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
}

const ECHO: EchoServer<Server> = EchoServer {
    node: Server,
    port: port!(8080),
    prefix: path!("echo"),
    token: Some("7f3a9c1e55b04d2e"),
};

fn main() {}

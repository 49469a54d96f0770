// A secret file given relative to wherever the binary happens to start.
use echo::EchoServer;
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
}

const ECHO: EchoServer<Server> = EchoServer {
    node: Server,
    port: port!(8080),
    prefix: path!("echo"),
    token: Some(Secret::file("secrets/echo.token")),
};

fn main() {}

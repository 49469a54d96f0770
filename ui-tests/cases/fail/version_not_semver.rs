use echo::EchoServer;
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
}

const ECHO: EchoServer<Server> = EchoServer { node: Server, port: port!(8080), prefix: path!("echo"), token: None };

photon_dsl::topology! {
    name: "echo",
    version: "1.0",
    branch: "main",
    nodes: [Server],
    services: [ECHO],
}

fn main() {}

use echo::EchoServer;
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
    pub Forgotten = "forgotten";
}

const ECHO: EchoServer<Forgotten> = EchoServer { node: Forgotten, port: port!(8080), prefix: path!("echo"), token: None };

photon_dsl::topology! {
    name: "nodes",
    version: "1.0.0",
    branch: "main",
    nodes: [Server],
    services: [ECHO],
}

fn main() {}

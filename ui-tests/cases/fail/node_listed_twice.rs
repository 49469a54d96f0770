// Two node types that share one name.
use echo::EchoServer;
use photon_dsl::prelude::*;

nodes! {
    pub Web1 = "web";
    pub Web2 = "web";
}

const ECHO: EchoServer<Web1> = EchoServer { node: Web1, port: port!(8080), prefix: path!("echo"), token: None };

photon_dsl::topology! {
    name: "web",
    version: "1.0.0",
    branch: "main",
    nodes: [Web1, Web2],
    services: [ECHO],
}

fn main() {}

// Two services on port 8080 of one node: the echo server and a user's own
// metrics exporter.
use echo::EchoServer;
use photon_dsl::prelude::*;
use photon_dsl::{ServiceDecl, ServiceSpec};

nodes! {
    pub Server = "server";
}

#[derive(Debug)]
pub struct Exporter<N: Node> {
    pub node: N,
    pub port: Port,
}
impl<N: Node> Exporter<N> {
    pub const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>("exporter").listens::<PromScrape>("metrics", self.port)
    }
}
impl<N: Node> ServiceSpec for Exporter<N> {
    fn declare(&self) -> ServiceDecl {
        Exporter::declare(self)
    }
}

const ECHO: EchoServer<Server> = EchoServer { node: Server, port: port!(8080), prefix: path!("echo"), token: None };
const METRICS: Exporter<Server> = Exporter { node: Server, port: port!(8080) };

photon_dsl::topology! {
    name: "ports",
    version: "1.0.0",
    branch: "main",
    nodes: [Server],
    services: [ECHO, METRICS],
}

fn main() {}

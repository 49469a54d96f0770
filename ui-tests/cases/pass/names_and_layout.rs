// Class 9, corrected: distinct, well-formed node names; one chainfire per
// node (a cluster is one member on each of several nodes); a semver version;
// dependencies that only point one way.
use chainfire::{Chainfire, Limits};
use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    pub Web1 = "web-1";
    pub Web2 = "web-2";
    pub Web3 = "web-3";
}

const CF1: Chainfire<Web1> = Chainfire { node: Web1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF2: Chainfire<Web2> = Chainfire { node: Web2, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF3: Chainfire<Web3> = CF1.on(Web3);
const PING: EchoServer<Web1> = EchoServer { node: Web1, port: port!(8080), prefix: path!("ping"), token: None };
const PONG: EchoClient<Web2> = EchoClient {
    node: Web2,
    echo: PING.endpoint().dep(),
    test_message: "ping",
    poll_interval: Duration::from_secs(1),
    token: None,
};

photon_dsl::topology! {
    name: "web",
    version: "1.2.3",
    branch: "main",
    nodes: [Web1, Web2, Web3],
    services: [CF1, CF2, CF3, PING, PONG],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    assert_eq!(t.version().to_string(), "1.2.3+main");
}

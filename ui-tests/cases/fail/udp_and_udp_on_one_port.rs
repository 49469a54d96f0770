// Two UDP listeners on one port of one node: a DNS server and a syslog
// collector both on 53.
use photon_dsl::prelude::*;
use ui_tests::fixtures::{Listener, Syslog};

nodes! {
    pub Edge = "edge";
}

const DNS: Listener<Edge, Dns> = Listener::new(Edge, "dns", port!(53));
const SYSLOG: Listener<Edge, Syslog> = Listener::new(Edge, "syslog", port!(53));

photon_dsl::topology! {
    name: "edge",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge],
    services: [DNS, SYSLOG],
}

fn main() {}

// Two UDP listeners on one port of one node: a DNS server and a syslog
// collector both on 53.
use photon_dsl::prelude::*;
use photon_dsl::{Protocol, ServiceDecl, ServiceSpec, Transport};

nodes! {
    pub Edge = "edge";
}

#[derive(Debug)]
pub enum Syslog {}
impl Protocol for Syslog {
    const NAME: &'static str = "syslog";
    const TRANSPORT: Transport = Transport::Udp;
    const HAS_PATH: bool = false;
}

#[derive(Debug)]
pub struct Listener<N: Node, P: Protocol> {
    pub node: N,
    pub kind: &'static str,
    pub port: Port,
    pub protocol: core::marker::PhantomData<fn() -> P>,
}
impl<N: Node, P: Protocol> Listener<N, P> {
    pub const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>(self.kind).listens::<P>("main", self.port)
    }
}
impl<N: Node, P: Protocol> ServiceSpec for Listener<N, P> {
    fn declare(&self) -> ServiceDecl {
        Listener::declare(self)
    }
}

const DNS: Listener<Edge, Dns> = Listener { node: Edge, kind: "dns", port: port!(53), protocol: core::marker::PhantomData };
const SYSLOG: Listener<Edge, Syslog> = Listener { node: Edge, kind: "syslog", port: port!(53), protocol: core::marker::PhantomData };

photon_dsl::topology! {
    name: "edge",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge],
    services: [DNS, SYSLOG],
}

fn main() {}

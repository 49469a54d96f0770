// A server half asking for the socket of a listener its spec never
// declared. The runtime hands sockets out by key (`ctx.tcp(Key, &spec)`),
// through `photon_dsl::listener_name`, whose bound is the check.
use photon_dsl::prelude::*;
use photon_dsl::{Declares, ServiceDecl, ServiceSpec};

nodes! {
    pub Web = "web";
}

photon_dsl::listener! {
    pub Api: Http = "api";
    pub Metrics: PromScrape = "metrics";
}

#[derive(Debug)]
pub struct Shop<N: Node> {
    pub node: N,
    pub port: Port,
}

impl<N: Node> ServiceSpec for Shop<N> {
    fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>("shop").listens_on::<Api>(self.port)
    }
}

impl<N: Node> Declares<Api> for Shop<N> {}

fn start(spec: &Shop<Web>) -> [&'static str; 2] {
    [
        photon_dsl::listener_name(Api, spec),
        photon_dsl::listener_name(Metrics, spec),
    ]
}

fn main() {
    let _ = start(&Shop { node: Web, port: port!(8080) });
}

// A spec that declares each listener its server takes: both keys resolve.
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
    pub metrics_port: Port,
}

impl<N: Node> ServiceSpec for Shop<N> {
    fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>("shop")
            .listens_on::<Api>(self.port)
            .listens_on::<Metrics>(self.metrics_port)
    }
}

impl<N: Node> Declares<Api> for Shop<N> {}
impl<N: Node> Declares<Metrics> for Shop<N> {}

fn main() {
    let shop = Shop { node: Web, port: port!(8080), metrics_port: port!(9100) };
    assert_eq!(photon_dsl::listener_name(Api, &shop), "api");
    assert_eq!(photon_dsl::listener_name(Metrics, &shop), "metrics");
    assert_eq!(shop.declare().listener_count(), 2);
}

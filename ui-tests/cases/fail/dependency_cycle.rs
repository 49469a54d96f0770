// Two services that each need the other: a start order cannot exist.
use photon_dsl::prelude::*;
use photon_dsl::{Provides, ServiceDecl, ServiceSpec};

nodes! {
    pub A = "a";
    pub B = "b";
}

#[derive(Debug)]
pub struct Peer<N: Node> {
    pub node: N,
    pub port: Port,
    pub other: Dep<Http>,
}
impl<N: Node> Peer<N> {
    pub const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>("peer").listens::<Http>("http", self.port).needs("other", &self.other)
    }
    pub const fn endpoint(&self) -> Endpoint<N, Http> {
        Endpoint::provided_by(self, self.port, None)
    }
}
impl<N: Node> ServiceSpec for Peer<N> {
    fn declare(&self) -> ServiceDecl {
        Peer::declare(self)
    }
}
impl<N: Node> Provides<Http> for Peer<N> {
    type OnNode = N;
}

const PING: Peer<A> = Peer { node: A, port: port!(8080), other: PONG.endpoint().dep() };
const PONG: Peer<B> = Peer { node: B, port: port!(8080), other: PING.endpoint().dep() };

fn main() {}

// Class 2, corrected: each slot gets an endpoint of the protocol it needs,
// including the message types of `HttpGet<Req, Resp>`, and the state store
// is chainfire's client port, not its Raft port.
use chainfire::{Chainfire, Limits};
use echo::{EchoClient, EchoServer};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photon_dsl::{Provides, ServiceDecl, ServiceSpec};

nodes! {
    pub Kv = "kv";
    pub Store = "store";
    pub App = "app";
}

/// Answers `GET /double/<n>` with `2n`.
#[derive(Debug)]
pub struct Doubler<N: Node> {
    pub node: N,
    pub port: Port,
}
impl<N: Node> Doubler<N> {
    pub const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>("doubler").listens::<HttpGet<u32, u32>>("http", self.port)
    }
    pub const fn endpoint(&self) -> Endpoint<N, HttpGet<u32, u32>> {
        Endpoint::provided_by(self, self.port, Some(path!("double")))
    }
}
impl<N: Node> ServiceSpec for Doubler<N> {
    fn declare(&self) -> ServiceDecl {
        Doubler::declare(self)
    }
}
impl<N: Node> Provides<HttpGet<u32, u32>> for Doubler<N> {
    type OnNode = N;
}

const CHAINFIRE: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: &[CHAINFIRE.kv().dep()],
        auth: Auth::Local,
    }),
};
const ECHO: EchoServer<App> = EchoServer { node: App, port: port!(8080), prefix: path!("echo"), token: None };
const CLIENT: EchoClient<App> = EchoClient {
    node: App,
    echo: ECHO.endpoint().dep(),
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: None,
};
const DOUBLER: Doubler<App> = Doubler { node: App, port: port!(8081) };
const DOUBLER_SLOT: Dep<HttpGet<u32, u32>> = DOUBLER.endpoint().dep();

photon_dsl::topology! {
    name: "protocols",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Store, App],
    services: [CHAINFIRE, STORE, ECHO, CLIENT, DOUBLER],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    assert_eq!(DOUBLER_SLOT.port().get(), 8081);
    // lightningstor starts after the chainfire it keeps its state in.
    let order: Vec<String> = t.start_order().unwrap().iter().map(|&i| t.label(i)).collect();
    let kv = order.iter().position(|l| l == "kv/chainfire").unwrap();
    let store = order.iter().position(|l| l == "store/lightningstor").unwrap();
    assert!(kv < store, "{order:?}");
}

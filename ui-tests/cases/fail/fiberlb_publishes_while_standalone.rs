// A standalone fiberlb asked to publish its balancers' names: they are
// written through chainfire, which only an integrated fiberlb has.
use echo::EchoServer;
use fiberlb::{Backend, FiberLb, Health, HttpStickiness, L7, Method, Publish};
use flashdns::{FlashDns, Zone};
use chainfire::{Chainfire, Limits};
use photon_dsl::prelude::*;

nodes! {
    pub Kv = "kv";
    pub Dns = "dns";
    pub Edge = "edge";
    pub Web1 = "web-1";
}

const KV: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const DNS: FlashDns<Dns> = FlashDns {
    mode: Mode::Integrated(Integration { state_store: &[KV.kv().dep()], auth: Auth::Local }),
    ..FlashDns::new(Dns, &[Zone::stored("apps.internal")])
};
const WEB_1: EchoServer<Web1> = EchoServer { node: Web1, port: port!(8080), prefix: path!("echo"), token: None };

const WEB: L7<echo::EchoProtocol> = L7 {
    name: "web",
    port: port!(8080),
    backends: &[Backend::of(WEB_1.endpoint().dep())],
    routes: &[],
    method: Method::RoundRobin,
    health: Health::DEFAULT,
    stickiness: HttpStickiness::None,
    tls: None,
    request_timeout: Duration::from_secs(30),
};

const LB: FiberLb<Edge> = FiberLb {
    publish: Publish::Dns { zone: "apps.internal", server: DNS.dns().dep() },
    ..FiberLb::new(Edge, &[WEB.balancer()])
};

photon_dsl::topology! {
    name: "web",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Dns, Edge, Web1],
    services: [KV, DNS, LB, WEB_1],
}

fn main() {}

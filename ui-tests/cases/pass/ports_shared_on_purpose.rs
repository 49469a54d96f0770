// Class 4, corrected: TCP and UDP on one port do not collide (syslog on
// 514/udp beside syslog-over-TCP on 514/tcp), and several sites behind one
// load-balancer front end on :443 are one listener with several virtual
// hosts, not several listeners.
use echo::{EchoProtocol, EchoServer};
use photon_dsl::prelude::*;
use photon_dsl::{Protocol, ServiceDecl, ServiceSpec, Transport};

nodes! {
    pub Edge = "edge";
    pub ShopApp = "shop-app";
    pub BlogApp = "blog-app";
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

#[derive(Debug)]
pub struct VirtualHost {
    pub host: HostName,
    pub backend: Dep<EchoProtocol>,
}

/// One listener, many sites: the shape of a load balancer's front end.
#[derive(Debug)]
pub struct FrontEnd<N: Node> {
    pub node: N,
    pub port: Port,
    pub hosts: &'static [VirtualHost],
}
impl<N: Node> FrontEnd<N> {
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>("lb").listens::<Http>("https", self.port);
        let mut i = 0;
        while i < self.hosts.len() {
            decl = decl.needs("hosts", &self.hosts[i].backend);
            i += 1;
        }
        decl
    }
}
impl<N: Node> ServiceSpec for FrontEnd<N> {
    fn declare(&self) -> ServiceDecl {
        FrontEnd::declare(self)
    }
}

const SYSLOG_UDP: Listener<Edge, Syslog> = Listener { node: Edge, kind: "syslog", port: port!(514), protocol: core::marker::PhantomData };
const SYSLOG_TCP: Listener<Edge, RawTcp> = Listener { node: Edge, kind: "syslog-tcp", port: port!(514), protocol: core::marker::PhantomData };

const SHOP: EchoServer<ShopApp> = EchoServer { node: ShopApp, port: port!(8080), prefix: path!("shop"), token: None };
const BLOG: EchoServer<BlogApp> = EchoServer { node: BlogApp, port: port!(8080), prefix: path!("blog"), token: None };
const FRONT: FrontEnd<Edge> = FrontEnd {
    node: Edge,
    port: port!(443),
    hosts: &[
        VirtualHost { host: host!("shop.example.com"), backend: Dep::on(SHOP.endpoint()) },
        VirtualHost { host: host!("blog.example.com"), backend: Dep::on(BLOG.endpoint()) },
    ],
};

photon_dsl::topology! {
    name: "edge",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, ShopApp, BlogApp],
    services: [SYSLOG_UDP, SYSLOG_TCP, SHOP, BLOG, FRONT],
}

fn main() {
    topology().check().unwrap();
}

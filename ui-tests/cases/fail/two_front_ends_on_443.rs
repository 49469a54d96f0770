// Two load-balancer front ends on :443 of one node, one per site. Several
// sites on one port are one front end with several virtual hosts (see
// `pass/one_front_end_many_hosts.rs`).
use echo::EchoServer;
use photon_dsl::prelude::*;
use photon_dsl::{ServiceDecl, ServiceSpec};

nodes! {
    pub Edge = "edge";
    pub ShopApp = "shop-app";
    pub BlogApp = "blog-app";
}

#[derive(Debug)]
pub struct VirtualHost {
    pub host: HostName,
    pub backend: Dep<EchoProtocol>,
}

#[derive(Debug)]
pub struct FrontEnd<N: Node> {
    pub node: N,
    pub kind: &'static str,
    pub port: Port,
    pub hosts: &'static [VirtualHost],
}
impl<N: Node> FrontEnd<N> {
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>(self.kind).listens::<Http>("https", self.port);
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

type EchoProtocol = echo::EchoProtocol;

const SHOP: EchoServer<ShopApp> = EchoServer { node: ShopApp, port: port!(8080), prefix: path!("shop"), token: None };
const BLOG: EchoServer<BlogApp> = EchoServer { node: BlogApp, port: port!(8080), prefix: path!("blog"), token: None };

const SHOP_FRONT: FrontEnd<Edge> = FrontEnd {
    node: Edge,
    kind: "lb-shop",
    port: port!(443),
    hosts: &[VirtualHost { host: host!("shop.example.com"), backend: Dep::on(SHOP.endpoint()) }],
};
const BLOG_FRONT: FrontEnd<Edge> = FrontEnd {
    node: Edge,
    kind: "lb-blog",
    port: port!(443),
    hosts: &[VirtualHost { host: host!("blog.example.com"), backend: Dep::on(BLOG.endpoint()) }],
};

photon_dsl::topology! {
    name: "sites",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, ShopApp, BlogApp],
    services: [SHOP, BLOG, SHOP_FRONT, BLOG_FRONT],
}

fn main() {}

// Two load-balancer front ends on :443 of one node, one per site. Several
// sites on one port are one front end with several virtual hosts (see
// `pass/ports_shared_on_purpose.rs`).
use echo::EchoServer;
use photon_dsl::prelude::*;
use ui_tests::fixtures::{FrontEnd, VirtualHost};

nodes! {
    pub Edge = "edge";
    pub ShopApp = "shop-app";
    pub BlogApp = "blog-app";
}

const SHOP: EchoServer<ShopApp> = EchoServer { node: ShopApp, port: port!(8080), prefix: path!("shop"), token: None };
const BLOG: EchoServer<BlogApp> = EchoServer { node: BlogApp, port: port!(8080), prefix: path!("blog"), token: None };

const SHOP_FRONT: FrontEnd<Edge> = FrontEnd {
    node: Edge,
    kind: "lb-shop",
    port: port!(443),
    hosts: &[VirtualHost { host: host!("shop.example.com"), backend: SHOP.endpoint().dep() }],
};
const BLOG_FRONT: FrontEnd<Edge> = FrontEnd {
    node: Edge,
    kind: "lb-blog",
    port: port!(443),
    hosts: &[VirtualHost { host: host!("blog.example.com"), backend: BLOG.endpoint().dep() }],
};

photon_dsl::topology! {
    name: "sites",
    version: "1.0.0",
    branch: "main",
    nodes: [Edge, ShopApp, BlogApp],
    services: [SHOP, BLOG, SHOP_FRONT, BLOG_FRONT],
}

fn main() {}

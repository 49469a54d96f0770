// Class 4, corrected: TCP and UDP on one port do not collide (syslog on
// 514/udp beside syslog-over-TCP on 514/tcp), and several sites behind one
// load-balancer front end on :443 are one listener with several virtual
// hosts, not several listeners.
use echo::EchoServer;
use photon_dsl::prelude::*;
use ui_tests::fixtures::{FrontEnd, Listener, Syslog, VirtualHost};

nodes! {
    pub Edge = "edge";
    pub ShopApp = "shop-app";
    pub BlogApp = "blog-app";
}

const SYSLOG_UDP: Listener<Edge, Syslog> = Listener::new(Edge, "syslog", port!(514));
const SYSLOG_TCP: Listener<Edge, RawTcp> = Listener::new(Edge, "syslog-tcp", port!(514));

const SHOP: EchoServer<ShopApp> = EchoServer { node: ShopApp, port: port!(8080), prefix: path!("shop"), token: None };
const BLOG: EchoServer<BlogApp> = EchoServer { node: BlogApp, port: port!(8080), prefix: path!("blog"), token: None };
const FRONT: FrontEnd<Edge> = FrontEnd {
    node: Edge,
    kind: "lb",
    port: port!(443),
    hosts: &[
        VirtualHost { host: host!("shop.example.com"), backend: SHOP.endpoint().dep() },
        VirtualHost { host: host!("blog.example.com"), backend: BLOG.endpoint().dep() },
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

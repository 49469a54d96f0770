// The echo server's endpoint handed to a slot that needs the etcd v3 KV.
use echo::EchoServer;
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
}

const ECHO: EchoServer<Server> = EchoServer { node: Server, port: port!(8080), prefix: path!("echo"), token: None };
const KV: Dep<EtcdV3> = ECHO.endpoint().dep();

fn main() {}

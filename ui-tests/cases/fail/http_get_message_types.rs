// The echo server speaks `HttpGet<String, String>`; this counter needs a
// service that answers numbers (`HttpGet<u32, u32>`).
use echo::EchoServer;
use photon_dsl::prelude::*;

nodes! {
    pub Server = "server";
}

pub struct Counter {
    pub doubler: Dep<HttpGet<u32, u32>>,
}

const ECHO: EchoServer<Server> = EchoServer { node: Server, port: port!(8080), prefix: path!("echo"), token: None };
const COUNTER: Counter = Counter { doubler: ECHO.endpoint().dep() };

fn main() {}

//! Both echo services on one node; the node stops by itself after 10.5 s, so
//! the client makes exactly ten requests (the article's single-node example).

use echo::{EchoClient, EchoServer};
use photon_dsl::prelude::*;

nodes! {
    /// The only machine.
    pub Solo = "solo";
}

const ECHO: EchoServer<Solo> = EchoServer {
    node: Solo,
    port: port!(8088),
    prefix: path!("echo"),
    token: None,
};

const CLIENT: EchoClient<Solo> = EchoClient {
    node: Solo,
    echo: ECHO.endpoint().dep(),
    test_message: "hello",
    poll_interval: Duration::from_secs(1),
    token: None,
};

// The extra half second makes it ten requests, not nine.
const LIFETIME: Lifetime<Solo> = Lifetime {
    node: Solo,
    after: Duration::from_millis(10_500),
};

photon_runtime::deployment! {
    name: "echo-single",
    version: "1.0.0",
    branch: "main",
    nodes: [Solo],
    services: [ECHO, CLIENT, LIFETIME],
}

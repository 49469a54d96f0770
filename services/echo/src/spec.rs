//! The echo pair's typed configuration (light: photon-dsl only).

use core::time::Duration;

use photon_dsl::protocol::HttpGet;
use photon_dsl::{
    Declares, Dep, Endpoint, Node, Port, Provides, Secret, ServiceDecl, ServiceSpec, UrlPathPrefix,
};

/// The service kind, as `plan`, logs and errors name it.
const SERVER_KIND: &str = "echo";

/// What the echo server speaks: a text request in the URL, the same text back.
pub type EchoProtocol = HttpGet<String, String>;

photon_dsl::listener! {
    /// The echo server's one listener: the echo, `/health` and `/metrics`.
    pub EchoListener: EchoProtocol = "echo";
}

/// The echo server: `GET /<prefix>/<msg>` answers `<msg>`.
#[derive(Debug, Clone, Copy)]
pub struct EchoServer<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Its port: written here, once.
    pub port: Port,
    /// The path prefix it answers under.
    pub prefix: UrlPathPrefix,
    /// If set, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

impl<N: Node> EchoServer<N> {
    /// Its listener, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>(SERVER_KIND)
            .listens_on::<EchoListener>(self.port)
            .with_health()
            .secret_optional("token", &self.token)
    }

    /// The endpoint clients depend on.
    pub const fn endpoint(&self) -> Endpoint<N, EchoProtocol> {
        Endpoint::provided_by(self, self.port, Some(self.prefix))
    }
}

impl<N: Node> ServiceSpec for EchoServer<N> {
    fn declare(&self) -> ServiceDecl {
        EchoServer::declare(self)
    }
}

impl<N: Node> Declares<EchoListener> for EchoServer<N> {}

impl<N: Node> Provides<EchoProtocol> for EchoServer<N> {
    type OnNode = N;
    const KIND: &'static str = SERVER_KIND;
}

/// The echo client: sends `test_message` every `poll_interval` (the first one
/// after one interval, as in the article) and logs each reply.
#[derive(Debug, Clone, Copy)]
pub struct EchoClient<N: Node> {
    /// Where it runs.
    pub node: N,
    /// The echo server it polls.
    pub echo: Dep<EchoProtocol>,
    /// What it sends.
    pub test_message: &'static str,
    /// How often.
    pub poll_interval: Duration,
    /// The bearer token to send, when the server requires one.
    pub token: Option<Secret>,
}

impl<N: Node> EchoClient<N> {
    /// Its dependency, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>("echo-client")
            .needs("echo", &self.echo)
            .secret_optional("token", &self.token)
    }
}

impl<N: Node> ServiceSpec for EchoClient<N> {
    fn declare(&self) -> ServiceDecl {
        EchoClient::declare(self)
    }
}

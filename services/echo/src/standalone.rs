//! The echo pair from TOML: `echo-server --config echo.toml` and
//! `echo-client --config client.toml`. The design has no echo (it is the
//! article's demo); the schema follows the components':
//!
//! ```toml
//! # echo-server
//! [photon]
//! component_id = "echo-01"
//! [standalone.server]
//! addr = "0.0.0.0:8080"
//! prefix = "echo"
//! token_env = "ECHO_TOKEN"          # or token_file; neither: no token
//!
//! # echo-client
//! [standalone.client]
//! echo_url = "http://echo-01:8080/echo"
//! test_message = "dolly"
//! poll_interval_ms = 1000
//! stop_after_ms = 10500             # the node's lifetime, if it has one
//! ```

use crate::spec::EchoListener;
use std::net::IpAddr;
use std::time::Duration;

use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::{Lifetime, Secret, SecretSource, UrlPathPrefix};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Remotes, StandaloneServer, config_error, leak, listen_port, standalone_document,
};
use serde::{Deserialize, Serialize};

use crate::{EchoClient, EchoProtocol, EchoServer};

/// `[photon.standalone]`: no backend to choose; docs/design.md §3.2's generic
/// keys, whose only values are the local ones.
pub type PhotonStandalone = photon_config::schema::GenericStandalone;

/// The bearer token `token_env` or `token_file` names, if either (never
/// written in the configuration itself); errors at `table.token_*`.
fn token(
    token_env: &Option<String>,
    token_file: &Option<String>,
    layers: &Layers,
    table: &str,
) -> Result<Option<Secret>, ConfigError> {
    match (token_env, token_file) {
        (None, None) => Ok(None),
        (Some(name), None) => Secret::try_env(leak(name)).map(Some).map_err(|problem| {
            config_error(
                layers,
                &format!("{table}.token_env"),
                format!("the name of an environment variable: {problem}"),
            )
        }),
        (None, Some(path)) => Secret::try_file(leak(path)).map(Some).map_err(|problem| {
            config_error(
                layers,
                &format!("{table}.token_file"),
                format!("an absolute path: {problem}"),
            )
        }),
        (Some(_), Some(_)) => Err(config_error(
            layers,
            &format!("{table}.token_file"),
            "give the token one way only: `token_env` or `token_file`",
        )),
    }
}

/// `token` as the schema writes it, `(token_env, token_file)`; a token
/// written in a deployment cannot be (a deployment holds only where a
/// secret is).
fn token_entry(token: Option<Secret>) -> Result<(Option<String>, Option<String>), ExportError> {
    Ok(match token.map(|t| t.source()) {
        None => (None, None),
        Some(SecretSource::Env(name)) => (Some(name.to_owned()), None),
        Some(SecretSource::File(path)) => (None, Some(path.to_owned())),
        Some(SecretSource::Written(written)) => {
            return Err(ExportError::SecretWritten {
                slot: "token",
                origin: written.origin.to_string(),
            });
        }
    })
}

/// The echo server's standalone TOML schema as a type (never a value).
#[derive(Debug)]
pub enum EchoServerSchema {}

impl Component for EchoServerSchema {
    const NAME: &'static str = "echo";
    type PhotonStandalone = PhotonStandalone;
    type Standalone = ServerDocument;
}

/// `[standalone]` of `echo-server`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDocument {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: ServerSection,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Where it listens.
    pub addr: ListenAddr,
    /// The path prefix it answers under (`echo`: `GET /echo/<msg>`).
    pub prefix: String,
    /// The variable holding the bearer token every request must carry, if
    /// one is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Or the file holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            addr: ListenAddr::any(8080),
            prefix: "echo".to_owned(),
            token_env: None,
            token_file: None,
        }
    }
}

impl StandaloneServer for EchoServerSchema {
    type Spec = EchoServer<Local>;

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<EchoServer<Local>>, ConfigError> {
        let s = &doc.standalone.server;
        let prefix = UrlPathPrefix::parse(leak(&s.prefix))
            .map_err(|e| config_error(layers, "standalone.server.prefix", e.to_string()))?;
        Ok(Built::new(EchoServer {
            node: Local,
            port: listen_port(layers, "standalone.server.addr", s.addr)?,
            prefix,
            token: token(&s.token_env, &s.token_file, layers, "standalone.server")?,
        })
        .listen(EchoListener, s.addr.ip))
    }
}

/// The standalone document for an echo server.
pub fn export_server<N: photon_dsl::Node>(
    spec: &EchoServer<N>,
    bind_ip: IpAddr,
    component_id: &str,
) -> Result<ComponentDocument<EchoServerSchema>, ExportError> {
    let mut doc = standalone_document::<EchoServerSchema>(component_id);
    let (token_env, token_file) = token_entry(spec.token)?;
    doc.standalone.server = ServerSection {
        addr: ListenAddr::new(bind_ip, spec.port.get()),
        prefix: spec.prefix.trimmed().to_owned(),
        token_env,
        token_file,
    };
    Ok(doc)
}

/// The echo client's standalone TOML schema as a type (never a value).
#[derive(Debug)]
pub enum EchoClientSchema {}

impl Component for EchoClientSchema {
    const NAME: &'static str = "echo-client";
    type PhotonStandalone = PhotonStandalone;
    type Standalone = ClientDocument;
}

/// `[standalone]` of `echo-client`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDocument {
    /// `[standalone.client]`.
    #[serde(default)]
    pub client: ClientSection,
}

/// `[standalone.client]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSection {
    /// The echo server: `http://host:port/prefix`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub echo_url: String,
    /// What it sends.
    pub test_message: String,
    /// How often, in milliseconds.
    pub poll_interval_ms: u64,
    /// Stop the client (and end the process) after this long, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_after_ms: Option<u64>,
    /// The variable holding the bearer token to send, when the server
    /// requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Or the file holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

impl Default for ClientSection {
    fn default() -> Self {
        ClientSection {
            echo_url: String::new(),
            test_message: "hello".to_owned(),
            poll_interval_ms: 1000,
            stop_after_ms: None,
            token_env: None,
            token_file: None,
        }
    }
}

impl StandaloneServer for EchoClientSchema {
    type Spec = EchoClient<Local>;

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<EchoClient<Local>>, ConfigError> {
        let c = &doc.standalone.client;
        if c.echo_url.is_empty() {
            return Err(config_error(
                layers,
                "standalone.client.echo_url",
                "required: the echo server, such as `http://echo-01:8080/echo`",
            ));
        }
        let mut remotes = Remotes::new(layers);
        let echo = remotes.add::<EchoProtocol>("standalone.client.echo_url", &c.echo_url)?;
        if c.poll_interval_ms == 0 {
            return Err(config_error(
                layers,
                "standalone.client.poll_interval_ms",
                "at least 1 millisecond",
            ));
        }
        let built = Built::new(EchoClient {
            node: Local,
            echo,
            test_message: leak(&c.test_message),
            poll_interval: Duration::from_millis(c.poll_interval_ms),
            token: token(&c.token_env, &c.token_file, layers, "standalone.client")?,
        })
        .remotes(remotes);
        Ok(match c.stop_after_ms {
            Some(ms) => built.companion(Box::new(Lifetime {
                node: Local,
                after: Duration::from_millis(ms),
            })),
            None => built,
        })
    }
}

/// The standalone document for an echo client: its server at `echo_url`,
/// and its node's lifetime if it has one.
pub fn export_client<N: photon_dsl::Node>(
    spec: &EchoClient<N>,
    component_id: &str,
    echo_url: String,
    stops_after: Option<Duration>,
) -> Result<ComponentDocument<EchoClientSchema>, ExportError> {
    let mut doc = standalone_document::<EchoClientSchema>(component_id);
    let (token_env, token_file) = token_entry(spec.token)?;
    doc.standalone.client = ClientSection {
        echo_url,
        test_message: spec.test_message.to_owned(),
        poll_interval_ms: u64::try_from(spec.poll_interval.as_millis()).unwrap_or(u64::MAX),
        stop_after_ms: stops_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        token_env,
        token_file,
    };
    Ok(doc)
}

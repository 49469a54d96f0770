//! The gateway from TOML: `api-gateway-server --config gateway.toml`. It
//! exists only integrated (tenants are photonauth's, it registers in
//! chainfire), and it needs both of its upstreams with their tokens.
//!
//! ```toml
//! [photon]
//! mode = "integrated"
//! component_id = "gateway-1"
//! cluster_id = "prod"
//! [photon.integrated]
//! chainfire_endpoints = ["http://chainfire-1:2379"]
//! auth_service_endpoint = "http://photonauth:50051"
//! [standalone.server]
//! http_addr = "0.0.0.0:8080"      # the API, /openapi.json, /health and /metrics
//! [standalone.auth]
//! admin_token_env = "GATEWAY_ADMIN_TOKEN"       # or admin_token_file, or admin_token
//! [standalone.resource_manager]
//! endpoint = "http://resource-manager:50054"
//! admin_token_env = "RESOURCES_ADMIN_TOKEN"     # its admin token, one of the three ways
//! [standalone.creditservice]
//! endpoint = "http://creditservice:50053"
//! admin_token_env = "CREDITSERVICE_ADMIN_TOKEN"
//! ```

use std::net::IpAddr;

use photon_config::schema::{AdminToken, LogLevel, NoStandalone};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::protocol::{CreditApi, ResourceApi};
use photon_dsl::{Auth, Integration, Mode, Secret};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Reach, SecretKeys, StandaloneServer, admin_token, admin_token_section,
    config_error, integrated_only, listen_port, photonauth_of, secret_of, standalone_document,
    write_integration,
};
use serde::{Deserialize, Serialize};

use crate::spec::{ApiGateway, HttpListener};

/// The port `http_addr` has when left out (the design's).
pub const DEFAULT_HTTP_PORT: u16 = 8080;

/// The gateway's TOML schema as a type.
#[derive(Debug)]
pub enum ApiGatewaySchema {}

impl Component for ApiGatewaySchema {
    const NAME: &'static str = "api-gateway";
    const SECRET_KEYS: &'static [&'static str] = &[
        "standalone.auth.admin_token",
        "standalone.resource_manager.admin_token",
        "standalone.creditservice.admin_token",
    ];
    type PhotonStandalone = NoStandalone;
    type Standalone = Standalone;
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.auth]`: the gateway's own admin token; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AdminToken>,
    /// `[standalone.resource_manager]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_manager: Option<Upstream>,
    /// `[standalone.creditservice]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creditservice: Option<Upstream>,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// The API, `/openapi.json`, `/health` and `/metrics`.
    pub http_addr: ListenAddr,
    /// Overrides `[photon.logging] level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            http_addr: ListenAddr::new(IpAddr::from([0, 0, 0, 0]), DEFAULT_HTTP_PORT),
            log_level: None,
        }
    }
}

/// An upstream the gateway calls with that upstream's admin token.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Its gRPC URL (`http://host:port`).
    #[serde(default)]
    pub endpoint: String,
    /// Its admin token, written here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// A file holding it (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_file: Option<String>,
    /// An environment variable holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_env: Option<String>,
}

impl Upstream {
    /// The section that reaches `endpoint` with `token`.
    fn of(endpoint: String, token: &Secret) -> Upstream {
        let given = admin_token_section(token);
        Upstream {
            endpoint,
            admin_token: given.admin_token,
            admin_token_file: given.admin_token_file,
            admin_token_env: given.admin_token_env,
        }
    }
}

/// `[standalone.<section>]`, required, read: its endpoint's URL and its
/// token. `what` names the upstream in the errors.
fn upstream<'a>(
    layers: &Layers,
    section: &'static str,
    given: Option<&'a Upstream>,
    what: &str,
) -> Result<(&'a str, Secret), ConfigError> {
    let key = format!("standalone.{section}");
    let Some(given) = given else {
        return Err(config_error(
            layers,
            &key,
            format!(
                "required: the gateway forwards to {what}: give its `endpoint` and its admin token"
            ),
        ));
    };
    if given.endpoint.is_empty() {
        return Err(config_error(
            layers,
            &format!("{key}.endpoint"),
            format!("required: {what}'s gRPC URL (`http://host:port`)"),
        ));
    }
    let token = secret_of(
        layers,
        SecretKeys {
            section: &key,
            value: "admin_token",
            file: "admin_token_file",
            env: "admin_token_env",
            what: &format!("{what}'s admin token"),
        },
        given.admin_token.as_deref(),
        given.admin_token_file.as_deref(),
        given.admin_token_env.as_deref(),
    )?;
    Ok((&given.endpoint, token))
}

impl StandaloneServer for ApiGatewaySchema {
    type Spec = ApiGateway<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<ApiGateway<Local>>, ConfigError> {
        let (Integration { state_store, auth }, mut remotes) = integrated_only::<ApiGatewaySchema>(
            doc,
            layers,
            "the API gateway serves photonauth's tenants and registers in chainfire: set mode = \"integrated\", [photon.integrated] chainfire_endpoints and auth_service_endpoint",
        )?;
        let auth = photonauth_of(layers, auth, "api-gateway")?;
        let s = &doc.standalone;
        let (resources_url, resources_token) = upstream(
            layers,
            "resource_manager",
            s.resource_manager.as_ref(),
            "the resource manager",
        )?;
        let (credits_url, credits_token) = upstream(
            layers,
            "creditservice",
            s.creditservice.as_ref(),
            "creditservice",
        )?;
        let spec = ApiGateway {
            node: Local,
            port: listen_port(layers, "standalone.server.http_addr", s.server.http_addr)?,
            state_store,
            auth,
            admin_token: admin_token(layers, s.auth.as_ref())?,
            resources: remotes
                .add::<ResourceApi>("standalone.resource_manager.endpoint", resources_url)?,
            resources_token,
            credits: remotes.add::<CreditApi>("standalone.creditservice.endpoint", credits_url)?,
            credits_token,
        };
        Ok(Built::new(spec)
            .listen(HttpListener, s.server.http_addr.ip)
            .remotes(remotes))
    }
}

/// The document that configures `spec` as a deployment does: integrated
/// in `cluster`, its chainfire, photonauth and upstreams where `reach`
/// says.
pub fn export<N: photon_dsl::Node>(
    spec: &ApiGateway<N>,
    bind_ip: IpAddr,
    component_id: &str,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<ComponentDocument<ApiGatewaySchema>, ExportError> {
    let mut doc = standalone_document::<ApiGatewaySchema>(component_id);
    write_integration::<ApiGatewaySchema>(
        &mut doc,
        Mode::Integrated(Integration {
            state_store: spec.state_store,
            auth: Auth::PhotonAuth(spec.auth),
        }),
        cluster,
        reach,
    )?;
    let url = |node, port| Ok::<_, ExportError>(format!("http://{}", reach(node, port)?));
    doc.standalone = Standalone {
        server: Server {
            http_addr: ListenAddr::new(bind_ip, spec.port.get()),
            log_level: None,
        },
        auth: Some(admin_token_section(&spec.admin_token)),
        resource_manager: Some(Upstream::of(
            url(spec.resources.node(), spec.resources.port())?,
            &spec.resources_token,
        )),
        creditservice: Some(Upstream::of(
            url(spec.credits.node(), spec.credits.port())?,
            &spec.credits_token,
        )),
    };
    Ok(doc)
}

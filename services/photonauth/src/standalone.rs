//! photonauth from TOML: `photonauth-server --config photonauth.toml`. It
//! exists only integrated (its state is in chainfire), so the document
//! must say `mode = "integrated"` and name chainfire; it cannot fall back
//! to standalone, having nothing local to fall back on.
//!
//! ```toml
//! [photon]
//! mode = "integrated"
//! component_id = "auth-1"
//! cluster_id = "prod"
//! [photon.integrated]
//! chainfire_endpoints = ["http://chainfire-1:2379"]
//! [standalone.server]
//! grpc_addr = "0.0.0.0:50051"     # the API, /health and /metrics
//! [standalone.auth]
//! admin_token_env = "PHOTONAUTH_ADMIN_TOKEN"   # or admin_token_file, or admin_token
//! ```

use std::net::IpAddr;

use photon_config::schema::LogLevel;
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr, OperationMode};
use photon_dsl::{Auth, Integration, Mode, SecretSource};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Reach, SecretKeys, StandaloneServer, config_error, integration, listen_port,
    secret_of, standalone_document, write_integration,
};
use serde::{Deserialize, Serialize};

use crate::PhotonAuth;
use crate::spec::ApiListener;

/// photonauth's TOML schema as a type.
#[derive(Debug)]
pub enum PhotonAuthSchema {}

impl Component for PhotonAuthSchema {
    const NAME: &'static str = "photonauth";
    const SECRET_KEYS: &'static [&'static str] = &["standalone.auth.admin_token"];
    type PhotonStandalone = PhotonStandalone;
    type Standalone = Standalone;
}

/// `[photon.standalone]`: photonauth has no standalone backends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotonStandalone {}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.auth]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AdminAuth>,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// The gRPC API, `/health` and `/metrics`.
    pub grpc_addr: ListenAddr,
    /// Overrides `[photon.logging] level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            grpc_addr: ListenAddr::new(IpAddr::from([0, 0, 0, 0]), 50051),
            log_level: None,
        }
    }
}

/// `[standalone.auth]`: the admin token, exactly one way.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminAuth {
    /// The token, written here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// A file holding it (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_file: Option<String>,
    /// An environment variable holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_env: Option<String>,
}

const TOKEN_KEYS: SecretKeys<'static> = SecretKeys {
    section: "standalone.auth",
    value: "admin_token",
    file: "admin_token_file",
    env: "admin_token_env",
    what: "the admin token",
};

impl StandaloneServer for PhotonAuthSchema {
    type Spec = PhotonAuth<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<PhotonAuth<Local>>, ConfigError> {
        if doc.photon.mode != Some(OperationMode::Integrated) {
            return Err(config_error(
                layers,
                "photon.mode",
                "photonauth keeps tenants, users and keys in chainfire: set mode = \"integrated\" and [photon.integrated] chainfire_endpoints",
            ));
        }
        if doc.photon.integrated.fallback_to_standalone {
            return Err(config_error(
                layers,
                "photon.integrated.fallback_to_standalone",
                "photonauth cannot fall back to standalone: all its state is in chainfire",
            ));
        }
        let (mode, remotes) = integration::<PhotonAuthSchema>(doc, layers)?;
        let Mode::Integrated(Integration { state_store, .. }) = mode else {
            unreachable!("an integrated document gives an integrated mode");
        };
        let s = &doc.standalone;
        let Some(auth) = &s.auth else {
            return Err(config_error(
                layers,
                "standalone.auth",
                "required: the admin token (`admin_token_env`, `admin_token_file` or `admin_token`)",
            ));
        };
        let spec = PhotonAuth {
            node: Local,
            port: listen_port(layers, "standalone.server.grpc_addr", s.server.grpc_addr)?,
            state_store,
            admin_token: secret_of(
                layers,
                TOKEN_KEYS,
                auth.admin_token.as_deref(),
                auth.admin_token_file.as_deref(),
                auth.admin_token_env.as_deref(),
            )?,
        };
        if let Some(reason) = spec.declare().rejected() {
            return Err(config_error(layers, "standalone", reason));
        }
        Ok(Built::new(spec)
            .listen(ApiListener, s.server.grpc_addr.ip)
            .remotes(remotes))
    }
}

/// The document that configures `spec` as a deployment does: integrated
/// in `cluster`, its chainfire where `reach` says.
pub fn export<N: photon_dsl::Node>(
    spec: &PhotonAuth<N>,
    bind_ip: IpAddr,
    component_id: &str,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<ComponentDocument<PhotonAuthSchema>, ExportError> {
    let mut doc = standalone_document::<PhotonAuthSchema>(component_id);
    write_integration::<PhotonAuthSchema>(
        &mut doc,
        Mode::Integrated(Integration {
            state_store: spec.state_store,
            auth: Auth::Local,
        }),
        cluster,
        reach,
    )?;
    let mut auth = AdminAuth::default();
    match spec.admin_token.source() {
        SecretSource::Env(name) => auth.admin_token_env = Some(name.to_owned()),
        SecretSource::File(path) => auth.admin_token_file = Some(path.to_owned()),
        SecretSource::Written(written) => auth.admin_token = Some(written.value.to_owned()),
    }
    doc.standalone = Standalone {
        server: Server {
            grpc_addr: ListenAddr::new(bind_ip, spec.port.get()),
            log_level: None,
        },
        auth: Some(auth),
    };
    Ok(doc)
}

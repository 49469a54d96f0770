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

use photon_config::schema::{AdminToken, GrpcPort, GrpcServer, LogLevel, NoStandalone};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::{Auth, Integration, Mode};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Reach, StandaloneServer, admin_token, admin_token_section, config_error,
    integrated_only, listen_port, standalone_document, write_integration,
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
    type PhotonStandalone = NoStandalone;
    type Standalone = Standalone;
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: GrpcServer<PhotonAuthSchema>,
    /// `[standalone.auth]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AdminToken>,
}

impl GrpcPort for PhotonAuthSchema {
    const DEFAULT_GRPC_PORT: u16 = 50051;
}

impl StandaloneServer for PhotonAuthSchema {
    type Spec = PhotonAuth<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<PhotonAuth<Local>>, ConfigError> {
        let (Integration { state_store, .. }, remotes) = integrated_only::<PhotonAuthSchema>(
            doc,
            layers,
            "photonauth keeps tenants, users and keys in chainfire: set mode = \"integrated\" and [photon.integrated] chainfire_endpoints",
        )?;
        let s = &doc.standalone;
        let admin_token = admin_token(layers, s.auth.as_ref())?;
        let spec = PhotonAuth {
            node: Local,
            port: listen_port(layers, "standalone.server.grpc_addr", s.server.grpc_addr)?,
            state_store,
            admin_token,
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
    doc.standalone = Standalone {
        server: GrpcServer::at(ListenAddr::new(bind_ip, spec.port.get())),
        auth: Some(admin_token_section(&spec.admin_token)),
    };
    Ok(doc)
}

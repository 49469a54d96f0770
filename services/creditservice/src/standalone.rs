//! creditservice from TOML: `creditservice-server --config credits.toml`.
//! It exists only integrated (accounts and reservations are in chainfire,
//! tenants are photonauth's), so the document must say `mode =
//! "integrated"` and name chainfire and photonauth.
//!
//! ```toml
//! [photon]
//! mode = "integrated"
//! component_id = "credits-1"
//! cluster_id = "prod"
//! [photon.integrated]
//! chainfire_endpoints = ["http://chainfire-1:2379"]
//! auth_service_endpoint = "http://photonauth:50051"
//! [standalone.server]
//! grpc_addr = "0.0.0.0:50053"     # the API, /health and /metrics
//! [standalone.auth]
//! admin_token_env = "CREDITSERVICE_ADMIN_TOKEN"   # or admin_token_file, or admin_token
//! [standalone.limits]             # tenants without their own; leave out for none
//! default = 100                   # kinds not named below; leave out for unlimited
//! [standalone.limits.kinds]
//! bucket = 10
//! load-balancer = 2
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

use photon_config::schema::{AdminToken, GrpcPort, GrpcServer, LogLevel, NoStandalone};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::{Auth, Integration, Mode};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Reach, StandaloneServer, admin_token, admin_token_section, config_error,
    integrated_only, leak, listen_port, photonauth_of, standalone_document, write_integration,
};
use serde::{Deserialize, Serialize};

use crate::spec::{ApiListener, CreditService, DefaultLimits};

/// creditservice's TOML schema as a type.
#[derive(Debug)]
pub enum CreditServiceSchema {}

impl Component for CreditServiceSchema {
    const NAME: &'static str = "creditservice";
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
    pub server: GrpcServer<CreditServiceSchema>,
    /// `[standalone.auth]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AdminToken>,
    /// `[standalone.limits]`: none when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// `[standalone.limits]`: the limits of tenants without their own.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Kinds not named in `kinds` (unlimited when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<u64>,
    /// `[standalone.limits.kinds]`: per resource kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, u64>,
}

impl GrpcPort for CreditServiceSchema {
    const DEFAULT_GRPC_PORT: u16 = 50053;
}

impl StandaloneServer for CreditServiceSchema {
    type Spec = CreditService<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<CreditService<Local>>, ConfigError> {
        let (Integration { state_store, auth }, remotes) = integrated_only::<CreditServiceSchema>(
            doc,
            layers,
            "creditservice keeps accounts and reservations in chainfire: set mode = \"integrated\", [photon.integrated] chainfire_endpoints and auth_service_endpoint",
        )?;
        let auth = photonauth_of(layers, auth, "creditservice")?;
        let s = &doc.standalone;
        let admin_token = admin_token(layers, s.auth.as_ref())?;
        let limits = match &s.limits {
            None => DefaultLimits::UNLIMITED,
            Some(limits) => DefaultLimits {
                kinds: Box::leak(
                    limits
                        .kinds
                        .iter()
                        .map(|(kind, limit)| (leak(kind), *limit))
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                ),
                other: limits.default,
            },
        };
        let spec = CreditService {
            node: Local,
            port: listen_port(layers, "standalone.server.grpc_addr", s.server.grpc_addr)?,
            state_store,
            auth,
            admin_token,
            limits,
        };
        if let Some(reason) = spec.declare().rejected() {
            return Err(config_error(layers, "standalone.limits", reason));
        }
        Ok(Built::new(spec)
            .listen(ApiListener, s.server.grpc_addr.ip)
            .remotes(remotes))
    }
}

/// The document that configures `spec` as a deployment does: integrated
/// in `cluster`, its chainfire and photonauth where `reach` says.
pub fn export<N: photon_dsl::Node>(
    spec: &CreditService<N>,
    bind_ip: IpAddr,
    component_id: &str,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<ComponentDocument<CreditServiceSchema>, ExportError> {
    let mut doc = standalone_document::<CreditServiceSchema>(component_id);
    write_integration::<CreditServiceSchema>(
        &mut doc,
        Mode::Integrated(Integration {
            state_store: spec.state_store,
            auth: Auth::PhotonAuth(spec.auth),
        }),
        cluster,
        reach,
    )?;
    let limits = spec.limits;
    doc.standalone = Standalone {
        server: GrpcServer::at(ListenAddr::new(bind_ip, spec.port.get())),
        auth: Some(admin_token_section(&spec.admin_token)),
        limits: (!limits.kinds.is_empty() || limits.other.is_some()).then(|| Limits {
            default: limits.other,
            kinds: limits
                .kinds
                .iter()
                .map(|(kind, limit)| ((*kind).to_owned(), *limit))
                .collect(),
        }),
    };
    Ok(doc)
}

//! photonnet from TOML: `photonnet-server --config photonnet.toml`. It
//! exists only integrated (VPCs, subnets and allocations are in chainfire,
//! tenants are photonauth's), so the document must say `mode =
//! "integrated"` and name chainfire and photonauth.
//!
//! ```toml
//! [photon]
//! mode = "integrated"
//! component_id = "net-1"
//! cluster_id = "prod"
//! [photon.integrated]
//! chainfire_endpoints = ["http://chainfire-1:2379"]
//! auth_service_endpoint = "http://photonauth:50051"
//! [standalone.server]
//! grpc_addr = "0.0.0.0:50052"     # the API, /health and /metrics
//! [standalone.auth]
//! admin_token_env = "PHOTONNET_ADMIN_TOKEN"   # or admin_token_file, or admin_token
//! [standalone.dns]                # leave out for no VPC DNS
//! zone = "vpc.internal"           # where addresses' names go
//! server = "10.0.0.53:53"         # the flashdns serving it (its NS)
//! ```

use std::net::IpAddr;

use photon_config::schema::{AdminToken, GrpcPort, GrpcServer, LogLevel, NoStandalone};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::{Auth, Integration, Mode};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Reach, StandaloneServer, admin_token, admin_token_section, config_error,
    integrated_only, listen_port, photonauth_of, standalone_document, write_integration,
};
use serde::{Deserialize, Serialize};

use crate::spec::{ApiListener, PhotonNet, VpcDns};

/// photonnet's TOML schema as a type.
#[derive(Debug)]
pub enum PhotonNetSchema {}

impl Component for PhotonNetSchema {
    const NAME: &'static str = "photonnet";
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
    pub server: GrpcServer<PhotonNetSchema>,
    /// `[standalone.auth]`: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AdminToken>,
    /// `[standalone.dns]`: VPC DNS, off when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
}

/// `[standalone.dns]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// The zone addresses' names are published into (an integrated
    /// flashdns of the cluster serves it as a stored zone).
    pub zone: String,
    /// That flashdns, `host:port`: the zone's name server.
    pub server: String,
}

impl GrpcPort for PhotonNetSchema {
    const DEFAULT_GRPC_PORT: u16 = 50052;
}

impl StandaloneServer for PhotonNetSchema {
    type Spec = PhotonNet<Local>;

    fn log_level(doc: &ComponentDocument<Self>) -> Option<LogLevel> {
        doc.standalone.server.log_level
    }

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<PhotonNet<Local>>, ConfigError> {
        let (Integration { state_store, auth }, mut remotes) = integrated_only::<PhotonNetSchema>(
            doc,
            layers,
            "photonnet keeps VPCs, subnets and addresses in chainfire: set mode = \"integrated\", [photon.integrated] chainfire_endpoints and auth_service_endpoint",
        )?;
        let auth = photonauth_of(layers, auth, "photonnet")?;
        let s = &doc.standalone;
        let admin_token = admin_token(layers, s.auth.as_ref())?;
        let dns = match &s.dns {
            None => VpcDns::Off,
            Some(Dns { zone, .. }) if zone.trim().is_empty() => {
                return Err(config_error(
                    layers,
                    "standalone.dns.zone",
                    "empty: name the zone, or leave [standalone.dns] out for no VPC DNS",
                ));
            }
            Some(Dns { zone, server }) => {
                let server =
                    remotes.add::<photon_dsl::protocol::Dns>("standalone.dns.server", server)?;
                remotes.keeps_stored_zone(&server, zone);
                VpcDns::Zone {
                    zone: photon_runtime::standalone::leak(zone),
                    server,
                }
            }
        };
        let spec = PhotonNet {
            node: Local,
            port: listen_port(layers, "standalone.server.grpc_addr", s.server.grpc_addr)?,
            state_store,
            auth,
            admin_token,
            dns,
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
/// in `cluster`, its chainfire and photonauth where `reach` says.
pub fn export<N: photon_dsl::Node>(
    spec: &PhotonNet<N>,
    bind_ip: IpAddr,
    component_id: &str,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<ComponentDocument<PhotonNetSchema>, ExportError> {
    let mut doc = standalone_document::<PhotonNetSchema>(component_id);
    write_integration::<PhotonNetSchema>(
        &mut doc,
        Mode::Integrated(Integration {
            state_store: spec.state_store,
            auth: Auth::PhotonAuth(spec.auth),
        }),
        cluster,
        reach,
    )?;
    doc.standalone = Standalone {
        server: GrpcServer::at(ListenAddr::new(bind_ip, spec.port.get())),
        auth: Some(admin_token_section(&spec.admin_token)),
        dns: match spec.dns {
            VpcDns::Off => None,
            VpcDns::Zone { zone, server } => Some(Dns {
                zone: zone.to_owned(),
                server: reach(server.node(), server.port())?,
            }),
        },
    };
    Ok(doc)
}

//! chainfire on its own from TOML: `chainfire-server --config
//! chainfire.toml`, a single-member Raft cluster (the design's standalone
//! chainfire: "single-node Raft, self-contained"). The design gives no
//! chainfire example; the schema follows its other components:
//!
//! ```toml
//! [photon]
//! mode = "standalone"
//! component_id = "chainfire-01"
//! [standalone.server]
//! client_addr = "0.0.0.0:2379"
//! peer_addr = "0.0.0.0:2380"
//! [standalone.storage]
//! data_dir = "/var/lib/chainfire"
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_runtime::standalone::{
    Built, Local, StandaloneServer, config_error, listen_port, standalone_document,
};
use serde::{Deserialize, Serialize};

use crate::Chainfire;

/// chainfire's part of the schema.
#[derive(Debug)]
pub enum ChainfireServer {}

impl Component for ChainfireServer {
    const NAME: &'static str = "chainfire";
    type PhotonStandalone = PhotonStandalone;
    type Standalone = Standalone;
}

/// `[photon.standalone]`: chainfire has no backends to choose.
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
    /// `[standalone.storage]`.
    #[serde(default)]
    pub storage: StorageSection,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Where etcd v3 clients connect.
    #[serde(default = "default_client")]
    pub client_addr: ListenAddr,
    /// Raft traffic (a single member still listens for it).
    #[serde(default = "default_peer")]
    pub peer_addr: ListenAddr,
}

fn default_client() -> ListenAddr {
    ListenAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 2379)
}

fn default_peer() -> ListenAddr {
    ListenAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 2380)
}

impl Default for Server {
    fn default() -> Self {
        Server {
            client_addr: default_client(),
            peer_addr: default_peer(),
        }
    }
}

/// `[standalone.storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// The Raft log, snapshots and the key-value store.
    #[serde(default = "default_data")]
    pub data_dir: PathBuf,
}

fn default_data() -> PathBuf {
    PathBuf::from("/var/lib/chainfire")
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            data_dir: default_data(),
        }
    }
}

impl StandaloneServer for ChainfireServer {
    type Spec = Chainfire<Local>;

    const LOCAL_WHEN_INTEGRATED: Option<&'static str> =
        Some("a single-member cluster: chainfire-server does not join other members yet");

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<Chainfire<Local>>, ConfigError> {
        let s = &doc.standalone;
        let spec = Chainfire {
            node: Local,
            client_port: listen_port(
                layers,
                "standalone.server.client_addr",
                s.server.client_addr,
            )?,
            peer_port: listen_port(layers, "standalone.server.peer_addr", s.server.peer_addr)?,
        };
        if s.server.client_addr == s.server.peer_addr {
            return Err(config_error(
                layers,
                "standalone.server.peer_addr",
                format!(
                    "the same address as `client_addr` ({}): clients and Raft peers need a port each",
                    s.server.client_addr
                ),
            ));
        }
        Ok(Built {
            spec,
            listen: vec![
                ("client", s.server.client_addr.ip),
                ("peer", s.server.peer_addr.ip),
            ],
            state_dir: Some(s.storage.data_dir.clone()),
        })
    }
}

/// The standalone document for `spec`, its data in `state_dir`. A member
/// of a larger cluster has no standalone form (it would start alone).
pub fn export<N: photon_dsl::Node>(
    spec: &Chainfire<N>,
    members: usize,
    bind_ip: IpAddr,
    component_id: &str,
    state_dir: &std::path::Path,
) -> Result<ComponentDocument<ChainfireServer>, String> {
    if members > 1 {
        return Err(format!(
            "it is one of {members} cluster members; the standalone schema runs a single-member cluster"
        ));
    }
    let mut doc = standalone_document::<ChainfireServer>(component_id);
    doc.standalone = Standalone {
        server: Server {
            client_addr: ListenAddr::new(bind_ip, spec.client_port.get()),
            peer_addr: ListenAddr::new(bind_ip, spec.peer_port.get()),
        },
        storage: StorageSection {
            data_dir: state_dir.to_owned(),
        },
    };
    Ok(doc)
}

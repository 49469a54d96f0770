//! chainfire from TOML: `chainfire-server --config chainfire.toml`. Alone
//! it is a single-member Raft cluster (the design's standalone chainfire:
//! "single-node Raft, self-contained"); with `[[standalone.cluster.member]]`
//! it is one member of a larger one (the design's integrated chainfire).
//! The design gives no chainfire example; the schema follows its other
//! components:
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
//! # only in a larger cluster: every other member
//! [[standalone.cluster.member]]
//! name = "chainfire-02"
//! client_addr = "10.0.0.2:2379"
//! peer_addr = "10.0.0.2:2380"
//! ```

use crate::spec::{ClientListener, PeerListener};
use photon_dsl::Listener as _;
use std::net::IpAddr;

use photon_config::schema::{DataDir, StorageSection};
use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_runtime::standalone::{
    Built, Local, StandaloneServer, check_fellow, check_host_port, config_error, listen_port,
    standalone_document,
};
use serde::{Deserialize, Serialize};

use crate::{Chainfire, Limits};

/// chainfire's standalone TOML schema as a type: what photon-config reads
/// and writes for it (never a value).
#[derive(Debug)]
pub enum ChainfireSchema {}

/// The Raft log, snapshots and the key-value store.
impl DataDir for ChainfireSchema {
    const DEFAULT_DATA_DIR: &'static str = "/var/lib/chainfire";
}

impl Component for ChainfireSchema {
    const NAME: &'static str = "chainfire";
    type PhotonStandalone = PhotonStandalone;
    type Standalone = Standalone;
}

/// `[photon.standalone]`: no backend to choose; docs/design.md §3.2's generic
/// keys, whose only values are the local ones.
pub type PhotonStandalone = photon_config::schema::GenericStandalone;

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.storage]`.
    #[serde(default)]
    pub storage: StorageSection<ChainfireSchema>,
    /// `[standalone.cluster]`: the other members, when this one is part of
    /// a larger cluster.
    #[serde(default, skip_serializing_if = "Cluster::is_empty")]
    pub cluster: Cluster,
    /// `[standalone.limits]`: what one request may ask.
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `[standalone.limits]`, etcd's defaults when not given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Compares, or operations in either branch, that one transaction may
    /// hold (etcd's `--max-txn-ops`).
    pub max_txn_ops: u32,
    /// Log entries between two Raft snapshots (etcd's `--snapshot-count`).
    pub snapshot_count: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_txn_ops: Limits::DEFAULT.max_txn_ops,
            snapshot_count: Limits::DEFAULT.snapshot_count,
        }
    }
}

/// `[standalone.cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// `[[standalone.cluster.member]]`: every member but this one (which is
    /// `[standalone.server]`, named by `photon.component_id`). Every member
    /// must list the same cluster.
    #[serde(default, rename = "member", skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<ClusterMember>,
}

impl Cluster {
    fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// One other member: its name (its `component_id`) and where it is
/// reached, `host:port` (a host name or an address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterMember {
    /// Its `component_id`: a member's Raft identity comes from its name.
    pub name: String,
    /// Where its etcd v3 clients connect.
    pub client_addr: String,
    /// Where its Raft peers connect.
    pub peer_addr: String,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// Where etcd v3 clients connect.
    pub client_addr: ListenAddr,
    /// Raft traffic (a single member still listens for it).
    pub peer_addr: ListenAddr,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            client_addr: ListenAddr::any(2379),
            peer_addr: ListenAddr::any(2380),
        }
    }
}

impl StandaloneServer for ChainfireSchema {
    type Spec = Chainfire<Local>;

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
            limits: Limits {
                max_txn_ops: s.limits.max_txn_ops,
                snapshot_count: s.limits.snapshot_count,
            },
        };
        if let Some(reason) = spec.declare().rejected() {
            let key = if reason.contains("max_txn_ops") {
                "standalone.limits.max_txn_ops"
            } else if reason.contains("snapshot_count") {
                "standalone.limits.snapshot_count"
            } else {
                "standalone"
            };
            return Err(config_error(layers, key, reason));
        }
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
        let own_name = doc
            .photon
            .component_id
            .clone()
            .unwrap_or_else(|| Self::NAME.to_owned());
        let mut peers: Vec<photon_runtime::Peer> = Vec::new();
        for (i, member) in s.cluster.members.iter().enumerate() {
            let at = format!("standalone.cluster.member[{i}]");
            let key = |field: &str| format!("{at}.{field}");
            check_fellow(layers, &at, &member.name, &own_name, &peers, "member")?;
            for (field, addr) in [
                ("client_addr", &member.client_addr),
                ("peer_addr", &member.peer_addr),
            ] {
                check_host_port(addr)
                    .map_err(|problem| config_error(layers, &key(field), problem))?;
            }
            peers.push(photon_runtime::Peer {
                name: member.name.clone(),
                addrs: vec![
                    (ClientListener::NAME.to_owned(), member.client_addr.clone()),
                    (PeerListener::NAME.to_owned(), member.peer_addr.clone()),
                ],
            });
        }
        Ok(Built::new(spec)
            .listen(ClientListener, s.server.client_addr.ip)
            .listen(PeerListener, s.server.peer_addr.ip)
            .state_dir(s.storage.data_dir.clone())
            .peers(peers))
    }
}

/// The standalone document for `spec`, its data in `state_dir`, and its
/// fellow members (`peers`) as `[[standalone.cluster.member]]`.
pub fn export<N: photon_dsl::Node>(
    spec: &Chainfire<N>,
    peers: &[photon_runtime::Peer],
    bind_ip: IpAddr,
    component_id: &str,
    state_dir: &std::path::Path,
) -> Result<ComponentDocument<ChainfireSchema>, photon_runtime::ExportError> {
    let mut members = Vec::new();
    for peer in peers {
        let missing = |listener| photon_runtime::ExportError::MemberWithoutListener {
            member: peer.name.clone(),
            listener,
        };
        members.push(ClusterMember {
            name: peer.name.clone(),
            client_addr: peer
                .addr::<ClientListener>()
                .map(str::to_owned)
                .ok_or_else(|| missing(ClientListener::NAME))?,
            peer_addr: peer
                .addr::<PeerListener>()
                .map(str::to_owned)
                .ok_or_else(|| missing(PeerListener::NAME))?,
        });
    }
    let mut doc = standalone_document::<ChainfireSchema>(component_id);
    doc.standalone = Standalone {
        server: Server {
            client_addr: ListenAddr::new(bind_ip, spec.client_port.get()),
            peer_addr: ListenAddr::new(bind_ip, spec.peer_port.get()),
        },
        storage: StorageSection::new(state_dir.to_owned()),
        cluster: Cluster { members },
        limits: LimitsSection {
            max_txn_ops: spec.limits.max_txn_ops,
            snapshot_count: spec.limits.snapshot_count,
        },
    };
    Ok(doc)
}

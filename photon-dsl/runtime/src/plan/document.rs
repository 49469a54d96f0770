//! The plan as data: what `plan --format json` prints, what `plan --diff`
//! compares, and what tools read. Its shape is versioned: `schema_version`
//! names the JSON Schema it follows (`schema/plan-v1.schema.json`, printed
//! by `plan --format json-schema`); a change that would break a reader
//! bumps it.

use photon_dsl::{Resolver, SecretSource, ServiceSpec, Topology};
use serde::{Deserialize, Serialize};

/// The version of the plan document this binary writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of [`SCHEMA_VERSION`].
pub const SCHEMA: &str = include_str!("../../schema/plan-v1.schema.json");

/// A deployment's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Which shape of this document (documents saved before the key existed
    /// have the first one's shape).
    #[serde(default = "first_schema")]
    pub schema_version: u32,
    /// The deployment's name.
    pub deployment: String,
    /// Its configuration version, `major.minor.patch+branch`.
    pub version: String,
    /// The digest of the whole configuration, 64 hex digits.
    pub fingerprint: String,
    /// The nodes, in the topology's order.
    pub nodes: Vec<Node>,
    /// The services, in the topology's order.
    pub services: Vec<Service>,
    /// Each cluster's initial members.
    pub clusters: Vec<Cluster>,
    /// `node/service` labels in start order (absent if there is a cycle).
    pub start_order: Option<Vec<String>>,
}

fn first_schema() -> u32 {
    1
}

/// A node and where it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// Its address under the topology's address plan (or why it has none).
    pub address: String,
}

/// A service placed on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// The node it runs on.
    pub node: String,
    /// Its kind (`chainfire`, `flashdns`, ...).
    pub service: String,
    /// What it listens on.
    pub listens: Vec<Listen>,
    /// What it needs from other services.
    pub needs: Vec<Need>,
    /// The secrets it reads, by where they come from.
    pub secrets: Vec<SecretRef>,
}

impl Service {
    /// `node/service`, as `plan` labels it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.node, self.service)
    }
}

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listen {
    /// The listener's name within its service.
    pub name: String,
    /// Its port.
    pub port: u16,
    /// `tcp`, `udp` or `tcp+udp`.
    pub transport: String,
    /// The protocol it speaks.
    pub protocol: String,
    /// Whether it also serves `/health` and `/metrics`.
    pub health: bool,
}

/// A dependency on another service's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// The slot in the needing service's configuration.
    pub slot: String,
    /// The protocol the slot takes.
    pub protocol: String,
    /// The providing node.
    pub node: String,
    /// The providing port.
    pub port: u16,
    /// The providing service's kind (absent if nothing provides it).
    pub provider: Option<String>,
    /// What is used of it, when the protocol leaves that open (the
    /// subject on an event bus); absent in documents from before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A secret and where its value is read from (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    /// The slot in the service's configuration.
    pub slot: String,
    /// Where the value comes from.
    #[serde(flatten)]
    pub source: SecretFrom,
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretFrom {
    /// An environment variable of the node.
    Env(String),
    /// A file on the node.
    File(String),
    /// Written in the deployment file (for tests); where.
    WrittenIn(String),
}

impl std::fmt::Display for SecretFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretFrom::Env(name) => write!(f, "env {name}"),
            SecretFrom::File(path) => write!(f, "file {path}"),
            SecretFrom::WrittenIn(origin) => write!(f, "written in {origin}"),
        }
    }
}

/// A cluster and its initial members' nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Its name.
    pub name: String,
    /// Its members' nodes.
    pub members: Vec<String>,
}

impl Plan {
    /// The plan of `t`, its nodes' addresses from `resolver`.
    pub fn of<S: ?Sized + ServiceSpec>(t: &Topology<S>, resolver: &Resolver) -> Plan {
        let services = (0..t.services().len())
            .map(|i| {
                let decl = &t.services()[i].decl;
                Service {
                    node: decl.node().to_string(),
                    service: decl.kind().to_string(),
                    listens: decl
                        .listeners()
                        .map(|l| Listen {
                            name: l.name.to_owned(),
                            port: l.port.get(),
                            transport: l.transport.as_str().to_owned(),
                            protocol: l.protocol.to_owned(),
                            health: l.health,
                        })
                        .collect(),
                    needs: decl
                        .deps()
                        .enumerate()
                        .map(|(d, dep)| Need {
                            slot: dep.slot.to_owned(),
                            protocol: dep.protocol.to_owned(),
                            node: dep.node.to_string(),
                            port: dep.port.get(),
                            provider: t
                                .provider(i, d)
                                .map(|p| t.services()[p].decl.kind().to_string()),
                            detail: dep.detail.map(str::to_owned),
                        })
                        .collect(),
                    secrets: decl
                        .secrets()
                        .map(|s| SecretRef {
                            slot: s.slot.to_owned(),
                            source: match s.secret.source() {
                                SecretSource::Env(name) => SecretFrom::Env(name.to_owned()),
                                SecretSource::File(path) => SecretFrom::File(path.to_owned()),
                                SecretSource::Written(written) => {
                                    SecretFrom::WrittenIn(written.origin.to_owned())
                                }
                            },
                        })
                        .collect(),
                }
            })
            .collect();
        Plan {
            schema_version: SCHEMA_VERSION,
            deployment: t.name().to_string(),
            version: t.version().to_string(),
            fingerprint: t.fingerprint().full_hex(),
            nodes: t
                .nodes()
                .iter()
                .map(|&n| Node {
                    name: n.to_string(),
                    address: super::address_of(resolver, n),
                })
                .collect(),
            services,
            clusters: super::clusters(t)
                .into_iter()
                .map(|(name, members)| Cluster {
                    name: name.to_owned(),
                    members,
                })
                .collect(),
            start_order: t
                .start_order()
                .map(|o| o.iter().map(|&i| t.label(i)).collect())
                .ok(),
        }
    }

    /// Reads a plan document, refusing one written by a newer binary in a
    /// shape this one does not know.
    pub fn from_json(text: &str) -> Result<Plan, PlanReadError> {
        let plan: Plan = serde_json::from_str(text).map_err(PlanReadError::NotAPlan)?;
        if plan.schema_version > SCHEMA_VERSION {
            return Err(PlanReadError::Newer {
                found: plan.schema_version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(plan)
    }

    /// The first 16 hex digits of the fingerprint, as `plan` shows it.
    pub fn short_fingerprint(&self) -> &str {
        self.fingerprint.get(..16).unwrap_or(&self.fingerprint)
    }
}

/// A plan document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanReadError {
    /// Not JSON, or not a plan's shape.
    #[error("not a plan document (`plan --format json`'s output): {0}")]
    NotAPlan(#[source] serde_json::Error),
    /// Written in a shape from after this binary.
    #[error(
        "the plan document has schema version {found}, newer than this binary's {known}: compare from the newer binary instead"
    )]
    Newer {
        /// The document's version.
        found: u32,
        /// This binary's.
        known: u32,
    },
}

#[cfg(test)]
mod tests {
    use photon_dsl::Transport;

    use super::*;

    #[test]
    fn the_schema_is_json_and_knows_every_transport() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(
            schema["properties"]["schema_version"]["const"],
            SCHEMA_VERSION
        );
        let listens = &schema["properties"]["services"]["items"]["properties"]["listens"];
        let known = &listens["items"]["properties"]["transport"]["enum"];
        for transport in [Transport::Tcp, Transport::Udp, Transport::TcpAndUdp] {
            assert!(
                known
                    .as_array()
                    .unwrap()
                    .contains(&transport.as_str().into()),
                "{transport:?} missing from {known}"
            );
        }
    }

    #[test]
    fn a_document_reads_back_as_written_and_secrets_keep_their_key() {
        let plan = Plan {
            schema_version: SCHEMA_VERSION,
            deployment: "d".into(),
            version: "1.0.0+main".into(),
            fingerprint: "0".repeat(64),
            nodes: vec![],
            services: vec![Service {
                node: "n".into(),
                service: "s".into(),
                listens: vec![],
                needs: vec![],
                secrets: vec![SecretRef {
                    slot: "token".into(),
                    source: SecretFrom::WrittenIn("deployments/d.rs:3".into()),
                }],
            }],
            clusters: vec![],
            start_order: None,
        };
        let text = serde_json::to_string(&plan).unwrap();
        assert!(
            text.contains(r#"{"slot":"token","written_in":"deployments/d.rs:3"}"#),
            "{text}"
        );
        assert_eq!(Plan::from_json(&text).unwrap(), plan);
        // saved before `schema_version` existed: the same shape
        let old = text.replace(r#""schema_version":1,"#, "");
        assert_eq!(Plan::from_json(&old).unwrap(), plan);
    }
}

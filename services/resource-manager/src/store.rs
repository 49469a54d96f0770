//! Tenants' desired resources and what the agents report of them, in
//! chainfire.
//!
//! Layout under `/photon/clusters/<cluster>/resources/` (JSON values):
//!
//! - `r/<tenant>/<kind>/<name>`: the resource: its spec, its generation
//!   (one more each time the spec changes), whether it is being deleted,
//!   and its finalizers (the agents that must let go of it before it is
//!   gone);
//!   and, for kinds the scheduler places, the node serving it;
//! - `s/<tenant>/<kind>/<name>`: its status, written by its agent: the
//!   generation it reconciled, ready or failed and why, and what it made
//!   (an address, a balancer's endpoint).
//!
//! Every change is one transaction guarded by the resource's mod
//! revision, so the resource manager's replicas and the agents never
//! overwrite each other: the loser reads again. A status is written only
//! while the generation it reports is the resource's, so a slow agent
//! never marks a newer spec ready.

use etcd_client::{Client, KeyValue, TxnOp};
use photon_integration::state::{StateKv, absent, unchanged};
use serde::{Deserialize, Serialize};

use crate::model::Kind;

/// How many times a change is tried against other writers.
const MAX_TRIES: usize = 100;

/// What the store refuses, or why it could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// A tenant or resource name that cannot be one.
    #[error("{what} `{name}`: {why}")]
    BadName {
        /// `tenant` or `resource name`.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Not a kind.
    #[error("{0}")]
    BadKind(String),
    /// A spec its kind does not accept.
    #[error("{kind} `{name}`: the spec is refused: {why}")]
    BadSpec {
        /// The kind.
        kind: Kind,
        /// The resource.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// No such resource.
    #[error("tenant `{tenant}` has no {kind} `{name}`")]
    Missing {
        /// The tenant.
        tenant: String,
        /// The kind.
        kind: Kind,
        /// The name.
        name: String,
    },
    /// Applied while being deleted.
    #[error(
        "{kind} `{name}` of tenant `{tenant}` is being deleted; apply it again once it is gone"
    )]
    Deleting {
        /// The tenant.
        tenant: String,
        /// The kind.
        kind: Kind,
        /// The name.
        name: String,
    },
    /// Other writers kept changing what a change read.
    #[error("{0}: changed by other writers {MAX_TRIES} times in a row; try again")]
    Busy(String),
    /// chainfire could not be reached or refused.
    #[error("the resource manager's state in chainfire: {0}")]
    Unavailable(String),
    /// A stored value does not decode.
    #[error("corrupt record {0}")]
    Corrupt(String),
}

fn unavailable(e: etcd_client::Error) -> ResourceError {
    ResourceError::Unavailable(e.to_string())
}

/// A resource as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// What the tenant asked for, checked against its kind's spec.
    pub spec: serde_json::Value,
    /// One more each time the spec changes (1 when created).
    pub generation: u64,
    /// Whether it is being deleted (gone once `finalizers` is empty).
    pub deleting: bool,
    /// The agents that still hold something of it.
    pub finalizers: Vec<String>,
    /// The node serving it, for kinds the scheduler places
    /// ([`Kind::placed`]): written by the scheduler, read by the agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
}

/// How an agent left a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// It is as the spec says.
    Ready,
    /// The agent could not make it so (it tries again).
    Failed,
    /// Not made yet, and why: a placed kind's resource the scheduler has
    /// no node for (written by the scheduler; its agent's status replaces
    /// it once it is placed).
    Pending,
}

/// What an agent reports of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The agent.
    pub agent: String,
    /// The generation it reconciled.
    pub observed_generation: u64,
    /// Ready or failed.
    pub state: State,
    /// Why it failed, or what it did.
    pub message: String,
    /// What it made, for the tenant (an address, an endpoint).
    #[serde(default)]
    pub outputs: serde_json::Map<String, serde_json::Value>,
}

/// Which resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// The tenant.
    pub tenant: String,
    /// Its kind.
    pub kind: Kind,
    /// Its name within the tenant and kind.
    pub name: String,
}

impl std::fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.kind, self.name)
    }
}

impl ResourceKey {
    /// The key of `kind` `name` of `tenant`, its names checked.
    pub fn new(tenant: &str, kind: &str, name: &str) -> Result<ResourceKey, ResourceError> {
        check_label("tenant", tenant)?;
        let kind = Kind::parse(kind).map_err(ResourceError::BadKind)?;
        check_label("resource name", name)?;
        if kind == Kind::Bucket && name.len() < 3 {
            return Err(ResourceError::BadName {
                what: "resource name",
                name: name.to_owned(),
                why: "a bucket's name has 3 to 63 characters",
            });
        }
        Ok(ResourceKey {
            tenant: tenant.to_owned(),
            kind,
            name: name.to_owned(),
        })
    }

    fn path(&self) -> String {
        format!("{}/{}/{}", self.tenant, self.kind, self.name)
    }
}

/// A resource, with its status if its agent has reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Which.
    pub key: ResourceKey,
    /// As stored.
    pub record: Record,
    /// As reported.
    pub status: Option<Status>,
}

impl Resource {
    /// Whether its agent has reconciled its current generation and made
    /// it ready.
    pub fn is_ready(&self) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.state == State::Ready && s.observed_generation == self.record.generation
        })
    }
}

/// What [`ResourceStore::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It did not exist.
    Created,
    /// Its spec changed.
    Updated,
    /// It was already so.
    Unchanged,
}

/// Nothing if `name` may be a tenant or resource name (a DNS label);
/// `what` names it in the refusal.
pub fn check_label(what: &'static str, name: &str) -> Result<(), ResourceError> {
    match photon_integration::state::label_problem(name) {
        None => Ok(()),
        Some(why) => Err(ResourceError::BadName {
            what,
            name: name.to_owned(),
            why,
        }),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(kv: &KeyValue) -> Result<T, ResourceError> {
    serde_json::from_slice(kv.value())
        .map_err(|e| ResourceError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(kv.key()))))
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

/// The resources of one cluster.
#[derive(Debug, Clone)]
pub struct ResourceStore {
    kv: StateKv,
    prefix: String,
}

impl ResourceStore {
    /// The resources of cluster `cluster`, through `client`.
    pub fn new(client: Client, cluster: &str) -> ResourceStore {
        ResourceStore {
            kv: StateKv::new(client),
            prefix: format!("/photon/clusters/{cluster}/resources/"),
        }
    }

    fn record_key(&self, key: &ResourceKey) -> String {
        format!("{}r/{}", self.prefix, key.path())
    }

    fn status_key(&self, key: &ResourceKey) -> String {
        format!("{}s/{}", self.prefix, key.path())
    }

    /// The record (with its mod revision) and status of `key`, read
    /// together.
    async fn read(
        &self,
        key: &ResourceKey,
    ) -> Result<Option<(Record, i64, Option<Status>)>, ResourceError> {
        let read = self
            .kv
            .get_all(&[&self.record_key(key), &self.status_key(key)])
            .await
            .map_err(unavailable)?;
        let Some(kv) = read.first().and_then(Option::as_ref) else {
            return Ok(None);
        };
        let status = match read.get(1).and_then(Option::as_ref) {
            Some(kv) => Some(decode(kv)?),
            None => None,
        };
        Ok(Some((decode(kv)?, kv.mod_revision(), status)))
    }

    /// The resource `key`, if it exists.
    pub async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, ResourceError> {
        Ok(self.read(key).await?.map(|(record, _, status)| Resource {
            key: key.clone(),
            record,
            status,
        }))
    }

    /// Makes `key`'s desired state `spec` (checked against its kind's):
    /// created with its agent's finalizer, or its spec replaced and its
    /// generation advanced; nothing when the spec is the same.
    pub async fn apply(
        &self,
        key: &ResourceKey,
        spec: serde_json::Value,
    ) -> Result<(Resource, Applied), ResourceError> {
        let spec = key.kind.check(spec).map_err(|why| ResourceError::BadSpec {
            kind: key.kind,
            name: key.name.clone(),
            why,
        })?;
        let record_key = self.record_key(key);
        for _ in 0..MAX_TRIES {
            let (record, when, applied, status) = match self.read(key).await? {
                None => (
                    Record {
                        spec: spec.clone(),
                        generation: 1,
                        deleting: false,
                        finalizers: vec![key.kind.agent().to_owned()],
                        placement: None,
                    },
                    absent(&record_key),
                    Applied::Created,
                    None,
                ),
                Some((record, _, _)) if record.deleting => {
                    return Err(ResourceError::Deleting {
                        tenant: key.tenant.clone(),
                        kind: key.kind,
                        name: key.name.clone(),
                    });
                }
                Some((record, _, status)) if record.spec == spec => {
                    return Ok((
                        Resource {
                            key: key.clone(),
                            record,
                            status,
                        },
                        Applied::Unchanged,
                    ));
                }
                Some((record, revision, status)) => (
                    Record {
                        spec: spec.clone(),
                        generation: record.generation + 1,
                        ..record
                    },
                    unchanged(&record_key, revision),
                    Applied::Updated,
                    status,
                ),
            };
            if self
                .kv
                .txn(
                    vec![when],
                    vec![TxnOp::put(record_key.clone(), encode(&record), None)],
                )
                .await
                .map_err(unavailable)?
            {
                return Ok((
                    Resource {
                        key: key.clone(),
                        record,
                        status,
                    },
                    applied,
                ));
            }
        }
        Err(ResourceError::Busy(format!("applying {key}")))
    }

    /// Marks `key` for deletion; it is gone once every finalizer is
    /// removed (at once if it has none). Deleting what is being deleted
    /// again changes nothing.
    pub async fn delete(&self, key: &ResourceKey) -> Result<Resource, ResourceError> {
        let record_key = self.record_key(key);
        for _ in 0..MAX_TRIES {
            let Some((mut record, revision, status)) = self.read(key).await? else {
                return Err(ResourceError::Missing {
                    tenant: key.tenant.clone(),
                    kind: key.kind,
                    name: key.name.clone(),
                });
            };
            if record.deleting {
                return Ok(Resource {
                    key: key.clone(),
                    record,
                    status,
                });
            }
            record.deleting = true;
            let then = if record.finalizers.is_empty() {
                vec![
                    TxnOp::delete(record_key.clone(), None),
                    TxnOp::delete(self.status_key(key), None),
                ]
            } else {
                vec![TxnOp::put(record_key.clone(), encode(&record), None)]
            };
            if self
                .kv
                .txn(vec![unchanged(&record_key, revision)], then)
                .await
                .map_err(unavailable)?
            {
                return Ok(Resource {
                    key: key.clone(),
                    record,
                    status,
                });
            }
        }
        Err(ResourceError::Busy(format!("deleting {key}")))
    }

    /// Every resource, or a tenant's, or of some kinds, in key order.
    pub async fn list(
        &self,
        tenant: Option<&str>,
        kinds: &[Kind],
    ) -> Result<Vec<Resource>, ResourceError> {
        let under = match tenant {
            Some(tenant) => {
                check_label("tenant", tenant)?;
                format!("{tenant}/")
            }
            None => String::new(),
        };
        let read = self
            .kv
            .get_all_prefixes(&[
                &format!("{}r/{under}", self.prefix),
                &format!("{}s/{under}", self.prefix),
            ])
            .await
            .map_err(unavailable)?;
        let mut statuses = std::collections::HashMap::new();
        for kv in &read[1] {
            let path = kv
                .key_str()
                .map_err(|e| ResourceError::Corrupt(e.to_string()))?;
            let path = &path[self.prefix.len() + 2..];
            statuses.insert(path.to_owned(), decode::<Status>(kv)?);
        }
        let mut resources = Vec::new();
        for kv in &read[0] {
            let path = kv
                .key_str()
                .map_err(|e| ResourceError::Corrupt(e.to_string()))?;
            let path = &path[self.prefix.len() + 2..];
            let mut parts = path.splitn(3, '/');
            let (Some(tenant), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(ResourceError::Corrupt(format!("resource key {path}")));
            };
            let key = ResourceKey::new(tenant, kind, name)
                .map_err(|e| ResourceError::Corrupt(format!("resource key {path}: {e}")))?;
            if !kinds.is_empty() && !kinds.contains(&key.kind) {
                continue;
            }
            resources.push(Resource {
                key,
                record: decode(kv)?,
                status: statuses.remove(path),
            });
        }
        Ok(resources)
    }

    /// How many resources exist, for `/health`.
    pub async fn census(&self) -> Result<i64, ResourceError> {
        self.kv
            .count(&format!("{}r/", self.prefix))
            .await
            .map_err(unavailable)
    }

    /// Records what `agent` made of generation `generation` of `key`.
    /// Nothing is written (and `false` returned) if the resource is gone
    /// or its spec moved on meanwhile: the agent hears of that change and
    /// reconciles it in turn.
    pub async fn report(&self, key: &ResourceKey, status: &Status) -> Result<bool, ResourceError> {
        let record_key = self.record_key(key);
        for _ in 0..MAX_TRIES {
            let Some((record, revision, _)) = self.read(key).await? else {
                return Ok(false);
            };
            if record.generation != status.observed_generation {
                return Ok(false);
            }
            if self
                .kv
                .txn(
                    vec![unchanged(&record_key, revision)],
                    vec![TxnOp::put(self.status_key(key), encode(status), None)],
                )
                .await
                .map_err(unavailable)?
            {
                return Ok(true);
            }
        }
        Err(ResourceError::Busy(format!("reporting on {key}")))
    }

    /// Places `key` on `node` (the scheduler's decision) if its placement
    /// is still `seen`: whether it was written (`false`: gone, or placed
    /// by someone else meanwhile).
    pub async fn place(
        &self,
        key: &ResourceKey,
        seen: Option<&str>,
        node: &str,
    ) -> Result<bool, ResourceError> {
        let record_key = self.record_key(key);
        for _ in 0..MAX_TRIES {
            let Some((mut record, revision, _)) = self.read(key).await? else {
                return Ok(false);
            };
            if record.placement.as_deref() != seen {
                return Ok(false);
            }
            record.placement = Some(node.to_owned());
            if self
                .kv
                .txn(
                    vec![unchanged(&record_key, revision)],
                    vec![TxnOp::put(record_key.clone(), encode(&record), None)],
                )
                .await
                .map_err(unavailable)?
            {
                return Ok(true);
            }
        }
        Err(ResourceError::Busy(format!("placing {key}")))
    }

    /// `agent` has let go of `key`, which is being deleted: its finalizer
    /// is removed, and the resource is gone once none is left. Nothing if
    /// it is already gone or not being deleted.
    pub async fn release(&self, key: &ResourceKey, agent: &str) -> Result<bool, ResourceError> {
        let record_key = self.record_key(key);
        for _ in 0..MAX_TRIES {
            let Some((mut record, revision, _)) = self.read(key).await? else {
                return Ok(false);
            };
            if !record.deleting {
                return Ok(false);
            }
            record.finalizers.retain(|f| f != agent);
            let then = if record.finalizers.is_empty() {
                vec![
                    TxnOp::delete(record_key.clone(), None),
                    TxnOp::delete(self.status_key(key), None),
                ]
            } else {
                vec![TxnOp::put(record_key.clone(), encode(&record), None)]
            };
            if self
                .kv
                .txn(vec![unchanged(&record_key, revision)], then)
                .await
                .map_err(unavailable)?
            {
                return Ok(true);
            }
        }
        Err(ResourceError::Busy(format!("releasing {key}")))
    }
}

//! nightlight from the design's TOML (docs/design.md §2.4):
//! `nightlight-server --config nightlight.toml`.
//!
//! ```toml
//! [photon]
//! mode = "standalone"
//! component_id = "nightlight-01"
//! [photon.standalone]
//! storage_backend = "local"
//! [standalone.server]
//! http_addr = "0.0.0.0:9090"
//! [standalone.storage]
//! type = "local"
//! data_dir = "/var/lib/nightlight"
//! retention_days = 30
//! [standalone.collection]
//! scrape_interval_sec = 15
//! scrape_timeout_sec = 10
//! [[standalone.scrape_targets]]
//! name = "node"
//! static_configs = ["10.0.0.5:9100", "10.0.0.6:9100"]
//! [standalone.alerting]
//! enabled = true
//! local_webhook = "http://localhost:5000/alerts"
//! [[standalone.alerting.rules]]
//! name = "TargetDown"
//! expr = "up == 0"
//! for_sec = 60
//! labels = { severity = "page" }
//! annotations = { summary = "{{ $labels.instance }} is down" }
//! ```
//!
//! Its own `/metrics` is scraped without a line (job `nightlight`). An
//! export from a deployment writes every `/metrics` of the topology as
//! `scrape_targets`, by service kind. `grpc_addr` (the design's) is
//! refused: nightlight's API is Prometheus's HTTP API.

use std::collections::BTreeMap;

use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr, Seconds};
use photon_dsl::Node;
use photon_runtime::standalone::{
    Built, Local, StandaloneServer, config_error, leak, listen_port, standalone_document,
};
use photon_runtime::{ExportContext, ExportError};
use serde::{Deserialize, Serialize};

use crate::spec::{AlertRule, Collection, HttpListener, NightLight, Outside, Retention, Webhook};

/// nightlight's standalone TOML schema as a type.
#[derive(Debug)]
pub enum NightLightSchema {}

impl Component for NightLightSchema {
    const NAME: &'static str = "nightlight";
    type PhotonStandalone = photon_config::schema::GenericStandalone;
    type Standalone = Standalone;
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.storage]`.
    #[serde(default)]
    pub storage: Storage,
    /// `[standalone.collection]`.
    #[serde(default)]
    pub collection: CollectionSection,
    /// `[[standalone.scrape_targets]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_targets: Vec<ScrapeTargets>,
    /// `[standalone.alerting]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<Alerting>,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The Prometheus API, `/health` and `/metrics`.
    pub http_addr: ListenAddr,
    /// The design's gRPC API: refused (there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_addr: Option<ListenAddr>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            http_addr: ListenAddr::any(9090),
            grpc_addr: None,
        }
    }
}

/// `[standalone.storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// `local`, the only kind.
    #[serde(rename = "type", default = "local")]
    pub kind: String,
    /// Where samples are kept (absolute); the state directory's `data`
    /// when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    /// How many days they are kept.
    pub retention_days: u32,
}

fn local() -> String {
    "local".to_owned()
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            kind: local(),
            data_dir: None,
            retention_days: 30,
        }
    }
}

/// `[standalone.collection]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSection {
    /// Between two scrapes of a target.
    pub scrape_interval_sec: Seconds,
    /// How long one may take.
    pub scrape_timeout_sec: Seconds,
}

impl Default for CollectionSection {
    fn default() -> Self {
        CollectionSection {
            scrape_interval_sec: Seconds(Collection::DEFAULT.scrape_interval),
            scrape_timeout_sec: Seconds(Collection::DEFAULT.scrape_timeout),
        }
    }
}

/// `[[standalone.scrape_targets]]`: a job and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeTargets {
    /// The `job` label.
    pub name: String,
    /// `host:port` of each target's `/metrics`.
    pub static_configs: Vec<String>,
}

/// `[standalone.alerting]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerting {
    /// Whether alerts are sent (rules are evaluated either way).
    #[serde(default)]
    pub enabled: bool,
    /// Where (`http://host:port/path`, Alertmanager's webhook JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_webhook: Option<String>,
    /// `[[standalone.alerting.rules]]`: evaluated whether or not alerts
    /// are sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleEntry>,
}

/// `[[standalone.alerting.rules]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    /// `alertname`.
    pub name: String,
    /// The PromQL expression.
    pub expr: String,
    /// How long it must hold before firing.
    #[serde(default = "zero")]
    pub for_sec: Seconds,
    /// Labels added to each alert.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (`{{ $labels.x }}` and `{{ $value }}` are filled).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn zero() -> Seconds {
    Seconds::whole(0)
}

fn leak_pairs(map: &BTreeMap<String, String>) -> &'static [(&'static str, &'static str)] {
    map.iter()
        .map(|(k, v)| (leak(k), leak(v)))
        .collect::<Vec<_>>()
        .leak()
}

impl StandaloneServer for NightLightSchema {
    type Spec = NightLight<Local>;

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<NightLight<Local>>, ConfigError> {
        let s = &doc.standalone;
        if s.server.grpc_addr.is_some() {
            return Err(config_error(
                layers,
                "standalone.server.grpc_addr",
                "nightlight has no gRPC API: its API is Prometheus's, on `http_addr`; leave `grpc_addr` out",
            ));
        }
        if s.storage.kind != "local" {
            return Err(config_error(
                layers,
                "standalone.storage.type",
                format!(
                    "`{}` is not a storage nightlight has: write `local`",
                    s.storage.kind
                ),
            ));
        }
        let data_dir = match &s.storage.data_dir {
            Some(dir) if !dir.starts_with('/') => {
                return Err(config_error(
                    layers,
                    "standalone.storage.data_dir",
                    "an absolute path",
                ));
            }
            Some(dir) => Some(leak(dir)),
            None => None,
        };
        let mut outside = Vec::new();
        for (i, targets) in s.scrape_targets.iter().enumerate() {
            if targets.name.is_empty() {
                return Err(config_error(
                    layers,
                    &format!("standalone.scrape_targets[{i}].name"),
                    "the job's name, its `job` label",
                ));
            }
            for address in &targets.static_configs {
                outside.push(Outside::outside_topology(
                    leak(&targets.name),
                    leak(address),
                ));
            }
        }
        let webhook = match &s.alerting {
            Some(Alerting {
                enabled: true,
                local_webhook: Some(url),
                ..
            }) => {
                crate::rules::Receiver::from_url(url).map_err(|problem| {
                    config_error(layers, "standalone.alerting.local_webhook", problem)
                })?;
                Webhook::OutsideTopology(leak(url))
            }
            Some(Alerting {
                enabled: true,
                local_webhook: None,
                ..
            }) => {
                return Err(config_error(
                    layers,
                    "standalone.alerting.local_webhook",
                    "alerting is enabled: give the webhook alerts are POSTed to (`http://host:port/path`)",
                ));
            }
            _ => Webhook::Off,
        };
        let mut rules = Vec::new();
        for (i, r) in s.alerting.iter().flat_map(|a| a.rules.iter()).enumerate() {
            if let Err(e) = crate::promql::parse(&r.expr) {
                return Err(config_error(
                    layers,
                    &format!("standalone.alerting.rules[{i}].expr"),
                    format!("rule `{}`: not PromQL: {e}", r.name),
                ));
            }
            rules.push(AlertRule {
                name: leak(&r.name),
                expr: leak(&r.expr),
                hold: r.for_sec.0,
                labels: leak_pairs(&r.labels),
                annotations: leak_pairs(&r.annotations),
            });
        }
        let spec = NightLight {
            node: Local,
            http_port: listen_port(layers, "standalone.server.http_addr", s.server.http_addr)?,
            data_dir,
            retention: Retention {
                days: s.storage.retention_days,
            },
            collection: Collection {
                scrape_interval: s.collection.scrape_interval_sec.0,
                scrape_timeout: s.collection.scrape_timeout_sec.0,
            },
            extra_targets: &[],
            outside: outside.leak(),
            rules: rules.leak(),
            webhook,
        };
        Ok(Built::new(spec).listen(HttpListener, s.server.http_addr.ip))
    }
}

/// The standalone document for `spec` as exported from a deployment:
/// every `/metrics` of the topology (but its own, which it scrapes by
/// itself) written as `scrape_targets`, by service kind.
pub fn export<N: Node>(
    spec: &NightLight<N>,
    ctx: &ExportContext,
) -> Result<ComponentDocument<NightLightSchema>, ExportError> {
    let mut doc = standalone_document::<NightLightSchema>(&ctx.component_id);
    let own = ctx.reach(ctx.node, spec.http_port)?;
    let mut jobs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |job: &str, address: String| {
        let list = jobs.entry(job.to_owned()).or_default();
        if address != own && !list.contains(&address) {
            list.push(address);
        }
    };
    for (kind, address) in &ctx.metrics_endpoints {
        add(kind, address.clone());
    }
    for dep in spec.declare().deps().filter(|d| d.slot == "extra_targets") {
        let job = if dep.provider.is_empty() {
            "extra"
        } else {
            dep.provider
        };
        add(job, ctx.reach(dep.node, dep.port)?);
    }
    for outside in spec.outside {
        add(outside.job, outside.address.to_owned());
    }
    let webhook = match spec.webhook {
        Webhook::Off => None,
        Webhook::OutsideTopology(url) => Some(url.to_owned()),
        Webhook::To(dep) => {
            let path = dep
                .path()
                .map_or(String::new(), |p| format!("/{}", p.trimmed()));
            Some(format!(
                "http://{}{path}",
                ctx.reach(dep.node(), dep.port())?
            ))
        }
    };
    doc.standalone = Standalone {
        server: Server {
            http_addr: ListenAddr::new(ctx.bind_ip, spec.http_port.get()),
            grpc_addr: None,
        },
        storage: Storage {
            kind: local(),
            data_dir: Some(match spec.data_dir {
                Some(dir) => dir.to_owned(),
                None => ctx.state_dir.join("data").display().to_string(),
            }),
            retention_days: spec.retention.days,
        },
        collection: CollectionSection {
            scrape_interval_sec: Seconds(spec.collection.scrape_interval),
            scrape_timeout_sec: Seconds(spec.collection.scrape_timeout),
        },
        scrape_targets: jobs
            .into_iter()
            .filter(|(_, addresses)| !addresses.is_empty())
            .map(|(name, static_configs)| ScrapeTargets {
                name,
                static_configs,
            })
            .collect(),
        alerting: (webhook.is_some() || !spec.rules.is_empty()).then(|| Alerting {
            enabled: webhook.is_some(),
            local_webhook: webhook,
            rules: spec
                .rules
                .iter()
                .map(|r| RuleEntry {
                    name: r.name.to_owned(),
                    expr: r.expr.to_owned(),
                    for_sec: Seconds(r.hold),
                    labels: r
                        .labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    annotations: r
                        .annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                })
                .collect(),
        }),
    };
    Ok(doc)
}

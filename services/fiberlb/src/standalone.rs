//! fiberlb from the design's TOML (docs/design.md §2.3): `fiberlb-server
//! --config fiberlb.toml`. Each `[[standalone.loadbalancers]]` becomes the
//! same typed [`L4`] or [`L7`] a deployment writes, over the protocol its
//! `protocol` names, and is checked by the same `declare()`.
//!
//! ```toml
//! [photon]
//! mode = "standalone"
//! component_id = "fiberlb-01"
//! [photon.standalone]
//! config_backend = "file"
//! dataplane = "userspace"
//! [standalone.server]
//! admin_api_addr = "127.0.0.1:8404"
//! [[standalone.loadbalancers]]
//! name = "web-lb"
//! vip = "0.0.0.0"
//! port = 80
//! protocol = "http"          # tcp, udp, http, https, or what the backends speak: s3, dns, ...
//! method = "roundrobin"      # leastconn, source
//! persistence = "cookie"     # source_ip (L4), none
//! cookie_name = "SRV"
//! [[standalone.loadbalancers.backends]]
//! name = "web-1"
//! address = "10.0.0.11"
//! port = 8080
//! weight = 100
//! [standalone.loadbalancers.healthcheck]
//! type = "http"
//! interval_sec = 10
//! timeout_sec = 5
//! path = "/health"
//! [[standalone.loadbalancers.routes]]
//! host = "api.example.com"
//! path = "v1"
//! backends = [{ address = "10.0.0.21", port = 8080 }]
//! ```
//!
//! Beyond the design: `layer` (`l4`, `l7`) where a protocol could be
//! either, `routes`, `rise`/`fall`/`expect_status` on health checks,
//! `idle_timeout_sec` and `request_timeout_sec`, several certificates by
//! SNI (`[[...tls.sni]]`), and `outside_topology` on a backend exported
//! from a deployment that named it that way.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr, Seconds};
use photon_dsl::protocol::{
    Dns, EtcdV3, Http, HttpGet, Nats, OverHttp, PhotonAuthApi, PromQuery, PromScrape, RawTcp,
    RawUdp, S3,
};
use photon_dsl::{
    HostName, NodeAddress, NodeName, Port, Protocol, Secret, SecretSource, UrlPathPrefix,
};
use photon_runtime::ExportError;
use photon_runtime::standalone::{
    Built, Local, Remotes, StandaloneServer, config_error, integration, leak, listen_port,
    standalone_document, write_integration,
};
use serde::{Deserialize, Serialize};

use crate::spec::{
    AdminListener, Backend, Balancer, Certificate, Check, FiberLb, Health, HttpStickiness, L4,
    L4Stickiness, L7, Layer, Method, Publish, Route, Target, TlsFront,
};

/// fiberlb's standalone TOML schema as a type.
#[derive(Debug)]
pub enum FiberLbSchema {}

impl Component for FiberLbSchema {
    const NAME: &'static str = "fiberlb";
    type PhotonStandalone = PhotonStandalone;
    type Standalone = Standalone;
}

/// `[photon.standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotonStandalone {
    /// Where the balancers are configured: this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_backend: Option<ConfigBackend>,
    /// How packets are forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataplane: Option<Dataplane>,
    /// docs/design.md §3.2's generic `storage_backend = "local"` (fiberlb
    /// keeps no state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_backend: Option<photon_config::schema::LocalBackend>,
    /// docs/design.md §3.2's generic `auth_backend = "local"` (its admin
    /// API has no users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_backend: Option<photon_config::schema::LocalBackend>,
    /// docs/design.md §3.2's generic `config_source = "file"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_source: Option<photon_config::schema::ConfigSource>,
}

/// Where the balancers are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigBackend {
    /// This file.
    File,
    /// chainfire (integrated).
    Chainfire,
}

/// How packets are forwarded: the seam where a kernel dataplane would
/// plug in beside the user-space proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataplane {
    /// fiberlb's own proxy (what runs).
    Userspace,
    /// iptables DNAT rules.
    Iptables,
    /// Linux IPVS.
    Ipvs,
    /// An eBPF/XDP program.
    Ebpf,
}

impl Dataplane {
    fn as_str(self) -> &'static str {
        match self {
            Dataplane::Userspace => "userspace",
            Dataplane::Iptables => "iptables",
            Dataplane::Ipvs => "ipvs",
            Dataplane::Ebpf => "ebpf",
        }
    }

    /// What this dataplane lacks, if it cannot run: each kernel dataplane
    /// would need its own forwarding, health-state sync and counters.
    fn unavailable(self) -> Option<String> {
        match self {
            Dataplane::Userspace => None,
            kernel => Some(format!(
                "the `{}` dataplane is not available: fiberlb forwards in user space; write `dataplane = \"userspace\"` or leave it out",
                kernel.as_str()
            )),
        }
    }
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.dataplane]`: the design's second place for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataplane: Option<DataplaneSection>,
    /// `[[standalone.loadbalancers]]`.
    #[serde(default)]
    pub loadbalancers: Vec<LoadBalancer>,
    /// `[standalone.publish]`: the balancers' names in a stored zone
    /// (integrated only); off when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishSection>,
}

/// `[standalone.publish]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSection {
    /// The zone (a stored zone of the cluster's flashdns).
    pub zone: String,
    /// That flashdns, `host:port`: the zone's name server if fiberlb
    /// makes the zone.
    pub server: String,
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The admin REST API, `/health` and `/metrics`.
    pub admin_api_addr: ListenAddr,
    /// `/metrics` apart: fiberlb serves it on the admin address, so this
    /// must be that address or left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<ListenAddr>,
    /// The gRPC management API (not built: refused when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_addr: Option<ListenAddr>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            admin_api_addr: ListenAddr::loopback(8404),
            metrics_addr: None,
            grpc_addr: None,
        }
    }
}

/// `[standalone.dataplane]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneSection {
    /// The dataplane.
    #[serde(rename = "type")]
    pub kind: Dataplane,
}

/// `[[standalone.loadbalancers]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Unique among the balancers (the admin API and metrics use it).
    pub name: String,
    /// The address it listens on (every interface when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<IpAddr>,
    /// Its port.
    pub port: u16,
    /// What is balanced: `tcp`, `udp`, `http`, `https` (HTTP with TLS
    /// termination), or the backends' protocol by name (`s3`, `dns`,
    /// `etcd-v3`, `http-get`, `prom-query`, `prom-scrape`, `nats`,
    /// `photonauth`).
    pub protocol: String,
    /// `l4` (byte for byte) or `l7` (HTTP requests); `l7` for `http` and
    /// `https`, `l4` for the rest, when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerWord>,
    /// `roundrobin` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodWord>,
    /// Whether a client keeps its backend (none when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    /// The stickiness cookie's name (`persistence = "cookie"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_name: Option<String>,
    /// How long an idle L4 connection or UDP flow is kept (60 s when not
    /// given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_sec: Option<Seconds>,
    /// How long an L7 request may be kept waiting (30 s when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_sec: Option<Seconds>,
    /// TLS termination (L7): clients speak HTTPS, backends plain HTTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_termination: bool,
    /// The certificates, with `tls_termination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Where requests (or connections) go.
    #[serde(default)]
    pub backends: Vec<BackendEntry>,
    /// `[standalone.loadbalancers.healthcheck]` (a TCP connect every 2 s
    /// when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
    /// L7 routes by host and path prefix, tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
}

/// A balancer's layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerWord {
    /// Byte for byte.
    L4,
    /// HTTP requests.
    L7,
}

/// HAProxy's `balance` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodWord {
    /// Weighted round robin.
    Roundrobin,
    /// Fewest open connections per weight.
    Leastconn,
    /// Consistent hash of the client's address.
    Source,
}

/// Session persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// None.
    None,
    /// By client address (L4).
    SourceIp,
    /// By an inserted cookie (L7).
    Cookie,
}

/// `[standalone.loadbalancers.tls]`: the default certificate, and more by
/// SNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The default certificate chain (PEM).
    pub cert_file: String,
    /// Its private key (PEM file); or `key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// An environment variable holding the key (PEM); or `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
    /// Further certificates, chosen by the name a client asks for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sni: Vec<CertificateEntry>,
}

/// `[[standalone.loadbalancers.tls.sni]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    /// The certificate chain (PEM).
    pub cert_file: String,
    /// Its private key (PEM file); or `key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// An environment variable holding the key; or `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
}

/// `[[standalone.loadbalancers.backends]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendEntry {
    /// Its name: the node `plan` and `check` show it as (a lowercase DNS
    /// label; numbered after the protocol when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its IP address or host name.
    pub address: String,
    /// Its port.
    pub port: u16,
    /// Its share of new traffic, 0 to 255 (100 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// The path prefix it serves under, for a protocol that has one
    /// (`http-get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A deployment's `Backend::outside_topology`: an IP address taken as
    /// it is, not a node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outside_topology: bool,
}

/// `[standalone.loadbalancers.healthcheck]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `tcp` (a connect), `http` (`GET path`) or `protocol` (the
    /// backends' protocol's own probe).
    #[serde(rename = "type")]
    pub kind: CheckWord,
    /// How often (2 s when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_sec: Option<Seconds>,
    /// How long an answer may take (1 s when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_sec: Option<Seconds>,
    /// The path asked (`http`; `/` when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The status that means healthy (`http`; 200 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// Successes in a row that bring a backend back (2 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u8>,
    /// Failures in a row that take it out (3 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u8>,
}

/// A health check's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckWord {
    /// A TCP connect.
    Tcp,
    /// `GET path`.
    Http,
    /// The protocol's own probe.
    Protocol,
}

/// `[[standalone.loadbalancers.routes]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// The `Host` it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The path prefix it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its backends.
    pub backends: Vec<BackendEntry>,
}

/// The protocols a balancer may name, and whether each is HTTP underneath.
const PROTOCOLS: &[(&str, bool)] = &[
    ("tcp", false),
    ("udp", false),
    ("http", true),
    ("https", true),
    ("s3", true),
    ("http-get", true),
    ("prom-query", true),
    ("prom-scrape", true),
    ("dns", false),
    ("etcd-v3", false),
    ("nats", false),
    ("photonauth", false),
];

/// One balancer being read, for its errors' keys.
struct Reading<'a, 'l> {
    layers: &'l Layers,
    key: String,
    lb: &'a LoadBalancer,
    remotes: &'a mut Remotes<'l>,
}

impl Reading<'_, '_> {
    fn error(&self, sub: &str, problem: impl Into<String>) -> ConfigError {
        let key = if sub.is_empty() {
            self.key.clone()
        } else {
            format!("{}.{sub}", self.key)
        };
        config_error(self.layers, &key, problem)
    }

    fn method(&self) -> Method {
        match self.lb.method.unwrap_or(MethodWord::Roundrobin) {
            MethodWord::Roundrobin => Method::RoundRobin,
            MethodWord::Leastconn => Method::LeastConnections,
            MethodWord::Source => Method::SourceHash,
        }
    }

    fn health(&self) -> Result<Health, ConfigError> {
        let Some(check) = &self.lb.healthcheck else {
            return Ok(Health::DEFAULT);
        };
        let kind = match check.kind {
            CheckWord::Tcp | CheckWord::Protocol => {
                for (set, key) in [
                    (check.path.is_some(), "path"),
                    (check.expect_status.is_some(), "expect_status"),
                ] {
                    if set {
                        return Err(self.error(
                            &format!("healthcheck.{key}"),
                            "only an `http` check asks a path: remove it, or write `type = \"http\"`",
                        ));
                    }
                }
                if check.kind == CheckWord::Tcp {
                    Check::Connect
                } else {
                    Check::Protocol
                }
            }
            CheckWord::Http => Check::Http {
                path: leak(check.path.as_deref().unwrap_or("/")),
                status: check.expect_status.unwrap_or(200),
            },
        };
        Ok(Health {
            check: kind,
            interval: check.interval_sec.map_or(Health::DEFAULT.interval, |s| s.0),
            timeout: check.timeout_sec.map_or(Health::DEFAULT.timeout, |s| s.0),
            rise: check.rise.unwrap_or(Health::DEFAULT.rise),
            fall: check.fall.unwrap_or(Health::DEFAULT.fall),
        })
    }

    /// The backends at `key` as typed backends of `P`.
    fn backends<P: Protocol>(
        &mut self,
        key: &str,
        entries: &[BackendEntry],
    ) -> Result<&'static [Backend<P>], ConfigError> {
        let mut typed = Vec::with_capacity(entries.len());
        for (j, entry) in entries.iter().enumerate() {
            let at = format!("{key}[{j}]");
            let weight = u8::try_from(entry.weight.unwrap_or(100))
                .map_err(|_| self.error(&format!("{at}.weight"), "a weight is 0 to 255"))?;
            let port = Port::try_from(entry.port)
                .map_err(|_| self.error(&format!("{at}.port"), "a port is 1 to 65535"))?;
            let backend = if entry.outside_topology {
                let ip: IpAddr = entry.address.parse().map_err(|_| {
                    self.error(
                        &format!("{at}.address"),
                        "a backend outside the topology is an IP address",
                    )
                })?;
                for (set, field) in [
                    (entry.name.is_some(), "name"),
                    (entry.path.is_some(), "path"),
                ] {
                    if set {
                        return Err(self.error(
                            &format!("{at}.{field}"),
                            "a backend outside the topology has no name or path: remove it, or `outside_topology`",
                        ));
                    }
                }
                Backend::<P>::outside_topology(SocketAddr::new(ip, port.get()))
            } else {
                let host = if entry.address.contains(':') {
                    format!("[{}]", entry.address)
                } else {
                    entry.address.clone()
                };
                let path = entry.path.as_deref().unwrap_or("");
                let url = format!("{host}:{port}/{}", path.trim_start_matches('/'));
                let full_key = format!("{}.{at}.address", self.key);
                let dep = match &entry.name {
                    Some(name) => {
                        let node = NodeName::parse(name)
                            .map_err(|e| self.error(&format!("{at}.name"), e.to_string()))?;
                        self.remotes.add_as::<P>(&full_key, &url, node)?
                    }
                    None => self.remotes.add::<P>(&full_key, &url)?,
                };
                Backend::of(dep)
            };
            typed.push(backend.weight(weight));
        }
        Ok(Box::leak(typed.into_boxed_slice()))
    }

    fn l4<P: Protocol>(&mut self, port: Port, health: Health) -> Result<Balancer, ConfigError> {
        let lb = self.lb;
        for (set, field) in [
            (lb.request_timeout_sec.is_some(), "request_timeout_sec"),
            (!lb.routes.is_empty(), "routes"),
            (lb.cookie_name.is_some(), "cookie_name"),
        ] {
            if set {
                return Err(self.error(
                    field,
                    "an L4 balancer forwards bytes, not requests: this is for `layer = \"l7\"`",
                ));
            }
        }
        let stickiness = match lb.persistence.unwrap_or(Persistence::None) {
            Persistence::None => L4Stickiness::None,
            Persistence::SourceIp => L4Stickiness::SourceIp,
            Persistence::Cookie => {
                return Err(self.error(
                    "persistence",
                    "an L4 balancer sees no cookies: write `persistence = \"source_ip\"`",
                ));
            }
        };
        let backends = self.backends::<P>("backends", &lb.backends)?;
        Ok(L4 {
            name: leak(&lb.name),
            port,
            backends,
            method: self.method(),
            health,
            stickiness,
            idle_timeout: lb.idle_timeout_sec.map_or(DEFAULT_IDLE, |s| s.0),
        }
        .balancer())
    }

    fn l7<P: OverHttp>(
        &mut self,
        port: Port,
        health: Health,
        tls: bool,
    ) -> Result<Balancer, ConfigError> {
        let lb = self.lb;
        if lb.idle_timeout_sec.is_some() {
            return Err(self.error(
                "idle_timeout_sec",
                "an L7 balancer's timeout is `request_timeout_sec`",
            ));
        }
        let stickiness = match (lb.persistence.unwrap_or(Persistence::None), &lb.cookie_name) {
            (Persistence::None, None) => HttpStickiness::None,
            (Persistence::Cookie, Some(name)) => HttpStickiness::Cookie(leak(name)),
            (Persistence::Cookie, None) => {
                return Err(self.error(
                    "cookie_name",
                    "`persistence = \"cookie\"` needs the cookie's name, such as `cookie_name = \"SRV\"`",
                ));
            }
            (Persistence::None, Some(_)) => {
                return Err(self.error("cookie_name", "set, but `persistence` is not \"cookie\""));
            }
            (Persistence::SourceIp, _) => {
                return Err(self.error(
                    "persistence",
                    "an L7 balancer keeps clients by cookie: write `persistence = \"cookie\"` and `cookie_name`",
                ));
            }
        };
        let tls = match (tls, &lb.tls) {
            (false, None) => None,
            (true, Some(tls)) => Some(self.tls(tls)?),
            (true, None) => {
                return Err(self.error(
                    "tls",
                    "TLS termination needs `[tls]` with `cert_file` and `key_file`",
                ));
            }
            (false, Some(_)) => {
                return Err(self.error(
                    "tls",
                    "certificates are given but TLS is off: set `tls_termination = true` (or `protocol = \"https\"`)",
                ));
            }
        };
        let backends = self.backends::<P>("backends", &lb.backends)?;
        let mut routes = Vec::with_capacity(lb.routes.len());
        for (r, route) in lb.routes.iter().enumerate() {
            let host = match &route.host {
                Some(host) => Some(
                    HostName::parse(host)
                        .map_err(|e| self.error(&format!("routes[{r}].host"), e.to_string()))?,
                ),
                None => None,
            };
            let path = match &route.path {
                Some(path) => Some(
                    UrlPathPrefix::parse(path)
                        .map_err(|e| self.error(&format!("routes[{r}].path"), e.to_string()))?,
                ),
                None => None,
            };
            routes.push(Route {
                host,
                path,
                backends: self.backends::<P>(&format!("routes[{r}].backends"), &route.backends)?,
            });
        }
        Ok(L7 {
            name: leak(&lb.name),
            port,
            backends,
            routes: Box::leak(routes.into_boxed_slice()),
            method: self.method(),
            health,
            stickiness,
            tls,
            request_timeout: lb
                .request_timeout_sec
                .map_or(DEFAULT_REQUEST_TIMEOUT, |s| s.0),
        }
        .balancer())
    }

    fn tls(&self, tls: &Tls) -> Result<TlsFront, ConfigError> {
        let mut certificates =
            vec![self.certificate("tls", &tls.cert_file, &tls.key_file, &tls.key_env)?];
        for (c, entry) in tls.sni.iter().enumerate() {
            certificates.push(self.certificate(
                &format!("tls.sni[{c}]"),
                &entry.cert_file,
                &entry.key_file,
                &entry.key_env,
            )?);
        }
        Ok(TlsFront {
            certificates: Box::leak(certificates.into_boxed_slice()),
        })
    }

    fn certificate(
        &self,
        key: &str,
        cert_file: &str,
        key_file: &Option<String>,
        key_env: &Option<String>,
    ) -> Result<Certificate, ConfigError> {
        let secret = match (key_file, key_env) {
            (Some(file), None) => Secret::try_file(leak(file))
                .map_err(|problem| self.error(&format!("{key}.key_file"), problem))?,
            (None, Some(name)) => Secret::try_env(leak(name))
                .map_err(|problem| self.error(&format!("{key}.key_env"), problem))?,
            (None, None) => {
                return Err(self.error(
                    &format!("{key}.key_file"),
                    "the certificate's private key is missing: give `key_file` (or `key_env`)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(self.error(
                    &format!("{key}.key_env"),
                    "the key comes from `key_file` or `key_env`, not both",
                ));
            }
        };
        if !cert_file.starts_with('/') {
            return Err(self.error(
                &format!("{key}.cert_file"),
                format!("`{cert_file}` is not an absolute path"),
            ));
        }
        Ok(Certificate {
            cert_file: leak(cert_file),
            key: secret,
        })
    }
}

/// An L4 connection's idle time unless the configuration says.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);
/// An L7 request's waiting time unless the configuration says.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The typed balancer for `lb`: its protocol and layer chosen from the
/// text, every other check the spec's own.
fn balancer(reading: &mut Reading<'_, '_>) -> Result<Balancer, ConfigError> {
    let lb = reading.lb;
    let protocol = lb.protocol.as_str();
    let Some(&(_, over_http)) = PROTOCOLS.iter().find(|(name, _)| *name == protocol) else {
        let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
        return Err(reading.error(
            "protocol",
            format!(
                "`{protocol}` is no protocol fiberlb knows: write one of {}",
                names.join(", ")
            ),
        ));
    };
    let https = protocol == "https";
    let layer = lb.layer.unwrap_or(if matches!(protocol, "http" | "https") {
        LayerWord::L7
    } else {
        LayerWord::L4
    });
    let port =
        Port::try_from(lb.port).map_err(|_| reading.error("port", "a port is 1 to 65535"))?;
    let health = reading.health()?;
    let tls = lb.tls_termination || https;
    if layer == LayerWord::L4 {
        if tls || lb.tls.is_some() {
            return Err(reading.error(
                if lb.tls_termination { "tls_termination" } else { "layer" },
                "TLS is terminated by L7 (HTTP) balancers: write `protocol = \"https\"`, or `layer = \"l7\"`; an L4 balancer forwards TLS byte for byte",
            ));
        }
        return match protocol {
            "tcp" => reading.l4::<RawTcp>(port, health),
            "udp" => reading.l4::<RawUdp>(port, health),
            "http" => reading.l4::<Http>(port, health),
            "s3" => reading.l4::<S3>(port, health),
            "http-get" => reading.l4::<HttpGet<String, String>>(port, health),
            "prom-query" => reading.l4::<PromQuery>(port, health),
            "prom-scrape" => reading.l4::<PromScrape>(port, health),
            "dns" => reading.l4::<Dns>(port, health),
            "etcd-v3" => reading.l4::<EtcdV3>(port, health),
            "nats" => reading.l4::<Nats>(port, health),
            "photonauth" => reading.l4::<PhotonAuthApi>(port, health),
            _ => unreachable!("every listed protocol is matched"),
        };
    }
    if !over_http {
        return Err(reading.error(
            "layer",
            format!(
                "`{protocol}` is not HTTP underneath, so an L7 balancer cannot forward it: write `layer = \"l4\"` to forward it byte for byte"
            ),
        ));
    }
    match protocol {
        "http" | "https" => reading.l7::<Http>(port, health, tls),
        "s3" => reading.l7::<S3>(port, health, tls),
        "http-get" => reading.l7::<HttpGet<String, String>>(port, health, tls),
        "prom-query" => reading.l7::<PromQuery>(port, health, tls),
        "prom-scrape" => reading.l7::<PromScrape>(port, health, tls),
        _ => unreachable!("every HTTP protocol is matched"),
    }
}

impl StandaloneServer for FiberLbSchema {
    type Spec = FiberLb<Local>;

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<FiberLb<Local>>, ConfigError> {
        let own = &doc.photon.standalone;
        if own.config_backend == Some(ConfigBackend::Chainfire) {
            return Err(config_error(
                layers,
                "photon.standalone.config_backend",
                "balancers from chainfire are not available yet; use \"file\"",
            ));
        }
        let s = &doc.standalone;
        if let (Some(a), Some(b)) = (own.dataplane, s.dataplane)
            && a != b.kind
        {
            return Err(config_error(
                layers,
                "standalone.dataplane.type",
                format!(
                    "`{}` here, `{}` in `photon.standalone.dataplane`: give one, or the same in both",
                    b.kind.as_str(),
                    a.as_str()
                ),
            ));
        }
        for (dataplane, key) in [
            (own.dataplane, "photon.standalone.dataplane"),
            (s.dataplane.map(|d| d.kind), "standalone.dataplane.type"),
        ] {
            if let Some(why) = dataplane.and_then(Dataplane::unavailable) {
                return Err(config_error(layers, key, why));
            }
        }
        if s.server.grpc_addr.is_some() {
            return Err(config_error(
                layers,
                "standalone.server.grpc_addr",
                "the gRPC management API is not available; the REST API on `admin_api_addr` lists, drains and enables backends",
            ));
        }
        if let Some(metrics) = s.server.metrics_addr
            && metrics != s.server.admin_api_addr
        {
            return Err(config_error(
                layers,
                "standalone.server.metrics_addr",
                format!(
                    "fiberlb serves /metrics on the admin API's address: `metrics_addr` ({metrics}) must equal `admin_api_addr` ({}), or be left out",
                    s.server.admin_api_addr
                ),
            ));
        }
        if s.loadbalancers.is_empty() {
            return Err(config_error(
                layers,
                "standalone.loadbalancers",
                "no balancers: add a `[[standalone.loadbalancers]]` with its `backends`",
            ));
        }
        let (mode, mut remotes) = integration::<FiberLbSchema>(doc, layers)?;
        let publish = match &s.publish {
            None => Publish::Off,
            Some(PublishSection { zone, server }) => {
                if mode.is_integrated() {
                    let server = remotes
                        .add::<photon_dsl::protocol::Dns>("standalone.publish.server", server)?;
                    remotes.keeps_stored_zone(&server, zone);
                    Publish::Dns {
                        zone: leak(zone),
                        server,
                    }
                } else {
                    return Err(config_error(
                        layers,
                        "standalone.publish",
                        "names are published through chainfire: set `photon.mode = \"integrated\"` with `photon.integrated.chainfire_endpoints`, or leave [standalone.publish] out",
                    ));
                }
            }
        };
        let mut balancers = Vec::with_capacity(s.loadbalancers.len());
        let mut listen = Vec::new();
        for (i, lb) in s.loadbalancers.iter().enumerate() {
            let key = format!("standalone.loadbalancers[{i}]");
            let mut reading = Reading {
                layers,
                key: key.clone(),
                lb,
                remotes: &mut remotes,
            };
            let balancer = balancer(&mut reading)?;
            if let Some(problem) = balancer.problem() {
                return Err(config_error(layers, &key, problem.as_str()));
            }
            listen.push((
                balancer.name,
                lb.vip
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            ));
            balancers.push(balancer);
        }
        let spec = FiberLb {
            node: Local,
            mode,
            admin_port: listen_port(
                layers,
                "standalone.server.admin_api_addr",
                s.server.admin_api_addr,
            )?,
            balancers: Box::leak(balancers.into_boxed_slice()),
            publish,
        };
        if let Some(reason) = spec.declare().rejected() {
            let key = match (mode, publish) {
                (photon_dsl::Mode::Standalone, Publish::Off) => "standalone.loadbalancers",
                (_, Publish::Off) => "photon.mode",
                _ => "standalone.publish",
            };
            return Err(config_error(layers, key, reason));
        }
        let mut built = Built::new(spec)
            .listen(AdminListener, s.server.admin_api_addr.ip)
            .remotes(remotes);
        built.listen.extend(listen);
        Ok(built)
    }
}

/// How `export` finds where a topology backend is.
pub type Reach<'a> = &'a dyn Fn(NodeName) -> Result<NodeAddress, photon_dsl::ResolveError>;

/// The backends of one pool as the schema writes them.
fn backend_entries(
    pool: &[crate::spec::BackendDecl],
    reach: Reach<'_>,
) -> Result<Vec<BackendEntry>, ExportError> {
    let mut entries = Vec::with_capacity(pool.len());
    for backend in pool {
        let weight =
            (backend.weight != crate::spec::DEFAULT_WEIGHT).then_some(u16::from(backend.weight));
        entries.push(match backend.target {
            Target::Topology(dep) => BackendEntry {
                name: Some(dep.node.as_str().to_owned()),
                address: match reach(dep.node)? {
                    NodeAddress::Ip(ip) => ip.to_string(),
                    NodeAddress::Host(host) => host,
                },
                port: dep.port.get(),
                weight,
                path: backend
                    .path
                    .map(|p| p.trimmed().to_owned())
                    .filter(|p| !p.is_empty()),
                outside_topology: false,
            },
            Target::Outside(addr) => BackendEntry {
                name: None,
                address: addr.ip().to_string(),
                port: addr.port(),
                weight,
                path: None,
                outside_topology: true,
            },
        });
    }
    Ok(entries)
}

/// Where a certificate's key is read from, as the schema writes it.
fn key_source(secret: &Secret) -> (Option<String>, Option<String>) {
    match secret.source() {
        SecretSource::File(path) => (Some(path.to_owned()), None),
        SecretSource::Env(name) => (None, Some(name.to_owned())),
        // A key written as a value does not compile in a deployment, and
        // the schema has no key for one.
        SecretSource::Written(_) => (None, None),
    }
}

/// The standalone document that configures `spec` as a deployment does,
/// every listener on `bind_ip`: what `deploy-x export-config` prints.
pub fn export<N: photon_dsl::Node>(
    spec: &FiberLb<N>,
    bind_ip: IpAddr,
    component_id: &str,
    reach: Reach<'_>,
    cluster: &str,
    reach_port: photon_runtime::standalone::Reach<'_>,
) -> Result<ComponentDocument<FiberLbSchema>, ExportError> {
    let mut loadbalancers = Vec::with_capacity(spec.balancers.len());
    for balancer in spec.balancers {
        let health = balancer.health;
        let healthcheck = (health != Health::DEFAULT).then(|| {
            let (kind, path, expect_status) = match health.check {
                Check::Connect => (CheckWord::Tcp, None, None),
                Check::Protocol => (CheckWord::Protocol, None, None),
                Check::Http { path, status } => {
                    (CheckWord::Http, Some(path.to_owned()), Some(status))
                }
            };
            HealthCheck {
                kind,
                interval_sec: Some(Seconds(health.interval)),
                timeout_sec: Some(Seconds(health.timeout)),
                path,
                expect_status,
                rise: Some(health.rise),
                fall: Some(health.fall),
            }
        });
        let method = match balancer.method {
            Method::RoundRobin => None,
            Method::LeastConnections => Some(MethodWord::Leastconn),
            Method::SourceHash => Some(MethodWord::Source),
        };
        let mut lb = LoadBalancer {
            name: balancer.name.to_owned(),
            vip: Some(bind_ip),
            port: balancer.port.get(),
            protocol: balancer.protocol.to_owned(),
            layer: None,
            method,
            persistence: None,
            cookie_name: None,
            idle_timeout_sec: None,
            request_timeout_sec: None,
            tls_termination: false,
            tls: None,
            backends: backend_entries(&balancer.default_pool(), reach)?,
            healthcheck,
            routes: Vec::new(),
        };
        let http_default = balancer.protocol == "http";
        match balancer.layer {
            Layer::L4 {
                stickiness,
                idle_timeout,
            } => {
                if http_default {
                    lb.layer = Some(LayerWord::L4);
                }
                if stickiness == L4Stickiness::SourceIp {
                    lb.persistence = Some(Persistence::SourceIp);
                }
                lb.idle_timeout_sec = Some(Seconds(idle_timeout));
            }
            Layer::L7 {
                stickiness,
                tls,
                request_timeout,
            } => {
                if !http_default {
                    lb.layer = Some(LayerWord::L7);
                }
                if let HttpStickiness::Cookie(name) = stickiness {
                    lb.persistence = Some(Persistence::Cookie);
                    lb.cookie_name = Some(name.to_owned());
                }
                lb.request_timeout_sec = Some(Seconds(request_timeout));
                if let Some(tls) = tls
                    && let Some((first, rest)) = tls.certificates.split_first()
                {
                    lb.tls_termination = true;
                    let (key_file, key_env) = key_source(&first.key);
                    lb.tls = Some(Tls {
                        cert_file: first.cert_file.to_owned(),
                        key_file,
                        key_env,
                        sni: rest
                            .iter()
                            .map(|c| {
                                let (key_file, key_env) = key_source(&c.key);
                                CertificateEntry {
                                    cert_file: c.cert_file.to_owned(),
                                    key_file,
                                    key_env,
                                }
                            })
                            .collect(),
                    });
                }
                for route in balancer.routes() {
                    lb.routes.push(RouteEntry {
                        host: route.host.map(|h| h.as_str().to_owned()),
                        path: route.path.map(|p| p.as_str().to_owned()),
                        backends: backend_entries(&balancer.pool_of(&route), reach)?,
                    });
                }
            }
        }
        loadbalancers.push(lb);
    }
    let mut doc = standalone_document::<FiberLbSchema>(component_id);
    write_integration::<FiberLbSchema>(&mut doc, spec.mode, cluster, reach_port)?;
    doc.photon.standalone.dataplane = Some(Dataplane::Userspace);
    doc.standalone = Standalone {
        server: Server {
            admin_api_addr: ListenAddr::new(bind_ip, spec.admin_port.get()),
            metrics_addr: None,
            grpc_addr: None,
        },
        dataplane: None,
        loadbalancers,
        publish: match spec.publish {
            Publish::Off => None,
            Publish::Dns { zone, server } => Some(PublishSection {
                zone: zone.to_owned(),
                server: reach_port(server.node(), server.port())?,
            }),
        },
    };
    Ok(doc)
}

//! flashdns from the design's TOML (docs/design.md §2.2): `flashdns-server --config
//! flashdns.toml`. The text becomes the same [`FlashDns`] spec a deployment
//! writes, checked by the same `declare()`.
//!
//! ```toml
//! [photon]
//! mode = "standalone"
//! component_id = "flashdns-01"
//! [photon.standalone]
//! zone_backend = "file"
//! [standalone.server]
//! dns_addr = "0.0.0.0:53"
//! admin_api_addr = "127.0.0.1:8053"
//! [standalone.zones]
//! zone_dir = "/etc/flashdns/zones"
//! auto_reload = true
//! reload_interval_sec = 300
//! [[standalone.zones.zone]]
//! name = "example.com"
//! file = "/etc/flashdns/zones/example.com.zone"
//! [standalone.features]
//! dnssec = false
//! axfr_allow = ["127.0.0.1"]
//! ```

use crate::spec::{AdminListener, DnsListener};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use photon_config::{Component, ComponentDocument, ConfigError, Layers, ListenAddr};
use photon_dsl::Port;
use photon_runtime::ExportError;
use photon_runtime::standalone::leak as leak_str;
use photon_runtime::standalone::{
    Built, Local, Reach, StandaloneServer, config_error, listen_port, standalone_document,
    write_integration,
};
use serde::{Deserialize, Serialize};

use crate::zone::typed::{AddressOf, NodeAddressError};

use crate::spec::{
    AutoReload, Dnssec, FlashDns, RateLimit, Rec, Signing, SigningAlgorithm, SigningKey, Soa, Zone,
    ZoneData, ZoneFileLimits, ZoneSource,
};

/// flashdns's standalone TOML schema as a type: what photon-config reads
/// and writes for it (never a value).
#[derive(Debug)]
pub enum FlashDnsSchema {}

impl Component for FlashDnsSchema {
    const NAME: &'static str = "flashdns";
    type PhotonStandalone = PhotonStandalone;
    type Standalone = Standalone;
}

/// `[photon.standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotonStandalone {
    /// Where zones come from.
    #[serde(default)]
    pub zone_backend: ZoneBackend,
    /// docs/design.md §3.2's generic `storage_backend = "local"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_backend: Option<photon_config::schema::LocalBackend>,
    /// docs/design.md §3.2's generic `auth_backend = "local"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_backend: Option<photon_config::schema::LocalBackend>,
    /// docs/design.md §3.2's generic `config_source = "file"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_source: Option<photon_config::schema::ConfigSource>,
}

/// Where zones come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneBackend {
    /// BIND zone files (the default).
    #[default]
    File,
    /// chainfire (integrated).
    Chainfire,
}

/// `[standalone]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standalone {
    /// `[standalone.server]`.
    #[serde(default)]
    pub server: Server,
    /// `[standalone.zones]`.
    #[serde(default)]
    pub zones: Zones,
    /// `[standalone.features]`.
    #[serde(default)]
    pub features: Features,
    /// `[standalone.rate_limit]`: response rate limiting over UDP; off
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSection>,
}

/// `[standalone.rate_limit]`, BIND's `rate-limit` in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// Responses per second per client prefix (/24, /56).
    pub responses_per_second: u32,
    /// How long a flood is remembered, in seconds (15 when not given).
    #[serde(default = "RateLimitSection::default_window")]
    pub window_seconds: u32,
    /// Every how many limited responses one is sent truncated (2 when not
    /// given; 0: never).
    #[serde(default = "RateLimitSection::default_slip")]
    pub slip: u32,
}

impl RateLimitSection {
    fn default_window() -> u32 {
        15
    }

    fn default_slip() -> u32 {
        2
    }
}

/// `[standalone.server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// DNS over UDP (and TCP: flashdns serves both on one address).
    pub dns_addr: ListenAddr,
    /// DNS over TCP; must equal `dns_addr` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_tcp_addr: Option<ListenAddr>,
    /// The read-only HTTP admin API, `/health` and `/metrics`.
    pub admin_api_addr: ListenAddr,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            dns_addr: ListenAddr::any(53),
            dns_tcp_addr: None,
            admin_api_addr: ListenAddr::loopback(8053),
        }
    }
}

/// `[standalone.zones]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Zones {
    /// Where zone files are: relative `file`s are read from here, and with
    /// no `[[standalone.zones.zone]]` every `<name>.zone` in it is served.
    pub zone_dir: PathBuf,
    /// Re-read changed zone files on an interval (SIGHUP always does).
    #[serde(default)]
    pub auto_reload: bool,
    /// The interval, in seconds (60 when `auto_reload` is on and this is
    /// not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_interval_sec: Option<u32>,
    /// The largest zone file, or `$INCLUDE`d file, read, in MiB (64 when
    /// not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_mib: Option<u32>,
    /// The most text one zone reads, its `$INCLUDE`s counted, in MiB (256
    /// when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_zone_mib: Option<u32>,
    /// The zones; when left out, every `<name>.zone` in `zone_dir` (an
    /// empty list serves none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Vec<ZoneEntry>>,
}

impl Default for Zones {
    fn default() -> Self {
        Zones {
            zone_dir: PathBuf::from("/etc/flashdns/zones"),
            auto_reload: false,
            reload_interval_sec: None,
            max_file_mib: None,
            max_zone_mib: None,
            zone: None,
        }
    }
}

/// `[[standalone.zones.zone]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneEntry {
    /// The zone's apex.
    pub name: String,
    /// Its BIND zone file (`<zone_dir>/<name>.zone` when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The TTL of records that give none before the file's first `$TTL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// `master` (or `primary`): flashdns is the zone's primary.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ZoneKind>,
    /// This zone's DNSSEC signing (`[standalone.features] dnssec = true`
    /// signs every zone without one with the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<ZoneDnssec>,
    /// A zone written here instead of in a file (what `export-config`
    /// writes for a zone a deployment types in Rust): its SOA, with `ttl`
    /// as the zone's default TTL and `records` as the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soa: Option<SoaEntry>,
    /// The zone's other records, with `soa`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordEntry>,
    /// Kept in the zone store and changed at run time (`photonctl dns`):
    /// in chainfire when flashdns runs integrated, in zone files under its
    /// state directory when standalone. The default for every listed zone
    /// with `[photon.standalone] zone_backend = "chainfire"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<bool>,
}

/// `soa = { primary = "ns1", admin = "hostmaster", serial = 1, ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaEntry {
    /// The primary name server (`MNAME`).
    pub primary: String,
    /// The administrator's mailbox as a name (`RNAME`).
    pub admin: String,
    /// The serial.
    pub serial: u32,
    /// Seconds between secondaries' checks.
    pub refresh: u32,
    /// Seconds before a failed check is retried.
    pub retry: u32,
    /// Seconds after which secondaries stop answering without a check.
    pub expire: u32,
    /// The negative-caching TTL.
    pub minimum: u32,
}

/// `{ owner = "www", type = "A", data = "192.0.2.1", ttl = 300 }`: the
/// data as a zone file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordEntry {
    /// The owner: `@`, relative or absolute.
    pub owner: String,
    /// Its own TTL, if not the zone's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// A, AAAA, CNAME, NS, PTR, MX, TXT, SRV or CAA.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The data: `192.0.2.1`, `10 mail`, `"v=spf1 -all"`.
    pub data: String,
}

/// `dnssec = { algorithm = "ed25519", key_file = "...", signature_days = 14 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneDnssec {
    /// `ecdsap256sha256` (the default) or `ed25519`.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// A PKCS#8 PEM key file; a key created in the state directory when
    /// not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// How long signatures are valid (14 days when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_days: Option<u16>,
}

/// A DNSSEC algorithm, by its mnemonic in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Algorithm 13.
    #[default]
    Ecdsap256sha256,
    /// Algorithm 15.
    Ed25519,
}

/// A zone's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKind {
    /// The primary copy (BIND's older word).
    Master,
    /// The primary copy.
    Primary,
    /// A copy transferred from a primary.
    Slave,
    /// A copy transferred from a primary.
    Secondary,
}

/// `[standalone.features]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Sign every zone (ECDSA P-256, a key per zone in the state directory).
    #[serde(default)]
    pub dnssec: bool,
    /// RFC 2136 dynamic updates.
    #[serde(default)]
    pub dynamic_update: bool,
    /// The only addresses zone transfers go to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub axfr_allow: Vec<IpAddr>,
    /// The secondaries told by NOTIFY when a zone changes (`ip:port`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<SocketAddr>,
}

/// Leaks `value`: a spec holds `'static` data, and a server's
/// configuration lives as long as the process.
fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// `file` under `dir`; `.` is the working directory, as a deployment reads
/// relative paths, and leaves `file` as written.
fn in_dir(dir: &Path, file: &Path) -> PathBuf {
    if dir == Path::new(".") {
        file.to_owned()
    } else {
        dir.join(file)
    }
}

/// The spec's signing for a zone's `dnssec` table.
fn signing(own: &ZoneDnssec) -> Signing {
    Signing {
        algorithm: match own.algorithm {
            Algorithm::Ecdsap256sha256 => SigningAlgorithm::EcdsaP256Sha256,
            Algorithm::Ed25519 => SigningAlgorithm::Ed25519,
        },
        key: match &own.key_file {
            Some(file) => SigningKey::PemFile(leak_str(&file.to_string_lossy())),
            None => SigningKey::StateDir,
        },
        signature_days: own
            .signature_days
            .unwrap_or(Signing::DEFAULT.signature_days),
    }
}

/// The zone files in `dir`, as (name, file), sorted by name.
fn zone_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "zone")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            found.push((stem.to_owned(), path));
        }
    }
    found.sort();
    Ok(found)
}

impl StandaloneServer for FlashDnsSchema {
    type Spec = FlashDns<Local>;

    fn build(
        doc: &ComponentDocument<Self>,
        layers: &Layers,
    ) -> Result<Built<FlashDns<Local>>, ConfigError> {
        if doc.photon.mode == Some(photon_config::OperationMode::Hybrid) {
            // As the spec refuses `Mode::Hybrid`, with the same words.
            return Err(config_error(
                layers,
                "photon.mode",
                "flashdns has nothing to run hybrid: photonauth checks none of its requests, and its zones are either local (`mode = \"standalone\"`) or stored in chainfire (`mode = \"integrated\"`)",
            ));
        }
        let stored_by_default = doc.photon.standalone.zone_backend == ZoneBackend::Chainfire;
        if stored_by_default && doc.standalone.zones.zone.is_none() {
            return Err(config_error(
                layers,
                "photon.standalone.zone_backend",
                "zones kept in chainfire are named, not found in `zone_dir`: list them as [[standalone.zones.zone]] name = \"...\"",
            ));
        }
        let s = &doc.standalone;
        if let Some(tcp) = s.server.dns_tcp_addr
            && tcp != s.server.dns_addr
        {
            return Err(config_error(
                layers,
                "standalone.server.dns_tcp_addr",
                format!(
                    "flashdns serves UDP and TCP on one address: `dns_tcp_addr` ({tcp}) must equal `dns_addr` ({}), or be left out",
                    s.server.dns_addr
                ),
            ));
        }
        if s.features.dynamic_update {
            return Err(config_error(
                layers,
                "standalone.features.dynamic_update",
                "dynamic updates (RFC 2136) are not supported; edit the zone file, which is reloaded",
            ));
        }
        let auto_reload = match (s.zones.auto_reload, s.zones.reload_interval_sec) {
            (true, interval) => AutoReload::EverySeconds(interval.unwrap_or(60)),
            (false, None) => AutoReload::Off,
            (false, Some(_)) => {
                return Err(config_error(
                    layers,
                    "standalone.zones.reload_interval_sec",
                    "set, but `auto_reload` is false: turn `auto_reload` on, or remove the interval",
                ));
            }
        };
        let listed = s.zones.zone.as_deref();
        let entries: Vec<(String, ZoneSource, Option<u32>, Option<ZoneDnssec>)> = match listed {
            None => {
                let found = zone_files(&s.zones.zone_dir).map_err(|e| {
                    config_error(
                        layers,
                        "standalone.zones.zone_dir",
                        format!(
                            "no zones are listed, and the zone directory {} cannot be read: {e}",
                            s.zones.zone_dir.display()
                        ),
                    )
                })?;
                if found.is_empty() {
                    return Err(config_error(
                        layers,
                        "standalone.zones.zone_dir",
                        format!(
                            "no zones are listed, and {} holds no `<name>.zone` file",
                            s.zones.zone_dir.display()
                        ),
                    ));
                }
                found
                    .into_iter()
                    .map(|(n, f)| {
                        (
                            n,
                            ZoneSource::File(leak_str(&f.to_string_lossy())),
                            None,
                            None,
                        )
                    })
                    .collect()
            }
            Some(listed) => {
                let mut entries = Vec::new();
                for (i, zone) in listed.iter().enumerate() {
                    if let Some(ZoneKind::Slave | ZoneKind::Secondary) = zone.kind {
                        return Err(config_error(
                            layers,
                            &format!("standalone.zones.zone[{i}].type"),
                            "flashdns is a primary only: secondary zones (transferred from another server) are not supported",
                        ));
                    }
                    let stored = zone.stored.unwrap_or(stored_by_default);
                    if stored && (zone.file.is_some() || zone.soa.is_some()) {
                        return Err(config_error(
                            layers,
                            &format!("standalone.zones.zone[{i}].stored"),
                            "a stored zone's records are in the zone store: leave out `file` and `soa` (create the zone with `photonctl dns create`)",
                        ));
                    }
                    if stored && zone.ttl.is_some() {
                        return Err(config_error(
                            layers,
                            &format!("standalone.zones.zone[{i}].ttl"),
                            "a stored zone's records carry their TTLs: leave out `ttl`",
                        ));
                    }
                    let source = match (&zone.soa, &zone.file) {
                        _ if stored => ZoneSource::Store,
                        (Some(_), Some(_)) => {
                            return Err(config_error(
                                layers,
                                &format!("standalone.zones.zone[{i}].soa"),
                                "a zone is read from `file` or written here with `soa` and `records`, not both",
                            ));
                        }
                        (Some(soa), None) => {
                            // The zone's default TTL is `ttl`, which the
                            // typed zone carries itself.
                            let Some(ttl) = zone.ttl else {
                                return Err(config_error(
                                    layers,
                                    &format!("standalone.zones.zone[{i}].soa"),
                                    "a zone written here needs `ttl`, its default TTL",
                                ));
                            };
                            ZoneSource::Records(typed_zone(layers, i, ttl, soa, &zone.records)?)
                        }
                        (None, _) if !zone.records.is_empty() => {
                            return Err(config_error(
                                layers,
                                &format!("standalone.zones.zone[{i}].records"),
                                "records written here need the zone's `soa` beside them",
                            ));
                        }
                        (None, file) => ZoneSource::File(leak_str(
                            &match file {
                                Some(file) => in_dir(&s.zones.zone_dir, file),
                                None => in_dir(
                                    &s.zones.zone_dir,
                                    Path::new(&format!("{}.zone", zone.name)),
                                ),
                            }
                            .to_string_lossy(),
                        )),
                    };
                    let ttl = match source {
                        ZoneSource::File(_) => zone.ttl,
                        ZoneSource::Records(_) | ZoneSource::Store => None,
                    };
                    entries.push((zone.name.clone(), source, ttl, zone.dnssec.clone()));
                }
                entries
            }
        };
        let mut zones = Vec::new();
        for (i, (name, source, ttl, dnssec)) in entries.iter().enumerate() {
            let mut zone = match *source {
                ZoneSource::File(file) => Zone::file(leak_str(name), file),
                ZoneSource::Records(data) => Zone::records(leak_str(name), data),
                ZoneSource::Store => Zone::stored(leak_str(name)),
            };
            if let Some(ttl) = ttl {
                zone = zone.default_ttl(*ttl);
            }
            match dnssec {
                Some(own) => zone = zone.signed(signing(own)),
                None if s.features.dnssec => zone = zone.signed(Signing::DEFAULT),
                None => {}
            }
            // Each zone alone first, so a bad one is named by its key.
            let alone = FlashDns {
                node: Local,
                mode: photon_dsl::Mode::Standalone,
                dns_port: Port::try_from(53).expect("53 is a port"),
                admin_port: Port::try_from(8053).expect("8053 is a port"),
                zones: leak([zone]),
                axfr_allow: &[],
                notify: &[],
                auto_reload,
                file_limits: ZoneFileLimits::DEFAULT,
                rate_limit: RateLimit::Off,
            };
            if let Some(reason) = alone.declare().rejected() {
                let key = if listed.is_none() {
                    "standalone.zones.zone_dir".to_owned()
                } else {
                    format!("standalone.zones.zone[{i}].name")
                };
                return Err(config_error(layers, &key, reason));
            }
            zones.push(zone);
        }
        let spec = FlashDns {
            node: Local,
            // The runner joins the platform as `mode` says (or falls back)
            // and hands the server its state store; the spec has no
            // dependency to wait for.
            mode: photon_dsl::Mode::Standalone,
            dns_port: listen_port(layers, "standalone.server.dns_addr", s.server.dns_addr)?,
            admin_port: listen_port(
                layers,
                "standalone.server.admin_api_addr",
                s.server.admin_api_addr,
            )?,
            zones: Box::leak(zones.into_boxed_slice()),
            axfr_allow: Box::leak(s.features.axfr_allow.clone().into_boxed_slice()),
            notify: Box::leak(s.features.notify.clone().into_boxed_slice()),
            auto_reload,
            file_limits: ZoneFileLimits {
                max_file_mib: s
                    .zones
                    .max_file_mib
                    .unwrap_or(ZoneFileLimits::DEFAULT.max_file_mib),
                max_zone_mib: s
                    .zones
                    .max_zone_mib
                    .unwrap_or(ZoneFileLimits::DEFAULT.max_zone_mib),
            },
            rate_limit: match s.rate_limit {
                None => RateLimit::Off,
                Some(r) => RateLimit::PerPrefix {
                    responses_per_second: r.responses_per_second,
                    window_seconds: r.window_seconds,
                    slip: r.slip,
                },
            },
        };
        if let Some(reason) = spec.declare().rejected() {
            let key = if reason.contains("file_limits") {
                "standalone.zones.max_file_mib"
            } else if reason.contains("`notify`") {
                "standalone.features.notify"
            } else if reason.contains("`rate_limit`") {
                "standalone.rate_limit"
            } else {
                "standalone"
            };
            return Err(config_error(layers, key, reason));
        }
        Ok(Built::new(spec)
            .listen(DnsListener, s.server.dns_addr.ip)
            .listen(AdminListener, s.server.admin_api_addr.ip))
    }
}

/// A zone written in the configuration, as the typed zone a deployment
/// writes; each record's problem is named by its key.
fn typed_zone(
    layers: &Layers,
    i: usize,
    ttl: u32,
    soa: &SoaEntry,
    records: &[RecordEntry],
) -> Result<&'static ZoneData, ConfigError> {
    let mut typed = Vec::with_capacity(records.len());
    for (j, record) in records.iter().enumerate() {
        let data = crate::record_text::parse(&record.rtype, &record.data).map_err(|problem| {
            config_error(
                layers,
                &format!("standalone.zones.zone[{i}].records[{j}].data"),
                problem,
            )
        })?;
        typed.push(Rec {
            owner: leak_str(&record.owner),
            ttl: record.ttl,
            data,
        });
    }
    Ok(Box::leak(Box::new(ZoneData {
        ttl,
        soa: Soa {
            primary: leak_str(&soa.primary),
            admin: leak_str(&soa.admin),
            serial: soa.serial,
            refresh: soa.refresh,
            retry: soa.retry,
            expire: soa.expire,
            minimum: soa.minimum,
        },
        records: Box::leak(typed.into_boxed_slice()),
    })))
}

/// A typed record whose node has no address to write.
#[derive(Debug, thiserror::Error)]
#[error("zone `{zone}`, record `{owner}`: {source}")]
pub struct RecordExportError {
    /// The zone's origin.
    pub zone: String,
    /// The record's owner.
    pub owner: &'static str,
    /// Why its node has no address.
    pub source: NodeAddressError,
}

/// A typed zone as the schema writes it, node addresses resolved by
/// `address`.
fn zone_entry(
    name: &str,
    data: &ZoneData,
    address: AddressOf<'_>,
) -> Result<(SoaEntry, Vec<RecordEntry>), RecordExportError> {
    let soa = SoaEntry {
        primary: data.soa.primary.to_owned(),
        admin: data.soa.admin.to_owned(),
        serial: data.soa.serial,
        refresh: data.soa.refresh,
        retry: data.soa.retry,
        expire: data.soa.expire,
        minimum: data.soa.minimum,
    };
    let mut records = Vec::with_capacity(data.records.len());
    for record in data.records {
        let (rtype, text) =
            crate::record_text::render(&record.data, address).map_err(|source| {
                RecordExportError {
                    zone: name.to_owned(),
                    owner: record.owner,
                    source,
                }
            })?;
        records.push(RecordEntry {
            owner: record.owner.to_owned(),
            ttl: record.ttl,
            rtype: rtype.to_owned(),
            data: text,
        });
    }
    Ok((soa, records))
}

/// The standalone document that configures `spec` as a deployment does,
/// its listeners on `bind_ip`: what `deploy-x export-config` prints. A
/// typed zone is written out record by record, a node's address (`Rec::node`)
/// as the address `address` gives it. An integrated spec is written as
/// `mode = "integrated"` in `cluster`, its state store as the endpoints
/// `reach` gives.
pub fn export<N: photon_dsl::Node>(
    spec: &FlashDns<N>,
    bind_ip: IpAddr,
    component_id: &str,
    address: AddressOf<'_>,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<ComponentDocument<FlashDnsSchema>, ExportError> {
    let mut zones = Vec::new();
    for zone in spec.zones {
        let (file, ttl, soa, records) = match zone.source {
            ZoneSource::File(file) => (
                Some(PathBuf::from(file)),
                zone.default_ttl,
                None,
                Vec::new(),
            ),
            ZoneSource::Records(data) => {
                let (soa, records) = zone_entry(zone.origin, data, address)
                    .map_err(|e| ExportError::Component(Box::new(e)))?;
                (None, Some(data.ttl), Some(soa), records)
            }
            ZoneSource::Store => (None, None, None, Vec::new()),
        };
        let dnssec = match zone.dnssec {
            Dnssec::Off => None,
            Dnssec::Sign(signing) => Some(ZoneDnssec {
                algorithm: match signing.algorithm {
                    SigningAlgorithm::EcdsaP256Sha256 => Algorithm::Ecdsap256sha256,
                    SigningAlgorithm::Ed25519 => Algorithm::Ed25519,
                },
                key_file: match signing.key {
                    SigningKey::StateDir => None,
                    SigningKey::PemFile(file) => Some(PathBuf::from(file)),
                },
                signature_days: Some(signing.signature_days),
            }),
        };
        zones.push(ZoneEntry {
            name: zone.origin.to_owned(),
            file,
            ttl,
            kind: None,
            dnssec,
            soa,
            records,
            stored: matches!(zone.source, ZoneSource::Store).then_some(true),
        });
    }
    let (auto_reload, reload_interval_sec) = match spec.auto_reload {
        AutoReload::Off => (false, None),
        AutoReload::EverySeconds(seconds) => (true, Some(seconds)),
    };
    let mut doc = standalone_document::<FlashDnsSchema>(component_id);
    write_integration::<FlashDnsSchema>(&mut doc, spec.mode, cluster, reach)?;
    doc.standalone = Standalone {
        server: Server {
            dns_addr: ListenAddr::new(bind_ip, spec.dns_port.get()),
            dns_tcp_addr: None,
            admin_api_addr: ListenAddr::new(bind_ip, spec.admin_port.get()),
        },
        zones: Zones {
            zone_dir: PathBuf::from("."),
            auto_reload,
            reload_interval_sec,
            max_file_mib: Some(spec.file_limits.max_file_mib),
            max_zone_mib: Some(spec.file_limits.max_zone_mib),
            zone: Some(zones),
        },
        features: Features {
            dnssec: false,
            dynamic_update: false,
            axfr_allow: spec.axfr_allow.to_vec(),
            notify: spec.notify.to_vec(),
        },
        rate_limit: match spec.rate_limit {
            RateLimit::Off => None,
            RateLimit::PerPrefix {
                responses_per_second,
                window_seconds,
                slip,
            } => Some(RateLimitSection {
                responses_per_second,
                window_seconds,
                slip,
            }),
        },
    };
    Ok(doc)
}

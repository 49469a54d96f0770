//! flashdns's typed configuration (light: photon-dsl only).
//!
//! A zone is either a BIND zone file read on the node or records written in
//! the deployment. Typed records that point at a node of the topology carry
//! the node, not its address: the server asks the resolver, so an address is
//! never written twice.

mod agent;
mod check;

pub use agent::{AgentAdminListener, DnsAgent};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use photon_dsl::protocol::Dns;
use photon_dsl::{
    Declares, Endpoint, Mode, Node, NodeName, Port, Protocol, Provides, ServiceDecl, ServiceSpec,
    Transport,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "flashdns";

/// flashdns's read-only HTTP admin API: `/zones`, `/zones/<name>`,
/// `/health`, `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminApi {}

impl Protocol for AdminApi {
    const NAME: &'static str = "flashdns-admin";
    const TRANSPORT: Transport = Transport::Tcp;
    const HAS_PATH: bool = false;
}

photon_dsl::listener! {
    /// Authoritative DNS, UDP and TCP on one port.
    pub DnsListener: Dns = "dns";
    /// The read-only admin API (and `/health`, `/metrics`).
    pub AdminListener: AdminApi = "admin";
}

/// The authoritative DNS server, placed on node `N`.
#[derive(Debug, Clone, Copy)]
pub struct FlashDns<N: Node> {
    /// Where it runs.
    pub node: N,
    /// DNS over UDP and TCP, on the same port.
    pub dns_port: Port,
    /// The read-only HTTP admin API, `/health` and `/metrics`.
    pub admin_port: Port,
    /// The zones it is authoritative for.
    pub zones: &'static [Zone],
    /// The only addresses a zone transfer (AXFR, IXFR) is sent to; everyone
    /// else is refused.
    pub axfr_allow: &'static [IpAddr],
    /// The secondaries told by NOTIFY (RFC 1996) when a zone's serial
    /// changes, and when it is first loaded, so they transfer it at once.
    /// Each must be in `axfr_allow` too.
    pub notify: &'static [SocketAddr],
    /// Whether zone files are re-read when they change. SIGHUP always
    /// re-reads them.
    pub auto_reload: AutoReload,
    /// How much zone-file text is read ([`ZoneFileLimits::DEFAULT`]).
    pub file_limits: ZoneFileLimits,
    /// Response rate limiting over UDP ([`RateLimit::Off`] by default).
    pub rate_limit: RateLimit,
    /// Standalone, or integrated: it registers in its `state_store`, and
    /// its stored zones ([`Zone::stored`]) are kept there, so every
    /// flashdns of the cluster serves the same records.
    pub mode: Mode,
}

/// Response rate limiting (RRL) over UDP, as BIND and Knot do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// Every response is sent.
    Off,
    /// Each client prefix (an IPv4 /24, an IPv6 /56) gets this many
    /// responses per second; past it they are dropped, with every
    /// `slip`-th one sent truncated instead (0: never; BIND's and Knot's
    /// default is 2). A flood's debt lasts at most `window_seconds`.
    PerPrefix {
        /// Responses per second per prefix.
        responses_per_second: u32,
        /// How long a flood is remembered, in seconds (BIND's default 15).
        window_seconds: u32,
        /// Every how many limited responses one is sent truncated (0 to 10).
        slip: u32,
    },
}

/// How much zone-file text flashdns reads, at start and on reload: bounds
/// that keep a wrong `$INCLUDE` (a device, a FIFO, a runaway file) from
/// taking the server down. Only regular files are read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneFileLimits {
    /// The largest zone file, or `$INCLUDE`d file, in MiB.
    pub max_file_mib: u32,
    /// The most text one zone reads, its `$INCLUDE`s counted, in MiB.
    pub max_zone_mib: u32,
}

impl ZoneFileLimits {
    /// 64 MiB per file and 256 MiB per zone: zones of a few million
    /// records, far beyond a private cloud's.
    pub const DEFAULT: ZoneFileLimits = ZoneFileLimits {
        max_file_mib: 64,
        max_zone_mib: 256,
    };

    /// The per-file limit in bytes.
    pub const fn file_bytes(&self) -> u64 {
        self.max_file_mib as u64 * 1024 * 1024
    }

    /// The per-zone limit in bytes.
    pub const fn zone_bytes(&self) -> u64 {
        self.max_zone_mib as u64 * 1024 * 1024
    }
}

/// When zone files are checked for changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReload {
    /// Only on SIGHUP.
    Off,
    /// Every so many seconds (and on SIGHUP).
    EverySeconds(u32),
}

/// A zone: its origin, where its records come from, and whether it is
/// signed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zone {
    /// The zone's apex, such as `example.com` (a trailing dot is allowed).
    pub origin: &'static str,
    /// Where the records come from.
    pub source: ZoneSource,
    /// DNSSEC: off, or signed online by flashdns.
    pub dnssec: Dnssec,
    /// The TTL of a zone file's records that give none before its first
    /// `$TTL` (a typed zone has its own `ttl`).
    pub default_ttl: Option<u32>,
}

impl Zone {
    /// An unsigned zone read from a BIND zone file.
    pub const fn file(origin: &'static str, path: &'static str) -> Zone {
        Zone {
            origin,
            source: ZoneSource::File(path),
            dnssec: Dnssec::Off,
            default_ttl: None,
        }
    }

    /// An unsigned zone written in the deployment.
    pub const fn records(origin: &'static str, data: &'static ZoneData) -> Zone {
        Zone {
            origin,
            source: ZoneSource::Records(data),
            dnssec: Dnssec::Off,
            default_ttl: None,
        }
    }

    /// An unsigned zone kept in the zone store ([`ZoneSource::Store`]).
    pub const fn stored(origin: &'static str) -> Zone {
        Zone {
            origin,
            source: ZoneSource::Store,
            dnssec: Dnssec::Off,
            default_ttl: None,
        }
    }

    /// The same zone file, with a TTL for records that give none before its
    /// first `$TTL`.
    pub const fn default_ttl(mut self, ttl: u32) -> Zone {
        self.default_ttl = Some(ttl);
        self
    }

    /// The same zone, signed with DNSSEC.
    pub const fn signed(mut self, signing: Signing) -> Zone {
        self.dnssec = Dnssec::Sign(signing);
        self
    }
}

/// Whether a zone is DNSSEC-signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dnssec {
    /// Served unsigned (the default).
    Off,
    /// Signed by flashdns whenever it is loaded or reloaded, and re-signed
    /// before its signatures expire: a DNSKEY at the apex, an NSEC chain,
    /// an RRSIG on every authoritative RRset. Answers carry them when the
    /// query sets the DO bit.
    Sign(Signing),
}

/// How a zone is signed: one combined signing key (a CSK, flags 257) whose
/// DS the operator publishes in the parent zone (`GET /zones` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signing {
    /// The key's algorithm.
    pub algorithm: SigningAlgorithm,
    /// Where the private key is kept.
    pub key: SigningKey,
    /// How long each signature is valid; the zone is re-signed when half of
    /// this has passed, so validators never see an expired one.
    pub signature_days: u16,
}

impl Signing {
    /// ECDSA P-256 (the algorithm RFC 8624 recommends), a key kept in the
    /// service's state directory and created on first start, signatures
    /// valid for 14 days (Knot's default).
    pub const DEFAULT: Signing = Signing {
        algorithm: SigningAlgorithm::EcdsaP256Sha256,
        key: SigningKey::StateDir,
        signature_days: 14,
    };
}

/// A DNSSEC signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// ECDSAP256SHA256, algorithm 13.
    EcdsaP256Sha256,
    /// ED25519, algorithm 15.
    Ed25519,
}

/// Where a zone's private key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKey {
    /// `<state dir>/dnssec/<origin>.pem`, created (PKCS#8 PEM, mode 0600)
    /// when missing; its DS is logged then and shown by `GET /zones`.
    StateDir,
    /// A PKCS#8 PEM file the operator provides (a relative path is from the
    /// working directory). A missing file stops the start rather than a new
    /// key silently breaking the chain of trust.
    PemFile(&'static str),
}

/// Where a zone's records come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZoneSource {
    /// A BIND-format zone file, read on the node (a relative path is from
    /// the working directory). Re-read on SIGHUP and, with
    /// [`AutoReload::EverySeconds`], when it changes.
    File(&'static str),
    /// Records written in the deployment.
    Records(&'static ZoneData),
    /// Records kept in the zone store, changed at run time (`photonctl
    /// dns`, photonnet's VPC names): in chainfire when flashdns runs
    /// integrated, so every flashdns of the cluster serves them; in zone
    /// files under its state directory when standalone.
    Store,
}

/// A zone written in Rust: what a zone file would hold, typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneData {
    /// The default TTL (`$TTL`).
    pub ttl: u32,
    /// The start of authority.
    pub soa: Soa,
    /// Every other record, including the apex `NS` records.
    pub records: &'static [Rec],
}

impl ZoneData {
    /// `records` with [`Soa::DEFAULT`] and a 300 s default TTL: the common
    /// case. `ZoneData { ttl: 60, ..ZoneData::new(RECORDS) }` changes one
    /// part. The records still need the apex `NS` and its address:
    ///
    /// ```
    /// use flashdns::{Rec, RecData, ZoneData};
    /// # photon_dsl::nodes! { pub Ns = "ns"; }
    /// const ZONE: ZoneData = ZoneData::new(&[
    ///     Rec::new("@", RecData::Ns("ns")),
    ///     Rec::node("ns", Ns),
    /// ]);
    /// assert_eq!(ZONE.soa.serial, 1);
    /// ```
    pub const fn new(records: &'static [Rec]) -> ZoneData {
        ZoneData {
            ttl: 300,
            soa: Soa::DEFAULT,
            records,
        }
    }
}

/// The zone's SOA record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Soa {
    /// The primary name server (`MNAME`), relative to the origin or absolute.
    pub primary: &'static str,
    /// The administrator's mailbox as a name (`RNAME`: `hostmaster` for
    /// `hostmaster@<origin>`).
    pub admin: &'static str,
    /// The zone's serial.
    pub serial: u32,
    /// Seconds between secondaries' checks.
    pub refresh: u32,
    /// Seconds before a failed check is retried.
    pub retry: u32,
    /// Seconds after which secondaries stop answering without a check.
    pub expire: u32,
    /// The negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

impl Soa {
    /// Primary `ns`, administrator `hostmaster@<origin>`, serial 1, and
    /// timers for a zone served by flashdns alone (refresh 1 h, retry
    /// 10 min, expire 1 day; raise `expire` for secondaries elsewhere), with
    /// a negative TTL of 60 s. Bump `serial` when a
    /// secondary must notice a change: `Soa { serial: 2, ..Soa::DEFAULT }`.
    pub const DEFAULT: Soa = Soa {
        primary: "ns",
        admin: "hostmaster",
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 60,
    };
}

/// One typed record. Names are written as in a zone file: `@` for the
/// origin, relative (`www`) or absolute (`www.example.net.`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rec {
    /// The owner name.
    pub owner: &'static str,
    /// Its TTL, or the zone's default.
    pub ttl: Option<u32>,
    /// The data.
    pub data: RecData,
}

/// The data of a typed record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// The address of a node of the topology, from the resolver: an `A`
    /// record for an IPv4 address, `AAAA` for IPv6.
    NodeAddress(NodeName),
    /// An alias.
    Cname(&'static str),
    /// A name server.
    Ns(&'static str),
    /// A mail exchanger.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The mail server's name.
        exchange: &'static str,
    },
    /// Text: one or more character strings of at most 255 bytes each.
    Txt(&'static [&'static str]),
    /// A service location (RFC 2782).
    Srv {
        /// Lower is preferred.
        priority: u16,
        /// Relative weight among equal priorities.
        weight: u16,
        /// The service's port.
        port: Port,
        /// The host's name.
        target: &'static str,
    },
    /// A reverse-lookup pointer.
    Ptr(&'static str),
    /// Certification authority authorization (RFC 8659).
    Caa {
        /// The issuer-critical flag.
        critical: bool,
        /// `issue`, `issuewild` or `iodef`.
        tag: &'static str,
        /// The value, such as `letsencrypt.org`.
        value: &'static str,
    },
}

impl RecData {
    /// The record type as zone files write it (`CNAME`); `None` for a
    /// node's address, which is `A` or `AAAA` once the address is known.
    pub const fn type_name(&self) -> Option<&'static str> {
        Some(match self {
            RecData::A(_) => "A",
            RecData::Aaaa(_) => "AAAA",
            RecData::NodeAddress(_) => return None,
            RecData::Cname(_) => "CNAME",
            RecData::Ns(_) => "NS",
            RecData::Ptr(_) => "PTR",
            RecData::Mx { .. } => "MX",
            RecData::Txt(_) => "TXT",
            RecData::Srv { .. } => "SRV",
            RecData::Caa { .. } => "CAA",
        })
    }
}

impl Rec {
    /// A record with the zone's default TTL.
    pub const fn new(owner: &'static str, data: RecData) -> Self {
        Rec {
            owner,
            ttl: None,
            data,
        }
    }

    /// The same record with its own TTL.
    pub const fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// `owner A|AAAA <the node's address>`: the address comes from the
    /// resolver when the server starts.
    pub const fn node<M: Node>(owner: &'static str, _node: M) -> Self {
        Rec::new(owner, RecData::NodeAddress(M::NAME))
    }

    /// `owner SRV priority weight <port> target`, the port taken from the
    /// endpoint the record advertises, so it is never written twice.
    pub const fn srv<M: Node, P: Protocol>(
        owner: &'static str,
        priority: u16,
        weight: u16,
        target: &'static str,
        endpoint: Endpoint<M, P>,
    ) -> Self {
        Rec::new(
            owner,
            RecData::Srv {
                priority,
                weight,
                port: endpoint.port(),
                target,
            },
        )
    }
}

impl<N: Node> FlashDns<N> {
    /// flashdns on `node` serving `zones`, every other setting the usual
    /// one: standalone, DNS on port 53, the admin API on 8053, no zone
    /// transfers and no NOTIFY, zone files read at start and on SIGHUP,
    /// [`ZoneFileLimits::DEFAULT`], no rate limiting. Write only what
    /// differs: `FlashDns { dns_port: port!(5300), ..FlashDns::new(Dns, ZONES) }`.
    pub const fn new(node: N, zones: &'static [Zone]) -> FlashDns<N> {
        FlashDns {
            node,
            dns_port: photon_dsl::port!(53),
            admin_port: photon_dsl::port!(8053),
            zones,
            axfr_allow: &[],
            notify: &[],
            auto_reload: AutoReload::Off,
            file_limits: ZoneFileLimits::DEFAULT,
            rate_limit: RateLimit::Off,
            mode: Mode::Standalone,
        }
    }

    /// Its listeners, for the topology checks; zone names and typed records
    /// are checked here, at compile time.
    pub const fn declare(&self) -> ServiceDecl {
        if let Mode::Hybrid(_) = self.mode {
            return ServiceDecl::new::<N>(KIND).reject(
                "flashdns has nothing to run hybrid: photonauth checks none of its requests, and its zones are either local (`Mode::Standalone`) or stored in chainfire (`Mode::Integrated`)",
            );
        }
        let mut decl = self.mode.declare(named_nodes(
            ServiceDecl::new::<N>(KIND)
                .listens_on::<DnsListener>(self.dns_port)
                .listens_on::<AdminListener>(self.admin_port)
                .with_health(),
            self.zones,
        ));
        // Integrated, its stored zones are in chainfire, where photonnet
        // and fiberlb write names into them.
        if self.mode.is_integrated() {
            let mut z = 0;
            while z < self.zones.len() {
                if let ZoneSource::Store = self.zones[z].source {
                    decl = decl.keeps_stored_zone(self.zones[z].origin);
                }
                z += 1;
            }
        }
        let limits = self.file_limits;
        match check::zones_problem(self.zones) {
            Some(problem) => decl.reject_because(problem),
            None => match self.auto_reload {
                AutoReload::EverySeconds(0) => decl.reject(
                    "`auto_reload: AutoReload::EverySeconds(0)` would re-read zone files without pause; use at least 1 second, or `AutoReload::Off`",
                ),
                _ if limits.max_file_mib == 0 || limits.max_file_mib > limits.max_zone_mib => decl
                    .reject(
                        "`file_limits.max_file_mib` must be at least 1 and at most `max_zone_mib` (`ZoneFileLimits::DEFAULT` is 64 and 256)",
                    ),
                _ if matches!(self.rate_limit, RateLimit::PerPrefix { responses_per_second, window_seconds, slip }
                    if responses_per_second == 0 || window_seconds == 0 || slip > 10) => decl.reject(
                    "`rate_limit`: `responses_per_second` and `window_seconds` must be at least 1 and `slip` at most 10 (`RateLimit::Off` turns it off)",
                ),
                _ => match notified_without_transfer(self.notify, self.axfr_allow) {
                    Some(ip) => decl.reject_because(
                        photon_dsl::text::ConstText::new()
                            .push("`notify` tells ")
                            .ip(ip)
                            .push(" of changes, but `axfr_allow` does not let it transfer the zone: add its address to `axfr_allow`"),
                    ),
                    None => decl,
                },
            },
        }
    }

    /// The DNS endpoint resolvers and secondaries use.
    pub const fn dns(&self) -> Endpoint<N, Dns> {
        Endpoint::provided_by(self, self.dns_port, None)
    }

    /// The admin endpoint.
    pub const fn admin(&self) -> Endpoint<N, AdminApi> {
        Endpoint::provided_by(self, self.admin_port, None)
    }
}

/// The first secondary in `notify` whose address `axfr_allow` lacks.
const fn notified_without_transfer(notify: &[SocketAddr], axfr_allow: &[IpAddr]) -> Option<IpAddr> {
    let mut n = 0;
    while n < notify.len() {
        let ip = notify[n].ip();
        let mut allowed = false;
        let mut a = 0;
        while a < axfr_allow.len() {
            allowed |= same_ip(ip, axfr_allow[a]);
            a += 1;
        }
        if !allowed {
            return Some(ip);
        }
        n += 1;
    }
    None
}

const fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (a.octets(), b.octets());
            a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3]
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (a.octets(), b.octets());
            let mut i = 0;
            while i < 16 {
                if a[i] != b[i] {
                    return false;
                }
                i += 1;
            }
            true
        }
        _ => false,
    }
}

/// Declares every node a typed record takes its address from
/// ([`Rec::node`]), so the topology rejects one it does not list; and,
/// for a name server the zone's NS records name whose address is a node's,
/// that the node runs flashdns, so resolvers sent there are answered.
const fn named_nodes(mut decl: ServiceDecl, zones: &[Zone]) -> ServiceDecl {
    let mut z = 0;
    while z < zones.len() {
        if let ZoneSource::Records(data) = zones[z].source {
            let mut r = 0;
            while r < data.records.len() {
                let record = &data.records[r];
                if let RecData::NodeAddress(node) = record.data {
                    decl = if names_a_name_server(zones[z].origin, data.records, record.owner) {
                        decl.expects_served::<Dns>("zones (NS)", node)
                    } else {
                        decl.refers_to("zones", node)
                    };
                }
                r += 1;
            }
        }
        z += 1;
    }
    decl
}

/// Whether an NS record of the zone at `origin` names `owner` (relative,
/// or absolute as `owner.origin.`).
const fn names_a_name_server(origin: &str, records: &[Rec], owner: &str) -> bool {
    let mut r = 0;
    while r < records.len() {
        if let RecData::Ns(target) = records[r].data
            && same_name(target, owner, origin)
        {
            return true;
        }
        r += 1;
    }
    false
}

/// Whether `target` (as an NS record writes it) is the name `owner` of the
/// zone at `origin`, ignoring case and a trailing dot.
const fn same_name(target: &str, owner: &str, origin: &str) -> bool {
    let (t, o, z) = (target.as_bytes(), owner.as_bytes(), origin.as_bytes());
    let z_len = if !z.is_empty() && z[z.len() - 1] == b'.' {
        z.len() - 1
    } else {
        z.len()
    };
    let t_len = if !t.is_empty() && t[t.len() - 1] == b'.' {
        t.len() - 1
    } else {
        t.len()
    };
    // Relative: the owner itself.
    if t_len == t.len() && t.len() == o.len() {
        let mut i = 0;
        while i < o.len() {
            if !t[i].eq_ignore_ascii_case(&o[i]) {
                break;
            }
            i += 1;
        }
        if i == o.len() {
            return true;
        }
    }
    // Absolute: `owner.origin`.
    if t_len != o.len() + 1 + z_len {
        return false;
    }
    let mut i = 0;
    while i < t_len {
        let expected = if i < o.len() {
            o[i]
        } else if i == o.len() {
            b'.'
        } else {
            z[i - o.len() - 1]
        };
        if !t[i].eq_ignore_ascii_case(&expected) {
            return false;
        }
        i += 1;
    }
    true
}

impl<N: Node> ServiceSpec for FlashDns<N> {
    fn declare(&self) -> ServiceDecl {
        FlashDns::declare(self)
    }
}

impl<N: Node> Declares<DnsListener> for FlashDns<N> {}
impl<N: Node> Declares<AdminListener> for FlashDns<N> {}

impl<N: Node> Provides<Dns> for FlashDns<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

impl<N: Node> Provides<AdminApi> for FlashDns<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

#[cfg(test)]
mod tests {
    use super::*;

    photon_dsl::nodes! {
        /// The server's node.
        pub Ns = "ns";
    }

    fn spec(axfr_allow: &'static [IpAddr], notify: &'static [SocketAddr]) -> FlashDns<Ns> {
        FlashDns {
            node: Ns,
            mode: photon_dsl::Mode::Standalone,
            dns_port: Port::try_from(53).unwrap(),
            admin_port: Port::try_from(8053).unwrap(),
            zones: &[],
            axfr_allow,
            notify,
            auto_reload: AutoReload::Off,
            file_limits: ZoneFileLimits::DEFAULT,
            rate_limit: RateLimit::Off,
        }
    }

    #[test]
    fn a_notified_secondary_must_be_allowed_to_transfer() {
        const KNOT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        const OTHER: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3));
        const NOTIFY: &[SocketAddr] = &[SocketAddr::new(KNOT, 53), SocketAddr::new(OTHER, 5300)];
        assert_eq!(spec(&[KNOT, OTHER], NOTIFY).declare().rejected(), None);
        assert_eq!(
            spec(&[KNOT], NOTIFY).declare().rejected(),
            Some(
                "`notify` tells `2001:db8:0:0:0:0:0:3` of changes, but `axfr_allow` does not let it transfer the zone: add its address to `axfr_allow`"
            )
        );
    }
}

//! Protocol markers: types that say what is spoken on a port.
//!
//! A marker is never instantiated; it is a type parameter of [`Endpoint`](crate::Endpoint)
//! and [`Dep`](crate::Dep), so wiring a client to a server that speaks something
//! else is a type error.

use core::fmt;
use core::marker::PhantomData;

/// Which transports a listener occupies on its port. Two listeners collide only
/// if they share a node, a port and a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Both, on the same port number (DNS).
    TcpAndUdp,
}

impl Transport {
    /// Whether two listeners on the same port would both need a transport.
    pub const fn overlaps(self, other: Transport) -> bool {
        !matches!(
            (self, other),
            (Transport::Tcp, Transport::Udp) | (Transport::Udp, Transport::Tcp)
        )
    }

    /// Whether the listener accepts TCP (so a TCP connect can probe it).
    pub const fn has_tcp(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Short name for tables: `tcp`, `udp`, `tcp+udp`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::TcpAndUdp => "tcp+udp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a marker type promises about the bytes on a port.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a protocol",
    note = "protocols are the marker types in `photon_dsl::protocol` (`HttpGet<Req, Resp>`, `S3`, `Dns`, `EtcdV3`, ...)"
)]
pub trait Protocol: fmt::Debug + 'static {
    /// Name shown in `plan` and in error messages.
    const NAME: &'static str;
    /// The transports a listener of this protocol occupies.
    const TRANSPORT: Transport;
    /// Whether an endpoint of this protocol carries a URL path prefix.
    const HAS_PATH: bool;
}

macro_rules! marker {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $transport:ident, $path:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {}

        impl Protocol for $ty {
            const NAME: &'static str = $name;
            const TRANSPORT: Transport = Transport::$transport;
            const HAS_PATH: bool = $path;
        }
    };
}

/// The article's simple GET protocol: the request is a path element appended
/// to `/<prefix>/`, the response is the body of a `200 OK`. `Req` and `Resp`
/// are the message types as text (`HttpGet<String, String>` for echo).
pub struct HttpGet<Req, Resp>(PhantomData<fn(Req) -> Resp>, Never);

/// Makes [`HttpGet`] uninhabited without requiring anything of `Req`/`Resp`.
#[derive(Debug, Clone, Copy)]
pub enum Never {}

impl<Req: 'static, Resp: 'static> Protocol for HttpGet<Req, Resp> {
    const NAME: &'static str = "http-get";
    const TRANSPORT: Transport = Transport::Tcp;
    const HAS_PATH: bool = true;
}

impl<Req, Resp> fmt::Debug for HttpGet<Req, Resp> {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {}
    }
}

marker! {
    /// The Amazon S3 REST API (path-style, AWS Signature V4), as the AWS SDKs
    /// and CLI speak it.
    S3, "s3", Tcp, false
}
marker! {
    /// Authoritative DNS (RFC 1035) over UDP and TCP on the same port.
    Dns, "dns", TcpAndUdp, false
}
marker! {
    /// The etcd v3 gRPC API (`etcdserverpb.KV`, `Watch`, `Lease`, `Cluster`,
    /// `Maintenance`), as `etcdctl` and etcd client libraries speak it.
    EtcdV3, "etcd-v3", Tcp, false
}
marker! {
    /// A Prometheus scrape target: `GET /metrics` in the text exposition format.
    PromScrape, "prom-scrape", Tcp, false
}
marker! {
    /// The Prometheus HTTP query API (`/api/v1/query`, `/api/v1/query_range`, ...).
    PromQuery, "prom-query", Tcp, false
}
marker! {
    /// Alert notifications POSTed as Alertmanager's webhook JSON (`version`
    /// 4: `status`, `alerts`, `groupLabels`, ...), as Alertmanager's own
    /// receivers and webhook bridges take them, under a path.
    AlertWebhook, "alert-webhook", Tcp, true
}
marker! {
    /// The NATS client protocol (the event bus).
    Nats, "nats", Tcp, false
}
marker! {
    /// Plain HTTP/1.1 or HTTP/2 traffic (what an L7 load balancer forwards).
    Http, "http", Tcp, false
}
marker! {
    /// A raw TCP byte stream (what an L4 load balancer forwards).
    RawTcp, "tcp", Tcp, false
}
marker! {
    /// Raw UDP datagrams (what an L4 load balancer forwards as flows).
    RawUdp, "udp", Udp, false
}
marker! {
    /// photonauth's gRPC API: verify a token or an access-key signature and
    /// say which tenant and user it belongs to.
    ///
    /// Only photonauth speaks it, but it lives here rather than in
    /// photonauth's spec: every integrated service names it in
    /// [`Auth::PhotonAuth`](crate::Auth::PhotonAuth), and services never
    /// depend on each other's crates.
    PhotonAuthApi, "photonauth", Tcp, false
}
marker! {
    /// photonnet's gRPC API: tenants' VPCs, subnets and address
    /// allocations (what `photonctl net` and the control plane call).
    PhotonNetApi, "photonnet", Tcp, false
}
marker! {
    /// creditservice's gRPC API: tenants' quotas and credits, reserved,
    /// committed and released (what the API gateway calls before it makes
    /// a resource).
    CreditApi, "creditservice", Tcp, false
}
marker! {
    /// The resource manager's gRPC API: tenants' desired resources
    /// (buckets, DNS records, load balancers, addresses), applied, read
    /// and deleted (what the API gateway forwards to).
    ResourceApi, "resource-manager", Tcp, false
}
marker! {
    /// flaredb's gRPC API: a sharded key-value database's puts, gets and
    /// deletes (any node answers for the shards it holds), and its shard
    /// moves.
    FlareDbApi, "flaredb", Tcp, false
}
marker! {
    /// The API gateway's HTTP/JSON API: what tenants (and `photonctl`)
    /// call to ask for resources, see them and their quotas. HTTP, so an
    /// L7 balancer may front several gateways.
    CloudApi, "api-gateway", Tcp, false
}

/// A protocol that is HTTP underneath: what an HTTP (L7) load balancer can
/// route, rewrite headers of and keep sessions on.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not HTTP underneath, so an HTTP (L7) load balancer cannot forward it",
    label = "an L7 balancer's backends must speak HTTP",
    note = "HTTP protocols: `S3`, `Http`, `HttpGet<Req, Resp>`, `PromQuery`, `PromScrape`, `CloudApi`",
    note = "to forward `{Self}` byte for byte, use an L4 balancer (`fiberlb::L4`)"
)]
pub trait OverHttp: Protocol {}

impl OverHttp for S3 {}
impl OverHttp for Http {}
impl OverHttp for PromQuery {}
impl OverHttp for PromScrape {}
impl OverHttp for AlertWebhook {}
impl OverHttp for CloudApi {}
impl<Req: 'static, Resp: 'static> OverHttp for HttpGet<Req, Resp> {}

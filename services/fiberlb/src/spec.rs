//! fiberlb's typed configuration (light: photon-dsl only).
//!
//! One [`FiberLb`] per node holds that node's balancers. A balancer is
//! written over its backends' protocol `P`: an [`L4<P>`] forwards any
//! protocol byte for byte (TCP, and UDP flows for a protocol on UDP), an
//! [`L7<P>`] only one that is HTTP underneath ([`OverHttp`]). Backends are
//! endpoints of the topology's services (`Backend::of(LS1.s3().dep())`),
//! never addresses; the one way to name an address the topology does not
//! know is [`Backend::outside_topology`], which says so where it is used.
//!
//! `.balancer()` turns each into a [`Balancer`] for the `FiberLb`'s list
//! (the protocol erased, every fact kept), and the front end a client
//! depends on comes back typed: `LB.l4(&S3_POOL)` is an `Endpoint<Edge,
//! S3>`, so a client that needs S3 can be wired to the balancer, and a DNS
//! balancer handed to it does not compile.

use core::fmt;
use core::marker::PhantomData;
use core::net::SocketAddr;
use core::time::Duration;

use photon_dsl::Listener as _;
use photon_dsl::protocol::{Http, OverHttp};
use photon_dsl::text::ConstText;
use photon_dsl::{
    Auth, Declares, Dep, DepDecl, Endpoint, HostName, Integration, ListenerDecl, Mode, Node, Port,
    Protocol, Provides, Secret, ServiceDecl, ServiceSpec, Transport, UrlPathPrefix,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "fiberlb";
/// Backends one balancer may have, its routes' included.
pub const MAX_BACKENDS: usize = 16;
/// Routes one L7 balancer may have.
pub const MAX_ROUTES: usize = 8;
/// A backend's weight unless [`Backend::weight`] says otherwise.
pub const DEFAULT_WEIGHT: u8 = 100;

photon_dsl::listener! {
    /// The admin REST API (balancers, backends, drain), `/health` and
    /// `/metrics`.
    pub AdminListener: Http = "admin";
}

/// Where a backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An endpoint of a service in the topology: the topology checks that
    /// something speaking the protocol listens there.
    Topology(DepDecl),
    /// A fixed address outside the topology, which no check covers.
    Outside(SocketAddr),
}

/// One backend of protocol `P` and its share of new traffic.
pub struct Backend<P: Protocol> {
    decl: BackendDecl,
    _protocol: PhantomData<fn() -> P>,
}

/// A backend with its protocol erased, as a [`Balancer`] keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendDecl {
    /// Where it is.
    pub target: Target,
    /// Its path prefix, for a protocol that has one.
    pub path: Option<UrlPathPrefix>,
    /// Its share of new traffic, relative to the others' (0: none, as a
    /// drained backend).
    pub weight: u8,
}

impl<P: Protocol> Backend<P> {
    /// The service serving `endpoint`, weight [`DEFAULT_WEIGHT`].
    pub const fn of(endpoint: Dep<P>) -> Self {
        Backend {
            decl: BackendDecl {
                target: Target::Topology(endpoint.decl("backends")),
                path: endpoint.path(),
                weight: DEFAULT_WEIGHT,
            },
            _protocol: PhantomData,
        }
    }

    /// A server outside the topology at `addr`, trusted to speak `P`:
    /// nothing checks that it exists or what it speaks. Named to stand out
    /// in review.
    pub const fn outside_topology(addr: SocketAddr) -> Self {
        Backend {
            decl: BackendDecl {
                target: Target::Outside(addr),
                path: None,
                weight: DEFAULT_WEIGHT,
            },
            _protocol: PhantomData,
        }
    }

    /// The same backend with another share of new traffic.
    pub const fn weight(mut self, weight: u8) -> Self {
        self.decl.weight = weight;
        self
    }

    /// The backend with its protocol erased.
    pub const fn decl(&self) -> BackendDecl {
        self.decl
    }
}

impl<P: Protocol> Clone for Backend<P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Protocol> Copy for Backend<P> {}

impl<P: Protocol> fmt::Debug for Backend<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Backend<{}>({:?})", P::NAME, self.decl)
    }
}

/// Which backend takes a new connection or request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Each in turn, in proportion to the weights (HAProxy's `roundrobin`).
    RoundRobin,
    /// The one with the fewest open connections, relative to its weight
    /// (`leastconn`).
    LeastConnections,
    /// Chosen by a consistent hash of the client's address, so a client
    /// keeps its backend and a backend leaving moves only its own clients
    /// (`source`, consistent).
    SourceHash,
}

/// How a backend is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A TCP connection is accepted.
    Connect,
    /// `GET path` answers `status`.
    Http {
        /// The path asked, from `/`.
        path: &'static str,
        /// The status that means healthy.
        status: u16,
    },
    /// The backends' protocol's own question: `GET /health` for S3 and
    /// PhotonCloud's HTTP protocols (200), `GET /` for plain HTTP (below
    /// 500), a DNS question over UDP (any answer to it), etcd's gRPC
    /// Status (`grpc-status` 0); a TCP connect for the others.
    Protocol,
}

/// When backends are checked, and how many answers change their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// What is asked.
    pub check: Check,
    /// How often.
    pub interval: Duration,
    /// How long an answer may take.
    pub timeout: Duration,
    /// Successes in a row that bring a backend back.
    pub rise: u8,
    /// Failures in a row that take it out.
    pub fall: u8,
}

impl Health {
    /// HAProxy's defaults: a TCP connect every 2 s, 1 s to answer, back
    /// after 2 successes, out after 3 failures.
    pub const DEFAULT: Health = Health {
        check: Check::Connect,
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 3,
    };
}

/// Whether an L4 client keeps its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Stickiness {
    /// No: each connection is balanced on its own.
    None,
    /// By source address: a client's connections (and UDP flows) go where
    /// its first went while that backend is healthy.
    SourceIp,
}

/// Whether an HTTP client keeps its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpStickiness {
    /// No: each request is balanced on its own.
    None,
    /// By a cookie of this name that fiberlb sets on the first answer
    /// (HAProxy's `cookie NAME insert`).
    Cookie(&'static str),
}

/// A certificate a TLS front end presents, chosen by SNI (the first one
/// when no name matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate {
    /// The PEM certificate chain's file (absolute).
    pub cert_file: &'static str,
    /// The PEM private key: where it is read from, never its value.
    pub key: Secret,
}

/// TLS termination: clients speak TLS to fiberlb, which forwards plain
/// HTTP to the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFront {
    /// The certificates, by SNI; the first is the default.
    pub certificates: &'static [Certificate],
}

/// An L4 balancer: connections (and, for a protocol on UDP, datagram
/// flows) forwarded byte for byte to backends speaking `P`.
#[derive(Debug)]
pub struct L4<P: Protocol> {
    /// Its name, unique on its node (the admin API and metrics use it).
    pub name: &'static str,
    /// The port it listens on, on the fiberlb's node.
    pub port: Port,
    /// Where it forwards.
    pub backends: &'static [Backend<P>],
    /// How it picks a backend.
    pub method: Method,
    /// How backends are checked.
    pub health: Health,
    /// Whether a client keeps its backend.
    pub stickiness: L4Stickiness,
    /// How long an idle connection or UDP flow is kept.
    pub idle_timeout: Duration,
}

/// Requests for a host and/or path prefix, sent to their own backends
/// (of an [`L7`], whose bound says `P` is HTTP).
#[derive(Debug)]
pub struct Route<P: Protocol> {
    /// The `Host` it matches, if any.
    pub host: Option<HostName>,
    /// The path prefix it matches, if any.
    pub path: Option<UrlPathPrefix>,
    /// Where its requests go.
    pub backends: &'static [Backend<P>],
}

/// An L7 balancer: HTTP/1.1 and HTTP/2 requests, routed by host and path,
/// to backends speaking `P` (HTTP underneath).
#[derive(Debug)]
pub struct L7<P: OverHttp> {
    /// Its name, unique on its node (the admin API and metrics use it).
    pub name: &'static str,
    /// The port it listens on, on the fiberlb's node.
    pub port: Port,
    /// Where requests no route matches go.
    pub backends: &'static [Backend<P>],
    /// Requests matched by host or path, tried in order.
    pub routes: &'static [Route<P>],
    /// How it picks a backend.
    pub method: Method,
    /// How backends are checked.
    pub health: Health,
    /// Whether a client keeps its backend.
    pub stickiness: HttpStickiness,
    /// TLS termination, if clients speak HTTPS.
    pub tls: Option<TlsFront>,
    /// How long a request may be kept waiting: for the client's headers
    /// (which also closes idle kept-alive connections), for the backend's
    /// answer, and between pieces of the answer's body (a long download
    /// that keeps moving is not cut).
    pub request_timeout: Duration,
}

/// What only one layer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Byte for byte.
    L4 {
        /// Whether a client keeps its backend.
        stickiness: L4Stickiness,
        /// How long an idle connection or flow is kept.
        idle_timeout: Duration,
    },
    /// HTTP.
    L7 {
        /// Whether a client keeps its backend.
        stickiness: HttpStickiness,
        /// TLS termination.
        tls: Option<TlsFront>,
        /// How long a request may be kept waiting.
        request_timeout: Duration,
    },
}

/// A route of a [`Balancer`]: its match, and its backends' place in the
/// balancer's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteDecl {
    /// The `Host` it matches, if any.
    pub host: Option<HostName>,
    /// The path prefix it matches, if any.
    pub path: Option<UrlPathPrefix>,
    /// Index of its first backend.
    pub first: usize,
    /// How many backends it has.
    pub count: usize,
}

/// One balancer of a [`FiberLb`], its protocol erased: made by
/// [`L4::balancer`] or [`L7::balancer`], which checked the protocol.
#[derive(Clone, Copy)]
pub struct Balancer {
    /// Its name.
    pub name: &'static str,
    /// Its port.
    pub port: Port,
    /// Its backends' protocol, by name.
    pub protocol: &'static str,
    /// The transports it listens on.
    pub transport: Transport,
    /// How it picks a backend.
    pub method: Method,
    /// How backends are checked.
    pub health: Health,
    /// What only its layer has.
    pub layer: Layer,
    backends: [Option<BackendDecl>; MAX_BACKENDS],
    backend_count: usize,
    /// The default pool is `backends[..default_count]`.
    default_count: usize,
    routes: [Option<RouteDecl>; MAX_ROUTES],
    route_count: usize,
    problem: Option<ConstText>,
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("method", &self.method)
            .field("layer", &self.layer)
            .field("default_pool", &self.default_pool())
            .field("routes", &self.routes())
            .finish_non_exhaustive()
    }
}

impl Balancer {
    const fn new<P: Protocol>(
        name: &'static str,
        port: Port,
        method: Method,
        health: Health,
        layer: Layer,
    ) -> Balancer {
        Balancer {
            name,
            port,
            protocol: P::NAME,
            transport: P::TRANSPORT,
            method,
            health,
            layer,
            backends: [None; MAX_BACKENDS],
            backend_count: 0,
            default_count: 0,
            routes: [None; MAX_ROUTES],
            route_count: 0,
            problem: None,
        }
    }

    /// Records the first thing wrong.
    const fn wrong(mut self, problem: ConstText) -> Balancer {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
        self
    }

    const fn about(&self) -> ConstText {
        ConstText::new().push("balancer ").quoted(self.name)
    }

    /// Appends `pool`; returns the balancer and where the pool starts.
    const fn add_pool<P: Protocol>(mut self, pool: &[Backend<P>]) -> (Balancer, usize) {
        let first = self.backend_count;
        let mut i = 0;
        while i < pool.len() {
            if self.backend_count == MAX_BACKENDS {
                let problem = self.about().push(" has more than 16 backends");
                return (self.wrong(problem), first);
            }
            self.backends[self.backend_count] = Some(pool[i].decl);
            self.backend_count += 1;
            i += 1;
        }
        (self, first)
    }

    /// The checks every balancer gets, once its backends are in.
    const fn checked(self) -> Balancer {
        if self.name.is_empty() {
            return self.wrong(ConstText::new().push("a balancer has an empty name"));
        }
        if self.default_count == 0 {
            let problem = self
                .about()
                .push(" has no backends: it needs at least one to forward to");
            return self.wrong(problem);
        }
        let mut any_weight = false;
        let mut i = 0;
        while i < self.backend_count {
            if let Some(backend) = &self.backends[i]
                && backend.weight > 0
            {
                any_weight = true;
            }
            i += 1;
        }
        if !any_weight {
            let problem = self
                .about()
                .push(" gives every backend weight 0, so it can send traffic nowhere");
            return self.wrong(problem);
        }
        let health = self.health;
        if health.interval.is_zero() || health.timeout.is_zero() {
            let problem = self
                .about()
                .push(": health check `interval` and `timeout` must be above zero");
            return self.wrong(problem);
        }
        if health.rise == 0 || health.fall == 0 {
            let problem = self
                .about()
                .push(": health check `rise` and `fall` must be at least 1");
            return self.wrong(problem);
        }
        if let Check::Http { path, status } = health.check {
            if path.is_empty() || path.as_bytes()[0] != b'/' {
                let problem = self
                    .about()
                    .push(": the health check's path must start with `/`, not ")
                    .quoted(path);
                return self.wrong(problem);
            }
            if status < 100 || status > 599 {
                let problem = self
                    .about()
                    .push(": the health check expects status ")
                    .number(status as i128)
                    .push(", which is no HTTP status (100 to 599)");
                return self.wrong(problem);
            }
        }
        self
    }

    /// What is wrong with it, if anything (its [`FiberLb`] will not build).
    pub const fn problem(&self) -> Option<&ConstText> {
        self.problem.as_ref()
    }

    /// How many backends it has, its routes' included.
    pub const fn backend_count(&self) -> usize {
        self.backend_count
    }

    /// Backend `i` (of [`backend_count`](Self::backend_count)).
    pub const fn backend(&self, i: usize) -> BackendDecl {
        match self.backends[i] {
            Some(backend) => backend,
            None => panic!("no such backend"),
        }
    }

    /// The backends requests no route matches go to.
    pub fn default_pool(&self) -> Vec<BackendDecl> {
        self.backends[..self.default_count]
            .iter()
            .flatten()
            .copied()
            .collect()
    }

    /// Its routes, in order.
    pub fn routes(&self) -> Vec<RouteDecl> {
        self.routes[..self.route_count]
            .iter()
            .flatten()
            .copied()
            .collect()
    }

    /// The backends of `route`.
    pub fn pool_of(&self, route: &RouteDecl) -> Vec<BackendDecl> {
        self.backends[route.first..route.first + route.count]
            .iter()
            .flatten()
            .copied()
            .collect()
    }
}

/// The path prefix of a pool's first backend: what the front end serves
/// under, since paths are forwarded unchanged.
const fn first_path<P: Protocol>(pool: &[Backend<P>]) -> Option<UrlPathPrefix> {
    match pool.first() {
        Some(backend) => backend.decl.path,
        None => None,
    }
}

impl<P: Protocol> L4<P> {
    /// This balancer for a [`FiberLb`]'s list.
    pub const fn balancer(&self) -> Balancer {
        let balancer = Balancer::new::<P>(
            self.name,
            self.port,
            self.method,
            self.health,
            Layer::L4 {
                stickiness: self.stickiness,
                idle_timeout: self.idle_timeout,
            },
        );
        let (mut balancer, _) = balancer.add_pool(self.backends);
        balancer.default_count = balancer.backend_count;
        if self.idle_timeout.is_zero() {
            let problem = balancer.about().push(": `idle_timeout` must be above zero");
            balancer = balancer.wrong(problem);
        }
        balancer.checked()
    }
}

impl<P: OverHttp> L7<P> {
    /// This balancer for a [`FiberLb`]'s list.
    pub const fn balancer(&self) -> Balancer {
        let balancer = Balancer::new::<P>(
            self.name,
            self.port,
            self.method,
            self.health,
            Layer::L7 {
                stickiness: self.stickiness,
                tls: self.tls,
                request_timeout: self.request_timeout,
            },
        );
        let (mut balancer, _) = balancer.add_pool(self.backends);
        balancer.default_count = balancer.backend_count;
        let mut i = 0;
        while i < self.routes.len() {
            let route = &self.routes[i];
            if route.backends.is_empty() {
                let problem = balancer
                    .about()
                    .push(": route ")
                    .number(i as i128)
                    .push(" has no backends");
                return balancer.wrong(problem);
            }
            if route.host.is_none() && route.path.is_none() {
                let problem = balancer.about().push(": route ").number(i as i128).push(
                    " matches every request (no `host`, no `path`): put its backends in `backends`",
                );
                return balancer.wrong(problem);
            }
            if balancer.route_count == MAX_ROUTES {
                let problem = balancer.about().push(" has more than 8 routes");
                return balancer.wrong(problem);
            }
            let (with_pool, first) = balancer.add_pool(route.backends);
            balancer = with_pool;
            balancer.routes[balancer.route_count] = Some(RouteDecl {
                host: route.host,
                path: route.path,
                first,
                count: route.backends.len(),
            });
            balancer.route_count += 1;
            i += 1;
        }
        if let HttpStickiness::Cookie(name) = self.stickiness
            && name.is_empty()
        {
            let problem = balancer.about().push(": the stickiness cookie has no name");
            balancer = balancer.wrong(problem);
        }
        if let Some(tls) = &self.tls
            && tls.certificates.is_empty()
        {
            let problem = balancer
                .about()
                .push(": TLS needs at least one certificate");
            balancer = balancer.wrong(problem);
        }
        if self.request_timeout.is_zero() {
            let problem = balancer
                .about()
                .push(": `request_timeout` must be above zero");
            balancer = balancer.wrong(problem);
        }
        balancer.checked()
    }
}

/// Where a fiberlb publishes its balancers' names.
#[derive(Debug, Clone, Copy)]
pub enum Publish {
    /// Nowhere.
    Off,
    /// Into `zone`, kept in chainfire and served by the integrated
    /// flashdns at `server` (which makes the zone if chainfire does not
    /// hold it yet, with `server` as its name server). Balancer `web` is
    /// `web.<zone>`, this fiberlb's address while the balancer has a
    /// backend up (each fiberlb publishing `web` adds its own address, so
    /// clients spread over them), and `backends.web.<zone>`, the address of
    /// each backend up, changed as health checks and drains change them.
    Dns {
        /// The zone, such as `apps.internal`.
        zone: &'static str,
        /// The flashdns serving it.
        server: Dep<photon_dsl::protocol::Dns>,
    },
}

/// fiberlb on node `N`: its balancers, and where its admin API listens.
#[derive(Debug, Clone, Copy)]
pub struct FiberLb<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Standalone, or integrated: registered in chainfire, and able to
    /// publish names through it.
    pub mode: Mode,
    /// The admin REST API, `/health` and `/metrics`.
    pub admin_port: Port,
    /// Its balancers, each made by `.balancer()` of an [`L4`] or an
    /// [`L7`].
    pub balancers: &'static [Balancer],
    /// Where its balancers' names are published (integrated only).
    pub publish: Publish,
}

/// Whether `name` is one DNS label (`[a-z0-9-]`, 1 to 63 bytes, no hyphen
/// at either end), ASCII capitals allowed when `any_case`.
const fn is_dns_label(name: &[u8], any_case: bool) -> bool {
    if name.is_empty() || name.len() > 63 || name[0] == b'-' || name[name.len() - 1] == b'-' {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if !(b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || b == b'-'
            || (any_case && b.is_ascii_uppercase()))
        {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `zone` is a DNS name of such labels (a trailing dot allowed).
const fn is_zone_name(zone: &str) -> bool {
    let bytes = zone.as_bytes();
    let len = if !bytes.is_empty() && bytes[bytes.len() - 1] == b'.' {
        bytes.len() - 1
    } else {
        bytes.len()
    };
    if len == 0 || len > 240 {
        return false;
    }
    let (mut start, mut i) = (0, 0);
    while i <= len {
        if i == len || bytes[i] == b'.' {
            let (label, _) = bytes.split_at(i);
            let (_, label) = label.split_at(start);
            if !is_dns_label(label, true) {
                return false;
            }
            start = i + 1;
        }
        i += 1;
    }
    true
}

impl<N: Node> FiberLb<N> {
    /// fiberlb on `node` with `balancers`: standalone, its admin API on
    /// port 8404 (HAProxy's customary stats port), publishing nothing.
    /// Change a field with struct update (`FiberLb { admin_port: ...,
    /// ..FiberLb::new(...) }`).
    pub const fn new(node: N, balancers: &'static [Balancer]) -> FiberLb<N> {
        FiberLb {
            node,
            mode: Mode::Standalone,
            admin_port: photon_dsl::port!(8404),
            balancers,
            publish: Publish::Off,
        }
    }

    /// What its mode and publishing settings get wrong, if anything.
    const fn integration_problem(&self) -> Option<ConstText> {
        match (&self.mode, &self.publish) {
            (Mode::Hybrid(_), _) => Some(ConstText::new().push(
                "fiberlb has nothing to run hybrid: it keeps no metadata and photonauth checks none of its requests; `Mode::Integrated` registers it in chainfire and lets it publish names",
            )),
            (
                Mode::Integrated(Integration {
                    auth: Auth::PhotonAuth(_),
                    ..
                }),
                _,
            ) => Some(ConstText::new().push(
                "photonauth checks none of fiberlb's requests: integrate it with `auth: Auth::Local`",
            )),
            (Mode::Standalone, Publish::Dns { zone, .. }) => Some(
                ConstText::new()
                    .push("`publish` writes the balancers' names into zone ")
                    .quoted(zone)
                    .push(" through chainfire, which a standalone fiberlb has none of: run it `Mode::Integrated(Integration { state_store, auth: Auth::Local })`"),
            ),
            (_, Publish::Dns { zone, .. }) => {
                if !is_zone_name(zone) {
                    return Some(
                        ConstText::new()
                            .push("`publish`: zone ")
                            .quoted(zone)
                            .push(" is not a DNS name of letters, digits and hyphens"),
                    );
                }
                let mut i = 0;
                while i < self.balancers.len() {
                    let name = self.balancers[i].name;
                    if !is_dns_label(name.as_bytes(), false) {
                        return Some(
                            ConstText::new()
                                .push("balancer ")
                                .quoted(name)
                                .push(" is published as a DNS name, so its name must be one DNS label: lowercase letters, digits and hyphens, at most 63"),
                        );
                    }
                    i += 1;
                }
                None
            }
            _ => None,
        }
    }

    /// Its listeners (the admin API and one per balancer) and its
    /// backends, for the topology checks; a balancer found wrong fails the
    /// build with what is wrong.
    pub const fn declare(&self) -> ServiceDecl {
        // It checks its backends itself, and serves those that are up.
        let mut decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<AdminListener>(self.admin_port)
            .with_health()
            .starts_before_deps();
        if self.balancers.is_empty() {
            return decl.reject(
                "fiberlb has no balancers: list at least one (`balancers: &[WEB.balancer()]`)",
            );
        }
        if let Some(problem) = self.integration_problem() {
            return decl.reject_because(problem);
        }
        decl = self.mode.declare(decl);
        if let Publish::Dns { zone, server } = &self.publish {
            decl = decl.publishes_into_zone("publish", zone, server);
        }
        let mut i = 0;
        while i < self.balancers.len() {
            let balancer = &self.balancers[i];
            if let Some(problem) = balancer.problem {
                return decl.reject_because(problem);
            }
            if photon_dsl::text::same(balancer.name, AdminListener::NAME) {
                return decl.reject_because(
                    ConstText::new()
                        .push("balancer ")
                        .quoted(balancer.name)
                        .push(": the name is the admin API's; choose another"),
                );
            }
            let mut j = 0;
            while j < i {
                if photon_dsl::text::same(self.balancers[j].name, balancer.name) {
                    return decl.reject_because(
                        ConstText::new()
                            .push("two balancers are named ")
                            .quoted(balancer.name)
                            .push(": names are unique on a node"),
                    );
                }
                j += 1;
            }
            decl = decl.listens_erased(ListenerDecl {
                name: balancer.name,
                port: balancer.port,
                transport: balancer.transport,
                protocol: balancer.protocol,
                health: false,
            });
            let mut b = 0;
            while b < balancer.backend_count {
                if let Some(BackendDecl {
                    target: Target::Topology(dep),
                    ..
                }) = balancer.backends[b]
                {
                    decl = decl.needs_erased(dep);
                }
                b += 1;
            }
            if let Layer::L7 { tls: Some(tls), .. } = &balancer.layer {
                let mut c = 0;
                while c < tls.certificates.len() {
                    decl = decl.secret("tls_key", &tls.certificates[c].key);
                    c += 1;
                }
            }
            i += 1;
        }
        decl
    }

    /// The front end of `balancer`, which clients of `P` depend on.
    pub const fn l4<P: Protocol>(&self, balancer: &L4<P>) -> Endpoint<N, P> {
        Endpoint::provided_by(self, balancer.port, first_path(balancer.backends))
    }

    /// The front end of `balancer`, which clients of `P` depend on.
    pub const fn l7<P: OverHttp>(&self, balancer: &L7<P>) -> Endpoint<N, P> {
        Endpoint::provided_by(self, balancer.port, first_path(balancer.backends))
    }
}

impl<N: Node> ServiceSpec for FiberLb<N> {
    fn declare(&self) -> ServiceDecl {
        FiberLb::declare(self)
    }
}

impl<N: Node> Declares<AdminListener> for FiberLb<N> {}

/// A balancer serves its backends' protocol, whatever it is; the
/// accessors [`FiberLb::l4`] and [`FiberLb::l7`] take the protocol from the
/// balancer, and the topology checks that a balancer listens there.
impl<N: Node, P: Protocol> Provides<P> for FiberLb<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

#[cfg(test)]
mod tests {
    use photon_dsl::protocol::{Dns, HttpGet};
    use photon_dsl::{ServiceSpec, host, path, port};

    use super::*;

    photon_dsl::nodes! {
        /// The balancer's node.
        pub Edge = "edge";
    }

    type Web = HttpGet<String, String>;

    fn outside(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, last], port))
    }

    const fn web(backends: &'static [Backend<Web>], routes: &'static [Route<Web>]) -> L7<Web> {
        L7 {
            name: "web",
            port: port!(80),
            backends,
            routes,
            method: Method::RoundRobin,
            health: Health::DEFAULT,
            stickiness: HttpStickiness::None,
            tls: None,
            request_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn routes_keep_their_own_backends_in_order() {
        let a = Backend::<Web>::outside_topology(outside(1, 80));
        let b = Backend::<Web>::outside_topology(outside(2, 80)).weight(7);
        let c = Backend::<Web>::outside_topology(outside(3, 80));
        let backends: &'static [Backend<Web>] = Box::leak(Box::new([a]));
        let api_pool: &'static [Backend<Web>] = Box::leak(Box::new([b, c]));
        let routes: &'static [Route<Web>] = Box::leak(Box::new([Route {
            host: Some(host!("api.example.com")),
            path: Some(path!("v1")),
            backends: api_pool,
        }]));
        let balancer = web(backends, routes).balancer();
        assert!(balancer.problem().is_none());
        assert_eq!(balancer.default_pool(), vec![a.decl()]);
        let route = balancer.routes()[0];
        assert_eq!(route.host, Some(host!("api.example.com")));
        assert_eq!(balancer.pool_of(&route), vec![b.decl(), c.decl()]);
        assert_eq!(balancer.pool_of(&route)[0].weight, 7);
        assert_eq!(balancer.backend_count(), 3);
    }

    #[test]
    fn a_route_that_matches_everything_and_a_bad_health_check_are_named() {
        let pool: &'static [Backend<Web>] =
            Box::leak(Box::new([Backend::<Web>::outside_topology(outside(1, 80))]));
        let everything: &'static [Route<Web>] = Box::leak(Box::new([Route {
            host: None,
            path: None,
            backends: pool,
        }]));
        let problem = web(pool, everything).balancer().problem().copied();
        assert_eq!(
            problem.as_ref().map(ConstText::as_str),
            Some(
                "balancer `web`: route 0 matches every request (no `host`, no `path`): put its backends in `backends`"
            )
        );
        let mut checked = web(pool, &[]);
        checked.health.check = Check::Http {
            path: "/health",
            status: 700,
        };
        let problem = checked.balancer().problem().copied();
        assert_eq!(
            problem.as_ref().map(ConstText::as_str),
            Some(
                "balancer `web`: the health check expects status 700, which is no HTTP status (100 to 599)"
            )
        );
    }

    #[test]
    fn an_l4_balancer_listens_on_its_protocols_transports_and_outside_backends_are_no_dependency() {
        let pool: &'static [Backend<Dns>] =
            Box::leak(Box::new([Backend::<Dns>::outside_topology(outside(
                53, 53,
            ))]));
        let dns = L4 {
            name: "dns",
            port: port!(53),
            backends: pool,
            method: Method::SourceHash,
            health: Health::DEFAULT,
            stickiness: L4Stickiness::None,
            idle_timeout: Duration::from_secs(30),
        };
        let balancers: &'static [Balancer] = Box::leak(Box::new([dns.balancer()]));
        let lb = FiberLb::new(Edge, balancers);
        let decl = ServiceSpec::declare(&lb);
        assert!(decl.rejected().is_none(), "{:?}", decl.rejected());
        let listeners: Vec<_> = decl.listeners().map(|l| (l.name, l.transport)).collect();
        assert_eq!(
            listeners,
            vec![("admin", Transport::Tcp), ("dns", Transport::TcpAndUdp)]
        );
        assert_eq!(decl.deps().count(), 0);
        assert_eq!(lb.l4(&dns).port(), port!(53));
    }
}

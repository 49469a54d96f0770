//! Level 2, the standard stack (docs/design.md §4.4): storage, DNS and a
//! balancer in front of the web tier, with chainfire as the registry every
//! service joins. fiberlb's pool is the web servers' endpoints, and the
//! web tier's name is the balancer's: fiberlb publishes `web.apps.internal`
//! (its own address while a backend is up) and `backends.web.apps.internal`
//! (each backend up) into a zone kept in chainfire, which flashdns serves,
//! so a web server that fails its health check leaves DNS within a second
//! or two, and comes back when it recovers. The store's names come from the
//! topology (`Rec::node`), as at level 1.
//!
//! ```text
//! export LIGHTNINGSTOR_SECRET_KEY=$(openssl rand -hex 20)
//! cargo run -p deploy-level2 -- up
//! dig @127.0.1.3 -p 5300 web.apps.internal            # the balancer, while a web server is up
//! dig @127.0.1.3 -p 5300 backends.web.apps.internal   # the web servers that are up
//! curl http://127.0.1.4:8080/echo/hello               # through the balancer
//! dig @127.0.1.3 -p 5300 s3.site.internal             # the store
//! ```

use chainfire::Chainfire;
use echo::{EchoProtocol, EchoServer};
use fiberlb::{Backend, Check, FiberLb, Health, HttpStickiness, L7, Method, Publish};
use flashdns::{FlashDns, Rec, RecData, Soa, Zone, ZoneData};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    /// The registry: chainfire, which every other service joins.
    pub Kv = "kv";
    /// Holds the files.
    pub Storage = "storage";
    /// Answers for `site.internal` and `apps.internal`.
    pub Dns = "dns";
    /// The balancer in front of the web tier.
    pub Edge = "edge";
    /// The first web server.
    pub Web1 = "web-1";
    /// The second web server.
    pub Web2 = "web-2";
}

const REGISTRY: Chainfire<Kv> = Chainfire::new(Kv);

/// What joining the platform takes: the registry's members.
const JOINED: Integration = Integration {
    state_store: &[REGISTRY.kv().dep()],
    auth: Auth::Local,
};

/// Registered in chainfire; objects, metadata and keys stay on its node.
const STORE: LightningStor<Storage> = LightningStor {
    mode: Mode::Hybrid(Hybrid {
        state_store: JOINED.state_store,
        metadata: Kept::Local,
        auth: Auth::Local,
    }),
    ..LightningStor::new(
        Storage,
        AccessKey {
            id: "PHOTONADMIN",
            secret: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
        },
    )
};

const SITE: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa {
        serial: 2026120501,
        ..Soa::DEFAULT
    },
    records: &[
        Rec::new("@", RecData::Ns("ns1")),
        Rec::node("ns1", Dns),
        Rec::node("s3", Storage),
    ],
};

/// The zone fiberlb publishes into: kept in chainfire, made by fiberlb on
/// its first start.
const APPS: &str = "apps.internal";

const DNS: FlashDns<Dns> = FlashDns {
    mode: Mode::Integrated(JOINED),
    dns_port: port!(5300),
    ..FlashDns::new(
        Dns,
        &[Zone::records("site.internal", &SITE), Zone::stored(APPS)],
    )
};

const fn web<N: Node>(node: N) -> EchoServer<N> {
    EchoServer {
        node,
        port: port!(8080),
        prefix: path!("echo"),
        token: None,
    }
}
const WEB_1: EchoServer<Web1> = web(Web1);
const WEB_2: EchoServer<Web2> = web(Web2);

/// The web tier: each server's `/health` asked twice a second, out after
/// three failures, back after two successes.
const WEB: L7<EchoProtocol> = L7 {
    name: "web",
    port: port!(8080),
    backends: &[
        Backend::of(WEB_1.endpoint().dep()),
        Backend::of(WEB_2.endpoint().dep()),
    ],
    routes: &[],
    method: Method::RoundRobin,
    health: Health {
        check: Check::Http {
            path: "/health",
            status: 200,
        },
        interval: Duration::from_millis(500),
        ..Health::DEFAULT
    },
    stickiness: HttpStickiness::None,
    tls: None,
    request_timeout: Duration::from_secs(30),
};

const LB: FiberLb<Edge> = FiberLb {
    mode: Mode::Integrated(JOINED),
    publish: Publish::Dns {
        zone: APPS,
        server: DNS.dns().dep(),
    },
    ..FiberLb::new(Edge, &[WEB.balancer()])
};

photon_runtime::deployment! {
    name: "level2",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Storage, Dns, Edge, Web1, Web2],
    services: [REGISTRY, STORE, DNS, LB, WEB_1, WEB_2],
}

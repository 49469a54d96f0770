// The same `port!(0)` as port_zero.rs, in a deployment as users write them:
// a three-member chainfire cluster, integrated lightningstor, flashdns and
// an echo pair, eight services in all. The error is the one line that
// names the literal, not a note for every constant that uses it.
use chainfire::{Chainfire, Limits};
use echo::{EchoClient, EchoServer};
use flashdns::{AutoReload, FlashDns, Rec, RecData, Soa, Zone, ZoneData, ZoneFileLimits, RateLimit};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    pub Kv1 = "kv-1";
    pub Kv2 = "kv-2";
    pub Kv3 = "kv-3";
    pub Store = "store";
    pub Ns = "ns";
    pub Web = "web";
    pub Probe = "probe";
}

const KV_1: Chainfire<Kv1> = Chainfire { node: Kv1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const KV_2: Chainfire<Kv2> = Chainfire { node: Kv2, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const KV_3: Chainfire<Kv3> = Chainfire { node: Kv3, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: &[KV_1.kv().dep(), KV_2.kv().dep(), KV_3.kv().dep()],
        auth: Auth::Local,
    }),
};

const ZONE: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa { primary: "ns", admin: "hostmaster", serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 },
    records: &[
        Rec::new("@", RecData::Ns("ns")),
        Rec::node("ns", Ns),
        Rec::node("store", Store),
        Rec::node("web", Web),
    ],
};

const DNS: FlashDns<Ns> = FlashDns {
    node: Ns,
    mode: Mode::Standalone,
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[Zone::records("cloud.internal", &ZONE)],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

const ECHO: EchoServer<Web> = EchoServer { node: Web, port: port!(0), prefix: path!("echo"), token: None };

const CLIENT: EchoClient<Probe> = EchoClient {
    node: Probe,
    echo: ECHO.endpoint().dep(),
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: None,
};

const PROBE_LIFETIME: Lifetime<Probe> = Lifetime { node: Probe, after: Duration::from_secs(60) };

photon_dsl::topology! {
    name: "platform",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Store, Ns, Web, Probe],
    services: [KV_1, KV_2, KV_3, STORE, DNS, ECHO, CLIENT, PROBE_LIFETIME],
}

fn main() {}

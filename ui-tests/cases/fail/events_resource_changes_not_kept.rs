// The resource manager's changes must be kept in a stream: an agent that
// is away when one is published must hear of it when it is back. A live
// subject (core NATS, nothing kept) is refused.
use chainfire::{Chainfire, Limits};
use eventbus::{BusLimits, EventBus};
use flashdns::{AutoReload, DnsAgent, FlashDns, RateLimit, Zone, ZoneFileLimits};
use photon_dsl::events::{Stream, Subject};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;
use resource_manager::ResourceManager;

nodes! {
    pub Kv = "kv";
    pub Auth1 = "auth";
    pub Bus = "bus";
    pub Manager = "manager";
    pub Dns = "dns";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const STATE: &[Dep<EtcdV3>] = &[CF.kv().dep()];
const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: STATE, admin_token: Secret::env("AUTH_TOKEN") };

const RESOURCES: Stream = Stream { name: "RESOURCES", subjects: "photon.resources", max_age_seconds: 86_400, max_mib: 64 };
const AUDIT: Stream = Stream { name: "AUDIT", subjects: "photon.audit", max_age_seconds: 86_400, max_mib: 64 };

const BUS: EventBus<Bus> = EventBus {
    node: Bus,
    client_port: port!(4222),
    admin_port: port!(8222),
    streams: &[RESOURCES, AUDIT],
    limits: BusLimits::DEFAULT,
};

const MANAGER: ResourceManager<Manager> = ResourceManager {
    node: Manager,
    port: port!(50054),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("RESOURCES_TOKEN"),
    events: Subject::live(BUS.client().dep(), "photon.resources.changed"),
};

const DNS: FlashDns<Dns> = FlashDns {
    node: Dns,
    mode: Mode::Integrated(Integration { state_store: STATE, auth: Auth::Local }),
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[Zone::stored("tenants.example.test")],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

const AGENT: DnsAgent<Dns> = DnsAgent {
    node: Dns,
    admin_port: port!(8054),
    state_store: STATE,
    server: DNS.dns().dep(),
    zone: "tenants.example.test",
    changes: MANAGER.changes(),
    resync_seconds: 10,
};

photon_dsl::topology! {
    name: "events",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Bus, Manager, Dns],
    services: [CF, AUTH, BUS, MANAGER, DNS, AGENT],
}

fn main() {}

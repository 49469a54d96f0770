//! Level 4 of the design, a private cloud (in progress): tenants ask the
//! API gateway for resources, creditservice holds their quotas, the
//! resource manager keeps the desired state in chainfire and publishes
//! each change on the event bus, and the components' agents make it real
//! (DNS records in flashdns, VPCs, subnets and addresses in photonnet,
//! buckets in lightningstor, load balancers served by fiberlb's agents on
//! ports 20000-20999 of `127.0.1.11` or `127.0.1.12`, whichever the
//! scheduler placed them on; it moves them if that node goes away), and
//! flaredb, the sharded key-value database, on two nodes.
//!
//! ```text
//! PHOTONAUTH_ADMIN_TOKEN=... RESOURCES_ADMIN_TOKEN=... PHOTONNET_ADMIN_TOKEN=... \
//!     LIGHTNINGSTOR_SECRET_KEY=... CREDITSERVICE_ADMIN_TOKEN=... GATEWAY_ADMIN_TOKEN=... \
//!     FLAREDB_TOKEN=... cargo run -p deploy-level4 -- up
//! ```
//!
//! The API (`services/api-gateway/openapi.json`) is then on
//! `http://127.0.1.10:8080`: `PUT /v1/tenants/acme/resources/dns-record/www`
//! with `{"type": "A", "values": ["192.0.2.10"]}` makes
//! `www.acme.tenants.photon.test` answer on `127.0.1.5:5300`.

use api_gateway::ApiGateway;
use chainfire::{Chainfire, Limits};
use creditservice::{CreditService, DefaultLimits};
use eventbus::{BusLimits, EventBus};
use fiberlb::{LbAgent, TenantPorts};
use flaredb::FlareDb;
use flashdns::{AutoReload, DnsAgent, FlashDns, RateLimit, Zone, ZoneFileLimits};
use lightningstor::{AccessKey, LightningStor, StorageAgent};
use photon_dsl::events::{Stream, Subject};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;
use photonnet::{NetAgent, PhotonNet, VpcDns};
use resource_manager::ResourceManager;
use scheduler::Scheduler;

nodes! {
    /// The state store.
    pub Kv = "kv";
    /// The auth service.
    pub Auth1 = "auth";
    /// The event bus.
    pub Bus = "bus";
    /// The resource manager.
    pub Manager = "manager";
    /// flashdns.
    pub Dns = "dns";
    /// The DNS agent (beside flashdns in spirit: it works through
    /// chainfire, so it may run anywhere).
    pub Agent = "dns-agent";
    /// photonnet and its agent.
    pub Net = "net";
    /// lightningstor and its agent.
    pub Storage = "storage";
    /// The quota and credit service.
    pub Credits = "credits";
    /// The API gateway, tenants' one door.
    pub Gateway = "gateway";
    /// Tenants' load balancers, on whichever of two nodes the scheduler
    /// chose.
    pub Lb1 = "lb-1";
    /// The second.
    pub Lb2 = "lb-2";
    /// The scheduler.
    pub Sched = "scheduler";
    /// flaredb's nodes.
    pub Db1 = "db-1";
    /// The second.
    pub Db2 = "db-2";
}

const KV: Chainfire<Kv> = Chainfire {
    node: Kv,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};

const STATE: &[Dep<EtcdV3>] = &[KV.kv().dep()];

const AUTH: PhotonAuth<Auth1> = PhotonAuth {
    node: Auth1,
    port: port!(50051),
    state_store: STATE,
    admin_token: Secret::env("PHOTONAUTH_ADMIN_TOKEN"),
};

/// Changes to tenants' resources, kept a week.
const RESOURCES: Stream = Stream {
    name: "RESOURCES",
    subjects: "photon.resources",
    max_age_seconds: 7 * 24 * 3600,
    max_mib: 256,
};

const BUS: EventBus<Bus> = EventBus {
    node: Bus,
    client_port: port!(4222),
    admin_port: port!(8222),
    streams: &[RESOURCES],
    limits: BusLimits::DEFAULT,
};

const MANAGER: ResourceManager<Manager> = ResourceManager {
    node: Manager,
    port: port!(50054),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("RESOURCES_ADMIN_TOKEN"),
    events: Subject::kept(BUS.client().dep(), RESOURCES, "photon.resources.changed"),
};

const TENANTS_ZONE: &str = "tenants.photon.test";
const VPC_ZONE: &str = "vpc.photon.test";

const DNS: FlashDns<Dns> = FlashDns {
    node: Dns,
    mode: Mode::Integrated(Integration {
        state_store: STATE,
        auth: Auth::Local,
    }),
    dns_port: port!(5300),
    admin_port: port!(8053),
    zones: &[Zone::stored(TENANTS_ZONE), Zone::stored(VPC_ZONE)],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

const DNS_AGENT: DnsAgent<Agent> = DnsAgent {
    node: Agent,
    admin_port: port!(8054),
    state_store: STATE,
    server: DNS.dns().dep(),
    zone: TENANTS_ZONE,
    changes: MANAGER.changes(),
    resync_seconds: 10,
};

const VPC_DNS: VpcDns = VpcDns::Zone {
    zone: VPC_ZONE,
    server: DNS.dns().dep(),
};

const NET: PhotonNet<Net> = PhotonNet {
    node: Net,
    port: port!(50052),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("PHOTONNET_ADMIN_TOKEN"),
    dns: VPC_DNS,
};

const NET_AGENT: NetAgent<Net> = NetAgent {
    node: Net,
    admin_port: port!(8055),
    state_store: STATE,
    dns: VPC_DNS,
    changes: MANAGER.changes(),
    resync_seconds: 10,
};

const STORE: LightningStor<Storage> = LightningStor {
    node: Storage,
    s3_port: port!(9000),
    admin_port: port!(9001),
    access_key: AccessKey {
        id: "PHOTONADMIN",
        secret: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
    },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: STATE,
        auth: Auth::PhotonAuth(AUTH.api().dep()),
    }),
};

const STORAGE_AGENT: StorageAgent<Storage> = StorageAgent {
    node: Storage,
    admin_port: port!(8056),
    state_store: STATE,
    storage: STORE.s3().dep(),
    changes: MANAGER.changes(),
    resync_seconds: 10,
};

const CREDITS: CreditService<Credits> = CreditService {
    node: Credits,
    port: port!(50053),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("CREDITSERVICE_ADMIN_TOKEN"),
    limits: DefaultLimits {
        kinds: &[
            ("bucket", 10),
            ("dns-record", 100),
            ("load-balancer", 5),
            ("vpc", 5),
            ("subnet", 20),
            ("address", 100),
        ],
        other: None,
    },
};

const GATEWAY: ApiGateway<Gateway> = ApiGateway {
    node: Gateway,
    port: port!(8080),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("GATEWAY_ADMIN_TOKEN"),
    resources: MANAGER.api().dep(),
    resources_token: Secret::env("RESOURCES_ADMIN_TOKEN"),
    credits: CREDITS.api().dep(),
    credits_token: Secret::env("CREDITSERVICE_ADMIN_TOKEN"),
};

/// The ports tenants' balancers may take, on either balancer node.
const TENANT_PORTS: TenantPorts = TenantPorts {
    first: port!(20000),
    last: port!(20999),
};

const LB_1: LbAgent<Lb1> = LbAgent {
    node: Lb1,
    admin_port: port!(8057),
    state_store: STATE,
    ports: TENANT_PORTS,
    changes: MANAGER.changes(),
    resync_seconds: 10,
};

const LB_2: LbAgent<Lb2> = LbAgent {
    node: Lb2,
    admin_port: port!(8057),
    state_store: STATE,
    ports: TENANT_PORTS,
    changes: MANAGER.changes(),
    resync_seconds: 10,
};

const SCHEDULER: Scheduler<Sched> = Scheduler {
    node: Sched,
    admin_port: port!(8058),
    state_store: STATE,
    changes: MANAGER.changes(),
    resync_seconds: 2,
    away_after_seconds: 5,
    capacity_per_node: 100,
};

const DB_1: FlareDb<Db1> = FlareDb {
    node: Db1,
    port: port!(50060),
    state_store: STATE,
    shards: 16,
    admin_token: Secret::env("FLAREDB_TOKEN"),
};

const DB_2: FlareDb<Db2> = FlareDb {
    node: Db2,
    port: port!(50060),
    state_store: STATE,
    shards: 16,
    admin_token: Secret::env("FLAREDB_TOKEN"),
};

photon_runtime::deployment! {
    name: "level4",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Bus, Manager, Dns, Agent, Net, Storage, Credits, Gateway, Lb1, Lb2, Sched, Db1, Db2],
    services: [
        KV, AUTH, BUS, MANAGER, DNS, DNS_AGENT, NET, NET_AGENT, STORE, STORAGE_AGENT, CREDITS,
        GATEWAY, LB_1, LB_2, SCHEDULER, DB_1, DB_2,
    ],
}

//! The scheduler on the platform: tenants' load balancers placed on one
//! of two balancer nodes by the scheduler, served there by fiberlb's
//! agent, and moved to the other when their node goes away (level 4's
//! placement, alone).
//!
//! ```text
//! PHOTONAUTH_ADMIN_TOKEN=... RESOURCES_ADMIN_TOKEN=... cargo run -p deploy-scheduler -- up
//! ```
//!
//! The resource manager's API is then on `127.0.1.4:50054`; a
//! `load-balancer` resource listens on `127.0.1.5` or `127.0.1.6`
//! (its status says which).

use chainfire::{Chainfire, Limits};
use eventbus::{BusLimits, EventBus};
use fiberlb::{LbAgent, TenantPorts};
use photon_dsl::events::{Stream, Subject};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;
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
    /// A balancer node.
    pub Lb1 = "lb-1";
    /// The other.
    pub Lb2 = "lb-2";
    /// The scheduler.
    pub Sched = "scheduler";
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

/// Changes to tenants' resources, kept a day.
const RESOURCES: Stream = Stream {
    name: "RESOURCES",
    subjects: "photon.resources",
    max_age_seconds: 24 * 3600,
    max_mib: 64,
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

/// The ports tenants' balancers may take.
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
    away_after_seconds: 4,
    capacity_per_node: 100,
};

photon_runtime::deployment! {
    name: "scheduler",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Bus, Manager, Lb1, Lb2, Sched],
    services: [KV, AUTH, BUS, MANAGER, LB_1, LB_2, SCHEDULER],
}

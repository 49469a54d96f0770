// Tenants' load balancers: two fiberlb agents, each on its node with the
// ports tenants may take, and the scheduler placing balancers on them.
use chainfire::{Chainfire, Limits};
use eventbus::{BusLimits, EventBus};
use fiberlb::{LbAgent, TenantPorts};
use photon_dsl::events::{Stream, Subject};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;
use resource_manager::ResourceManager;
use scheduler::Scheduler;

nodes! {
    pub Kv = "kv";
    pub Auth1 = "auth";
    pub Bus = "bus";
    pub Manager = "manager";
    pub Lb1 = "lb-1";
    pub Lb2 = "lb-2";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const STATE: &[Dep<EtcdV3>] = &[CF.kv().dep()];
const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: STATE, admin_token: Secret::env("AUTH_TOKEN") };

const RESOURCES: Stream = Stream { name: "RESOURCES", subjects: "photon.resources", max_age_seconds: 86_400, max_mib: 64 };
const BUS: EventBus<Bus> = EventBus { node: Bus, client_port: port!(4222), admin_port: port!(8222), streams: &[RESOURCES], limits: BusLimits::DEFAULT };

const MANAGER: ResourceManager<Manager> = ResourceManager {
    node: Manager,
    port: port!(50054),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("RESOURCES_TOKEN"),
    events: Subject::kept(BUS.client().dep(), RESOURCES, "photon.resources.changed"),
};

const PORTS: TenantPorts = TenantPorts { first: port!(20000), last: port!(20999) };

const LB_1: LbAgent<Lb1> = LbAgent { node: Lb1, admin_port: port!(8057), state_store: STATE, ports: PORTS, changes: MANAGER.changes(), resync_seconds: 10 };
const LB_2: LbAgent<Lb2> = LbAgent { node: Lb2, admin_port: port!(8057), state_store: STATE, ports: PORTS, changes: MANAGER.changes(), resync_seconds: 10 };

const SCHEDULER: Scheduler<Manager> = Scheduler {
    node: Manager,
    admin_port: port!(8058),
    state_store: STATE,
    changes: MANAGER.changes(),
    resync_seconds: 2,
    away_after_seconds: 5,
    capacity_per_node: 100,
};

photon_dsl::topology! {
    name: "balancers",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Bus, Manager, Lb1, Lb2],
    services: [CF, AUTH, BUS, MANAGER, LB_1, LB_2, SCHEDULER],
}

fn main() {}

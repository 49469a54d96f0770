// The API gateway forwards resources to the resource manager and takes
// quotas from creditservice, each from the endpoint of its own protocol.
use api_gateway::ApiGateway;
use chainfire::{Chainfire, Limits};
use creditservice::{CreditService, DefaultLimits};
use eventbus::{BusLimits, EventBus};
use photon_dsl::events::{Stream, Subject};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;
use resource_manager::ResourceManager;

nodes! {
    pub Kv = "kv";
    pub Auth1 = "auth";
    pub Bus = "bus";
    pub Manager = "manager";
    pub Credits = "credits";
    pub Gateway = "gateway";
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

const CREDITS: CreditService<Credits> = CreditService {
    node: Credits,
    port: port!(50053),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("CREDITS_TOKEN"),
    limits: DefaultLimits::UNLIMITED,
};

const GATEWAY: ApiGateway<Gateway> = ApiGateway {
    node: Gateway,
    port: port!(8080),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("GATEWAY_TOKEN"),
    resources: MANAGER.api().dep(),
    resources_token: Secret::env("RESOURCES_TOKEN"),
    credits: CREDITS.api().dep(),
    credits_token: Secret::env("CREDITS_TOKEN"),
};

photon_dsl::topology! {
    name: "gateway",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Bus, Manager, Credits, Gateway],
    services: [CF, AUTH, BUS, MANAGER, CREDITS, GATEWAY],
}

fn main() {}

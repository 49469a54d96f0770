// Class 9, corrected: creditservice's default limits name resource kinds
// as DNS labels, its state in the chainfire cluster, its tenants
// photonauth's.
use chainfire::{Chainfire, Limits};
use creditservice::{CreditService, DefaultLimits};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    pub Kv1 = "kv-1";
    pub Kv2 = "kv-2";
    pub Kv3 = "kv-3";
    pub Auth1 = "auth";
    pub Credits = "credits";
}

const CF1: Chainfire<Kv1> = Chainfire { node: Kv1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF2: Chainfire<Kv2> = CF1.on(Kv2);
const CF3: Chainfire<Kv3> = CF1.on(Kv3);
const STATE: &[Dep<EtcdV3>] = &[CF1.kv().dep(), CF2.kv().dep(), CF3.kv().dep()];

const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: STATE, admin_token: Secret::env("AUTH_TOKEN") };

const CREDITS: CreditService<Credits> = CreditService {
    node: Credits,
    port: port!(50053),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("CREDITS_TOKEN"),
    limits: DefaultLimits { kinds: &[("bucket", 10), ("load-balancer", 2)], other: Some(100) },
};

photon_dsl::topology! {
    name: "credits",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Auth1, Credits],
    services: [CF1, CF2, CF3, AUTH, CREDITS],
}

fn main() {
    topology().check().unwrap();
    let _api: Endpoint<Credits, CreditApi> = CREDITS.api();
}

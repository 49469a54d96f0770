// A resource kind is a DNS label (it becomes part of keys and of other
// services' names): `Buckets` in creditservice's default limits is
// refused when the deployment builds.
use chainfire::{Chainfire, Limits};
use creditservice::{CreditService, DefaultLimits};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    pub Kv = "kv";
    pub Auth1 = "auth";
    pub Credits = "credits";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const STATE: &[Dep<EtcdV3>] = &[CF.kv().dep()];

const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: STATE, admin_token: Secret::env("AUTH_TOKEN") };

const CREDITS: CreditService<Credits> = CreditService {
    node: Credits,
    port: port!(50053),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("CREDITS_TOKEN"),
    limits: DefaultLimits { kinds: &[("Buckets", 10)], other: None },
};

photon_dsl::topology! {
    name: "credits",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Credits],
    services: [CF, AUTH, CREDITS],
}

fn main() {}

//! The platform with a highly available state store: a three-member
//! chainfire cluster holding everything, photonauth owning tenants and keys,
//! lightningstor checking requests through photonauth, and flashdns serving
//! the stored zone `vpc.internal` from chainfire. Every service lists all
//! three members, so losing any one of them (the leader too) loses nothing
//! acknowledged and stops nothing for longer than an election.
//!
//! `up` runs every node in one process on 127.0.1.1-6; on real machines run
//! `deploy-platform-ha run --node <name>` on each.

use chainfire::{Chainfire, Limits};
use flashdns::{FlashDns, Zone};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    /// State store member 1.
    pub Kv1 = "kv-1";
    /// State store member 2.
    pub Kv2 = "kv-2";
    /// State store member 3.
    pub Kv3 = "kv-3";
    /// The auth service.
    pub Auth1 = "auth";
    /// Holds the objects.
    pub Storage = "storage";
    /// Answers for `vpc.internal`.
    pub Dns = "dns";
}

const KV_1: Chainfire<Kv1> = Chainfire {
    node: Kv1,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};
const KV_2: Chainfire<Kv2> = KV_1.on(Kv2);
const KV_3: Chainfire<Kv3> = KV_1.on(Kv3);

/// Every member, so a client fails over when one is down.
const STATE: &[Dep<EtcdV3>] = &[KV_1.kv().dep(), KV_2.kv().dep(), KV_3.kv().dep()];

const AUTH: PhotonAuth<Auth1> = PhotonAuth {
    node: Auth1,
    port: port!(50051),
    state_store: STATE,
    admin_token: Secret::env("PHOTONAUTH_ADMIN_TOKEN"),
};

const PLATFORM: Mode = Mode::Integrated(Integration {
    state_store: STATE,
    auth: Auth::PhotonAuth(AUTH.api().dep()),
});

const KEY: AccessKey = AccessKey {
    id: "PHOTONADMIN",
    secret: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
};

const STORE: LightningStor<Storage> = LightningStor {
    mode: PLATFORM,
    ..LightningStor::new(Storage, KEY)
};

const DNS: FlashDns<Dns> = FlashDns {
    mode: Mode::Integrated(Integration {
        state_store: STATE,
        auth: Auth::Local,
    }),
    dns_port: port!(5300),
    ..FlashDns::new(Dns, &[Zone::stored("vpc.internal")])
};

photon_runtime::deployment! {
    name: "platform-ha",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Auth1, Storage, Dns],
    services: [KV_1, KV_2, KV_3, AUTH, STORE, DNS],
}

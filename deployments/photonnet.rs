//! photonnet on the platform: a three-member chainfire cluster holding
//! everything, photonauth owning tenants and their keys, photonnet keeping
//! tenants' VPCs, subnets and addresses, and flashdns serving the VPC zone
//! `vpc.internal` that photonnet writes each named address into.
//!
//! ```text
//! PHOTONAUTH_ADMIN_TOKEN=... PHOTONNET_ADMIN_TOKEN=... cargo run -p deploy-photonnet -- up
//! photonctl net --endpoint http://127.0.1.5:50052 --token-file admin.token \
//!     vpc create --tenant acme --name prod --cidr 10.0.0.0/16
//! dig @127.0.1.6 -p 5300 web.prod.acme.vpc.internal
//! ```

use chainfire::{Chainfire, Limits};
use flashdns::{FlashDns, Zone};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;
use photonnet::{PhotonNet, VpcDns};

nodes! {
    /// State store member 1.
    pub Kv1 = "kv-1";
    /// State store member 2.
    pub Kv2 = "kv-2";
    /// State store member 3.
    pub Kv3 = "kv-3";
    /// The auth service.
    pub Auth1 = "auth";
    /// The network service.
    pub Net = "net";
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

const NET: PhotonNet<Net> = PhotonNet {
    node: Net,
    port: port!(50052),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("PHOTONNET_ADMIN_TOKEN"),
    dns: VpcDns::Zone {
        zone: "vpc.internal",
        server: DNS.dns().dep(),
    },
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
    name: "photonnet",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Auth1, Net, Dns],
    services: [KV_1, KV_2, KV_3, AUTH, NET, DNS],
}

// photonnet publishing its VPC names into a zone the named flashdns does
// not keep in chainfire (it keeps `apps.internal`).
use chainfire::{Chainfire, Limits};
use flashdns::{AutoReload, FlashDns, RateLimit, Zone, ZoneFileLimits};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;
use photonnet::{PhotonNet, VpcDns};

nodes! {
    pub Kv1 = "kv-1";
    pub Kv2 = "kv-2";
    pub Kv3 = "kv-3";
    pub Auth1 = "auth";
    pub Net = "net";
    pub Dns = "dns";
}

const CF1: Chainfire<Kv1> = Chainfire { node: Kv1, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const CF2: Chainfire<Kv2> = CF1.on(Kv2);
const CF3: Chainfire<Kv3> = CF1.on(Kv3);
const STATE: &[Dep<EtcdV3>] = &[CF1.kv().dep(), CF2.kv().dep(), CF3.kv().dep()];

const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: STATE, admin_token: Secret::env("AUTH_TOKEN") };

const NET: PhotonNet<Net> = PhotonNet {
    node: Net,
    port: port!(50052),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: Secret::env("NET_TOKEN"),
    dns: VpcDns::Zone {
        zone: "vpc.internal",
        server: DNS.dns().dep(),
    },
};

const DNS: FlashDns<Dns> = FlashDns {
    node: Dns,
    mode: Mode::Integrated(Integration { state_store: STATE, auth: Auth::Local }),
    dns_port: port!(5300),
    admin_port: port!(8053),
    zones: &[Zone::stored("apps.internal")],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_dsl::topology! {
    name: "vpc",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv1, Kv2, Kv3, Auth1, Net, Dns],
    services: [CF1, CF2, CF3, AUTH, NET, DNS],
}

fn main() {}

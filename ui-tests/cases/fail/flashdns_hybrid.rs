// flashdns in hybrid mode: photonauth checks none of its requests, so
// there is nothing to integrate but its zones, which is integrated mode.
use chainfire::{Chainfire, Limits};
use flashdns::{AutoReload, FlashDns, RateLimit, Zone, ZoneFileLimits};
use photon_dsl::prelude::*;
use photonauth::PhotonAuth;

nodes! {
    pub Kv = "kv";
    pub Auth1 = "auth";
    pub Dns = "dns";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };
const AUTH: PhotonAuth<Auth1> = PhotonAuth { node: Auth1, port: port!(50051), state_store: &[CF.kv().dep()], admin_token: Secret::env("ADMIN_TOKEN") };

const DNS: FlashDns<Dns> = FlashDns {
    node: Dns,
    mode: Mode::Hybrid(Hybrid {
        state_store: &[CF.kv().dep()],
        metadata: Kept::Local,
        auth: Auth::PhotonAuth(AUTH.api().dep()),
    }),
    dns_port: port!(5300),
    admin_port: port!(8053),
    zones: &[Zone::stored("vpc.internal")],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_dsl::topology! {
    name: "dns",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Auth1, Dns],
    services: [CF, AUTH, DNS],
}

fn main() {}

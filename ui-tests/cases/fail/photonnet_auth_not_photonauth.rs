// photonnet's tenants are photonauth's: its `auth` slot takes photonauth's
// endpoint, and a chainfire endpoint there is a type error.
use chainfire::{Chainfire, Limits};
use photon_dsl::prelude::*;
use photonnet::{PhotonNet, VpcDns};

nodes! {
    pub Kv = "kv";
    pub Net = "net";
}

const CF: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };

const NET: PhotonNet<Net> = PhotonNet {
    node: Net,
    port: port!(50052),
    state_store: &[CF.kv().dep()],
    auth: CF.kv().dep(),
    admin_token: Secret::env("NET_TOKEN"),
    dns: VpcDns::Off,
};

photon_dsl::topology! {
    name: "vpc",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Net],
    services: [CF, NET],
}

fn main() {}

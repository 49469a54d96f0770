// Alerts sent to the DNS server.
use flashdns::{FlashDns, Zone};
use nightlight::{NightLight, Webhook};
use photon_dsl::prelude::*;

nodes! {
    pub Dns = "dns";
    pub Obs = "obs";
}

const DNS: FlashDns<Dns> = FlashDns::new(Dns, &[Zone::file("example.com", "/etc/zones/example.com.zone")]);

const METRICS: NightLight<Obs> = NightLight {
    webhook: Webhook::To(DNS.dns().dep()),
    ..NightLight::new(Obs)
};

photon_dsl::topology! {
    name: "observed",
    version: "1.0.0",
    branch: "main",
    nodes: [Dns, Obs],
    services: [DNS, METRICS],
}

fn main() {}

// Class 11, corrected: nightlight scraping every /metrics of the topology
// (none listed), one target outside it named as such, an alert rule whose
// expression checks, and a webhook receiver outside the topology.
use flashdns::{FlashDns, Zone};
use lightningstor::{AccessKey, LightningStor};
use nightlight::{AlertRule, Collection, NightLight, Outside, Webhook};
use photon_dsl::prelude::*;

nodes! {
    pub Storage = "storage";
    pub Dns = "dns";
    pub Obs = "obs";
}

const STORE: LightningStor<Storage> = LightningStor::new(Storage, AccessKey { id: "PHOTONADMIN", secret: Secret::env("S3_SECRET") });
const DNS: FlashDns<Dns> = FlashDns::new(Dns, &[Zone::file("example.com", "/etc/zones/example.com.zone")]);

const RULES: &[AlertRule] = &[AlertRule {
    name: "TargetDown",
    expr: "up == 0",
    hold: Duration::from_secs(60),
    labels: &[("severity", "page")],
    annotations: &[("summary", "a target stopped answering /metrics")],
}];

const METRICS: NightLight<Obs> = NightLight {
    collection: Collection { scrape_interval: Duration::from_secs(15), scrape_timeout: Duration::from_secs(10) },
    outside: &[Outside::outside_topology("node", "10.0.0.5:9100")],
    rules: RULES,
    webhook: Webhook::OutsideTopology("http://10.0.0.9:5000/alerts"),
    ..NightLight::new(Obs)
};

photon_dsl::topology! {
    name: "observed",
    version: "1.0.0",
    branch: "main",
    nodes: [Storage, Dns, Obs],
    services: [STORE, DNS, METRICS],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    // Both other services' admin listeners and nightlight's own.
    assert_eq!(t.metrics_endpoints().len(), 3);
}

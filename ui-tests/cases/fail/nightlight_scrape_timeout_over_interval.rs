// A scrape timeout longer than the interval: a slow target would be asked
// again before its last scrape gave up.
use nightlight::{Collection, NightLight};
use photon_dsl::prelude::*;

nodes! {
    pub Obs = "obs";
}

const METRICS: NightLight<Obs> = NightLight {
    collection: Collection { scrape_interval: Duration::from_secs(5), scrape_timeout: Duration::from_secs(10) },
    ..NightLight::new(Obs)
};

photon_dsl::topology! {
    name: "observed",
    version: "1.0.0",
    branch: "main",
    nodes: [Obs],
    services: [METRICS],
}

fn main() {}

// An alert rule whose expression leaves a bracket open.
use nightlight::{AlertRule, NightLight};
use photon_dsl::prelude::*;

nodes! {
    pub Obs = "obs";
}

const METRICS: NightLight<Obs> = NightLight {
    rules: &[AlertRule {
        name: "ErrorsHigh",
        expr: "sum(rate(http_requests_total{code=~\"5..\"}[5m]) > 1",
        hold: Duration::from_secs(300),
        labels: &[],
        annotations: &[],
    }],
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

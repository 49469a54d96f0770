//! Observed: chainfire, lightningstor and flashdns, with nightlight
//! scraping every one of them (design §2.4). No scrape target is written:
//! nightlight's targets are every `/metrics` the compiled topology serves
//! (each service's admin listener, nightlight's own included), found when
//! it starts, so a service added here is scraped with no second line.
//! `plan` lists the targets it derived.
//!
//! ```text
//! cargo run -p deploy-observed -- up --local-secrets
//! curl -s 'http://127.0.1.4:9090/api/v1/query?query=up'        # one series per /metrics, 1 when up
//! promtool query instant http://127.0.1.4:9090 'sum by (job) (up)'
//! curl -s 'http://127.0.1.4:9090/api/v1/targets'               # each target, its last scrape and error
//! ```

use chainfire::Chainfire;
use flashdns::{FlashDns, Rec, RecData, Soa, Zone, ZoneData};
use lightningstor::{AccessKey, LightningStor};
use nightlight::{Collection, NightLight};
use photon_dsl::prelude::*;

nodes! {
    /// The registry the other services join.
    pub Kv = "kv";
    /// Holds the objects.
    pub Storage = "storage";
    /// Answers for `site.internal`.
    pub Dns = "dns";
    /// Keeps the metrics.
    pub Obs = "obs";
}

const REGISTRY: Chainfire<Kv> = Chainfire::new(Kv);

const JOINED: Integration = Integration {
    state_store: &[REGISTRY.kv().dep()],
    auth: Auth::Local,
};

const STORE: LightningStor<Storage> = LightningStor {
    mode: Mode::Hybrid(Hybrid {
        state_store: JOINED.state_store,
        metadata: Kept::Local,
        auth: Auth::Local,
    }),
    ..LightningStor::new(
        Storage,
        AccessKey {
            id: "PHOTONADMIN",
            secret: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
        },
    )
};

const SITE: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa {
        serial: 2026120501,
        ..Soa::DEFAULT
    },
    records: &[
        Rec::new("@", RecData::Ns("ns1")),
        Rec::node("ns1", Dns),
        Rec::node("s3", Storage),
        Rec::node("metrics", Obs),
    ],
};

const DNS: FlashDns<Dns> = FlashDns {
    mode: Mode::Integrated(JOINED),
    dns_port: port!(5300),
    ..FlashDns::new(Dns, &[Zone::records("site.internal", &SITE)])
};

/// Every target every 5 s (the design's 15 s is `NightLight::new`'s).
const METRICS: NightLight<Obs> = NightLight {
    collection: Collection {
        scrape_interval: Duration::from_secs(5),
        scrape_timeout: Duration::from_secs(4),
    },
    ..NightLight::new(Obs)
};

photon_runtime::deployment! {
    name: "observed",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Storage, Dns, Obs],
    services: [REGISTRY, STORE, DNS, METRICS],
}

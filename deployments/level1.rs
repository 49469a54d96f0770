//! Level 1, storage and DNS (docs/design.md §4.3): lightningstor and
//! flashdns, each standalone on its node, for hosting files under your own
//! names. The design has the operator copy the storage node's address into
//! the zone by hand; here the zone's records for it come from the
//! topology (`Rec::node`), so moving the store moves its name with it.
//! Buckets are reached by name too: `photos.s3.site.internal` is bucket
//! `photos` (virtual-hosted, `base_domain`), the wildcard record sending
//! every bucket's name to the store.
//!
//! ```text
//! export LIGHTNINGSTOR_SECRET_KEY=$(openssl rand -hex 20)
//! cargo run -p deploy-level1 -- up                # S3 on 127.0.1.1:9000, DNS on 127.0.1.2:5300
//! dig @127.0.1.2 -p 5300 s3.site.internal         # the store's address
//! dig @127.0.1.2 -p 5300 photos.s3.site.internal  # the same: any bucket's name
//! ```

use flashdns::{FlashDns, Rec, RecData, Soa, Zone, ZoneData};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    /// Holds the files.
    pub Storage = "storage";
    /// Answers for `site.internal`.
    pub Dns = "dns";
}

const KEY: AccessKey = AccessKey {
    id: "PHOTONADMIN",
    secret: Secret::env("LIGHTNINGSTOR_SECRET_KEY"),
};

const STORE: LightningStor<Storage> = LightningStor {
    base_domain: Some(host!("s3.site.internal")),
    ..LightningStor::new(Storage, KEY)
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
        Rec::node("*.s3", Storage),
        Rec::new("assets", RecData::Cname("s3")),
    ],
};

const DNS: FlashDns<Dns> = FlashDns {
    dns_port: port!(5300),
    ..FlashDns::new(Dns, &[Zone::records("site.internal", &SITE)])
};

photon_runtime::deployment! {
    name: "level1",
    version: "1.0.0",
    branch: "main",
    nodes: [Storage, Dns],
    services: [STORE, DNS],
}

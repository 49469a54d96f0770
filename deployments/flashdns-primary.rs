//! A primary name server as an operator runs one: two zones from BIND zone
//! files under `zones/` (one DNSSEC-signed with a key file the operator
//! keeps), transfers to the two secondaries only, files re-read every 30
//! seconds. `export-config` prints the same server as the standalone TOML
//! `flashdns-server` reads.
//!
//! ```text
//! deploy-flashdns-primary export-config --node ns1 --service flashdns > flashdns.toml
//! flashdns-server --config flashdns.toml
//! ```

use std::net::{IpAddr, Ipv4Addr};

use flashdns::{
    AutoReload, FlashDns, RateLimit, Signing, SigningAlgorithm, SigningKey, Zone, ZoneFileLimits,
};
use photon_dsl::prelude::*;

nodes! {
    /// The primary.
    pub Ns1 = "ns1";
}

const PRIMARY: FlashDns<Ns1> = FlashDns {
    node: Ns1,
    mode: Mode::Standalone,
    dns_port: port!(5300),
    admin_port: port!(8053),
    zones: &[
        Zone::file("example.com", "zones/example.com.zone").signed(Signing {
            algorithm: SigningAlgorithm::Ed25519,
            key: SigningKey::PemFile("keys/example.com.pem"),
            signature_days: 21,
        }),
        Zone::file("example.net", "zones/example.net.zone").default_ttl(300),
    ],
    axfr_allow: &[
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)),
    ],
    notify: &[],
    auto_reload: AutoReload::EverySeconds(30),
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_runtime::deployment! {
    name: "flashdns-primary",
    version: "1.0.0",
    branch: "main",
    nodes: [Ns1],
    services: [PRIMARY],
}

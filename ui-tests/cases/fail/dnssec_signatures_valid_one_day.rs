// DNSSEC signatures valid for one day: re-signed at half their validity,
// that leaves validators half a day of margin for an outage.
use flashdns::{AutoReload, FlashDns, Signing, Zone, ZoneFileLimits, RateLimit};
use photon_dsl::prelude::*;

nodes! {
    pub Ns = "ns";
}

const DNS: FlashDns<Ns> = FlashDns {
    node: Ns,
    mode: Mode::Standalone,
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[Zone::file("example.com", "zones/example.com.zone")
        .signed(Signing { signature_days: 1, ..Signing::DEFAULT })],
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
    nodes: [Ns],
    services: [DNS],
}

fn main() {}

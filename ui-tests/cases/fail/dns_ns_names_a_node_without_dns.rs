// The zone names `ns2`, the web server's node, as its second name server:
// resolvers sent there would get no answer, since nothing on it serves DNS.
use echo::EchoServer;
use flashdns::{AutoReload, FlashDns, Rec, RecData, Soa, Zone, ZoneData, ZoneFileLimits, RateLimit};
use photon_dsl::prelude::*;

nodes! {
    pub Ns = "ns";
    pub Web = "web";
}

const ZONE: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa { primary: "ns1", admin: "hostmaster", serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 },
    records: &[
        Rec::new("@", RecData::Ns("ns1")),
        Rec::new("@", RecData::Ns("ns2.example.com.")),
        Rec::node("ns1", Ns),
        Rec::node("ns2", Web),
        Rec::node("www", Web),
    ],
};

const DNS: FlashDns<Ns> = FlashDns {
    node: Ns,
    mode: Mode::Standalone,
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[Zone::records("example.com", &ZONE)],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

const WEB: EchoServer<Web> = EchoServer { node: Web, port: port!(8080), prefix: path!("echo"), token: None };

photon_dsl::topology! {
    name: "dns",
    version: "1.0.0",
    branch: "main",
    nodes: [Ns, Web],
    services: [DNS, WEB],
}

fn main() {}

// flashdns, corrected: typed records take addresses from declared nodes
// and ports from endpoints; every in-zone target names a record; a file zone signed with DNSSEC; lightningstor's
// state store is chainfire, not the DNS server; the notified secondary may
// transfer the zones.
use chainfire::{Chainfire, Limits};
use flashdns::{AutoReload, FlashDns, Rec, RecData, Signing, SigningAlgorithm, SigningKey, Soa, Zone, ZoneData, ZoneFileLimits, RateLimit};
use photon_dsl::prelude::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

nodes! {
    pub Ns = "ns";
    pub Kv = "kv";
}

const SECONDARY: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53));

const CHAINFIRE: Chainfire<Kv> = Chainfire { node: Kv, client_port: port!(2379), peer_port: port!(2380), limits: Limits::DEFAULT };

const INTERNAL: ZoneData = ZoneData {
    ttl: 300,
    soa: Soa { primary: "ns", admin: "hostmaster", serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 },
    records: &[
        Rec::new("@", RecData::Ns("ns")),
        Rec::node("ns", Ns),
        Rec::node("kv", Kv),
        Rec::srv("_etcd-client._tcp", 0, 0, "kv", CHAINFIRE.kv()),
        Rec::new("www", RecData::A(Ipv4Addr::new(192, 0, 2, 2))),
        Rec::new("shop", RecData::Cname("www")),
        Rec::new("@", RecData::Mx { preference: 10, exchange: "www.internal.example." }),
    ],
};

const DNS: FlashDns<Ns> = FlashDns {
    node: Ns,
    mode: Mode::Standalone,
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[
        Zone::records("internal.example", &INTERNAL),
        Zone::file("example.com", "zones/example.com.zone").signed(Signing {
            algorithm: SigningAlgorithm::Ed25519,
            key: SigningKey::PemFile("/etc/flashdns/example.com.pem"),
            signature_days: 14,
        }),
    ],
    axfr_allow: &[SECONDARY],
    notify: &[SocketAddr::new(SECONDARY, 53)],
    auto_reload: AutoReload::EverySeconds(60),
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_dsl::topology! {
    name: "dns",
    version: "1.0.0",
    branch: "main",
    nodes: [Ns, Kv],
    services: [CHAINFIRE, DNS],
}

fn main() {
    let t = topology();
    t.check().unwrap();
    let dns = &t.services()[1].decl;
    assert_eq!(dns.node_ref_count(), 2, "ns and kv, each once");
}

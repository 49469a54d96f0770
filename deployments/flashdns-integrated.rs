//! flashdns integrated with the platform's state store: chainfire on one
//! node, flashdns on another (the design's "+chainfire" step for DNS). Its
//! zone `vpc.internal` is kept in chainfire, so records added there are
//! served within a second, by every flashdns of the cluster.
//!
//! ```text
//! cargo run -p deploy-flashdns-integrated -- up
//! photonctl dns --endpoint http://127.0.1.1:2379 --cluster flashdns-integrated \
//!     create --zone vpc.internal --file vpc.internal.zone
//! photonctl dns --endpoint http://127.0.1.1:2379 --cluster flashdns-integrated \
//!     add --zone vpc.internal 'web-1 60 IN A 10.0.0.5'
//! dig @127.0.1.2 -p 5300 web-1.vpc.internal
//! ```

use chainfire::{Chainfire, Limits};
use flashdns::{AutoReload, FlashDns, RateLimit, Zone, ZoneFileLimits};
use photon_dsl::prelude::*;

nodes! {
    /// The state store.
    pub Kv = "kv";
    /// Answers for `vpc.internal`.
    pub Dns = "dns";
}

const STATE: Chainfire<Kv> = Chainfire {
    node: Kv,
    client_port: port!(2379),
    peer_port: port!(2380),
    limits: Limits::DEFAULT,
};

const DNS: FlashDns<Dns> = FlashDns {
    node: Dns,
    mode: Mode::Integrated(Integration {
        state_store: &[STATE.kv().dep()],
        auth: Auth::Local,
    }),
    dns_port: port!(5300),
    admin_port: port!(8053),
    zones: &[Zone::stored("vpc.internal")],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

photon_runtime::deployment! {
    name: "flashdns-integrated",
    version: "1.0.0",
    branch: "main",
    nodes: [Kv, Dns],
    services: [STATE, DNS],
}

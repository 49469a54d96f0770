// lightningstor's state store wired to the DNS server instead of chainfire.
use flashdns::{AutoReload, FlashDns, ZoneFileLimits, RateLimit};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;

nodes! {
    pub Ns = "ns";
    pub Store = "store";
}

const DNS: FlashDns<Ns> = FlashDns {
    node: Ns,
    mode: Mode::Standalone,
    dns_port: port!(53),
    admin_port: port!(8053),
    zones: &[],
    axfr_allow: &[],
    notify: &[],
    auto_reload: AutoReload::Off,
    file_limits: ZoneFileLimits::DEFAULT,
    rate_limit: RateLimit::Off,
};

const STORE: LightningStor<Store> = LightningStor {
    node: Store,
    s3_port: port!(9001),
    admin_port: port!(9000),
    access_key: AccessKey { id: "AKIAIOSFODNN7EXAMPLE", secret: Secret::env("S3_SECRET_KEY") },
    base_domain: None,
    storage: lightningstor::Storage::DEFAULT,
    mode: Mode::Integrated(Integration {
        state_store: &[DNS.dns().dep()],
        auth: Auth::Local,
    }),
};

fn main() {}

//! The level-3 platform (docs/design.md §4.5), written once and shared by
//! `deploy-level3` (one machine, or staging) and `deploy-prod` (named
//! hosts): a three-member chainfire cluster holding all state, photonauth
//! owning tenants and keys, photonnet's VPCs named in flashdns,
//! lightningstor checking every request through photonauth, and fiberlb in
//! front of the store, its name published into DNS. Everything runs
//! integrated.
//!
//! What a site changes it gives as `super::SITE` (a [`Site`]): the
//! including file says only where it differs.

use chainfire::Chainfire;
use fiberlb::{Backend, Check, FiberLb, Health, HttpStickiness, L7, Method, Publish};
use flashdns::{FlashDns, Zone};
use lightningstor::{AccessKey, LightningStor};
use photon_dsl::prelude::*;
use photon_dsl::protocol::S3;
use photonauth::PhotonAuth;
use photonnet::{PhotonNet, VpcDns};

use super::SITE;

/// What one site of the platform sets for itself.
pub struct Site {
    /// photonauth's operator token.
    pub photonauth_admin: Secret,
    /// photonnet's operator token.
    pub photonnet_admin: Secret,
    /// The store's operator key's secret (the key id is `PHOTONADMIN`).
    pub storage_key: Secret,
    /// Where flashdns answers (53 on real hosts).
    pub dns_port: Port,
}

nodes! {
    /// State store member 1.
    pub Kv1 = "kv-1";
    /// State store member 2.
    pub Kv2 = "kv-2";
    /// State store member 3.
    pub Kv3 = "kv-3";
    /// Tenants, users, keys and tokens.
    pub Auth1 = "auth";
    /// VPCs, subnets and addresses.
    pub Net = "net";
    /// Holds the objects.
    pub Storage = "storage";
    /// Answers for the VPCs' names and the platform's.
    pub NameServer = "dns";
    /// The balancer in front of the store.
    pub Edge = "edge";
}

pub const KV_1: Chainfire<Kv1> = Chainfire::new(Kv1);
pub const KV_2: Chainfire<Kv2> = KV_1.on(Kv2);
pub const KV_3: Chainfire<Kv3> = KV_1.on(Kv3);

/// Every member, so a client fails over when one is down.
const STATE: &[Dep<EtcdV3>] = &[KV_1.kv().dep(), KV_2.kv().dep(), KV_3.kv().dep()];

pub const AUTH: PhotonAuth<Auth1> = PhotonAuth {
    node: Auth1,
    port: port!(50051),
    state_store: STATE,
    admin_token: SITE.photonauth_admin,
};

/// Integrated, each request checked by photonauth.
const TENANTED: Mode = Mode::Integrated(Integration {
    state_store: STATE,
    auth: Auth::PhotonAuth(AUTH.api().dep()),
});

/// Integrated, taking no tenant's requests (DNS answers anyone; the
/// balancer forwards requests the store checks).
const JOINED: Mode = Mode::Integrated(Integration {
    state_store: STATE,
    auth: Auth::Local,
});

/// The zone of the VPCs' names (`web.prod.acme.vpc.internal`).
pub const VPC_ZONE: &str = "vpc.internal";
/// The zone of the platform's own names (`s3.cloud.internal`).
pub const CLOUD_ZONE: &str = "cloud.internal";

pub const NET: PhotonNet<Net> = PhotonNet {
    node: Net,
    port: port!(50052),
    state_store: STATE,
    auth: AUTH.api().dep(),
    admin_token: SITE.photonnet_admin,
    dns: VpcDns::Zone {
        zone: VPC_ZONE,
        server: DNS.dns().dep(),
    },
};

pub const STORE: LightningStor<Storage> = LightningStor {
    mode: TENANTED,
    ..LightningStor::new(
        Storage,
        AccessKey {
            id: "PHOTONADMIN",
            secret: SITE.storage_key,
        },
    )
};

pub const DNS: FlashDns<NameServer> = FlashDns {
    mode: JOINED,
    dns_port: SITE.dns_port,
    ..FlashDns::new(
        NameServer,
        &[Zone::stored(VPC_ZONE), Zone::stored(CLOUD_ZONE)],
    )
};

/// S3 through the balancer, which asks the store's `/health` twice a
/// second; tenants' signatures pass through untouched.
const S3_FRONT: L7<S3> = L7 {
    name: "s3",
    port: port!(9000),
    backends: &[Backend::of(STORE.s3().dep())],
    routes: &[],
    method: Method::RoundRobin,
    health: Health {
        check: Check::Protocol,
        interval: Duration::from_millis(500),
        ..Health::DEFAULT
    },
    stickiness: HttpStickiness::None,
    tls: None,
    request_timeout: Duration::from_secs(60),
};

/// Publishes `s3.cloud.internal` (and `backends.s3.cloud.internal`).
pub const LB: FiberLb<Edge> = FiberLb {
    mode: JOINED,
    publish: Publish::Dns {
        zone: CLOUD_ZONE,
        server: DNS.dns().dep(),
    },
    ..FiberLb::new(Edge, &[S3_FRONT.balancer()])
};

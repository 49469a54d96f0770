//! `deploy-level3`, the integrated platform, driven as its users would: a
//! tenant and its key made in photonauth; objects stored and listed with
//! the AWS SDK under that key, through fiberlb, found by its published
//! name (`s3.cloud.internal`) through flashdns; addresses allocated in
//! photonnet by several clients at once, none twice, each named in DNS;
//! another tenant refused everywhere. Brought up with `up`, stopped with
//! SIGTERM and brought up again with everything still there; and run as
//! one process per node (`run --node`), as on real hosts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use e2e::auth::{ALLOW_ALL, key_token, user_with_key};
use e2e::net::Net;
use e2e::{Loopback, Running};
use hickory_proto::rr::RecordType;
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonnet::api::AUDIENCE;

const AUTH_TOKEN: &str = "level3-auth-admin-0123456789";
const NET_TOKEN: &str = "level3-net-admin-0123456789";
const STORE_SECRET: &str = "level3-store-secret-0123456789";
/// Allocating clients, and allocations each.
const ALLOCATORS: usize = 4;
const EACH: usize = 6;

fn env() -> [(&'static str, &'static str); 3] {
    [
        ("PHOTONAUTH_ADMIN_TOKEN", AUTH_TOKEN),
        ("PHOTONNET_ADMIN_TOKEN", NET_TOKEN),
        ("LIGHTNINGSTOR_SECRET_KEY", STORE_SECRET),
    ]
}

/// The `A` addresses of `name`, sorted, once there are some; fails the
/// test if there are none within 10 s.
async fn addresses_of(dns: &e2e::dns::DnsClient, name: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = e2e::dns::ask(dns, name, RecordType::A).await;
        let mut found: Vec<String> = e2e::dns::lines(&answer.answers)
            .iter()
            .filter_map(|l| l.rsplit(' ').next().map(str::to_owned))
            .collect();
        found.sort();
        if !found.is_empty() {
            return found;
        }
        assert!(Instant::now() < deadline, "{name}: no address after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the first visit made, for the visit after a restart.
struct Made {
    acme_key: (String, String),
    body: Vec<u8>,
    addresses: HashSet<String>,
}

/// A tenant's whole day on the platform at `net`.
async fn first_visit(net: &Loopback) -> Made {
    // A tenant and a key, made by the operator in photonauth.
    let mut auth = PhotonAuthClient::connect(net.url(4, 50051)).await.unwrap();
    let acme_key = user_with_key(&mut auth, AUTH_TOKEN, "acme", "alice", ALLOW_ALL).await;
    let rival_key = user_with_key(&mut auth, AUTH_TOKEN, "rival", "bob", ALLOW_ALL).await;

    // The store is found by the name fiberlb publishes, and reached
    // through the balancer with the tenant's key.
    let dns = e2e::dns::udp(net.addr(7, 5300).parse().unwrap(), None);
    let front = addresses_of(&dns, "s3.cloud.internal.").await;
    assert_eq!(front, [net.ip(8)], "the balancer's address");
    let endpoint = format!("http://{}:9000", front[0]);
    let acme = e2e::s3::client_with(&endpoint, &acme_key.0, &acme_key.1);
    acme.create_bucket()
        .bucket("acme-site")
        .send()
        .await
        .unwrap();
    let body = e2e::s3::pattern(200_000, 5);
    acme.put_object()
        .bucket("acme-site")
        .key("index.html")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let listed = acme
        .list_objects_v2()
        .bucket("acme-site")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
    assert_eq!(
        e2e::s3::get_bytes(&acme, "acme-site", "index.html").await,
        body
    );

    // Another tenant sees none of it and reaches none of it.
    let rival = e2e::s3::client_with(&endpoint, &rival_key.0, &rival_key.1);
    let theirs = rival.list_buckets().send().await.unwrap();
    assert!(theirs.buckets().is_empty(), "{theirs:?}");
    let refused = rival
        .get_object()
        .bucket("acme-site")
        .key("index.html")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e2e::s3::code(&refused), "AccessDenied");

    // A VPC and a subnet, and addresses allocated by several clients at
    // once: none handed out twice, each named in DNS.
    let api = net.url(5, 50052);
    let token = key_token(&mut auth, &acme_key, AUDIENCE).await;
    let mut tenant = Net::connect(&api, &token).await;
    tenant.vpc("prod", "10.20.0.0/16").await.unwrap();
    tenant.subnet("prod", "web", "10.20.1.0/24").await.unwrap();
    let mut allocating = tokio::task::JoinSet::new();
    for c in 0..ALLOCATORS {
        let mut client = tenant.clone();
        allocating.spawn(async move {
            let mut got = Vec::new();
            for i in 0..EACH {
                let name = format!("vm-{c}-{i}");
                let allocation = client.allocate("prod", "web", &name).await.unwrap();
                got.push((name, allocation.address));
            }
            got
        });
    }
    let mut addresses = HashSet::new();
    let mut named = Vec::new();
    while let Some(got) = allocating.join_next().await {
        for (name, address) in got.unwrap() {
            assert!(
                addresses.insert(address.clone()),
                "{address} handed out twice"
            );
            named.push((name, address));
        }
    }
    assert_eq!(addresses.len(), ALLOCATORS * EACH);
    for (name, address) in named.iter().take(3) {
        let fqdn = format!("{name}.prod.acme.vpc.internal.");
        assert_eq!(
            addresses_of(&dns, &fqdn).await,
            std::slice::from_ref(address)
        );
    }
    let rival_token = key_token(&mut auth, &rival_key, AUDIENCE).await;
    let mut rival_net = Net::connect(&api, &rival_token).await;
    let status = rival_net
        .allocate("prod", "web", "intruder")
        .await
        .unwrap_err();
    assert_ne!(status.code(), tonic::Code::Ok);
    assert_eq!(
        tenant.allocations("prod", "web").await.len(),
        addresses.len()
    );

    Made {
        acme_key,
        body,
        addresses,
    }
}

/// After the first visit: every `/metrics` of the platform passes
/// `promtool check metrics`, and each front end counted what the visit
/// asked of it by operation, failures apart.
async fn metrics_break_down_by_operation(net: &Loopback) {
    let mut all = String::new();
    let urls = e2e::prometheus::metrics_urls("level3", net);
    assert!(urls.len() >= 8, "every service serves /metrics: {urls:?}");
    for url in &urls {
        let (base, path) = url.split_at(url.rfind('/').unwrap());
        let (status, text) = e2e::http_get(base, path).await;
        assert_eq!(status, 200, "{url}");
        e2e::prometheus::check_metrics(url, &text);
        all.push_str(&text);
    }
    let counted = |prefix: &str| {
        all.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    for (series, why) in [
        (
            "lightningstor_requests_total{operation=\"PutObject\",class=\"2xx\"}",
            "objects stored",
        ),
        (
            "lightningstor_requests_total{operation=\"GetObject\",class=\"2xx\"}",
            "objects read",
        ),
        (
            "flashdns_responses_total{qtype=\"A\",rcode=\"NOERROR\"}",
            "names resolved",
        ),
        (
            "photonnet_requests_total{operation=\"photonnet.v1.PhotonNet/Allocate\",code=\"OK\"}",
            "addresses allocated",
        ),
        (
            "photonauth_requests_total{operation=\"photonauth.v1.PhotonAuth/",
            "tenants, users and keys made",
        ),
        (
            "chainfire_requests_total{operation=\"etcdserverpb.KV/",
            "state kept in chainfire",
        ),
        (
            "chainfire_request_duration_seconds_count{operation=\"etcdserverpb.KV/Txn\"}",
            "transactions timed",
        ),
    ] {
        assert!(counted(series) > 0, "no {series} ({why}) in:\n{all}");
    }
    // the rival's refused allocation is counted as what it was
    assert!(
        all.lines().any(|l| l
            .starts_with("photonnet_requests_total{operation=\"photonnet.v1.PhotonNet/Allocate\"")
            && !l.contains("code=\"OK\"")),
        "no refused allocation in:\n{all}"
    );
}

/// After a restart: the object, the allocations and their names are all
/// there.
async fn after_restart(net: &Loopback, made: &Made) {
    let dns = e2e::dns::udp(net.addr(7, 5300).parse().unwrap(), None);
    let front = addresses_of(&dns, "s3.cloud.internal.").await;
    let endpoint = format!("http://{}:9000", front[0]);
    let acme = e2e::s3::client_with(&endpoint, &made.acme_key.0, &made.acme_key.1);
    assert_eq!(
        e2e::s3::get_bytes(&acme, "acme-site", "index.html").await,
        made.body
    );
    let mut auth = PhotonAuthClient::connect(net.url(4, 50051)).await.unwrap();
    let token = key_token(&mut auth, &made.acme_key, AUDIENCE).await;
    let mut tenant = Net::connect(&net.url(5, 50052), &token).await;
    let kept: HashSet<String> = tenant
        .allocations("prod", "web")
        .await
        .into_iter()
        .map(|a| a.address)
        .collect();
    assert_eq!(kept, made.addresses);
    let one = addresses_of(&dns, "vm-0-0.prod.acme.vpc.internal.").await;
    assert!(made.addresses.contains(&one[0]), "{one:?}");
}

/// `deploy-level3 up` on `net`, its state under `state`.
fn up(net: &Loopback, state: &std::path::Path) -> Running {
    Running::up("level3", net, state, &env(), Duration::from_secs(90))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level3_serves_tenants_through_every_component_and_keeps_it_all_across_a_restart() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut running = up(&net, state.path());
    let made = first_visit(&net).await;
    metrics_break_down_by_operation(&net).await;
    running.signal("TERM");
    assert!(
        running.wait(Duration::from_secs(60)).0.success(),
        "{}",
        running.log()
    );
    let _again = up(&net, state.path());
    after_restart(&net, &made).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level3_runs_as_one_process_per_node() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let base = net.to_string();
    let env = env();
    let nodes = [
        "kv-1", "kv-2", "kv-3", "auth", "dns", "net", "storage", "edge",
    ];
    let mut running: Vec<Running> = nodes
        .iter()
        .map(|node| e2e::etcd::run_node_with_env("level3", node, &base, state.path(), &env))
        .collect();
    for (node, process) in nodes.iter().zip(&mut running) {
        process.wait_for("all services started", Duration::from_secs(90));
        assert!(process.is_running(), "{node}: {}", process.log());
    }
    first_visit(&net).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_local_secrets_makes_them_for_this_machine_once_and_says_so() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let start = || {
        let mut running = Running::start(
            "level3",
            &[
                "up",
                "--local-secrets",
                "--loopback-base",
                &net.base(),
                "--state-dir",
                state.path().to_str().unwrap(),
            ],
        );
        running.wait_for("all services started", Duration::from_secs(90));
        running
    };
    let mut first = start();
    // How to reach it is said once everything is up, the balancer last.
    let edge = first.wait_for("reach", Duration::from_secs(10));
    assert!(edge.contains("node=kv-1"), "{edge}");
    first.wait_for(
        "reach node=edge service=fiberlb listener=\"s3\"",
        Duration::from_secs(10),
    );
    let log = first.log();
    for variable in [
        "PHOTONAUTH_ADMIN_TOKEN",
        "PHOTONNET_ADMIN_TOKEN",
        "LIGHTNINGSTOR_SECRET_KEY",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("LOCAL USE ONLY") && l.contains(variable)),
            "{variable} not announced:\n{log}"
        );
    }
    let file = state
        .path()
        .join("level3/local-secrets/PHOTONAUTH_ADMIN_TOKEN");
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(!log.contains(&token), "the value is never logged");
    // It is the one in use: photonauth takes it as its operator token.
    let mut auth = PhotonAuthClient::connect(net.url(4, 50051)).await.unwrap();
    let request = photonauth::api::proto::ListTenantsRequest {};
    auth.list_tenants(e2e::auth::with_token(request, &token))
        .await
        .expect("the made token is photonauth's operator token");
    first.signal("TERM");
    assert!(
        first.wait(Duration::from_secs(60)).0.success(),
        "{}",
        first.log()
    );
    let mut second = start();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        token,
        "kept, not made again"
    );
    second.signal("TERM");
    assert!(
        second.wait(Duration::from_secs(60)).0.success(),
        "{}",
        second.log()
    );
}

//! The design's levels 0 and 1 (docs/design.md §4.2, §4.3), each brought
//! up with `up` and driven with the clients its users would use: the AWS
//! SDK for storage, a DNS client for names, HTTP through the balancer.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use e2e::http::Backend;
use e2e::{Loopback, Running};
use hickory_proto::rr::RecordType;

const SECRET: &str = "levels-secret-key-0123456789abcdef";

/// Deployment `name` up on `net`, its state in `state`.
fn up(name: &str, net: &Loopback, state: &std::path::Path) -> Running {
    let mut running = Running::start_with_env(
        &format!("level{name}"),
        &[
            "up",
            "--loopback-base",
            &net.base(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[("LIGHTNINGSTOR_SECRET_KEY", SECRET)],
    );
    running.wait_for("all services started", Duration::from_secs(60));
    running
}

/// The answers' data (`A` addresses, `CNAME` targets, ...), sorted.
async fn answers(dns: &e2e::dns::DnsClient, name: &str, rtype: RecordType) -> Vec<String> {
    let answer = e2e::dns::ask(dns, name, rtype).await;
    e2e::dns::lines(&answer.answers)
        .iter()
        .map(|line| line.splitn(5, ' ').nth(4).unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level0_storage_keeps_objects_across_a_restart() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut running = up("0-storage", &net, state.path());
    let s3 = e2e::s3::client_with(&net.url(1, 9000), "PHOTONADMIN", SECRET);
    s3.create_bucket().bucket("photos").send().await.unwrap();
    let body = e2e::s3::pattern(300_000, 3);
    s3.put_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    running.signal("TERM");
    assert!(
        running.wait(Duration::from_secs(30)).0.success(),
        "{}",
        running.log()
    );

    let _again = up("0-storage", &net, state.path());
    assert_eq!(
        e2e::s3::get_bytes(&s3, "photos", "2026/cat.jpg").await,
        body
    );
    let listed = s3.list_objects_v2().bucket("photos").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level0_dns_answers_its_zone() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let _running = up("0-dns", &net, state.path());
    let dns = e2e::dns::udp(net.addr(1, 5300).parse().unwrap(), None);
    assert_eq!(
        answers(&dns, "www.example.internal.", RecordType::A).await,
        ["192.0.2.10", "192.0.2.11"]
    );
    assert_eq!(
        answers(&dns, "ns1.example.internal.", RecordType::A).await,
        [net.ip(1)],
        "the name server's address is its node's"
    );
    assert_eq!(
        answers(&dns, "example.internal.", RecordType::MX).await,
        ["10 mail.example.internal."]
    );
    let app = answers(&dns, "app.example.internal.", RecordType::A).await;
    assert!(app.contains(&"www.example.internal.".to_owned()), "{app:?}");
    let missing = e2e::dns::ask(&dns, "nope.example.internal.", RecordType::A).await;
    assert_eq!(
        missing.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level0_lb_balances_servers_outside_the_topology_and_skips_a_sick_one() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    // The web servers the deployment names by address: not PhotonCloud's.
    let a = Backend::start("web-a", "127.0.5.1:8080").await;
    let b = Backend::start("web-b", "127.0.5.2:8080").await;
    let _running = up("0-lb", &net, state.path());
    let front = net.addr(1, 8080).parse().unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 {
        let answer = e2e::http::get(front, "www.example.internal", "/").await;
        if let Some(backend) = answer.backend() {
            seen.insert(backend.to_owned());
        }
        assert!(Instant::now() < deadline, "only {seen:?} answered");
    }
    assert_eq!(
        seen,
        BTreeSet::from(["web-a".to_owned(), "web-b".to_owned()])
    );

    // web-a says it is unwell: within a few checks, only web-b answers.
    a.set_health(503);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = a.requests();
    for _ in 0..10 {
        let answer = e2e::http::get(front, "www.example.internal", "/").await;
        assert_eq!(answer.backend(), Some("web-b"), "{}", answer.text());
    }
    assert_eq!(a.requests(), before, "no request went to the sick server");
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level1_names_the_store_from_the_topology_and_serves_files_under_them() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let _running = up("1", &net, state.path());
    let dns = e2e::dns::udp(net.addr(2, 5300).parse().unwrap(), None);
    // The store's name and every bucket's name are the storage node's
    // address: written once, in the topology.
    let store = answers(&dns, "s3.site.internal.", RecordType::A).await;
    assert_eq!(store, [net.ip(1)]);
    assert_eq!(
        answers(&dns, "photos.s3.site.internal.", RecordType::A).await,
        store
    );
    // Files go in and come out at the address the name gives.
    let s3 = e2e::s3::client_with(&format!("http://{}:9000", store[0]), "PHOTONADMIN", SECRET);
    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.put_object()
        .bucket("photos")
        .key("index.html")
        .body(ByteStream::from_static(b"<h1>hello</h1>"))
        .content_type("text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        e2e::s3::get_bytes(&s3, "photos", "index.html").await,
        b"<h1>hello</h1>"
    );
}

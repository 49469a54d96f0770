//! The design's levels 0 to 2 (docs/design.md §4.2 to §4.4), each brought
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
    let env = [("LIGHTNINGSTOR_SECRET_KEY", SECRET)];
    Running::up(
        &format!("level{name}"),
        net,
        state,
        &env,
        Duration::from_secs(60),
    )
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

/// `A` addresses of `name`, sorted, once they are `wanted`; fails the test
/// with what was answered last if they are not within 10 s.
async fn addresses_become(dns: &e2e::dns::DnsClient, name: &str, wanted: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut now = answers(dns, name, RecordType::A).await;
        now.sort();
        if now == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {now:?}, not {wanted:?}, after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /balancers/web/backends/<backend>/<action>` on level 2's fiberlb.
async fn level2_backend(net: &Loopback, backend: &str, action: &str) {
    let url = format!(
        "{}/balancers/web/backends/{backend}/{action}",
        net.url(4, 8404)
    );
    let (status, body) = e2e::s3::raw(&url, "POST", &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level2_names_the_web_tier_by_its_balancer_and_republishes_as_backends_change() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let _running = up("2", &net, state.path());
    let dns = e2e::dns::udp(net.addr(3, 5300).parse().unwrap(), None);
    let (edge, web1, web2) = (net.ip(4), net.ip(5), net.ip(6));

    // The web tier's name is the balancer, its backends the web servers:
    // both from the topology, published by fiberlb through chainfire.
    addresses_become(&dns, "web.apps.internal.", std::slice::from_ref(&edge)).await;
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        &[web1.clone(), web2.clone()],
    )
    .await;
    let (status, body) = e2e::http_get(&format!("http://{edge}:8080"), "/echo/hello").await;
    assert_eq!((status, body.as_str()), (200, "hello"));

    // A drained backend leaves the backends' name; with none left, the
    // balancer's own name goes too, and comes back with a backend.
    level2_backend(&net, &format!("{web1}:8080"), "drain").await;
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        std::slice::from_ref(&web2),
    )
    .await;
    level2_backend(&net, &format!("{web2}:8080"), "drain").await;
    addresses_become(&dns, "web.apps.internal.", &[]).await;
    let gone = e2e::dns::ask(&dns, "web.apps.internal.", RecordType::A).await;
    assert_eq!(
        gone.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
    level2_backend(&net, &format!("{web2}:8080"), "enable").await;
    addresses_become(&dns, "web.apps.internal.", std::slice::from_ref(&edge)).await;
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        std::slice::from_ref(&web2),
    )
    .await;

    // The store keeps its names from the topology, as at level 1.
    let store = answers(&dns, "s3.site.internal.", RecordType::A).await;
    assert_eq!(store, [net.ip(2)]);
    let s3 = e2e::s3::client_with(&format!("http://{}:9000", store[0]), "PHOTONADMIN", SECRET);
    s3.create_bucket().bucket("site").send().await.unwrap();
    let listed = s3.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().len(), 1);

    // Every service joined the registry.
    let registry = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let mut kinds = registry
        .kv_client()
        .get(
            "/photon/clusters/level2/components/",
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_keys_only(),
            ),
        )
        .await
        .unwrap()
        .kvs()
        .iter()
        .map(|kv| kv.key_str().unwrap().split('/').nth(5).unwrap().to_owned())
        .collect::<Vec<_>>();
    kinds.sort();
    assert_eq!(kinds, ["fiberlb", "flashdns", "lightningstor"]);
}

/// `deploy-level2 run --node <node>` on `net`, once it has started.
fn level2_node(net: &Loopback, node: &str, state: &str) -> Running {
    let env = [("LIGHTNINGSTOR_SECRET_KEY", SECRET)];
    let mut running =
        e2e::etcd::run_node_with_env("level2", node, &net.to_string(), state.as_ref(), &env);
    running.wait_for("all services started", Duration::from_secs(60));
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level2_as_one_process_per_node_unpublishes_a_web_server_that_dies() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap().to_owned();
    let _kv = level2_node(&net, "kv", &state);
    let _dns_node = level2_node(&net, "dns", &state);
    let mut web1 = level2_node(&net, "web-1", &state);
    let mut web2 = level2_node(&net, "web-2", &state);
    let mut edge = level2_node(&net, "edge", &state);
    let dns = e2e::dns::udp(net.addr(3, 5300).parse().unwrap(), None);
    let (front, ip1, ip2) = (net.ip(4), net.ip(5), net.ip(6));
    addresses_become(&dns, "web.apps.internal.", std::slice::from_ref(&front)).await;
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        &[ip1.clone(), ip2.clone()],
    )
    .await;

    // Killed, a web server fails its checks and leaves DNS; the last one
    // gone takes the balancer's name with it.
    web2.signal("KILL");
    web2.wait(Duration::from_secs(5));
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        std::slice::from_ref(&ip1),
    )
    .await;
    addresses_become(&dns, "web.apps.internal.", std::slice::from_ref(&front)).await;
    web1.signal("KILL");
    web1.wait(Duration::from_secs(5));
    addresses_become(&dns, "web.apps.internal.", &[]).await;

    // Back, it passes its checks and is published again.
    let _web1 = level2_node(&net, "web-1", &state);
    addresses_become(&dns, "web.apps.internal.", std::slice::from_ref(&front)).await;
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        std::slice::from_ref(&ip1),
    )
    .await;

    // A balancer that stops takes its name out of DNS.
    edge.signal("TERM");
    assert!(
        edge.wait(Duration::from_secs(30)).0.success(),
        "{}",
        edge.log()
    );
    addresses_become(&dns, "web.apps.internal.", &[]).await;
}

/// Level 2 on six hosts: each node in a network namespace of its own, with
/// its own address, finding the others by name (`run --node <node>
/// --host-names`, `e2e::netns`). Names, pages and objects are served
/// across real interfaces; a web server whose link is cut leaves the
/// backends' name, and comes back when the link does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level2_across_hosts_serves_names_pages_and_objects_and_unpublishes_a_cut_web_server() {
    let nodes = ["kv", "storage", "dns", "edge", "web-1", "web-2"];
    let Some(hosts) = e2e::netns::Hosts::create_or_skip(&nodes) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut running = Vec::new();
    for node in nodes {
        let program = e2e::deployment("level2");
        let args = [
            "run",
            "--node",
            node,
            "--host-names",
            "--state-dir",
            state.path().to_str().unwrap(),
        ];
        let mut started = hosts.start(
            node,
            &program,
            &args,
            &[("LIGHTNINGSTOR_SECRET_KEY", SECRET)],
        );
        started.wait_for("all services started", Duration::from_secs(60));
        running.push(started);
    }
    let ip = |node: &str| hosts.ip(node).to_string();
    let dns = e2e::dns::udp(hosts.addr("dns", 5300).parse().unwrap(), None);
    addresses_become(&dns, "web.apps.internal.", &[ip("edge")]).await;
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        &[ip("web-1"), ip("web-2")],
    )
    .await;
    let (status, body) = e2e::http_get(
        &format!("http://{}", hosts.addr("edge", 8080)),
        "/echo/hello",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let store = answers(&dns, "s3.site.internal.", RecordType::A).await;
    assert_eq!(store, [ip("storage")]);
    let s3 = e2e::s3::client_with(&format!("http://{}:9000", store[0]), "PHOTONADMIN", SECRET);
    s3.create_bucket().bucket("site").send().await.unwrap();

    hosts.cut("web-2");
    addresses_become(&dns, "backends.web.apps.internal.", &[ip("web-1")]).await;
    for i in 0..5 {
        let (status, body) = e2e::http_get(
            &format!("http://{}", hosts.addr("edge", 8080)),
            &format!("/echo/cut-{i}"),
        )
        .await;
        assert_eq!((status, body), (200, format!("cut-{i}")));
    }
    hosts.heal("web-2");
    addresses_become(
        &dns,
        "backends.web.apps.internal.",
        &[ip("web-1"), ip("web-2")],
    )
    .await;
}

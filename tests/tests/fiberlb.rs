//! fiberlb in front of real servers (`deploy-fiberlb-web`): requests to
//! the echo servers spread by the method, counted by the backends
//! themselves; a backend that dies is skipped at once and marked down by
//! the health checks, and takes traffic again when it returns; the AWS SDK
//! works through the S3 balancer. `deploy-fiberlb-dns`: DNS over UDP flows
//! and TCP through an L4 balancer.
//!
//! Each test holds its own loopback block (`e2e::Loopback`): the balancer
//! on `.1`, the echo servers on `.2` and `.3`, the stores on `.4` and `.5`.

use std::time::Duration;

use e2e::{Loopback, Running};

/// `GET /echo/<message>` through the balancer on a new connection.
async fn echo(net: &Loopback, message: &str) -> (u16, String) {
    let (status, body) = e2e::http_get(
        &format!("http://{}", net.addr(1, 8080)),
        &format!("/echo/{message}"),
    )
    .await;
    (status, body)
}

/// The sum of the samples at `addr`'s `/metrics` whose line starts with
/// `series` and holds `containing`: 0 if none (a count appears in
/// `/metrics` once it is not zero).
async fn counted(addr: &str, series: &str, containing: &str) -> u64 {
    let (_, metrics) = e2e::http_get(&format!("http://{addr}"), "/metrics").await;
    metrics
        .lines()
        .filter(|l| l.starts_with(series) && l.contains(containing))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Echo requests the server on `host` answered with 2xx so far.
async fn answered(net: &Loopback, host: u8) -> u64 {
    counted(
        &net.addr(host, 8080),
        "echo_requests_total{operation=\"echo\",class=\"2xx\"}",
        "",
    )
    .await
}

/// `deploy-<name> up` on `net`, once every service started.
fn up(name: &str, net: &Loopback) -> (Running, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let env = [("LIGHTNINGSTOR_SECRET_KEY", e2e::s3::SECRET)];
    let running = Running::up(name, net, state.path(), &env, Duration::from_secs(30));
    (running, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_take_turns_over_both_echo_servers_and_check_probes_through_the_balancer() {
    let net = Loopback::block();
    let (_running, _state) = up("fiberlb-web", &net);
    let before = [answered(&net, 2).await, answered(&net, 3).await];
    for i in 0..20 {
        let (status, body) = echo(&net, &format!("turn-{i}")).await;
        assert_eq!((status, body.as_str()), (200, format!("turn-{i}").as_str()));
    }
    let after = [answered(&net, 2).await, answered(&net, 3).await];
    // Round robin over connections: ten each, give or take a connection
    // the deployment's own probe client opened meanwhile.
    for (i, (a, b)) in after.iter().zip(before).enumerate() {
        let served = a - b;
        assert!(
            (9..=12).contains(&served),
            "web-{} served {served} of 20: {before:?} -> {after:?}",
            i + 1
        );
    }
    let health = e2e::fiberlb::health(&net).await;
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["component"], "fiberlb");
    assert_eq!(
        health["checks"]["web"], "ok: 2 of 2 backends up",
        "{health}"
    );

    let check = e2e::output("fiberlb-web", &["check", "--loopback-base", &net.base()]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(
        report.contains("edge/fiberlb web 8080/tcp")
            && report.contains("GET /health through the balancer: 200 from a backend"),
        "{report}"
    );
    let (_, metrics) = e2e::http_get(&format!("http://{}", net.addr(1, 8404)), "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "fiberlb_backend_up{{balancer=\"web\",backend=\"{}\"}} 1",
            net.addr(2, 8080)
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_sdk_works_through_the_s3_balancer_which_keeps_a_client_on_one_store() {
    let net = Loopback::block();
    let (_running, _state) = up("fiberlb-web", &net);
    let s3 = e2e::s3::client_with(&net.url(1, 9000), e2e::s3::KEY_ID, e2e::s3::SECRET);
    s3.create_bucket().bucket("photos").send().await.unwrap();
    for i in 0..5 {
        let body = e2e::s3::pattern(300_000 + i, i as u8);
        s3.put_object()
            .bucket("photos")
            .key(format!("p{i}"))
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(
            e2e::s3::get_bytes(&s3, "photos", &format!("p{i}")).await,
            body
        );
    }
    let listed = s3.list_objects_v2().bucket("photos").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(5));
    // Every request of this client went to one store: the other has no
    // bucket at all.
    let mut holding = Vec::new();
    for host in [4, 5] {
        let direct = e2e::s3::client_with(&net.url(host, 9000), e2e::s3::KEY_ID, e2e::s3::SECRET);
        let buckets = direct.list_buckets().send().await.unwrap();
        if buckets.buckets().iter().any(|b| b.name() == Some("photos")) {
            holding.push(host);
        }
    }
    assert_eq!(holding.len(), 1, "the bucket is on stores {holding:?}");
    let health = e2e::fiberlb::health(&net).await;
    assert_eq!(health["checks"]["s3"], "ok: 2 of 2 backends up", "{health}");
}

/// `deploy-fiberlb-web run --node <node>` on `net`.
fn node(net: &Loopback, node: &str, state: &str) -> Running {
    let mut running = Running::start(
        "fiberlb-web",
        &[
            "run",
            "--node",
            node,
            "--loopback-base",
            &net.base(),
            "--state-dir",
            state,
        ],
    );
    running.wait_for("all services started", Duration::from_secs(30));
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_dies_is_skipped_at_once_marked_down_and_taken_back_when_it_returns() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap().to_owned();
    let _web1 = node(&net, "web-1", &state);
    let mut web2 = node(&net, "web-2", &state);
    let _edge = node(&net, "edge", &state);
    e2e::fiberlb::wait_health(&net, "web", "ok: 2 of 2 backends up").await;

    web2.signal("KILL");
    web2.wait(Duration::from_secs(5));
    // Before any check noticed: a refused connect moves on to the next
    // backend, so no client sees the dead one.
    let before = answered(&net, 2).await;
    for i in 0..10 {
        assert_eq!(echo(&net, &format!("while-down-{i}")).await.0, 200);
    }
    assert_eq!(
        answered(&net, 2).await - before,
        10,
        "web-1 answered every request"
    );
    // Three failed checks (`fall`) at 500 ms later, it is out.
    e2e::fiberlb::wait_health(&net, "web", "ok: 1 of 2 backends up").await;

    let _web2 = node(&net, "web-2", &state);
    e2e::fiberlb::wait_health(&net, "web", "ok: 2 of 2 backends up").await;
    let back = answered(&net, 3).await;
    for i in 0..10 {
        assert_eq!(echo(&net, &format!("back-{i}")).await.0, 200);
    }
    let served = answered(&net, 3).await - back;
    assert!(
        (4..=6).contains(&served),
        "web-2 took {served} of 10 after it came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fiberlb_server_runs_the_edge_as_export_config_writes_it() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_owned();
    let text = e2e::export_config("fiberlb-web", "edge", "fiberlb", &net.base(), &state_dir);
    assert!(text.contains("dataplane = \"userspace\""), "{text}");
    assert!(text.contains("name = \"web-1\""), "{text}");
    let _web1 = node(&net, "web-1", &state_dir);
    let _web2 = node(&net, "web-2", &state_dir);
    let file = state.path().join("edge.toml");
    std::fs::write(&file, &text).unwrap();
    let mut edge = Running::start_server(
        "fiberlb",
        &[
            "--config",
            file.to_str().unwrap(),
            "--state-dir",
            &state_dir,
        ],
        &[],
        None,
    );
    edge.wait_for("all services started", Duration::from_secs(30));
    e2e::fiberlb::wait_health(&net, "web", "ok: 2 of 2 backends up").await;
    let before = [answered(&net, 2).await, answered(&net, 3).await];
    for i in 0..10 {
        let (status, body) = echo(&net, &format!("standalone-{i}")).await;
        assert_eq!((status, body), (200, format!("standalone-{i}")));
    }
    let after = [answered(&net, 2).await, answered(&net, 3).await];
    assert_eq!(
        (after[0] - before[0], after[1] - before[1]),
        (5, 5),
        "the exported balancer takes turns as the deployment's does"
    );
}

/// `method path` on fiberlb's admin API: the status and the JSON answer.
async fn admin(net: &Loopback, method: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) =
        e2e::s3::raw(&format!("http://{}{path}", net.addr(1, 8404)), method, &[]).await;
    let body = String::from_utf8(body).unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_drained_through_the_admin_api_takes_no_new_connections_until_enabled() {
    let net = Loopback::block();
    let (_running, _state) = up("fiberlb-web", &net);
    let web2 = net.addr(3, 8080);

    let (status, listed) = admin(&net, "GET", "/balancers").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["name"], "web");
    assert_eq!(listed[0]["backends"][1]["backend"], web2.as_str());
    assert_eq!(listed[0]["backends"][1]["takes_new_traffic"], true);

    let (status, drained) = admin(
        &net,
        "POST",
        &format!("/balancers/web/backends/{web2}/drain"),
    )
    .await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["drained"], true);
    let before = answered(&net, 3).await;
    for i in 0..10 {
        assert_eq!(echo(&net, &format!("drained-{i}")).await.0, 200);
    }
    assert_eq!(
        answered(&net, 3).await,
        before,
        "a drained backend took new connections"
    );
    assert_eq!(
        e2e::fiberlb::health(&net).await["checks"]["web"],
        "ok: 1 of 2 backends up"
    );

    let (status, enabled) = admin(
        &net,
        "POST",
        &format!("/balancers/web/backends/{web2}/enable"),
    )
    .await;
    assert_eq!(
        (status, &enabled["takes_new_traffic"]),
        (200, &serde_json::Value::Bool(true))
    );
    for i in 0..10 {
        assert_eq!(echo(&net, &format!("enabled-{i}")).await.0, 200);
    }
    assert!(
        answered(&net, 3).await >= before + 4,
        "an enabled backend took no connections"
    );

    // Mistakes are named.
    let (status, missing) = admin(&net, "POST", "/balancers/web/backends/10.9.9.9:1/drain").await;
    assert_eq!(status, 404);
    assert!(
        missing["error"].as_str().unwrap().contains(&format!(
            "has no backend `10.9.9.9:1` (it has: {}, {web2})",
            net.addr(2, 8080)
        )),
        "{missing}"
    );
    let (status, _) = admin(
        &net,
        "GET",
        &format!("/balancers/web/backends/{web2}/drain"),
    )
    .await;
    assert_eq!(status, 405);
}

/// NOERROR answers the flashdns server on `host` sent so far, to
/// questions of any type (0 before the first).
async fn dns_answers(net: &Loopback, host: u8) -> u64 {
    counted(
        &net.addr(host, 8053),
        "flashdns_responses_total{",
        "rcode=\"NOERROR\"",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_goes_through_over_udp_and_tcp_each_udp_flow_taking_the_next_server() {
    use hickory_proto::rr::RecordType;

    let net = Loopback::block();
    let (_running, _state) = up("fiberlb-dns", &net);
    let balancer: std::net::SocketAddr = net.addr(1, 5300).parse().unwrap();
    let before = [dns_answers(&net, 2).await, dns_answers(&net, 3).await];
    let www = |response: &hickory_proto::op::DnsResponse| -> Vec<String> {
        e2e::dns::lines(&response.answers)
    };
    let expected = vec![format!("www.photon.internal. 300 IN A {}", net.ip(1))];
    // hickory asks each question from a socket of its own (a random
    // source port), so each is a flow of its own.
    for _ in 0..10 {
        let client = e2e::dns::udp(balancer, None);
        let response = e2e::dns::ask(&client, "www.photon.internal.", RecordType::A).await;
        assert_eq!(www(&response), expected);
    }
    // One socket is one flow, which keeps its server: ten questions.
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await.unwrap();
    let mut buf = vec![0u8; 4096];
    for id in 0..10u16 {
        let mut question = hickory_proto::op::Message::new(
            id,
            hickory_proto::op::MessageType::Query,
            hickory_proto::op::OpCode::Query,
        );
        question.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_ascii("www.photon.internal.").unwrap(),
            RecordType::A,
        ));
        socket
            .send_to(&question.to_vec().unwrap(), balancer)
            .await
            .unwrap();
        let n = tokio::time::timeout(Duration::from_secs(3), socket.recv(&mut buf))
            .await
            .expect("an answer within 3 s")
            .unwrap();
        let answer = hickory_proto::op::Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(answer.metadata.id, id);
        assert_eq!(e2e::dns::lines(&answer.answers), expected);
    }
    let tcp = e2e::dns::tcp(balancer, None).await;
    let response = e2e::dns::ask(&tcp, "www.photon.internal.", RecordType::A).await;
    assert_eq!(www(&response), expected);

    let served = [
        dns_answers(&net, 2).await - before[0],
        dns_answers(&net, 3).await - before[1],
    ];
    // 10 flows in turns (5 each), 10 answers on one flow, 1 over TCP.
    assert_eq!(served[0] + served[1], 21, "{served:?}");
    let (more, fewer) = (served[0].max(served[1]), served[0].min(served[1]));
    assert!(
        (4..=6).contains(&fewer) && more >= 15,
        "{served:?}: the single flow's ten went to one server"
    );
    let (_, metrics) = e2e::http_get(&format!("http://{}", net.addr(1, 8404)), "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "fiberlb_backend_connections_total{{balancer=\"dns\",backend=\"{}\"}}",
            net.addr(2, 5300)
        )),
        "{metrics}"
    );
}

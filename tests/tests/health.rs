//! Every component's `/health` is the runtime's: 200 while its checks pass,
//! 503 with the failing check named when one fails (what a load balancer's
//! or Kubernetes' health check believes), and `/metrics` in the Prometheus
//! text format beside it.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::Duration;

use e2e::Loopback;
use e2e::{Running, http_get};

/// `/health` once it answers `status`, as JSON.
async fn health_until(base: &str, status: u16, running: &Running) -> serde_json::Value {
    e2e::health_when(base, running, |answered, _| answered == status).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chainfire_without_a_leader_answers_503() {
    let net = Loopback::block();
    // One member of three, alone: it can never elect a leader.
    let state = tempfile::tempdir().unwrap();
    let mut alone = Running::start(
        "chainfire-cluster",
        &[
            "run",
            "--node",
            "kv-1",
            "--loopback-base",
            &format!("{net}.0"),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
    );
    alone.wait_for("all services started", Duration::from_secs(30));
    let health = health_until(&format!("http://{net}.1:2379"), 503, &alone).await;
    assert_eq!(health["status"], "unhealthy", "{health}");
    assert_eq!(health["mode"], "integrated", "{health}");
    let raft = health["checks"]["raft"].as_str().unwrap();
    assert!(raft.starts_with("no leader in term "), "{health}");
    assert_eq!(health["checks"]["storage"], "ok", "{health}");

    let (status, metrics) = http_get(&format!("http://{net}.1:2379"), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE chainfire_has_leader gauge\nchainfire_has_leader 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("chainfire_members 3\n"), "{metrics}");

    // `check` believes it: the client listener's probe fails.
    let check = e2e::output(
        "chainfire-cluster",
        &[
            "check",
            "--node",
            "kv-1",
            "--timeout",
            "2",
            "--loopback-base",
            &format!("{net}.0"),
        ],
    );
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    alone.signal("TERM");
    assert!(
        alone.wait(Duration::from_secs(15)).0.success(),
        "{}",
        alone.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightningstor_without_its_data_directory_answers_503() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("lightningstor.toml");
    std::fs::write(
        &config,
        format!(
            "[standalone.server]\ns3_addr = \"{net}.1:9000\"\ngrpc_addr = \"{net}.1:9001\"\n\n[standalone.storage]\ndata_dir = \"{}\"\n\n[standalone.metadata]\npath = \"{}\"\n\n[standalone.auth]\ntype = \"access_key\"\naccess_key = \"PHOTONADMIN\"\nsecret_key = \"secret\"\n",
            data.display(),
            dir.path().join("meta").display()
        ),
    )
    .unwrap();
    let mut server = Running::start_server(
        "lightningstor",
        &["--config", config.to_str().unwrap()],
        &[],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    let healthy = health_until(&format!("http://{net}.1:9000"), 200, &server).await;
    assert_eq!(healthy["checks"]["storage"], "ok", "{healthy}");

    // The blob directory goes: nothing more can be stored, and `/health`
    // says where.
    std::fs::rename(&data, dir.path().join("moved")).unwrap();
    let health = health_until(&format!("http://{net}.1:9000"), 503, &server).await;
    assert_eq!(health["status"], "unhealthy", "{health}");
    let storage = health["checks"]["storage"].as_str().unwrap();
    assert!(
        storage.starts_with(&format!("{}: ", data.display())),
        "{health}"
    );
    assert_eq!(
        health["checks"]["metadata"],
        format!("ok: rocksdb at {}", dir.path().join("meta").display()),
        "{health}"
    );

    // Back in place: healthy again.
    std::fs::rename(dir.path().join("moved"), &data).unwrap();
    health_until(&format!("http://{net}.1:9000"), 200, &server).await;
    let (_, metrics) = http_get(&format!("http://{net}.1:9000"), "/metrics").await;
    assert!(
        metrics.contains("# TYPE lightningstor_requests_total counter\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flashdns_serving_no_zone_answers_503() {
    let net = Loopback::block();
    let mut server = Running::start_server(
        "flashdns",
        &[
            "--set",
            &format!("standalone.server.dns_addr={net}.1:5300"),
            "--set",
            &format!("standalone.server.admin_api_addr={net}.1:8053"),
            "--set",
            "standalone.zones.zone=[]",
        ],
        &[],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    let health = health_until(&format!("http://{net}.1:8053"), 503, &server).await;
    assert_eq!(health["status"], "unhealthy", "{health}");
    assert_eq!(
        health["checks"]["zones"], "no zone is loaded: every question is refused",
        "{health}"
    );
    let (status, metrics) = http_get(&format!("http://{net}.1:8053"), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE flashdns_zone_serial gauge\n"),
        "{metrics}"
    );
}

/// The echo server holds no state, so no check of its own can fail; its
/// `/health` and `/metrics` are the same runtime surface the tests above
/// see fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_serves_health_and_counts_requests_in_metrics() {
    let net = Loopback::block();
    // asked first: the deployment ends itself 10.5 s after it starts
    let plan = e2e::output("echo-single", &["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let mut up = Running::start(
        "echo-single",
        &["up", "--loopback-base", &format!("{net}.0")],
    );
    up.wait_for("echo reply", Duration::from_secs(10));
    let base = &format!("http://{net}.1:8088");
    let health = health_until(base, 200, &up).await;
    assert_eq!(health["component"], "echo", "{health}");
    // the configuration it runs, as `plan` names it
    for key in ["deployment", "version", "fingerprint"] {
        assert_eq!(health["config"][key], plan[key], "{key}: {health}");
    }
    let (status, _) = http_get(base, "/no/such/path").await;
    assert_eq!(status, 404);
    let (status, metrics) = http_get(base, "/metrics").await;
    assert_eq!(status, 200);
    let count = |operation: &str, class: &str| -> u64 {
        let prefix = format!("echo_requests_total{{operation=\"{operation}\",class=\"{class}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix}: {metrics}"))
            .parse()
            .unwrap()
    };
    assert!(count("echo", "2xx") >= 1, "the client's echoes: {metrics}");
    assert_eq!(count("other", "4xx"), 1, "{metrics}");
    assert!(
        metrics.contains("echo_request_duration_seconds_count{operation=\"echo\"}"),
        "{metrics}"
    );
    e2e::prometheus::check_metrics(&format!("{base}/metrics"), &metrics);
    assert!(
        metrics.contains(&format!(
            "photon_config_info{{deployment=\"echo-single\",version={},fingerprint={}}} 1\n",
            plan["version"], plan["fingerprint"]
        )),
        "{metrics}"
    );
}

/// `check`'s default probe asks `/health` where a listener serves it, and
/// believes its 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_asks_health_and_fails_on_503() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let base = ["--loopback-base", &format!("{net}.0")];
    let env = [("LIGHTNINGSTOR_SECRET_KEY", "secret")];
    let mut up = Running::start_with_env(
        "lightningstor-single",
        &[
            "up",
            base[0],
            base[1],
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &env,
    );
    up.wait_for("all services started", Duration::from_secs(30));
    let check = |expect: i32| {
        let out = e2e::output_with_env("lightningstor-single", &["check", base[0], base[1]], &env);
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(expect), "{report}");
        report
    };
    let report = check(0);
    assert!(
        report.contains(&format!(
            "ok    storage/lightningstor s3 9000/tcp at {net}.1:9000"
        )) && report.contains("/health answers healthy"),
        "{report}"
    );

    let data = state
        .path()
        .join("lightningstor-single/storage/lightningstor/data");
    std::fs::rename(&data, state.path().join("moved")).unwrap();
    health_until(&format!("http://{net}.1:9000"), 503, &up).await;
    let report = check(1);
    let s3 = report
        .lines()
        .find(|l| l.contains("storage/lightningstor s3 "))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        s3.starts_with("FAIL") && s3.contains("/health answered 503 Service Unavailable: "),
        "{report}"
    );
    // The admin gRPC listener serves no `/health`: a TCP connect.
    assert!(
        report.contains("ok    storage/lightningstor admin 9001/tcp")
            && report.contains("tcp connect ok"),
        "{report}"
    );
}

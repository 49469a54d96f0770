//! Two revisions of one deployment side by side: `echo-canary` 1.0.0 and
//! `echo-canary-next`, its 1.1.0, which moves the canary's port. `plan
//! --diff` names that change before anything runs; once both run, nodes
//! of different revisions notice each other on every call and report the
//! skew (`--config-skew report`) or refuse the call (`refuse`), and `check`
//! lists it.

use std::process::Output;
use std::time::Duration;

use e2e::{Loopback, Running, output};

const OLD: &str = "echo-canary";
const NEW: &str = "echo-canary-next";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The report's change lines (indented), without its header.
fn changes(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with("  ")).collect()
}

#[test]
fn plan_diff_names_the_moved_port_against_a_binary_and_a_saved_plan() {
    let dir = tempfile::tempdir().unwrap();
    let old_binary = e2e::deployment(OLD);
    let expected = [
        "  ~ version: 1.0.0+main -> 1.1.0+main",
        "  ~ service canary/echo",
        "      ~ listens echo: port 8090 -> 8091",
    ];

    let against_binary = output(NEW, &["plan", "--diff", old_binary.to_str().unwrap()]);
    let report = stdout(&against_binary);
    assert_eq!(against_binary.status.code(), Some(2), "{report}");
    assert_eq!(changes(&report), expected, "{report}");
    assert!(
        report.starts_with(&format!(
            "before: binary {}: echo-canary 1.0.0+main",
            old_binary.display()
        )),
        "{report}"
    );
    assert!(
        report.ends_with("\nPlan: 0 to add, 2 to change, 0 to remove.\n"),
        "{report}"
    );

    // The plan saved when the old revision was deployed says the same.
    let saved = dir.path().join("deployed.json");
    std::fs::write(&saved, output(OLD, &["plan", "--format", "json"]).stdout).unwrap();
    let against_file = output(NEW, &["plan", "--diff", saved.to_str().unwrap()]);
    assert_eq!(against_file.status.code(), Some(2));
    assert_eq!(changes(&stdout(&against_file)), expected);

    // The other way round, the port moves back.
    let back = output(
        OLD,
        &["plan", "--diff", e2e::deployment(NEW).to_str().unwrap()],
    );
    assert!(
        stdout(&back).contains("      ~ listens echo: port 8091 -> 8090"),
        "{}",
        stdout(&back)
    );

    // The same configuration: no change, exit 0.
    let same = output(OLD, &["plan", "--diff", saved.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    assert!(stdout(&same).contains("No changes: both run the same configuration."));

    // What cannot be compared is an error (1), never "no change".
    let not_a_plan = dir.path().join("not-a-plan.json");
    std::fs::write(&not_a_plan, r#"{"deployment": "x"}"#).unwrap();
    let refused = output(NEW, &["plan", "--diff", not_a_plan.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("not a plan document (`plan --format json`'s output)"),
        "{}",
        stderr(&refused)
    );
    let mut newer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    newer["schema_version"] = 99.into();
    std::fs::write(&not_a_plan, newer.to_string()).unwrap();
    let refused = output(NEW, &["plan", "--diff", not_a_plan.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("schema version 99, newer than this binary's 1"),
        "{}",
        stderr(&refused)
    );
    let missing = output(NEW, &["plan", "--diff", "/nonexistent/plan.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("cannot compare with /nonexistent/plan.json"));
}

/// `plan --format json` follows the JSON Schema the binary publishes (the
/// file in the repository), checked by an independent validator on
/// deployments that between them have every kind of part: clusters,
/// secrets from the environment and from files, many services.
#[test]
fn every_plan_follows_the_published_json_schema() {
    let dir = tempfile::tempdir().unwrap();
    let published = output(OLD, &["plan", "--format", "json-schema"]);
    assert!(published.status.success());
    assert_eq!(
        stdout(&published),
        include_str!("../../photon-dsl/runtime/schema/plan-v1.schema.json"),
        "the binary publishes the schema in the repository"
    );
    let schema = dir.path().join("plan.schema.json");
    std::fs::write(&schema, &published.stdout).unwrap();
    let validator = e2e::installed_tool("check-jsonschema");

    let metaschema = std::process::Command::new(&validator)
        .arg("--check-metaschema")
        .arg(&schema)
        .output()
        .unwrap();
    assert!(metaschema.status.success(), "{}", stdout(&metaschema));

    let mut plans = Vec::new();
    for deployment in [OLD, "echo-token", "chainfire-cluster", "level3", "prod"] {
        let plan = output(deployment, &["plan", "--format", "json"]);
        assert!(plan.status.success(), "{deployment}: {}", stderr(&plan));
        let path = dir.path().join(format!("{deployment}.json"));
        std::fs::write(&path, &plan.stdout).unwrap();
        plans.push(path);
    }
    let validated = std::process::Command::new(&validator)
        .arg("--schemafile")
        .arg(&schema)
        .args(&plans)
        .output()
        .unwrap();
    assert!(
        validated.status.success(),
        "{}{}",
        stdout(&validated),
        stderr(&validated)
    );

    // The validator does judge: a port of 0 and an unknown key are caught.
    let mut broken: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plans[0]).unwrap()).unwrap();
    broken["services"][0]["listens"][0]["port"] = 0.into();
    broken["surprise"] = true.into();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, broken.to_string()).unwrap();
    let caught = std::process::Command::new(&validator)
        .arg("--schemafile")
        .arg(&schema)
        .arg(&path)
        .output()
        .unwrap();
    assert!(!caught.status.success());
    let said = stdout(&caught);
    assert!(said.contains("$.services[0].listens[0].port"), "{said}");
    assert!(said.contains("surprise"), "{said}");
}

/// `deploy-<name> run --node <node>` on `net`, with `policy`.
fn run_node(deployment: &str, node: &str, net: &Loopback, policy: &str) -> Running {
    let state = tempfile::tempdir().unwrap().keep();
    Running::start(
        deployment,
        &[
            "run",
            "--node",
            node,
            "--loopback-base",
            &net.base(),
            "--state-dir",
            state.to_str().unwrap(),
            "--config-skew",
            policy,
        ],
    )
}

fn fingerprint(deployment: &str) -> String {
    let plan: serde_json::Value =
        serde_json::from_slice(&output(deployment, &["plan", "--format", "json"]).stdout).unwrap();
    plan["fingerprint"].as_str().unwrap().to_owned()
}

/// `/health`'s first skew caller once it has `key` >= 1.
async fn caller_with(base: &str, server: &Running, key: &str) -> serde_json::Value {
    let health = e2e::health_when(base, server, |_, h| {
        h["config"]["skew"]["callers"][0][key].as_u64() >= Some(1)
    })
    .await;
    health["config"]["skew"]["callers"][0].clone()
}

/// `check --node server` from `deployment`'s binary: its report, which
/// must fail the check.
fn check_fails(deployment: &str, net: &Loopback) -> String {
    let checked = output(
        deployment,
        &["check", "--node", "server", "--loopback-base", &net.base()],
    );
    let report = stdout(&checked);
    assert_eq!(checked.status.code(), Some(1), "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_report_a_node_serves_another_revision_and_says_so_everywhere() {
    let net = Loopback::block();
    let new_fingerprint = fingerprint(NEW);
    let mut server = run_node(OLD, "server", &net, "report");
    server.wait_for("all services started", Duration::from_secs(30));
    let mut client = run_node(NEW, "client", &net, "report");
    client.wait_for("echo reply", Duration::from_secs(30));

    // The server logs the other revision once, and serves it.
    server.wait_for(
        "a caller runs another configuration of the deployment",
        Duration::from_secs(10),
    );
    let base = format!("http://{}", net.addr(1, 8080));
    let caller = caller_with(&base, &server, "served").await;
    assert_eq!(caller["deployment"], "echo-canary");
    assert_eq!(caller["version"], "1.1.0+main");
    assert_eq!(caller["fingerprint"], new_fingerprint.as_str());
    assert_eq!(caller["refused"], 0);
    assert_eq!(
        server
            .lines_with("a caller runs another configuration")
            .len(),
        1,
        "logged once, counted after"
    );

    let (_, metrics) = e2e::http_get(&base, "/metrics").await;
    let served = format!(
        "photon_config_skew_calls_total{{version=\"1.1.0+main\",fingerprint=\"{new_fingerprint}\",outcome=\"served\"}} "
    );
    assert!(metrics.contains(&served), "{metrics}");
    e2e::prometheus::check_metrics(&format!("{base}/metrics"), &metrics);

    // `check` from either revision lists the skew, and fails on it.
    let report = check_fails(NEW, &net);
    assert!(
        report.contains("SKEW  server/echo runs echo-canary 1.0.0+main"),
        "{report}"
    );
    assert!(
        report.contains("SKEW  server/echo was called by echo-canary 1.1.0+main"),
        "{report}"
    );
    assert!(
        report.contains("1 service(s) report their configuration: 0 run this one, 1 another"),
        "{report}"
    );
    let report = check_fails(OLD, &net);
    assert!(
        report.contains("1 service(s) report their configuration: 1 run this one, 0 another"),
        "{report}"
    );
    assert!(
        report.contains("was called by echo-canary 1.1.0+main"),
        "{report}"
    );
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_refuse_a_node_refuses_another_revision_and_serves_its_own() {
    let net = Loopback::block();
    let mut server = run_node(OLD, "server", &net, "refuse");
    server.wait_for("all services started", Duration::from_secs(30));

    // The new revision's client is refused, and told why.
    let mut client = run_node(NEW, "client", &net, "report");
    let failed = client.wait_for("echo request failed", Duration::from_secs(30));
    assert!(
        failed.contains("refused the call")
            && failed.contains("the caller runs configuration echo-canary 1.1.0+main"),
        "{failed}"
    );
    assert!(
        client.lines_with("echo reply").is_empty(),
        "{}",
        client.log()
    );
    let base = format!("http://{}", net.addr(1, 8080));
    let caller = caller_with(&base, &server, "refused").await;
    assert_eq!(caller["version"], "1.1.0+main");
    assert_eq!(caller["served"], 0);
    let (_, health) = e2e::http_get(&base, "/health").await;
    assert!(health.contains("\"policy\":\"refuse\""), "{health}");
    let (_, metrics) = e2e::http_get(&base, "/metrics").await;
    assert!(metrics.contains("outcome=\"refused\"} "), "{metrics}");
    drop(client);

    // A client of the server's own revision is served.
    let mut same = run_node(OLD, "client", &net, "refuse");
    same.wait_for("echo reply", Duration::from_secs(30));
}

/// The same judgement over gRPC: a chainfire client presenting another
/// configuration in its metadata (as every service's state-store client
/// presents its node's, through `photon_integration::connect`) is served
/// and counted under `report`, and refused with `FAILED_PRECONDITION` and
/// the reason under `refuse`; a client presenting nothing (etcdctl, a
/// user's program) is served by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chainfire_judges_the_configuration_presented_in_grpc_metadata() {
    let stranger = format!(
        "{}; deployment=elsewhere; version=9.9.9+main",
        "f".repeat(64)
    );
    for policy in ["report", "refuse"] {
        let net = Loopback::block();
        let mut node = run_node("chainfire-single", "kv", &net, policy);
        node.wait_for("all services started", Duration::from_secs(60));
        let endpoints = [format!("http://{}", net.addr(1, 2379))];
        let value = http::HeaderValue::from_str(&stranger).unwrap();
        let presented: Option<photon_integration::Presenter> = Some((
            "photon-config",
            std::sync::Arc::new(move || Some(value.clone())),
        ));
        let mut marked = photon_integration::connect(&endpoints, None, presented)
            .await
            .unwrap();
        let put = marked.put("skew", "marked", None).await;
        let base = format!("http://{}", net.addr(1, 2379));
        match policy {
            "report" => {
                put.unwrap_or_else(|e| panic!("served under report: {e}"));
                let caller = caller_with(&base, &node, "served").await;
                assert_eq!(caller["deployment"], "elsewhere");
                assert_eq!(caller["version"], "9.9.9+main");
            }
            _ => {
                let Err(etcd_client::Error::GRpcStatus(status)) = put else {
                    panic!("refused under refuse, got {put:?}");
                };
                assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status}");
                assert!(
                    status
                        .message()
                        .contains("the caller runs configuration elsewhere 9.9.9+main"),
                    "{status}"
                );
                let caller = caller_with(&base, &node, "refused").await;
                assert_eq!(caller["served"], 0);
                let (_, metrics) = e2e::http_get(&base, "/metrics").await;
                assert!(
                    metrics.contains(
                        "chainfire_requests_total{operation=\"etcdserverpb.KV/Put\",code=\"FailedPrecondition\"} 1"
                    ),
                    "refused calls are counted by method too: {metrics}"
                );
            }
        }
        let mut plain = etcd_client::Client::connect(&endpoints, None)
            .await
            .unwrap();
        plain
            .put("skew", "plain", None)
            .await
            .unwrap_or_else(|e| panic!("{policy}: an unmarked client is served: {e}"));
    }
}

//! `nightlight-server` from TOML, against targets this test controls and
//! a webhook receiver it runs: bad exposition, a target that hangs, one
//! that never ends its body, one that explodes into more series than a
//! scrape may hold, each reported on the target with a clear error while
//! the others are still stored; an alert rule that fires, is POSTed in
//! Alertmanager's webhook JSON, listed by the API, and resolves; the
//! export of `deploy-observed`'s nightlight, which loads back.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e::{Loopback, Running};
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the controlled target answers.
#[derive(Debug, Clone)]
enum Answer {
    Text(String),
    Hang,
    Endless,
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Serves `handler` on `addr` until the test ends.
async fn serve<F>(addr: &str, handler: F)
where
    F: Fn(
            Request<Incoming>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let reply = handler(req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text)).boxed()
}

async fn target(addr: &str, answer: Arc<Mutex<Answer>>) {
    serve(addr, move |_req| {
        let answer = answer.lock().unwrap().clone();
        Box::pin(async move {
            match answer {
                Answer::Text(text) => Response::new(full(text)),
                Answer::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Response::new(full(String::new()))
                }
                Answer::Endless => {
                    let chunk = Bytes::from("endless_series{a=\"b\"} 1\n".repeat(4096));
                    let frames = futures::stream::repeat_with(move || {
                        Ok::<_, Infallible>(Frame::data(chunk.clone()))
                    });
                    Response::new(http_body_util::BodyExt::boxed(StreamBody::new(frames)))
                }
            }
        })
    })
    .await;
}

async fn receiver(addr: &str, got: Arc<Mutex<Vec<serde_json::Value>>>) {
    serve(addr, move |req: Request<Incoming>| {
        let got = got.clone();
        Box::pin(async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            got.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).expect("JSON"));
            Response::new(full(String::new()))
        })
    })
    .await;
}

async fn api(base: &str, path: &str) -> serde_json::Value {
    let (_, body) = e2e::http_get(base, path).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// What `look` finds, once it finds something; fails the test naming
/// `what` (with the server's log) if that takes over 20 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    server: &Running,
    mut look: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = look().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `check` holds of `path`'s answer.
async fn until(
    base: &str,
    path: &str,
    what: &str,
    server: &Running,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    eventually(what, server, || async {
        let body = api(base, path).await;
        check(&body).then_some(body)
    })
    .await
}

fn app_target(body: &serde_json::Value) -> serde_json::Value {
    body["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["job"] == "app")
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_fail_one_by_one_and_alerts_are_sent() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(Mutex::new(Answer::Text(
        "# TYPE demo_requests_total counter\ndemo_requests_total 5\ndemo_temperature{room=\"a\"} 21.5\n".into(),
    )));
    target(&net.addr(2, 9100), app.clone()).await;
    let other = Arc::new(Mutex::new(Answer::Text("other_value 7\n".into())));
    target(&net.addr(3, 9100), other).await;
    let alerts = Arc::new(Mutex::new(Vec::new()));
    receiver(&net.addr(4, 5000), alerts.clone()).await;
    let config = dir.path().join("nightlight.toml");
    std::fs::write(
        &config,
        format!(
            r#"[photon]
component_id = "nightlight-test"
[standalone.server]
http_addr = "{http}"
[standalone.storage]
data_dir = "{data}"
retention_days = 1
[standalone.collection]
scrape_interval_sec = 0.5
scrape_timeout_sec = 0.4
[[standalone.scrape_targets]]
name = "app"
static_configs = ["{app}"]
[[standalone.scrape_targets]]
name = "other"
static_configs = ["{other}"]
[standalone.alerting]
enabled = true
local_webhook = "http://{receiver}/alerts"
[[standalone.alerting.rules]]
name = "AppDown"
expr = 'up{{job="app"}} == 0'
for_sec = 1
labels = {{ severity = "page" }}
annotations = {{ summary = "{{{{ $labels.instance }}}} is down" }}
"#,
            http = net.addr(1, 9090),
            data = dir.path().join("data").display(),
            app = net.addr(2, 9100),
            other = net.addr(3, 9100),
            receiver = net.addr(4, 5000),
        ),
    )
    .unwrap();
    let mut server = Running::start_server(
        "nightlight",
        &["--config", config.to_str().unwrap()],
        &[],
        None,
    );
    server.wait_for("Prometheus API listening", Duration::from_secs(30));
    let base = net.url(1, 9090);

    let body = until(
        &base,
        "/api/v1/query?query=demo_temperature",
        "the app's series",
        &server,
        |b| b["data"]["result"].as_array().is_some_and(|r| r.len() == 1),
    )
    .await;
    assert_eq!(body["data"]["result"][0]["metric"]["job"], "app");
    assert_eq!(
        body["data"]["result"][0]["metric"]["instance"],
        net.addr(2, 9100).as_str()
    );
    let (_, rules) = e2e::http_get(&base, "/api/v1/rules").await;
    assert!(rules.contains("\"state\":\"inactive\""), "{rules}");

    // a malformed line: the scrape fails naming it, the app's series end
    // (stale), the other target goes on
    *app.lock().unwrap() =
        Answer::Text("demo_requests_total 6\ndemo_temperature{room=a} 1\n".into());
    let t = until(
        &base,
        "/api/v1/targets",
        "the bad line reported",
        &server,
        |b| app_target(b)["health"] == "down",
    )
    .await;
    let error = app_target(&t)["lastError"].as_str().unwrap().to_owned();
    assert!(
        error.contains("line 2") && error.contains("label `room`"),
        "{error}"
    );
    until(
        &base,
        "/api/v1/query?query=demo_temperature",
        "the app's series stale",
        &server,
        |b| b["data"]["result"].as_array().is_some_and(|r| r.is_empty()),
    )
    .await;
    let before = api(&base, "/api/v1/query?query=timestamp(other_value)").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = api(&base, "/api/v1/query?query=timestamp(other_value)").await;
    assert_ne!(
        before["data"]["result"][0]["value"][1],
        after["data"]["result"][0]["value"][1]
    );

    // the rule fires after its second, is POSTed and listed
    let firing = eventually("no firing alert sent", &server, || async {
        let sent = alerts.lock().unwrap();
        sent.iter().find(|a| a["status"] == "firing").cloned()
    })
    .await;
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["groupLabels"]["alertname"], "AppDown");
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "AppDown");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["job"], "app");
    assert_eq!(
        alert["annotations"]["summary"],
        format!("{} is down", net.addr(2, 9100))
    );
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    let listed = api(&base, "/api/v1/alerts").await;
    assert_eq!(listed["data"]["alerts"][0]["state"], "firing", "{listed}");
    let rules = api(&base, "/api/v1/rules").await;
    assert_eq!(
        rules["data"]["groups"][0]["rules"][0]["state"], "firing",
        "{rules}"
    );
    let series = api(&base, "/api/v1/query?query=ALERTS").await;
    assert_eq!(
        series["data"]["result"][0]["metric"]["alertstate"], "firing",
        "{series}"
    );

    // a target that hangs, one that never ends its body, one with more
    // series than a scrape may hold: each a clear error, memory bounded
    *app.lock().unwrap() = Answer::Hang;
    until(
        &base,
        "/api/v1/targets",
        "the hang reported",
        &server,
        |b| {
            app_target(b)["lastError"]
                .as_str()
                .unwrap()
                .contains("timed out")
        },
    )
    .await;
    *app.lock().unwrap() = Answer::Endless;
    until(
        &base,
        "/api/v1/targets",
        "the endless body reported",
        &server,
        |b| {
            let e = app_target(b)["lastError"].as_str().unwrap().to_owned();
            e.contains("body size limit exceeded") || e.contains("timed out")
        },
    )
    .await;
    let explosion: String = (0..250_000)
        .map(|i| format!("exploding{{id=\"{i}\"}} 1\n"))
        .collect();
    *app.lock().unwrap() = Answer::Text(explosion);
    until(
        &base,
        "/api/v1/targets",
        "the explosion reported",
        &server,
        |b| {
            app_target(b)["lastError"]
                .as_str()
                .unwrap()
                .contains("sample limit exceeded")
        },
    )
    .await;
    let exploded = api(&base, "/api/v1/query?query=count(exploding)").await;
    assert_eq!(
        exploded["data"]["result"],
        serde_json::json!([]),
        "nothing of the explosion is stored"
    );
    assert!(
        e2e::memory_kib(server.pid(), "VmRSS") < 1024 * 1024,
        "over 1 GiB resident"
    );

    // back up: the alert resolves, and that is sent too
    *app.lock().unwrap() = Answer::Text("demo_requests_total 9\n".into());
    eventually("no resolved alert sent", &server, || async {
        let sent = alerts.lock().unwrap();
        sent.iter()
            .any(|a| {
                a["status"] == "resolved" && a["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
            })
            .then_some(())
    })
    .await;
    let metrics = e2e::http_get(&base, "/metrics").await.1;
    assert!(
        metrics.contains("nightlight_notifications_total{outcome=\"ok\"}"),
        "{metrics}"
    );
}

#[test]
fn a_bad_configuration_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    // `--print-config` stops after the schema; the topology's checks (the
    // interval against the timeout) run when it starts, before it binds
    for (text, says, flag) in [
        (
            "[standalone.server]\nhttp_addr = \"127.0.0.1:9090\"\ngrpc_addr = \"127.0.0.1:9091\"\n",
            "nightlight has no gRPC API",
            "--print-config",
        ),
        (
            "[standalone.collection]\nscrape_interval_sec = 5\nscrape_timeout_sec = 10\n",
            "shorter than the scrape timeout",
            "--log-level=warn",
        ),
        (
            "[[standalone.alerting.rules]]\nname = \"X\"\nexpr = \"sum(\"\n",
            "standalone.alerting.rules[0].expr",
            "--print-config",
        ),
        (
            "[standalone.storage]\nretention_days = 30\nretain = 1\n",
            "retain",
            "--print-config",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = e2e::server_output(
            "nightlight",
            &["--config", config.to_str().unwrap(), flag],
            &[],
        );
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{text}: {stderr}");
    }
}

#[test]
fn the_observed_deployment_exports_its_targets_and_loads_back() {
    let state = tempfile::tempdir().unwrap();
    let toml = e2e::export_config(
        "observed",
        "obs",
        "nightlight",
        "127.0.9.0",
        state.path().to_str().unwrap(),
    );
    for (job, address) in [
        ("chainfire", "127.0.9.1:2379"),
        ("lightningstor", "127.0.9.2:9000"),
        ("flashdns", "127.0.9.3:8053"),
    ] {
        assert!(
            toml.contains(&format!("name = \"{job}\"")) && toml.contains(address),
            "{job}:\n{toml}"
        );
    }
    assert!(
        !toml.contains("127.0.9.4:9090\"]"),
        "its own endpoint is not a written target:\n{toml}"
    );
    let file = state.path().join("nightlight.toml");
    std::fs::write(&file, &toml).unwrap();
    let out = e2e::server_output(
        "nightlight",
        &["--config", file.to_str().unwrap(), "--print-config"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Prometheus, killed when dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_writes_into_nightlight() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nightlight.toml");
    std::fs::write(
        &config,
        format!(
            "[standalone.server]\nhttp_addr = \"{}\"\n[standalone.storage]\ndata_dir = \"{}\"\nretention_days = 1\n",
            net.addr(1, 9090),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut server = Running::start_server(
        "nightlight",
        &["--config", config.to_str().unwrap()],
        &[],
        None,
    );
    server.wait_for("Prometheus API listening", Duration::from_secs(30));
    let prometheus_yml = dir.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_yml,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prom\n    static_configs:\n      - targets: [\"{prom}\"]\nremote_write:\n  - url: \"http://{nl}/api/v1/write\"\n    queue_config:\n      batch_send_deadline: 1s\n",
            prom = net.addr(2, 9090),
            nl = net.addr(1, 9090),
        ),
    )
    .unwrap();
    let _prometheus = e2e::prometheus::Prometheus::start(
        &net.addr(2, 9090),
        &prometheus_yml,
        &dir.path().join("prometheus"),
        &[],
    )
    .await;
    let base = net.url(1, 9090);
    let body = until(
        &base,
        "/api/v1/query?query=up%7Bjob%3D%22prom%22%7D",
        "Prometheus's samples",
        &server,
        |b| b["data"]["result"].as_array().is_some_and(|r| r.len() == 1),
    )
    .await;
    assert_eq!(
        body["data"]["result"][0]["metric"]["instance"],
        net.addr(2, 9090).as_str()
    );
    let names = api(&base, "/api/v1/label/__name__/values").await;
    assert!(
        names["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n.as_str().unwrap().starts_with("prometheus_"))
            .count()
            > 50,
        "{names}"
    );
    // what is not remote write is refused, naming why
    let (status, text) = e2e::s3::raw(&format!("{base}/api/v1/write"), "POST", b"not snappy").await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&text).contains("snappy"));
}

//! nightlight in a deployment (`deploy-observed`): it scrapes every
//! `/metrics` of the topology with no target written, answers the
//! Prometheus HTTP API (and `promtool`), and keeps what it stored across
//! a kill -9, the gap behaving as Prometheus's.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Loopback, Running};

const SECRET: &str = "observed-secret-key-0123456789abcdef";

fn up(net: &Loopback, state: &std::path::Path) -> Running {
    let env = [("LIGHTNINGSTOR_SECRET_KEY", SECRET)];
    Running::up("observed", net, state, &env, Duration::from_secs(60))
}

async fn api(base: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = e2e::http_get(base, path).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

/// The `up` series once every target has been scraped up.
async fn all_up(base: &str, running: &Running) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = api(base, "/api/v1/query?query=up").await;
        let result = body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if result.len() == 4 && result.iter().all(|s| s["value"][1] == "1") {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "not every target up: {body}\n{}",
            running.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metrics_endpoint_is_scraped_queried_and_kept() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut running = up(&net, state.path());
    let base = net.url(4, 9090);

    // one `up` per /metrics of the topology, labelled by service and node
    let ups = all_up(&base, &running).await;
    let mut instances: Vec<(String, String)> = ups
        .iter()
        .map(|s| {
            (
                s["metric"]["job"].as_str().unwrap().to_owned(),
                s["metric"]["instance"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    instances.sort();
    assert_eq!(
        instances,
        [
            ("chainfire".to_owned(), "kv:2379".to_owned()),
            ("flashdns".to_owned(), "dns:8053".to_owned()),
            ("lightningstor".to_owned(), "storage:9000".to_owned()),
            ("nightlight".to_owned(), "obs:9090".to_owned()),
        ]
    );

    // the services' own series, and the scrape series Prometheus adds
    let (_, body) = api(
        &base,
        "/api/v1/query?query=count%20by%20(job)%20(%7Bjob%3D~%22.%2B%22%7D)",
    )
    .await;
    let counts = body["data"]["result"].as_array().unwrap();
    assert_eq!(counts.len(), 4, "{body}");
    for c in counts {
        let n: f64 = c["value"][1].as_str().unwrap().parse().unwrap();
        assert!(n > 5.0, "{c}: only the scrape series");
    }
    let (_, body) = api(&base, "/api/v1/label/job/values").await;
    assert_eq!(
        body["data"],
        serde_json::json!(["chainfire", "flashdns", "lightningstor", "nightlight"])
    );
    let (_, body) = api(&base, "/api/v1/series?match[]=scrape_duration_seconds").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 4, "{body}");
    let (_, body) = api(&base, "/api/v1/targets").await;
    for target in body["data"]["activeTargets"].as_array().unwrap() {
        assert_eq!(target["health"], "up", "{target}");
        assert_eq!(target["lastError"], "", "{target}");
    }
    let (_, body) = api(&base, "/api/v1/metadata?metric=nightlight_series").await;
    assert_eq!(
        body["data"]["nightlight_series"][0]["type"], "gauge",
        "{body}"
    );

    // errors in Prometheus's shape
    let (status, body) = api(&base, "/api/v1/query?query=sum(").await;
    assert_eq!(
        (status, body["status"].as_str(), body["errorType"].as_str()),
        (400, Some("error"), Some("bad_data"))
    );
    let (status, body) = api(
        &base,
        "/api/v1/query_range?query=up&start=100&end=50&step=1",
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // every /metrics of the topology is what Prometheus's linter accepts
    let (_, targets) = api(&base, "/api/v1/targets").await;
    for target in targets["data"]["activeTargets"].as_array().unwrap() {
        let url = target["scrapeUrl"].as_str().unwrap();
        let (base_url, path) = url.split_at(url.rfind('/').unwrap());
        let (_, text) = e2e::http_get(base_url, path).await;
        e2e::prometheus::check_metrics(url, &text);
    }

    // promtool, Prometheus's own client
    let base_for_promtool = base.clone();
    let out = Command::new("promtool")
        .args(["query", "instant", &base_for_promtool, "sum by (job) (up)"])
        .output()
        .expect("promtool");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("=> 1 @")).count(),
        4,
        "{text}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = Command::new("promtool")
        .args([
            "query",
            "range",
            &format!("--start={}", now - 30),
            &format!("--end={now}"),
            "--step=5s",
            &base,
            "up{job=\"chainfire\"}",
        ])
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 @["),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // the dashboard, in a real headless browser: the page loads, runs the
    // query, draws a line per series; the screenshot is kept
    let page = format!("{base}/?q=up&range=300");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            &page,
        ])
        .output()
        .expect("chromium (Debian's; .ci/setup installs it)");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-drawn=\"4\""),
        "the chart was not drawn:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains("drawn 4 series"), "{dom}");
    assert!(
        dom.contains("storage:9000") && dom.contains(">up<"),
        "the targets table: {dom}"
    );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nightlight-dashboard.png");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--window-size=1200,900",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&page)
        .output()
        .expect("chromium");
    assert!(
        out.status.success()
            && std::fs::metadata(&shot)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false),
        "no screenshot at {}: {}",
        shot.display(),
        String::from_utf8_lossy(&out.stderr)
    );

    // kill -9 while scraping: what was stored is there after the restart
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // how many samples of `up` each target has up to `now`
    let counts = |base: String| async move {
        let path = format!("/api/v1/query?query=count_over_time(up%5B1h%5D)&time={now}");
        let (_, answer) = api(&base, &path).await;
        let counts: Vec<f64> = answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
            .collect();
        counts
    };
    let before_counts = counts(base.clone()).await;
    let killed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    running.signal("KILL");
    running.wait(Duration::from_secs(10));
    let running = up(&net, state.path());
    all_up(&base, &running).await;
    let after_counts = counts(base.clone()).await;
    assert_eq!(before_counts.len(), 4, "{before_counts:?}");
    assert_eq!(
        after_counts, before_counts,
        "samples before the kill were lost"
    );

    // the restart gap is as Prometheus leaves one: no stale marker at the
    // kill (Prometheus writes none when it stops either), so within the
    // 5-minute lookback every target stays `up` across the gap, and a
    // range query has a point at every step of it
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, at_kill) = api(&base, &format!("/api/v1/query?query=up&time={killed}")).await;
    let values: Vec<&str> = at_kill["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"][1].as_str().unwrap())
        .collect();
    assert_eq!(values, ["1"; 4], "{at_kill}");
    // whole seconds, so the steps are easy to count
    let start = killed.ceil() as u64;
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (_, across) = api(
        &base,
        &format!("/api/v1/query_range?query=up&start={start}&end={end}&step=1"),
    )
    .await;
    let steps = (end - start + 1) as usize;
    let series = across["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 4, "{across}");
    for s in series {
        assert_eq!(
            s["values"].as_array().unwrap().len(),
            steps,
            "a hole in {} across the restart: {across}",
            s["metric"]
        );
    }
}

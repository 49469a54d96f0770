//! nightlight's PromQL against Prometheus's own (Debian's `prometheus`,
//! started here): the same samples are given to both (Prometheus's by
//! `promtool tsdb create-blocks-from openmetrics`, nightlight's store by
//! the same OpenMetrics text), then a battery of expressions covering
//! every feature nightlight evaluates is asked of both, instant at
//! several times and over ranges with aligned and unaligned steps. The
//! answers must agree: the same label sets, values within 1e-6, the same
//! error class for what is invalid.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use e2e::Loopback;
use e2e::prometheus::Prometheus;
use nightlight::exposition::{self, Format, Limits};
use nightlight::labels::Labels;
use nightlight::promql::{Engine, QueryError, Settings, Value};
use nightlight::tsdb::Db;

/// Samples every 15 s for 2 h.
const STEP_S: i64 = 15;
const POINTS: i64 = 480;

/// A deterministic pseudo-random sequence (an LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// The data, as OpenMetrics text with timestamps, from `t0` (seconds).
fn data(t0: i64) -> String {
    let mut rng = Rng(42);
    let mut out = String::new();
    let series = |out: &mut String, name_labels: &str, values: &[(i64, String)]| {
        for (t, v) in values {
            let _ = writeln!(out, "{name_labels} {v} {t}");
        }
    };
    // counters, one with a reset, one with a gap
    for (instance, code, per_step) in [
        ("a", "200", 10),
        ("a", "500", 1),
        ("b", "200", 7),
        ("c", "200", 3),
    ] {
        let mut v = 0u64;
        let mut points = Vec::new();
        for i in 0..POINTS {
            v += per_step + rng.next() % 5;
            if instance == "c" && i == 200 {
                v = 2;
            }
            if instance == "b" && (100..130).contains(&i) {
                continue;
            }
            points.push((t0 + i * STEP_S, v.to_string()));
        }
        series(
            &mut out,
            &format!("http_requests_total{{job=\"api\",instance=\"{instance}\",code=\"{code}\"}}"),
            &points,
        );
    }
    // gauges, one with NaN now and then
    for room in ["r1", "r2", "r3"] {
        let mut points = Vec::new();
        for i in 0..POINTS {
            let v = if room == "r3" && i % 50 == 7 {
                "NaN".to_owned()
            } else {
                format!(
                    "{}",
                    20.0 + ((i as f64) / 17.0).sin() * 5.0 + (rng.next() % 100) as f64 / 40.0
                )
            };
            points.push((t0 + i * STEP_S, v));
        }
        series(
            &mut out,
            &format!("temperature{{job=\"sensors\",room=\"{room}\"}}"),
            &points,
        );
        let limit: Vec<_> = (0..POINTS)
            .map(|i| (t0 + i * STEP_S, "24".to_owned()))
            .collect();
        series(
            &mut out,
            &format!("temperature_limit{{job=\"sensors\",room=\"{room}\"}}"),
            &limit,
        );
    }
    // a classic histogram
    let bounds = ["0.05", "0.1", "0.5", "1", "+Inf"];
    let mut counts = [0u64; 5];
    let mut by_bucket: Vec<Vec<(i64, String)>> = vec![Vec::new(); 5];
    for i in 0..POINTS {
        let observations = 5 + rng.next() % 20;
        for _ in 0..observations {
            let bucket = (rng.next() % 5) as usize;
            for c in counts.iter_mut().skip(bucket) {
                *c += 1;
            }
        }
        for (b, points) in by_bucket.iter_mut().enumerate() {
            points.push((t0 + i * STEP_S, counts[b].to_string()));
        }
    }
    for (b, points) in by_bucket.iter().enumerate() {
        series(
            &mut out,
            &format!("latency_seconds_bucket{{job=\"api\",le=\"{}\"}}", bounds[b]),
            points,
        );
    }
    // sparse: every 10 minutes, and a series that ends half way
    let sparse: Vec<_> = (0..POINTS)
        .step_by(40)
        .map(|i| (t0 + i * STEP_S, (i / 40).to_string()))
        .collect();
    series(&mut out, "batch_last_run{job=\"batch\"}", &sparse);
    let gone: Vec<_> = (0..POINTS / 2)
        .map(|i| (t0 + i * STEP_S, "1".to_owned()))
        .collect();
    series(&mut out, "worker_busy{job=\"batch\",worker=\"w1\"}", &gone);
    let stays: Vec<_> = (0..POINTS)
        .map(|i| (t0 + i * STEP_S, "0".to_owned()))
        .collect();
    series(&mut out, "worker_busy{job=\"batch\",worker=\"w2\"}", &stays);
    // info-style series for joins
    for (instance, version) in [("a", "1.2"), ("b", "1.3"), ("c", "1.3")] {
        let points: Vec<_> = (0..POINTS)
            .map(|i| (t0 + i * STEP_S, "1".to_owned()))
            .collect();
        series(
            &mut out,
            &format!("build_info{{job=\"api\",instance=\"{instance}\",version=\"{version}\"}}"),
            &points,
        );
    }
    out.push_str("# EOF\n");
    out
}

/// Every feature nightlight evaluates.
const QUERIES: &[&str] = &[
    // selectors and matchers
    "http_requests_total",
    "http_requests_total{instance=\"a\"}",
    "http_requests_total{instance!=\"a\"}",
    "http_requests_total{instance=~\"a|b\"}",
    "http_requests_total{instance!~\"a|b\", code=\"200\"}",
    "{__name__=~\"http_.*\", code=\"500\"}",
    "http_requests_total{nope=\"\"}",
    "worker_busy",
    "batch_last_run",
    "http_requests_total offset 10m",
    "http_requests_total offset -5m",
    "http_requests_total @ end()",
    "temperature @ start()",
    // rates and friends
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[1m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "increase(http_requests_total[2m] offset 3m)",
    "delta(temperature[10m])",
    "idelta(temperature[5m])",
    "deriv(temperature[10m])",
    "predict_linear(temperature[15m], 600)",
    "resets(http_requests_total[1h])",
    "changes(temperature[10m])",
    // *_over_time
    "avg_over_time(temperature[10m])",
    "min_over_time(temperature[10m])",
    "max_over_time(temperature[10m])",
    "sum_over_time(temperature[10m])",
    "count_over_time(temperature[10m])",
    "quantile_over_time(0.9, temperature[10m])",
    "stddev_over_time(temperature[10m])",
    "stdvar_over_time(temperature[10m])",
    "last_over_time(batch_last_run[20m])",
    "present_over_time(worker_busy[5m])",
    "absent_over_time(worker_busy{worker=\"w1\"}[5m])",
    "absent_over_time(nothing{job=\"x\"}[5m])",
    // subqueries
    "max_over_time(rate(http_requests_total[1m])[10m:1m])",
    "avg_over_time(temperature[10m:30s])",
    "min_over_time(rate(http_requests_total[5m])[30m:])",
    "max_over_time(temperature[5m:1m] offset 7m)",
    // aggregations
    "sum(http_requests_total)",
    "sum by (instance) (rate(http_requests_total[5m]))",
    "sum without (code) (rate(http_requests_total[5m]))",
    "avg by (job) (temperature)",
    "min(temperature)",
    "max by (job) (temperature)",
    "count by (code) (http_requests_total)",
    "group by (job) (http_requests_total)",
    "stddev(temperature)",
    "stdvar(temperature)",
    "topk(2, rate(http_requests_total[5m]))",
    "bottomk(1, temperature)",
    "quantile(0.5, temperature)",
    "quantile by (job) (0.25, rate(http_requests_total[5m]))",
    "count_values(\"version\", build_info)",
    "count_values by (job) (\"v\", worker_busy)",
    "sum(temperature) by (room)",
    // binary operators
    "http_requests_total + 1",
    "2 * http_requests_total",
    "http_requests_total / 3",
    "http_requests_total % 7",
    "temperature ^ 2",
    "1 - temperature",
    "-temperature",
    "temperature > 22",
    "temperature > bool 22",
    "22 < temperature",
    "temperature == bool temperature",
    "rate(http_requests_total[5m]) / on (instance, code) rate(http_requests_total[5m])",
    "http_requests_total / ignoring (code) group_left build_info",
    "http_requests_total * on (instance) group_left (version) build_info",
    "build_info * on (instance) group_right (version) http_requests_total",
    "http_requests_total and http_requests_total{instance=\"a\"}",
    "http_requests_total or temperature",
    "http_requests_total unless on (instance) build_info{version=\"1.3\"}",
    "temperature atan2 temperature",
    "temperature_limit - temperature",
    "temperature > on (room) temperature_limit",
    "{__name__=~\"temperature.*\", room=\"r1\"}",
    "sum(rate(http_requests_total[5m])) / sum(rate(http_requests_total{code=\"500\"}[5m]))",
    "1 + 2 * 3",
    "2 ^ 3 ^ 2",
    "5 > bool 3",
    // histograms
    "histogram_quantile(0.9, rate(latency_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(latency_seconds_bucket[10m])))",
    "histogram_quantile(0.99, latency_seconds_bucket)",
    // labels
    "label_replace(http_requests_total, \"host\", \"$1:80\", \"instance\", \"(.*)\")",
    "label_replace(http_requests_total, \"instance\", \"\", \"instance\", \"a\")",
    "label_join(http_requests_total, \"id\", \"/\", \"instance\", \"code\")",
    // math and clamping
    "abs(1 - temperature)",
    "ceil(temperature)",
    "floor(temperature)",
    "round(temperature)",
    "round(temperature, 0.5)",
    "exp(temperature / 10)",
    "ln(temperature)",
    "log2(temperature)",
    "log10(temperature)",
    "sqrt(temperature)",
    "sgn(temperature - 22)",
    "sin(temperature)",
    "cos(temperature)",
    "tan(temperature)",
    "asin(temperature / 100)",
    "acos(temperature / 100)",
    "atan(temperature)",
    "sinh(temperature / 10)",
    "cosh(temperature / 10)",
    "tanh(temperature / 10)",
    "asinh(temperature)",
    "acosh(temperature)",
    "atanh(temperature / 100)",
    "deg(temperature)",
    "rad(temperature)",
    "pi()",
    "clamp(temperature, 20, 23)",
    "clamp_min(temperature, 22)",
    "clamp_max(temperature, 22)",
    "clamp(temperature, 23, 20)",
    // absent, scalars, vectors, time
    "absent(nothing)",
    "absent(nothing{job=\"x\", a=~\"b\"})",
    "absent(temperature)",
    "scalar(sum(temperature))",
    "scalar(temperature)",
    "vector(1)",
    "vector(time())",
    "time()",
    "timestamp(temperature)",
    "timestamp(batch_last_run)",
    "sort(temperature)",
    "sort_desc(temperature)",
    // dates
    "day_of_month()",
    "day_of_week()",
    "day_of_year()",
    "days_in_month()",
    "hour()",
    "minute()",
    "month()",
    "year()",
    "hour(batch_last_run * 3600)",
    "month(vector(1709251200))",
    "days_in_month(vector(1709251200))",
];

/// Invalid queries: each must fail in both, with the same error class.
const INVALID: &[&str] = &[
    "sum(",
    "rate(temperature)",
    "http_requests_total{",
    "foo[5m] + 1",
    "temperature / on (room) group_left temperature{} or",
    "label_replace(temperature, \"1x\", \"\", \"room\", \"(.*)\")",
    "{__name__=~\"temperature.*\"} + 1",
    "http_requests_total / on (job) http_requests_total",
    "http_requests_total * on (instance) build_info",
];

/// A series, normalised: labels and points.
type Normal = (BTreeMap<String, String>, Vec<(i64, f64)>);

/// An answer, normalised: kind and each series' labels and points.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Scalar(f64),
    Series(&'static str, Vec<Normal>),
    Error(&'static str),
}

fn labels_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn from_nightlight(value: Result<Value, QueryError>, t: i64) -> Answer {
    match value {
        Err(QueryError::BadData(_)) => Answer::Error("bad_data"),
        Err(QueryError::Execution(_)) => Answer::Error("execution"),
        Err(QueryError::Timeout(_)) => Answer::Error("timeout"),
        Ok(Value::Scalar(v)) => Answer::Scalar(v),
        Ok(Value::String(_)) => Answer::Error("string"),
        Ok(Value::Vector(samples)) => Answer::Series(
            "vector",
            samples
                .iter()
                .map(|s| (labels_map(&s.labels), vec![(t, s.value)]))
                .collect(),
        ),
        Ok(Value::Matrix(series)) => Answer::Series(
            "matrix",
            series
                .iter()
                .map(|s| (labels_map(&s.labels), s.points.clone()))
                .collect(),
        ),
    }
}

fn parse_value(v: &serde_json::Value) -> f64 {
    let text = v.as_str().expect("a value is a string");
    match text {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().expect("a number"),
    }
}

fn point(p: &serde_json::Value) -> (i64, f64) {
    let t = (p[0].as_f64().expect("a time") * 1000.0).round() as i64;
    (t, parse_value(&p[1]))
}

fn from_prometheus(body: &serde_json::Value) -> Answer {
    if body["status"] != "success" {
        return Answer::Error(match body["errorType"].as_str() {
            Some("bad_data") => "bad_data",
            Some("execution") => "execution",
            Some("timeout") => "timeout",
            _ => "other",
        });
    }
    let data = &body["data"];
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => Answer::Scalar(point(result).1),
        Some(kind @ ("vector" | "matrix")) => {
            let kind = if kind == "vector" { "vector" } else { "matrix" };
            let series = result
                .as_array()
                .expect("a list")
                .iter()
                .map(|s| {
                    let labels = s["metric"]
                        .as_object()
                        .expect("labels")
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect();
                    let points = match s.get("value") {
                        Some(v) => vec![point(v)],
                        None => s["values"]
                            .as_array()
                            .expect("values")
                            .iter()
                            .map(point)
                            .collect(),
                    };
                    (labels, points)
                })
                .collect();
            Answer::Series(kind, series)
        }
        other => panic!("unexpected result type {other:?}"),
    }
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-3)
}

/// Where the two answers differ, if they do. Order counts only for
/// `sort` and `sort_desc`.
fn difference(query: &str, ours: &Answer, theirs: &Answer) -> Option<String> {
    match (ours, theirs) {
        (Answer::Scalar(a), Answer::Scalar(b)) if same_value(*a, *b) => None,
        (Answer::Error(a), Answer::Error(b)) if a == b => None,
        (Answer::Series(ka, a), Answer::Series(kb, b)) if ka == kb => {
            let ordered = query.starts_with("sort");
            let (mut a, mut b) = (a.clone(), b.clone());
            if !ordered {
                a.sort_by(|x, y| x.0.cmp(&y.0));
                b.sort_by(|x, y| x.0.cmp(&y.0));
            }
            if a.len() != b.len() {
                return Some(format!(
                    "{} series against Prometheus's {}:\n  ours:   {:?}\n  theirs: {:?}",
                    a.len(),
                    b.len(),
                    a.iter().map(|s| &s.0).collect::<Vec<_>>(),
                    b.iter().map(|s| &s.0).collect::<Vec<_>>()
                ));
            }
            for ((la, pa), (lb, pb)) in a.iter().zip(&b) {
                if la != lb {
                    return Some(format!("labels {la:?} against Prometheus's {lb:?}"));
                }
                if pa.len() != pb.len() {
                    return Some(format!("{la:?}: {} points against {}", pa.len(), pb.len()));
                }
                for (x, y) in pa.iter().zip(pb) {
                    if x.0 != y.0 || !same_value(x.1, y.1) {
                        return Some(format!("{la:?}: {x:?} against Prometheus's {y:?}"));
                    }
                }
            }
            None
        }
        _ => Some(format!("{ours:?}\n  against Prometheus's {theirs:?}")),
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Prometheus, killed when dropped.
/// The API path of `query` at `t` (ms).
fn instant(query: &str, t: i64) -> String {
    format!(
        "/api/v1/query?query={}&time={}",
        encode(query),
        t as f64 / 1000.0
    )
}

async fn ask(base: &str, path: &str) -> serde_json::Value {
    let (_, body) = e2e::http_get(base, path).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_answers_as_prometheus_does() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t0 = (now - 3 * 3600) / 60 * 60;
    let text = data(t0);
    let input = dir.path().join("data.om");
    std::fs::write(&input, &text).unwrap();

    // Prometheus: blocks made from the text, then the server on them
    let blocks = dir.path().join("prometheus");
    let made = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&blocks)
        .output()
        .expect("promtool (Debian's prometheus package; .ci/setup installs it)");
    assert!(
        made.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  evaluation_interval: 1m\n").unwrap();
    let net = Loopback::block();
    let listen = net.addr(1, 9090);
    let prometheus = Prometheus::start(
        &listen,
        &config,
        &blocks,
        &["--storage.tsdb.retention.time=30d"],
    )
    .await;

    // nightlight: the same text into its store
    let db = Db::open(&dir.path().join("nightlight")).unwrap();
    let parsed = exposition::parse(
        &text,
        Format::OpenMetrics,
        Limits {
            samples: 0,
            labels: 0,
            label_value_length: 0,
        },
    )
    .unwrap();
    let samples: Vec<(Labels, i64, f64)> = parsed
        .samples
        .into_iter()
        .map(|s| {
            let labels = s.labels.expect("parse gives every label set");
            (labels, s.timestamp.expect("timestamped"), s.value)
        })
        .collect();
    let stored = db.append_labelled(&samples, false).unwrap();
    assert_eq!(stored.stored, samples.len());
    let engine = Engine::new(Arc::new(db), Settings::default());

    let ms = |s: i64| s * 1000;
    // inside the data, at a sample and between samples, just after its
    // end (inside the lookback) and past the lookback
    let instants = [
        ms(t0 + 1800),
        ms(t0 + 3671) + 250,
        ms(t0 + POINTS * STEP_S + 120),
        ms(t0 + POINTS * STEP_S + 400),
    ];
    let ranges = [
        (ms(t0 + 600), ms(t0 + 6600), 60_000),
        (ms(t0 + 1000), ms(t0 + 4000), 47_000),
        (ms(t0 + 7000), ms(t0 + 7500), 15_000),
    ];
    let mut failures = Vec::new();
    let mut compared = 0;
    for query in QUERIES {
        for &t in &instants {
            let theirs = from_prometheus(&ask(&prometheus.base, &instant(query, t)).await);
            let ours = from_nightlight(engine.instant(query, t), t);
            if let Some(d) = difference(query, &ours, &theirs) {
                failures.push(format!("instant `{query}` at {t}: {d}"));
            }
            compared += 1;
        }
        if query.contains("[5m]") && query.starts_with("absent") {
            continue;
        }
        for &(start, end, step) in &ranges {
            let body = ask(
                &prometheus.base,
                &format!(
                    "/api/v1/query_range?query={}&start={}&end={}&step={}",
                    encode(query),
                    start as f64 / 1000.0,
                    end as f64 / 1000.0,
                    step as f64 / 1000.0
                ),
            )
            .await;
            let theirs = from_prometheus(&body);
            let ours = match engine.range(query, start, end, step) {
                Ok(series) => Answer::Series(
                    "matrix",
                    series
                        .iter()
                        .map(|s| (labels_map(&s.labels), s.points.clone()))
                        .collect(),
                ),
                Err(e) => from_nightlight(Err(e), 0),
            };
            if let Some(d) = difference("", &ours, &theirs) {
                failures.push(format!("range `{query}` {start}..{end} step {step}: {d}"));
            }
            compared += 1;
        }
    }
    for query in INVALID {
        let t = instants[0];
        let theirs = from_prometheus(&ask(&prometheus.base, &instant(query, t)).await);
        assert!(
            matches!(theirs, Answer::Error(_)),
            "Prometheus accepted `{query}`: {theirs:?}"
        );
        let ours = from_nightlight(engine.instant(query, t), t);
        if let Some(d) = difference(query, &ours, &theirs) {
            failures.push(format!("invalid `{query}`: {d}"));
        }
        compared += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} answers differ from Prometheus's:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

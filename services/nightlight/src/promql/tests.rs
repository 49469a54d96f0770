//! Answers worked out by hand from Prometheus's rules; the differential
//! test (tests/tests/nightlight_vs_prometheus.rs) asks Prometheus itself.

use std::sync::Arc;

use super::*;

/// A store with `http_requests_total{job, instance}` counters growing by
/// 1/s (instance a) and 2/s (instance b), sampled every 15 s from 0 to
/// 1 h, and a histogram.
fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let mut batch = Vec::new();
    for i in 0..=240i64 {
        let t = i * 15_000;
        for (instance, per_s) in [("a", 1.0), ("b", 2.0)] {
            batch.push((
                Labels::from_pairs([
                    (NAME, "http_requests_total"),
                    ("job", "api"),
                    ("instance", instance),
                ]),
                t,
                per_s * (t / 1000) as f64,
            ));
        }
        for (le, share) in [("0.1", 0.5), ("1", 0.9), ("+Inf", 1.0)] {
            batch.push((
                Labels::from_pairs([(NAME, "latency_bucket"), ("job", "api"), ("le", le)]),
                t,
                share * (t / 1000) as f64,
            ));
        }
    }
    db.append_labelled(&batch, false).expect("append");
    (dir, Engine::new(Arc::new(db), Settings::default()))
}

fn vector(e: &Engine, q: &str, t: i64) -> Vec<(String, f64)> {
    match e.instant(q, t).expect(q) {
        Value::Vector(v) => {
            let mut out: Vec<_> = v
                .into_iter()
                .map(|s| (s.labels.to_string(), s.value))
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{q}: {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[test]
fn rate_of_a_steady_counter_is_its_slope() {
    let (_dir, e) = engine();
    let got = vector(&e, "rate(http_requests_total[5m])", 1_800_000);
    assert_eq!(got.len(), 2);
    assert!(close(got[0].1, 1.0) && close(got[1].1, 2.0), "{got:?}");
    assert_eq!(got[0].0, "{instance=\"a\", job=\"api\"}");
    let got = vector(
        &e,
        "increase(http_requests_total{instance=\"b\"}[1m])",
        1_800_000,
    );
    assert!(close(got[0].1, 120.0), "{got:?}");
    let got = vector(
        &e,
        "sum by (job) (irate(http_requests_total[1m]))",
        1_800_000,
    );
    assert_eq!(got, [("{job=\"api\"}".to_owned(), 3.0)]);
}

#[test]
fn lookback_and_staleness_end_a_series() {
    let (_dir, e) = engine();
    // the last sample is at 3600 s; 5 minutes later it is still seen
    assert_eq!(
        vector(&e, "http_requests_total{instance=\"a\"}", 3_900_000).len(),
        1
    );
    assert!(vector(&e, "http_requests_total{instance=\"a\"}", 3_900_001).is_empty());
}

#[test]
fn binary_matching_and_its_errors() {
    let (_dir, e) = engine();
    let got = vector(
        &e,
        "http_requests_total / on (job) group_left sum by (job) (http_requests_total)",
        60_000,
    );
    assert_eq!(got.len(), 2);
    assert!(close(got[0].1, 1.0 / 3.0), "{got:?}");
    let err = e
        .instant("http_requests_total / on (job) http_requests_total", 60_000)
        .expect_err("many to many");
    assert!(
        err.to_string()
            .contains("found duplicate series for the match group"),
        "{err}"
    );
    let got = vector(&e, "http_requests_total > 100", 60_000);
    assert_eq!(
        got,
        [(
            "http_requests_total{instance=\"b\", job=\"api\"}".to_owned(),
            120.0
        )]
    );
    let got = vector(&e, "http_requests_total > bool 100", 60_000);
    assert_eq!(got[0], ("{instance=\"a\", job=\"api\"}".to_owned(), 0.0));
    let got = vector(
        &e,
        "http_requests_total unless http_requests_total{instance=\"a\"}",
        60_000,
    );
    assert_eq!(got.len(), 1);
}

#[test]
fn histogram_quantile_interpolates_within_a_bucket() {
    let (_dir, e) = engine();
    // half the observations are under 0.1, 90% under 1: the 0.7 quantile
    // is halfway through the (0.1, 1] bucket
    let got = vector(
        &e,
        "histogram_quantile(0.7, rate(latency_bucket[5m]))",
        1_800_000,
    );
    assert_eq!(got.len(), 1);
    assert!(close(got[0].1, 0.55), "{got:?}");
    assert_eq!(got[0].0, "{job=\"api\"}");
}

#[test]
fn subqueries_step_on_absolute_time() {
    let (_dir, e) = engine();
    // rate is 1/s at every step; 10 steps of 1m in a 10m window
    let got = vector(
        &e,
        "count_over_time(rate(http_requests_total{instance=\"a\"}[1m])[10m:1m])",
        1_830_000,
    );
    assert_eq!(got[0].1, 10.0);
    let got = vector(
        &e,
        "max_over_time(http_requests_total{instance=\"a\"}[10m:1m] offset 1m)",
        1_830_000,
    );
    assert_eq!(got[0].1, 1_740.0);
}

#[test]
fn range_queries_and_their_limits() {
    let (_dir, e) = engine();
    let series = e
        .range("sum(http_requests_total)", 0, 600_000, 60_000)
        .expect("range");
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].points.len(), 11);
    assert_eq!(series[0].points[2], (120_000, 360.0));
    let err = e
        .range("up", 0, 1_000_000_000, 1)
        .expect_err("too many points");
    assert!(matches!(err, QueryError::BadData(_)), "{err}");
    let err = e.range("up[5m]", 0, 10, 1).expect_err("matrix");
    assert!(err.to_string().contains("range vector"), "{err}");
    let err = e.instant("sum(", 0).expect_err("parse");
    assert!(matches!(err, QueryError::BadData(_)), "{err}");
}

#[test]
fn functions_on_instant_vectors() {
    let (_dir, e) = engine();
    let t = 60_000;
    let got = vector(
        &e,
        "label_replace(http_requests_total, \"host\", \"$1-x\", \"instance\", \"(.*)\")",
        t,
    );
    assert_eq!(
        got[0].0,
        "http_requests_total{host=\"a-x\", instance=\"a\", job=\"api\"}"
    );
    let got = vector(&e, "clamp_max(http_requests_total, 100)", t);
    assert_eq!(got[1].1, 100.0);
    let got = vector(&e, "absent(nothing{job=\"x\"})", t);
    assert_eq!(got, [("{job=\"x\"}".to_owned(), 1.0)]);
    let got = vector(&e, "count_values(\"v\", http_requests_total)", t);
    assert_eq!(got.len(), 2);
    let got = vector(&e, "topk(1, http_requests_total)", t);
    assert_eq!(got[0].1, 120.0);
    assert_eq!(
        e.instant("scalar(vector(3)) * 2", t).expect("scalar"),
        Value::Scalar(6.0)
    );
    let got = vector(&e, "year(vector(1700000000))", t);
    assert_eq!(got[0].1, 2023.0);
    let got = vector(&e, "timestamp(http_requests_total)", t + 5_000);
    assert_eq!(got[0].1, 60.0);
}

#[test]
fn a_range_query_computed_a_series_at_a_time_answers_as_step_by_step() {
    let (_dir, e) = engine();
    // `rate(x[1m])` alone is computed across all steps at once; `+ 0`
    // keeps the same call but inside a binary operation, and
    // `rate(x[1m] offset 0s)` the same window: every form must agree with
    // the instant answers at each step
    for q in [
        "rate(http_requests_total[1m])",
        "sum by (instance) (rate(http_requests_total[1m])) + 0",
        "max_over_time(latency_bucket[2m] offset 30s)",
    ] {
        let ranged = e.range(q, 300_000, 900_000, 45_000).expect("range");
        assert!(!ranged.is_empty(), "{q}");
        for series in &ranged {
            for &(t, v) in &series.points {
                let Value::Vector(at) = e.instant(q, t).expect("instant") else {
                    panic!("{q}: not a vector");
                };
                let same = at
                    .iter()
                    .find(|s| s.labels == series.labels)
                    .map(|s| s.value);
                assert_eq!(same, Some(v), "{q} at {t}: {}", series.labels);
            }
        }
    }
}

#[test]
fn a_query_loading_more_samples_than_allowed_is_refused() {
    let (dir, e) = engine();
    drop(e);
    let db = Arc::new(Db::open(dir.path()).expect("reopen"));
    let small = Settings {
        max_samples: 100,
        ..Settings::default()
    };
    let e = Engine::new(db, small);
    for q in [
        "rate(http_requests_total[10m])",
        "http_requests_total",
        "sum(rate(latency_bucket[1h]))",
    ] {
        let err = e.range(q, 0, 3_600_000, 15_000).expect_err(q);
        assert!(
            matches!(err, QueryError::Execution(_)) && err.to_string().contains("too many samples"),
            "{q}: {err}"
        );
    }
    // few samples loaded, but an answer of 2 series x 601 steps: too big
    // to compute ahead, and refused as it grows step by step
    let err = e
        .range("rate(http_requests_total[1m])", 0, 60_000, 100)
        .expect_err("too many points in the answer");
    assert!(err.to_string().contains("too many samples"), "{err}");
}

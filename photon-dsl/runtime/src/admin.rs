//! `/health` and `/metrics`, written once for every component.
//!
//! A component says what it knows: its health checks ([`Report::health`])
//! and its counters and gauges ([`Report::metrics`]). [`Admin`] turns that
//! into the design's `/health` JSON (docs/design.md §7.2) (200 when every check passes, 503 when
//! one fails, so a load balancer's or Kubernetes' health check believes it)
//! and the Prometheus text format, and answers both on whichever HTTP
//! listener the component serves them on ([`Admin::answer`]).
//!
//! Metrics are written at scrape time by a small typed writer
//! ([`Metrics`]) rather than kept in a registry (the `prometheus-client`
//! crate's model): a component's numbers already live in its own atomics
//! and stores (a zone's serial, a bucket count, the Raft term), so a
//! registry would be a second copy to keep in step. The writer takes care
//! of what hand-written text got wrong: one `# HELP`/`# TYPE` per family,
//! label values escaped, names checked.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hyper::{Method, Request, Response, StatusCode, header};

use crate::ModeReport;

/// The content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A component's health checks, in the order they are written.
#[derive(Debug, Default)]
pub struct Checks {
    entries: Vec<(std::borrow::Cow<'static, str>, serde_json::Value, bool)>,
}

impl Checks {
    /// A passing check: `value` is what `/health` shows (`"ok"`, a revision).
    pub fn ok(
        &mut self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        value: impl Into<serde_json::Value>,
    ) -> &mut Self {
        self.entries.push((name.into(), value.into(), true));
        self
    }

    /// A failing check: the component is unhealthy (503), and `why` says so.
    pub fn failing(
        &mut self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        why: impl Into<String>,
    ) -> &mut Self {
        self.entries.push((name.into(), why.into().into(), false));
        self
    }

    /// [`ok`](Self::ok) or [`failing`](Self::failing), by `result`.
    pub fn check<T: Into<serde_json::Value>, E: fmt::Display>(
        &mut self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        result: Result<T, E>,
    ) -> &mut Self {
        match result {
            Ok(value) => self.ok(name, value),
            Err(why) => self.failing(name, why.to_string()),
        }
    }

    /// Whether every check passes.
    pub fn healthy(&self) -> bool {
        self.entries.iter().all(|(_, _, ok)| *ok)
    }
}

/// What a running component reports about itself.
pub trait Report: Send + Sync + 'static {
    /// Its own checks; `/health` puts them after `mode` (and `chainfire`,
    /// when integrated).
    fn health(&self, checks: &mut Checks);

    /// Its counters and gauges, written when `/metrics` is scraped.
    fn metrics(&self, out: &mut Metrics) {
        let _ = out;
    }
}

/// A component with nothing to check but that it answers.
#[derive(Debug, Clone, Copy)]
pub struct NoChecks;

impl Report for NoChecks {
    fn health(&self, _: &mut Checks) {}
}

/// The Prometheus text exposition format, one family at a time.
#[derive(Debug, Default)]
pub struct Metrics {
    text: String,
}

/// What a family counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

impl Metrics {
    /// A counter family (a name ending in `_total`): only ever goes up.
    pub fn counter(&mut self, name: &'static str, help: &str) -> Family<'_> {
        debug_assert!(name.ends_with("_total"), "counter `{name}` ends in _total");
        self.family(name, help, Kind::Counter)
    }

    /// A gauge family: a value that goes up and down.
    pub fn gauge(&mut self, name: &'static str, help: &str) -> Family<'_> {
        self.family(name, help, Kind::Gauge)
    }

    /// A histogram family: write each series with [`Family::histogram`].
    pub fn histogram(&mut self, name: &'static str, help: &str) -> Family<'_> {
        self.family(name, help, Kind::Histogram)
    }

    fn family(&mut self, name: &'static str, help: &str, kind: Kind) -> Family<'_> {
        debug_assert!(valid_name(name), "`{name}` is not a metric name");
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
        Family {
            text: &mut self.text,
            name,
            kind,
        }
    }

    /// The exposition text.
    pub fn into_text(self) -> String {
        self.text
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus' metric and label names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// One metric family being written.
#[derive(Debug)]
pub struct Family<'a> {
    text: &'a mut String,
    name: &'static str,
    kind: Kind,
}

impl Family<'_> {
    /// The family's one unlabelled sample.
    pub fn value(&mut self, value: impl SampleValue) -> &mut Self {
        self.sample("", &[], value);
        self
    }

    /// A sample with `labels` (values escaped as the format requires).
    pub fn labelled(&mut self, labels: &[(&str, &str)], value: impl SampleValue) -> &mut Self {
        self.sample("", labels, value);
        self
    }

    /// A histogram's series with `labels`: its buckets, sum and count.
    pub fn histogram(&mut self, labels: &[(&str, &str)], histogram: &Histogram) -> &mut Self {
        debug_assert_eq!(self.kind, Kind::Histogram, "`{}` is a histogram", self.name);
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample("_bucket", &with_le, cumulative);
        }
        let count = histogram.count.load(Ordering::Relaxed);
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample("_bucket", &with_le, count);
        self.sample("_sum", labels, histogram.sum());
        self.sample("_count", labels, count);
        self
    }

    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: impl SampleValue) {
        let text = &mut *self.text;
        text.push_str(self.name);
        text.push_str(suffix);
        if !labels.is_empty() {
            text.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                debug_assert!(valid_name(name), "`{name}` is not a label name");
                if i > 0 {
                    text.push(',');
                }
                text.push_str(name);
                text.push_str("=\"");
                for c in value.chars() {
                    match c {
                        '\\' => text.push_str("\\\\"),
                        '"' => text.push_str("\\\""),
                        '\n' => text.push_str("\\n"),
                        c => text.push(c),
                    }
                }
                text.push('"');
            }
            text.push('}');
        }
        text.push(' ');
        value.write(text);
        text.push('\n');
    }
}

/// A number as the text format writes it: integers exactly, floats with
/// `+Inf`, `-Inf` and `NaN` spelled as Prometheus spells them.
pub trait SampleValue {
    /// Appends the value to `out`.
    fn write(self, out: &mut String);
}

macro_rules! integer_sample {
    ($($ty:ty),*) => {$(
        impl SampleValue for $ty {
            fn write(self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
integer_sample!(u8, u16, u32, u64, usize, i32, i64);

impl SampleValue for f64 {
    fn write(self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

/// The last result of a look at state kept elsewhere (a count read from
/// chainfire), taken again every period in the background: `/health` and
/// `/metrics` answer from it at once, never waiting on the store.
#[derive(Debug)]
pub struct LastLook<T> {
    last: std::sync::Mutex<Result<T, String>>,
}

impl<T: Clone + Send + 'static> LastLook<T> {
    /// Takes the first look now, then one every `period` until `stop`.
    pub async fn every<F, Fut>(
        period: std::time::Duration,
        stop: tokio_util::sync::CancellationToken,
        look: F,
    ) -> Arc<LastLook<T>>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<T, String>> + Send,
    {
        let taken = Arc::new(LastLook {
            last: std::sync::Mutex::new(look().await),
        });
        let kept = taken.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(period) => {
                        let seen = look().await;
                        *kept.last.lock().unwrap_or_else(|e| e.into_inner()) = seen;
                    }
                }
            }
        });
        taken
    }

    /// What the last look found, or why it failed.
    pub fn last(&self) -> Result<T, String> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Observations counted into fixed buckets (seconds, bytes, ...).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum, as the bits of an `f64` (updated by compare-and-swap).
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending; `+Inf` is implied).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "ascending bounds");
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|bound| value <= *bound) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }
}

/// Which configuration a node runs: its deployment, the configuration's
/// version and the topology's fingerprint, reported on `/health` and as
/// `photon_config_info` so that nodes running different configurations
/// can be told apart from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIdentity {
    /// The deployment's name (`standalone` for a standalone server).
    pub deployment: String,
    /// Its `ConfigVersion`.
    pub version: String,
    /// The topology's fingerprint, in full hex.
    pub fingerprint: String,
}

/// A component's `/health` and `/metrics`.
#[derive(Clone)]
pub struct Admin {
    component: Arc<str>,
    version: &'static str,
    mode: ModeReport,
    config: Option<Arc<crate::skew::ConfigCheck>>,
    report: Arc<dyn Report>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("component", &self.component)
            .field("version", &self.version)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The admin surface of `component` at `version` (the component crate's
    /// `CARGO_PKG_VERSION`), reporting `mode` and what `report` says.
    pub fn new(
        component: &str,
        version: &'static str,
        mode: ModeReport,
        report: impl Report,
    ) -> Admin {
        Admin {
            component: component.into(),
            version,
            mode,
            config: None,
            report: Arc::new(report),
        }
    }

    /// The same surface, also reporting the configuration it runs and the
    /// other configurations its callers ran.
    pub fn with_config(mut self, config: Arc<crate::skew::ConfigCheck>) -> Admin {
        self.config = Some(config);
        self
    }

    /// The mode it reports.
    pub fn mode(&self) -> &ModeReport {
        &self.mode
    }

    /// The design's `/health` answer: 200 when every check passes, else
    /// 503; the body is JSON with `status`, `mode`, `component`, `version`,
    /// `config` (deployment, version, fingerprint) when known, and `checks`
    /// (`mode` first, then `chainfire` when integrated, then the
    /// component's own).
    pub fn health(&self) -> (StatusCode, String) {
        let mut checks = Checks::default();
        checks.ok("mode", self.mode.check());
        if let Some(integration) = self.mode.integration_check() {
            checks.ok("chainfire", integration);
        }
        self.report.health(&mut checks);
        let healthy = checks.healthy();
        let mut all = serde_json::Map::new();
        for (name, value, _) in checks.entries {
            all.insert(name.into_owned(), value);
        }
        let mut body = serde_json::json!({
            "status": if healthy { "healthy" } else { "unhealthy" },
            "mode": self.mode.mode(),
            "component": &*self.component,
            "version": self.version,
            "checks": all,
        });
        if let Some(check) = &self.config {
            let config = check.own();
            body["config"] = serde_json::json!({
                "deployment": config.deployment,
                "version": config.version,
                "fingerprint": config.fingerprint,
                "skew": check.health_json(),
            });
        }
        let status = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, format!("{body}\n"))
    }

    /// `/metrics`: the component's families in the Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut out = Metrics::default();
        if let Some(check) = &self.config {
            let config = check.own();
            out.gauge(
                "photon_config_info",
                "The configuration this node runs: its deployment, version and fingerprint.",
            )
            .labelled(
                &[
                    ("deployment", &config.deployment),
                    ("version", &config.version),
                    ("fingerprint", &config.fingerprint),
                ],
                1,
            );
            check.write_metrics(&mut out);
        }
        self.report.metrics(&mut out);
        out.into_text()
    }

    /// The answer to `GET` (or `HEAD`) `/health` or `/metrics`, in the
    /// caller's body type; `None` for any other request, which is the
    /// component's own.
    pub fn answer<R, B: From<Bytes>>(&self, request: &Request<R>) -> Option<Response<B>> {
        if request.method() == Method::POST && request.uri().path() == ROLL_PATH {
            return Some(self.open_roll_window(request.uri().query()));
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return None;
        }
        let (status, content_type, body) = match request.uri().path() {
            "/health" => {
                let (status, body) = self.health();
                (status, "application/json", body)
            }
            "/metrics" => (StatusCode::OK, METRICS_CONTENT_TYPE, self.metrics()),
            _ => return None,
        };
        let mut response = Response::new(B::from(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        Some(response)
    }
}

/// Where `roll` opens a window for calls between configurations: `POST
/// /_photon/roll?seconds=N` (0 closes it). The `_` keeps it clear of any
/// S3 bucket and of an echo message's usual path.
pub const ROLL_PATH: &str = "/_photon/roll";

impl Admin {
    /// `POST /_photon/roll?seconds=N`: calls from other configurations are
    /// served for N seconds even under `--config-skew refuse`, while a
    /// roll changes nodes over.
    fn open_roll_window<B: From<Bytes>>(&self, query: Option<&str>) -> Response<B> {
        let seconds = query
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("seconds="))
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&s| s <= 86_400);
        let (status, body) = match (seconds, &self.config) {
            (None, _) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": "give `seconds=N` (0 to 86400)" }),
            ),
            (Some(_), None) => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": "this server runs no deployment's configuration" }),
            ),
            (Some(seconds), Some(check)) => {
                check.open_roll_window(
                    std::time::Instant::now() + std::time::Duration::from_secs(seconds),
                );
                tracing::info!(
                    seconds,
                    "roll window opened: calls from other configurations are served"
                );
                (
                    StatusCode::OK,
                    serde_json::json!({ "rolling_for_seconds": seconds }),
                )
            }
        };
        let mut response = Response::new(B::from(Bytes::from(format!("{body}\n"))));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;

    use super::*;

    struct Disk(Result<&'static str, &'static str>);

    impl Report for Disk {
        fn health(&self, checks: &mut Checks) {
            checks.check("storage", self.0);
        }

        fn metrics(&self, out: &mut Metrics) {
            out.counter("demo_requests_total", "Requests, by class.")
                .labelled(&[("class", "2xx")], 3u32)
                .labelled(&[("class", "a\"b\\c\nd")], 1u32);
            out.gauge("demo_buckets", "Buckets.").value(2u32);
        }
    }

    fn get(admin: &Admin, path: &str) -> Option<(StatusCode, String, String)> {
        let request = Request::get(path).body(()).unwrap();
        let response: Response<Full<Bytes>> = admin.answer(&request)?;
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let status = response.status();
        let body = response.into_body();
        Some((status, content_type, text_of(body)))
    }

    #[test]
    fn a_roll_window_is_opened_by_post_and_shown_on_health() {
        let admin = running_prod(crate::skew::SkewPolicy::Refuse);
        let post = |uri: &str| {
            let request = Request::post(uri).body(()).unwrap();
            let response: Response<Full<Bytes>> = admin.answer(&request).unwrap();
            response.status()
        };
        assert_eq!(post("/_photon/roll"), StatusCode::BAD_REQUEST);
        assert_eq!(post("/_photon/roll?seconds=soon"), StatusCode::BAD_REQUEST);
        let (_, _, health) = get(&admin, "/health").unwrap();
        assert!(health.contains("\"rolling\":false"), "{health}");
        assert_eq!(post("/_photon/roll?seconds=60"), StatusCode::OK);
        let (_, _, health) = get(&admin, "/health").unwrap();
        assert!(health.contains("\"rolling\":true"), "{health}");
        assert_eq!(post("/_photon/roll?seconds=0"), StatusCode::OK);
        let (_, _, health) = get(&admin, "/health").unwrap();
        assert!(health.contains("\"rolling\":false"), "{health}");
    }

    /// An admin surface of a node running `prod` 2.0.0 under `policy`.
    fn running_prod(policy: crate::skew::SkewPolicy) -> Admin {
        Admin::new("demo", "1.2.3", ModeReport::standalone(), NoChecks).with_config(
            crate::skew::ConfigCheck::new(
                ConfigIdentity {
                    deployment: "prod".into(),
                    version: "2.0.0".into(),
                    fingerprint: "ab12".into(),
                },
                policy,
            ),
        )
    }

    fn text_of(body: Full<Bytes>) -> String {
        use http_body_util::BodyExt as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt.block_on(body.collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn a_failing_check_answers_503_with_every_check_shown() {
        let admin = Admin::new(
            "demo",
            "1.2.3",
            ModeReport::standalone(),
            Disk(Err("/var/lib/demo: permission denied")),
        );
        let (status, content_type, body) = get(&admin, "/health").unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type, "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "unhealthy",
                "mode": "standalone",
                "component": "demo",
                "version": "1.2.3",
                "checks": {"mode": "ok", "storage": "/var/lib/demo: permission denied"},
            })
        );
    }

    #[test]
    fn the_configuration_run_is_on_health_and_metrics() {
        let admin = running_prod(crate::skew::SkewPolicy::Report);
        let (_, _, body) = get(&admin, "/health").unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["config"],
            serde_json::json!({
                "deployment": "prod",
                "version": "2.0.0",
                "fingerprint": "ab12",
                "skew": {"policy": "report", "rolling": false, "callers": []},
            })
        );
        let (_, _, text) = get(&admin, "/metrics").unwrap();
        assert!(
            text.contains(
                "photon_config_info{deployment=\"prod\",version=\"2.0.0\",fingerprint=\"ab12\"} 1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn passing_checks_answer_200() {
        let admin = Admin::new("demo", "1.2.3", ModeReport::standalone(), Disk(Ok("ok")));
        let (status, _, body) = get(&admin, "/health").unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(r#""status":"healthy""#), "{body}");
    }

    #[test]
    fn metrics_are_prometheus_text_with_escaped_labels() {
        let admin = Admin::new("demo", "1.2.3", ModeReport::standalone(), Disk(Ok("ok")));
        let (status, content_type, body) = get(&admin, "/metrics").unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, METRICS_CONTENT_TYPE);
        assert_eq!(
            body,
            "# HELP demo_requests_total Requests, by class.\n\
             # TYPE demo_requests_total counter\n\
             demo_requests_total{class=\"2xx\"} 3\n\
             demo_requests_total{class=\"a\\\"b\\\\c\\nd\"} 1\n\
             # HELP demo_buckets Buckets.\n\
             # TYPE demo_buckets gauge\n\
             demo_buckets 2\n"
        );
    }

    #[test]
    fn histograms_write_cumulative_buckets_sum_and_count() {
        let latency = Histogram::new(&[0.01, 0.1, 1.0]);
        // Powers of two, so the sum is exact.
        for seconds in [0.0078125, 0.0625, 0.0625, 4.0] {
            latency.observe(seconds);
        }
        let mut out = Metrics::default();
        out.histogram("demo_seconds", "Latency.")
            .histogram(&[("op", "get")], &latency);
        assert_eq!(
            out.into_text(),
            "# HELP demo_seconds Latency.\n\
             # TYPE demo_seconds histogram\n\
             demo_seconds_bucket{op=\"get\",le=\"0.01\"} 1\n\
             demo_seconds_bucket{op=\"get\",le=\"0.1\"} 3\n\
             demo_seconds_bucket{op=\"get\",le=\"1\"} 3\n\
             demo_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n\
             demo_seconds_sum{op=\"get\"} 4.1328125\n\
             demo_seconds_count{op=\"get\"} 4\n"
        );
    }

    #[test]
    fn other_paths_and_methods_are_the_components_own() {
        let admin = Admin::new("demo", "1.2.3", ModeReport::standalone(), NoChecks);
        assert!(get(&admin, "/healthz").is_none());
        let post = Request::post("/health").body(()).unwrap();
        assert!(admin.answer::<_, Bytes>(&post).is_none());
    }
}

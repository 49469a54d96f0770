//! The Prometheus HTTP API (`/api/v1/...`) with its JSON shapes and error
//! format, GET and POST, so Grafana, `promtool` and Prometheus's client
//! libraries work against nightlight.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use promql_parser::parser::Expr;

use crate::labels::Labels;
use crate::promql::{self, Engine, QueryError, Value, format_value};
use crate::scrape::Statuses;
use crate::tsdb::Db;

/// What the API answers from.
#[derive(Debug, Clone)]
pub struct Api {
    /// The store.
    pub db: Arc<Db>,
    /// The query engine.
    pub engine: Engine,
    /// The scrape targets' status.
    pub targets: Statuses,
    /// The alert rules' status.
    pub rules: crate::rules::Rules,
    /// How often rules are evaluated.
    pub rule_interval: std::time::Duration,
    /// How long queries took, by kind (`query`, `query_range`).
    pub query_seconds: Arc<[(&'static str, photon_runtime::admin::Histogram); 2]>,
}

/// Bounds of the query duration histogram, in seconds.
pub const QUERY_BOUNDS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Now, in ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Seconds with up to millisecond precision, as Prometheus writes times.
fn json_time(ms: i64) -> String {
    let mut out = String::new();
    push_time(&mut out, ms);
    out
}

/// Appends `ms` as seconds, as [`json_time`] writes it (without a
/// string of its own: a matrix has one per point).
fn push_time(out: &mut String, ms: i64) {
    if ms < 0 {
        out.push('-');
    }
    let (secs, frac) = (ms.unsigned_abs() / 1000, ms.unsigned_abs() % 1000);
    let _ = write!(out, "{secs}");
    if frac != 0 {
        let digits = format!("{frac:03}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
}

/// Appends `[time,"value"]`, a point of a matrix.
fn push_point(out: &mut String, ms: i64, v: f64) {
    out.push('[');
    push_time(out, ms);
    out.push_str(",\"");
    // a number's text never needs escaping
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&format_value(v));
    }
    out.push_str("\"]");
}

fn json_labels(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:{}", json_str(k), json_str(v));
    }
    out.push('}');
    out
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn success(data: &str) -> Response<Full<Bytes>> {
    respond(
        StatusCode::OK,
        format!("{{\"status\":\"success\",\"data\":{data}}}"),
    )
}

fn failure(e: &QueryError) -> Response<Full<Bytes>> {
    let (status, kind) = match e {
        QueryError::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
        QueryError::Execution(_) => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
        QueryError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
    };
    respond(
        status,
        format!(
            "{{\"status\":\"error\",\"errorType\":\"{kind}\",\"error\":{}}}",
            json_str(&e.to_string())
        ),
    )
}

fn bad(message: String) -> QueryError {
    QueryError::BadData(message)
}

/// A time parameter: RFC 3339 or Unix seconds, to ms.
fn parse_time(name: &str, text: &str) -> Result<i64, QueryError> {
    if let Ok(secs) = text.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad(format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
            ))
        })
}

/// A duration parameter: seconds, or a PromQL duration (`15s`, `1m`).
fn parse_duration(name: &str, text: &str) -> Result<i64, QueryError> {
    if let Ok(secs) = text.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    promql_parser::util::parse_duration(text)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| {
            bad(format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid duration"
            ))
        })
}

impl Api {
    /// Answers `request` if it is for the API; `None` otherwise.
    pub async fn answer(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Request<Incoming>> {
        let path = request.uri().path().to_owned();
        let Some(route) = path.strip_prefix("/api/v1/") else {
            return Err(request);
        };
        if route == "write" {
            return Ok(self.remote_write(request).await);
        }
        if request.method() != Method::GET && request.method() != Method::POST {
            return Ok(respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"the API answers GET and POST\"}".into(),
            ));
        }
        let params = match read_params(request).await {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        let route = route.to_owned();
        let started = std::time::Instant::now();
        let result = match route.as_str() {
            "query" => self.query(&params).await,
            "query_range" => self.query_range(&params).await,
            "series" => self.series(&params),
            "labels" => self.labels(&params),
            "metadata" => Ok(self.metadata(&params)),
            "targets" => Ok(self.targets()),
            "rules" => Ok(self.rules_json()),
            "alerts" => Ok(format!(
                "{{\"alerts\":[{}]}}",
                self.alerts_json(None).join(",")
            )),
            "status/buildinfo" => Ok(format!(
                "{{\"version\":{},\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\"}}",
                json_str(env!("CARGO_PKG_VERSION"))
            )),
            "status/flags" => Ok("{\"query.lookback-delta\":\"5m\"}".into()),
            other => match other
                .strip_prefix("label/")
                .and_then(|r| r.strip_suffix("/values"))
            {
                Some(name) => self.label_values(name, &params),
                None => {
                    return Ok(respond(
                        StatusCode::NOT_FOUND,
                        format!(
                            "{{\"status\":\"error\",\"errorType\":\"not_found\",\"error\":{}}}",
                            json_str(&format!("no API endpoint /api/v1/{other}"))
                        ),
                    ));
                }
            },
        };
        if let Some((_, h)) = self.query_seconds.iter().find(|(name, _)| *name == route) {
            h.observe(started.elapsed().as_secs_f64());
        }
        Ok(match result {
            Ok(data) => success(&data),
            Err(e) => failure(&e),
        })
    }

    /// `POST /api/v1/write`: 204 once stored, 400 with the reason.
    async fn remote_write(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let plain = |status: StatusCode, text: String| {
            let mut r = Response::new(Full::new(Bytes::from(text)));
            *r.status_mut() = status;
            r
        };
        if request.method() != Method::POST {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "remote write is POST\n".into(),
            );
        }
        let body = match Limited::new(request.into_body(), crate::remote_write::MAX_BODY)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => return plain(StatusCode::BAD_REQUEST, format!("reading the body: {e}\n")),
        };
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || crate::remote_write::write(&db, &body)).await {
            Ok(Ok(_)) => plain(StatusCode::NO_CONTENT, String::new()),
            Ok(Err(e)) => plain(StatusCode::BAD_REQUEST, format!("{e}\n")),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Engine) -> Result<T, QueryError> + Send + 'static,
    ) -> Result<T, QueryError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || work(engine))
            .await
            .map_err(|e| QueryError::Execution(format!("the query failed: {e}")))?
    }

    async fn query(&self, params: &Params) -> Result<String, QueryError> {
        let query = param(params, "query")
            .ok_or_else(|| bad("invalid parameter \"query\": the query is missing".into()))?
            .to_owned();
        let t = match param(params, "time") {
            Some(text) => parse_time("time", text)?,
            None => now_ms(),
        };
        let value = self
            .run(move |engine| {
                let expr: Expr = promql::parse(&query)?;
                engine.instant_expr(&expr, t)
            })
            .await?;
        let (kind, result) = match value {
            Value::Scalar(v) => (
                "scalar",
                format!("[{},{}]", json_time(t), json_str(&format_value(v))),
            ),
            Value::String(s) => ("string", format!("[{},{}]", json_time(t), json_str(&s))),
            Value::Vector(samples) => {
                let mut out = String::from("[");
                for (i, s) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(
                        out,
                        "{{\"metric\":{},\"value\":[{},{}]}}",
                        json_labels(&s.labels),
                        json_time(t),
                        json_str(&format_value(s.value))
                    );
                }
                out.push(']');
                ("vector", out)
            }
            Value::Matrix(series) => (
                "matrix",
                json_matrix(series.iter().map(|s| (&s.labels, &s.points))),
            ),
        };
        Ok(format!("{{\"resultType\":\"{kind}\",\"result\":{result}}}"))
    }

    async fn query_range(&self, params: &Params) -> Result<String, QueryError> {
        let query = param(params, "query")
            .ok_or_else(|| bad("invalid parameter \"query\": the query is missing".into()))?
            .to_owned();
        let start = parse_time(
            "start",
            param(params, "start")
                .ok_or_else(|| bad("invalid parameter \"start\": it is missing".into()))?,
        )?;
        let end = parse_time(
            "end",
            param(params, "end")
                .ok_or_else(|| bad("invalid parameter \"end\": it is missing".into()))?,
        )?;
        let step = parse_duration(
            "step",
            param(params, "step")
                .ok_or_else(|| bad("invalid parameter \"step\": it is missing".into()))?,
        )?;
        let series = self
            .run(move |engine| engine.range(&query, start, end, step))
            .await?;
        Ok(format!(
            "{{\"resultType\":\"matrix\",\"result\":{}}}",
            json_matrix(series.iter().map(|s| (&s.labels, &s.points)))
        ))
    }

    fn matchers(params: &Params) -> Result<Vec<promql_parser::parser::VectorSelector>, QueryError> {
        params
            .iter()
            .filter(|(k, _)| k == "match[]")
            .map(|(_, v)| match promql::parse(v) {
                Ok(Expr::VectorSelector(vs)) => Ok(vs),
                _ => Err(bad(format!(
                    "invalid parameter \"match[]\": {v:?} is not a series selector"
                ))),
            })
            .collect()
    }

    fn selected(&self, params: &Params) -> Result<Option<Vec<Labels>>, QueryError> {
        let selectors = Self::matchers(params)?;
        if selectors.is_empty() {
            return Ok(None);
        }
        let since = match param(params, "start") {
            Some(t) => parse_time("start", t)?,
            None => i64::MIN,
        };
        let mut all = std::collections::BTreeSet::new();
        for vs in &selectors {
            let mut matchers: Vec<&promql_parser::label::Matcher> =
                vs.matchers.matchers.iter().collect();
            let name;
            if let Some(n) = &vs.name {
                name = promql_parser::label::Matcher::new(
                    promql_parser::label::MatchOp::Equal,
                    crate::labels::NAME,
                    n,
                );
                matchers.push(&name);
            }
            all.extend(self.db.series(&matchers, since));
        }
        Ok(Some(all.into_iter().collect()))
    }

    fn series(&self, params: &Params) -> Result<String, QueryError> {
        let Some(series) = self.selected(params)? else {
            return Err(bad("no match[] parameter provided".into()));
        };
        let items: Vec<String> = series.iter().map(json_labels).collect();
        Ok(format!("[{}]", items.join(",")))
    }

    fn labels(&self, params: &Params) -> Result<String, QueryError> {
        let names: Vec<String> = match self.selected(params)? {
            Some(series) => {
                let set: std::collections::BTreeSet<String> = series
                    .iter()
                    .flat_map(|l| l.iter().map(|(k, _)| k.to_owned()))
                    .collect();
                set.into_iter().collect()
            }
            None => self.db.label_names(),
        };
        Ok(json_list(&names))
    }

    fn label_values(&self, name: &str, params: &Params) -> Result<String, QueryError> {
        if !crate::exposition::is_label_name(name) {
            return Err(bad(format!("invalid label name: {name:?}")));
        }
        let values: Vec<String> = match self.selected(params)? {
            Some(series) => {
                let set: std::collections::BTreeSet<String> = series
                    .iter()
                    .filter_map(|l| l.get(name).map(str::to_owned))
                    .collect();
                set.into_iter().collect()
            }
            None => self.db.label_values(name),
        };
        Ok(json_list(&values))
    }

    fn metadata(&self, params: &Params) -> String {
        let only = param(params, "metric");
        let statuses = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let mut families: std::collections::BTreeMap<&str, Vec<&crate::exposition::Metadata>> =
            std::collections::BTreeMap::new();
        for status in statuses.iter() {
            for (name, meta) in &status.metadata {
                if only.is_some_and(|m| m != name) {
                    continue;
                }
                let seen = families.entry(name).or_default();
                if !seen.contains(&meta) {
                    seen.push(meta);
                }
            }
        }
        let mut out = String::from("{");
        for (i, (name, metas)) in families.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let items: Vec<String> = metas
                .iter()
                .map(|m| {
                    format!(
                        "{{\"type\":{},\"help\":{},\"unit\":{}}}",
                        json_str(if m.kind.is_empty() {
                            "unknown"
                        } else {
                            &m.kind
                        }),
                        json_str(&m.help),
                        json_str(&m.unit)
                    )
                })
                .collect();
            let _ = write!(out, "{}:[{}]", json_str(name), items.join(","));
        }
        out.push('}');
        out
    }

    /// Each alert as `/api/v1/alerts` lists it (of rule `only` if given).
    fn alerts_json(&self, only: Option<usize>) -> Vec<String> {
        let rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .enumerate()
            .filter(|(i, _)| only.is_none_or(|o| o == *i))
            .flat_map(|(_, r)| r.alerts.iter())
            .map(|a| {
                let annotations: Labels = Labels::from_pairs(a.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
                format!(
                    "{{\"labels\":{},\"annotations\":{},\"state\":\"{}\",\"activeAt\":{},\"value\":{}}}",
                    json_labels(&a.labels),
                    json_labels(&annotations),
                    if a.state == crate::rules::State::Firing { "firing" } else { "pending" },
                    json_str(&rfc3339(a.active_at)),
                    json_str(&format_value(a.value))
                )
            })
            .collect()
    }

    fn rules_json(&self) -> String {
        let statuses: Vec<crate::rules::RuleStatus> =
            self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if statuses.is_empty() {
            return "{\"groups\":[]}".into();
        }
        let mut items = Vec::new();
        for (i, r) in statuses.iter().enumerate() {
            let state = if r
                .alerts
                .iter()
                .any(|a| a.state == crate::rules::State::Firing)
            {
                "firing"
            } else if r.alerts.is_empty() {
                "inactive"
            } else {
                "pending"
            };
            let labels = Labels::from_pairs(r.rule.labels.iter().copied());
            let annotations = Labels::from_pairs(r.rule.annotations.iter().copied());
            items.push(format!(
                "{{\"state\":\"{state}\",\"name\":{},\"query\":{},\"duration\":{},\"labels\":{},\"annotations\":{},\"alerts\":[{}],\"health\":\"{}\",\"lastError\":{},\"evaluationTime\":{},\"lastEvaluation\":{},\"type\":\"alerting\"}}",
                json_str(r.rule.name),
                json_str(r.rule.expr),
                r.rule.hold.as_secs_f64(),
                json_labels(&labels),
                json_labels(&annotations),
                self.alerts_json(Some(i)).join(","),
                match (&r.last_evaluation, r.last_error.is_empty()) {
                    (None, _) => "unknown",
                    (Some(_), true) => "ok",
                    (Some(_), false) => "err",
                },
                json_str(&r.last_error),
                r.evaluation_time.as_secs_f64(),
                json_str(&r.last_evaluation.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into())),
            ));
        }
        format!(
            "{{\"groups\":[{{\"name\":\"nightlight\",\"file\":\"\",\"rules\":[{}],\"interval\":{},\"limit\":0}}]}}",
            items.join(","),
            self.rule_interval.as_secs_f64()
        )
    }

    fn targets(&self) -> String {
        let statuses = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let items: Vec<String> = statuses
            .iter()
            .map(|s| {
                let labels = Labels::from_pairs([("job", s.target.job.as_str()), ("instance", s.target.instance.as_str())]);
                let last = s
                    .last_scrape
                    .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
                format!(
                    "{{\"discoveredLabels\":{},\"labels\":{},\"scrapePool\":{},\"scrapeUrl\":{},\"globalUrl\":{},\"lastError\":{},\"lastScrape\":{},\"lastScrapeDuration\":{},\"health\":\"{}\"}}",
                    json_labels(&labels),
                    json_labels(&labels),
                    json_str(&s.target.job),
                    json_str(&s.url),
                    json_str(&s.url),
                    json_str(&s.last_error),
                    json_str(&last),
                    s.last_duration.as_secs_f64(),
                    s.health
                )
            })
            .collect();
        format!(
            "{{\"activeTargets\":[{}],\"droppedTargets\":[]}}",
            items.join(",")
        )
    }
}

/// `ms` as RFC 3339 with milliseconds, as Prometheus writes times.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| json_str(s)).collect();
    format!("[{}]", quoted.join(","))
}

fn json_matrix<'a>(
    series: impl Iterator<Item = (&'a Labels, &'a Vec<(i64, f64)>)> + Clone,
) -> String {
    // sized once: a matrix can be tens of megabytes
    let points: usize = series.clone().map(|(_, p)| p.len()).sum();
    let mut out = String::with_capacity(points * 24 + 2);
    out.push('[');
    for (i, (labels, points)) in series.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"metric\":{},\"values\":[", json_labels(labels));
        for (j, &(t, v)) in points.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_point(&mut out, t, v);
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

/// The query string's parameters, and a form body's.
async fn read_params(request: Request<Incoming>) -> Result<Params, QueryError> {
    let mut params: Params = match request.uri().query() {
        Some(q) => {
            serde_urlencoded::from_str(q).map_err(|e| bad(format!("invalid query string: {e}")))?
        }
        None => Vec::new(),
    };
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if request.method() == Method::POST && is_form {
        let body = Limited::new(request.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| bad(format!("reading the form: {e}")))?
            .to_bytes();
        let form: Params =
            serde_urlencoded::from_bytes(&body).map_err(|e| bad(format!("invalid form: {e}")))?;
        params.extend(form);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_prometheus_writes_them() {
        assert_eq!(json_time(1_700_000_000_000), "1700000000");
        assert_eq!(json_time(1_700_000_000_500), "1700000000.5");
        assert_eq!(json_time(1_700_000_000_012), "1700000000.012");
        let mut points = String::new();
        push_point(&mut points, 1_700_000_000_500, 1.5);
        push_point(&mut points, 0, f64::NAN);
        push_point(&mut points, -1_250, f64::NEG_INFINITY);
        assert_eq!(points, r#"[1700000000.5,"1.5"][0,"NaN"][-1.25,"-Inf"]"#);
        assert_eq!(parse_time("time", "1700000000.5"), Ok(1_700_000_000_500));
        assert_eq!(
            parse_time("time", "2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert!(parse_time("time", "yesterday").is_err());
        assert_eq!(parse_duration("step", "1m30s"), Ok(90_000));
        assert_eq!(parse_duration("step", "15"), Ok(15_000));
    }
}

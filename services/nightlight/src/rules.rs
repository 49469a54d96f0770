//! Alerting: each rule evaluated on the interval; a series it returns is
//! an alert, pending until it has held for the rule's `for`, then firing;
//! one no longer returned is resolved. Firing and resolved alerts are
//! POSTed in Alertmanager's webhook JSON (version 4), which Alertmanager's
//! receivers and any webhook endpoint take; a firing alert is sent again
//! every minute while it fires, as Prometheus resends. The `ALERTS` series
//! is written as Prometheus writes it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use photon_dsl::{NodeName, Port, Resolver};
use promql_parser::parser::Expr;
use tokio_util::sync::CancellationToken;

use crate::api::{json_str, now_ms, rfc3339};
use crate::labels::{Labels, NAME};
use crate::promql::{Engine, Value, format_value};
use crate::spec::AlertRule;
use crate::tsdb::Db;

/// How often a firing alert is sent again.
const RESEND: Duration = Duration::from_secs(60);

/// Where notifications are POSTed.
#[derive(Debug, Clone)]
pub enum Receiver {
    /// Nowhere.
    Off,
    /// A port of a node of the topology, and the path.
    Node(NodeName, Port, String, Arc<Resolver>),
    /// `host:port` and path, outside the topology.
    Url(String, String),
}

impl Receiver {
    /// The receiver `url` names (`http://host:port/path`).
    pub fn from_url(url: &str) -> Result<Receiver, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("the webhook `{url}` is not http://: nightlight sends alerts over plain HTTP only so far")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if !authority.contains(':') {
            return Err(format!("the webhook `{url}` has no port"));
        }
        Ok(Receiver::Url(authority.to_owned(), path.to_owned()))
    }

    async fn address(&self) -> Result<(SocketAddr, String, String), String> {
        match self {
            Receiver::Off => Err("no receiver".into()),
            Receiver::Node(node, port, path, resolver) => {
                let addr = photon_runtime::resolve_socket(resolver, *node, *port)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((addr, addr.to_string(), path.clone()))
            }
            Receiver::Url(authority, path) => {
                let addr = tokio::net::lookup_host(authority.as_str())
                    .await
                    .map_err(|e| format!("resolving {authority}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("{authority} has no address"))?;
                Ok((addr, authority.clone(), path.clone()))
            }
        }
    }
}

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Returned, not yet for the rule's `for`.
    Pending,
    /// Returned for at least `for`.
    Firing,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

/// One alert of a rule.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Its labels: the series', the rule's, `alertname`.
    pub labels: Labels,
    /// Its annotations, templates filled.
    pub annotations: BTreeMap<String, String>,
    /// Pending or firing.
    pub state: State,
    /// Since when it has been returned (ms).
    pub active_at: i64,
    /// The value that made it.
    pub value: f64,
    /// When it was last sent (ms), if it was.
    sent_at: Option<i64>,
}

/// A rule and its alerts, for the API.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    /// The rule.
    pub rule: AlertRule,
    /// Its alerts now.
    pub alerts: Vec<Alert>,
    /// Why its last evaluation failed ("" when it did not).
    pub last_error: String,
    /// When it was last evaluated (ms), if it was.
    pub last_evaluation: Option<i64>,
    /// How long that took.
    pub evaluation_time: Duration,
}

/// Every rule's status, shared with the API.
pub type Rules = Arc<Mutex<Vec<RuleStatus>>>;

/// Notifications sent and failed, for `/metrics`.
#[derive(Debug, Default)]
pub struct Sent {
    /// Webhook POSTs answered 2xx.
    pub ok: std::sync::atomic::AtomicU64,
    /// Webhook POSTs that failed.
    pub failed: std::sync::atomic::AtomicU64,
}

/// `{{ $labels.name }}` and `{{ $value }}` filled, as the common
/// Prometheus templates write them (other template syntax is kept as is).
fn fill(template: &str, labels: &Labels, value: f64) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = rest[start + 2..start + len].trim();
        match inner.strip_prefix("$labels.") {
            Some(name) => out.push_str(labels.get(name).unwrap_or("")),
            None if inner == "$value" => out.push_str(&format_value(value)),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Evaluates `rules` every `interval` until `shutdown`, writing `ALERTS`
/// into `db` and telling `receiver`.
pub fn spawn(
    rules: &'static [AlertRule],
    engine: Engine,
    db: Arc<Db>,
    receiver: Receiver,
    interval: Duration,
    external_url: String,
    shutdown: CancellationToken,
) -> (Rules, Arc<Sent>, tokio::task::JoinHandle<()>) {
    let status: Rules = Arc::new(Mutex::new(
        rules
            .iter()
            .map(|rule| RuleStatus {
                rule: *rule,
                alerts: Vec::new(),
                last_error: String::new(),
                last_evaluation: None,
                evaluation_time: Duration::ZERO,
            })
            .collect(),
    ));
    let sent = Arc::new(Sent::default());
    let parsed: Vec<Option<Expr>> = rules
        .iter()
        .map(|r| crate::promql::parse(r.expr).ok())
        .collect();
    let task = {
        let status = status.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            // the ALERTS series written last time: those not written again
            // are marked stale, as Prometheus does
            let mut written: std::collections::HashSet<Labels> = std::collections::HashSet::new();
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                let t = now_ms();
                let mut outgoing: Vec<(String, Vec<(Alert, bool)>)> = Vec::new();
                let mut series: Vec<(Labels, i64, f64)> = Vec::new();
                for (i, rule) in rules.iter().enumerate() {
                    let started = std::time::Instant::now();
                    let result = match &parsed[i] {
                        Some(expr) => {
                            let engine = engine.clone();
                            let expr = expr.clone();
                            tokio::task::spawn_blocking(move || engine.instant_expr(&expr, t))
                                .await
                                .map_err(|e| e.to_string())
                                .and_then(|r| r.map_err(|e| e.to_string()))
                        }
                        None => Err("the expression does not parse".to_owned()),
                    };
                    let mut guard = status.lock().unwrap_or_else(|e| e.into_inner());
                    let st = &mut guard[i];
                    st.last_evaluation = Some(t);
                    st.evaluation_time = started.elapsed();
                    let samples = match result {
                        Ok(Value::Vector(samples)) => samples,
                        Ok(other) => {
                            st.last_error =
                                format!("the expression is a {other:?}, not an instant vector");
                            continue;
                        }
                        Err(e) => {
                            st.last_error = e;
                            continue;
                        }
                    };
                    st.last_error.clear();
                    let mut next: Vec<Alert> = Vec::new();
                    for s in samples {
                        let mut labels = s.labels.without_name();
                        for (k, v) in rule.labels {
                            labels.set((*k).to_owned(), fill(v, &labels, s.value));
                        }
                        labels.set("alertname".into(), rule.name.to_owned());
                        let annotations = rule
                            .annotations
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), fill(v, &labels, s.value)))
                            .collect();
                        let old = st.alerts.iter().find(|a| a.labels == labels);
                        let active_at = old.map_or(t, |a| a.active_at);
                        let held =
                            Duration::from_millis((t - active_at).max(0) as u64) >= rule.hold;
                        next.push(Alert {
                            labels,
                            annotations,
                            state: if held { State::Firing } else { State::Pending },
                            active_at,
                            value: s.value,
                            sent_at: old.and_then(|a| a.sent_at),
                        });
                    }
                    let mut notify: Vec<(Alert, bool)> = Vec::new();
                    for old in &st.alerts {
                        if old.state == State::Firing
                            && !next.iter().any(|a| a.labels == old.labels)
                        {
                            notify.push((old.clone(), true));
                        }
                    }
                    for alert in &mut next {
                        let due = alert
                            .sent_at
                            .is_none_or(|at| t - at >= RESEND.as_millis() as i64);
                        if alert.state == State::Firing && due {
                            alert.sent_at = Some(t);
                            notify.push((alert.clone(), false));
                        }
                        let mut l = alert.labels.clone();
                        l.set(NAME.into(), "ALERTS".into());
                        l.set("alertstate".into(), alert.state.as_str().into());
                        series.push((l, t, 1.0));
                    }
                    st.alerts = next;
                    if !notify.is_empty() {
                        outgoing.push((rule.name.to_owned(), notify));
                    }
                }
                let now_written: std::collections::HashSet<Labels> =
                    series.iter().map(|(l, _, _)| l.clone()).collect();
                for gone in written.difference(&now_written) {
                    series.push((gone.clone(), t, f64::from_bits(crate::tsdb::STALE_NAN)));
                }
                written = now_written;
                if !series.is_empty()
                    && let Err(e) = db.append_labelled(&series, false)
                {
                    tracing::warn!(error = %e, "writing ALERTS failed");
                }
                for (name, alerts) in outgoing {
                    if matches!(receiver, Receiver::Off) {
                        continue;
                    }
                    let body = webhook_body(&name, &alerts, &external_url, t);
                    match post(&receiver, body).await {
                        Ok(()) => sent.ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        Err(e) => {
                            tracing::warn!(rule = %name, error = %e, "sending alerts failed");
                            sent.failed
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        }
                    };
                }
            }
        })
    };
    (status, sent, task)
}

fn json_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let items: Vec<String> = pairs
        .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// Alertmanager's webhook payload (version 4) for one rule's alerts; each
/// `(alert, resolved)`.
fn webhook_body(rule: &str, alerts: &[(Alert, bool)], external_url: &str, t: i64) -> String {
    let status = if alerts.iter().all(|(_, resolved)| *resolved) {
        "resolved"
    } else {
        "firing"
    };
    let common_labels: Vec<(&str, &str)> = alerts[0]
        .0
        .labels
        .iter()
        .filter(|(k, v)| alerts.iter().all(|(a, _)| a.labels.get(k) == Some(*v)))
        .collect();
    let common_annotations: Vec<(&str, &str)> = alerts[0]
        .0
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, v)| {
            alerts
                .iter()
                .all(|(a, _)| a.annotations.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    let mut items = Vec::new();
    for (alert, resolved) in alerts {
        let fingerprint = {
            use std::hash::{Hash as _, Hasher as _};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            alert.labels.hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let mut item = String::new();
        let _ = write!(
            item,
            "{{\"status\":\"{}\",\"labels\":{},\"annotations\":{},\"startsAt\":{},\"endsAt\":{},\"generatorURL\":{},\"fingerprint\":\"{fingerprint}\"}}",
            if *resolved { "resolved" } else { "firing" },
            json_map(alert.labels.iter()),
            json_map(
                alert
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
            ),
            json_str(&rfc3339(alert.active_at)),
            json_str(&if *resolved {
                rfc3339(t)
            } else {
                "0001-01-01T00:00:00Z".to_owned()
            }),
            json_str(&format!("{external_url}/?alert={rule}")),
        );
        items.push(item);
    }
    format!(
        "{{\"version\":\"4\",\"groupKey\":{},\"truncatedAlerts\":0,\"status\":\"{status}\",\"receiver\":\"nightlight\",\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{},\"externalURL\":{},\"alerts\":[{}]}}",
        json_str(&format!("{{}}:{{alertname=\"{rule}\"}}")),
        json_map([("alertname", rule)].into_iter()),
        json_map(common_labels.into_iter()),
        json_map(common_annotations.into_iter()),
        json_str(external_url),
        items.join(",")
    )
}

/// POSTs `body` (JSON) to `receiver` over HTTP/1.1, within 10 s.
async fn post(receiver: &Receiver, body: String) -> Result<(), String> {
    let exchange = async {
        let (addr, host, path) = receiver.address().await?;
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(connection);
        let request = Request::post(path.as_str())
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("nightlight/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string());
        driver.abort();
        let status = response?.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "the receiver did not answer in 10 s".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_labels_and_value() {
        let labels = Labels::from_pairs([("instance", "kv:2379")]);
        assert_eq!(
            fill(
                "{{ $labels.instance }} is down ({{ $value }}) {{ humanize }}",
                &labels,
                0.5
            ),
            "kv:2379 is down (0.5) {{ humanize }}"
        );
    }

    #[test]
    fn webhook_urls_are_plain_http_with_a_port() {
        assert!(
            matches!(Receiver::from_url("http://a:5000/alerts"), Ok(Receiver::Url(a, p)) if a == "a:5000" && p == "/alerts")
        );
        assert!(Receiver::from_url("https://a:5000/x").is_err());
        assert!(Receiver::from_url("http://a/x").is_err());
    }
}

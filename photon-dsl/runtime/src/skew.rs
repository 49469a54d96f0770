//! Configuration skew between the nodes of a deployment.
//!
//! Every call from one PhotonCloud service to another carries the caller's
//! configuration: the `photon-config` HTTP header, the same key in gRPC
//! metadata. The receiver compares it with its own. A caller built from a
//! different topology (configuration drift, a rollout half done) is
//! logged the first time it is seen, counted by the configuration it
//! runs, and shown on `/health` and in `/metrics`; under
//! [`SkewPolicy::Refuse`] its calls are refused, except while a roll has
//! opened a window for them: on the receiver, or on the caller (whose
//! header then says `rolling`), so that a node restarted mid-roll, whose
//! own window is not open yet, still serves the nodes the roll has not
//! reached. A window is kept in a file under the node's state directory
//! too, so a node restarted by the roll comes back with it open. Callers without the header (users, `etcdctl`,
//! Prometheus) are not PhotonCloud nodes and are let through unmarked.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use crate::admin::ConfigIdentity;

/// The HTTP header and gRPC metadata key a node presents its configuration in.
pub const HEADER: &str = "photon-config";

/// The header's name and a way to get its value at each call: what a
/// long-lived client (chainfire's) is given.
pub type Presenter = (
    &'static str,
    Arc<dyn Fn() -> Option<HeaderValue> + Send + Sync>,
);

/// The status of an HTTP call refused for skew.
pub const REFUSED_STATUS: StatusCode = StatusCode::CONFLICT;

/// The HTTP answer to a refused call: [`REFUSED_STATUS`], the reason as text.
pub fn refusal<B: From<Bytes>>(refused: &Refused) -> Response<B> {
    let mut r = Response::new(B::from(Bytes::from(format!("{refused}\n"))));
    *r.status_mut() = REFUSED_STATUS;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Distinct foreign configurations remembered; more are counted as one.
const REMEMBERED: usize = 16;

/// What a node does with a call from a node running another configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SkewPolicy {
    /// Serve it; log, count and report it.
    #[default]
    Report,
    /// Refuse it (outside a roll); log, count and report it.
    Refuse,
}

impl SkewPolicy {
    /// `report` or `refuse`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkewPolicy::Report => "report",
            SkewPolicy::Refuse => "refuse",
        }
    }
}

impl ConfigIdentity {
    /// What this configuration presents on calls:
    /// `<fingerprint>; deployment=<name>; version=<version>`.
    pub fn header_value(&self) -> String {
        format!(
            "{}; deployment={}; version={}",
            self.fingerprint, self.deployment, self.version
        )
    }

    /// Reads what [`header_value`](Self::header_value) wrote; `None` for
    /// anything else.
    pub fn from_header_value(value: &str) -> Option<ConfigIdentity> {
        let mut parts = value.split(';').map(str::trim);
        let fingerprint = parts.next()?;
        if fingerprint.is_empty() || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (mut deployment, mut version) = (None, None);
        for part in parts {
            match part.split_once('=') {
                Some(("deployment", v)) => deployment = Some(v.to_owned()),
                Some(("version", v)) => version = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(ConfigIdentity {
            deployment: deployment?,
            version: version?,
            fingerprint: fingerprint.to_owned(),
        })
    }
}

/// A call refused for skew: the caller's configuration, and ours.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "refused: the caller runs configuration {theirs} and this node runs {ours}; this deployment refuses calls between configurations outside a roll (a rollout left half done, or a node built from another topology)"
)]
pub struct Refused {
    /// `deployment version (fingerprint …)` of the caller.
    pub theirs: String,
    /// The same for this node.
    pub ours: String,
}

/// A foreign configuration seen on calls.
#[derive(Debug, Clone)]
struct Seen {
    /// Who (`None`: a header that could not be read, or past [`REMEMBERED`]).
    identity: Option<ConfigIdentity>,
    served: u64,
    refused: u64,
}

/// One service's own configuration and what it has seen of its callers'.
#[derive(Debug)]
pub struct ConfigCheck {
    own: ConfigIdentity,
    presented: Option<HeaderValue>,
    policy: SkewPolicy,
    seen: Mutex<Vec<Seen>>,
    roll_until: Mutex<Option<Instant>>,
    /// Where an open window is kept across restarts (a deployment node's).
    window_file: Option<PathBuf>,
}

fn describe(identity: &ConfigIdentity) -> String {
    format!(
        "{} {} (fingerprint {})",
        identity.deployment,
        identity.version,
        identity
            .fingerprint
            .get(..16)
            .unwrap_or(&identity.fingerprint)
    )
}

impl ConfigCheck {
    /// A node running `own`, under `policy`.
    pub fn new(own: ConfigIdentity, policy: SkewPolicy) -> Arc<ConfigCheck> {
        ConfigCheck::keeping_windows(own, policy, None)
    }

    /// A node running `own`, under `policy`, keeping an open roll window
    /// in `window_file` (and opening it again from there at start, if it
    /// has not ended).
    pub fn keeping_windows(
        own: ConfigIdentity,
        policy: SkewPolicy,
        window_file: Option<PathBuf>,
    ) -> Arc<ConfigCheck> {
        let presented = HeaderValue::from_str(&own.header_value()).ok();
        let kept = window_file.as_deref().and_then(|file| {
            let until: u64 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
            let left = (UNIX_EPOCH + Duration::from_secs(until))
                .duration_since(SystemTime::now())
                .ok()?;
            tracing::info!(
                seconds = left.as_secs(),
                "a roll's window is still open: calls from other configurations are served"
            );
            Some(Instant::now() + left)
        });
        Arc::new(ConfigCheck {
            own,
            presented,
            policy,
            seen: Mutex::new(Vec::new()),
            roll_until: Mutex::new(kept),
            window_file,
        })
    }

    /// A standalone server: it reports its configuration but presents none
    /// and checks no caller's (it has no deployment to be consistent with).
    pub fn standalone(own: ConfigIdentity) -> Arc<ConfigCheck> {
        Arc::new(ConfigCheck {
            own,
            presented: None,
            policy: SkewPolicy::Report,
            seen: Mutex::new(Vec::new()),
            roll_until: Mutex::new(None),
            window_file: None,
        })
    }

    /// The configuration this node runs.
    pub fn own(&self) -> &ConfigIdentity {
        &self.own
    }

    /// The policy.
    pub fn policy(&self) -> SkewPolicy {
        self.policy
    }

    /// What to send on calls to other services now (`None` for a
    /// standalone server): this node's configuration, marked `rolling`
    /// while a roll's window is open here.
    pub fn presented(&self) -> Option<HeaderValue> {
        let value = self.presented.as_ref()?;
        if self.rolling() {
            let mut marked = value.as_bytes().to_vec();
            marked.extend_from_slice(b"; rolling");
            HeaderValue::from_bytes(&marked).ok()
        } else {
            Some(value.clone())
        }
    }

    /// [`presented`](Self::presented) at each call, for a client that
    /// lives long; `None` for a standalone server.
    pub fn presenter(self: &Arc<Self>) -> Option<Presenter> {
        self.presented.as_ref()?;
        let check = self.clone();
        Some((HEADER, Arc::new(move || check.presented())))
    }

    /// Adds this node's configuration to an outgoing call's headers.
    pub fn present(&self, headers: &mut HeaderMap) {
        if let Some(value) = self.presented() {
            headers.insert(HEADER, value);
        }
    }

    /// Lets calls from other configurations through until `until`, even
    /// under `refuse` (what a roll does while nodes change over).
    pub fn open_roll_window(&self, until: Instant) {
        *lock(&self.roll_until) = Some(until);
        if let Some(file) = &self.window_file {
            let left = until.saturating_duration_since(Instant::now());
            let kept = if left.is_zero() {
                match std::fs::remove_file(file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                }
            } else {
                let deadline = (SystemTime::now() + left)
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                // whole, then renamed: a restart never reads half of it
                let partial = file.with_extension("partial");
                file.parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&partial, deadline.to_string()))
                    .and_then(|()| std::fs::rename(&partial, file))
            };
            if let Err(e) = kept {
                tracing::warn!(file = %file.display(), error = %e, "the roll window is not kept across a restart");
            }
        }
    }

    fn rolling(&self) -> bool {
        lock(&self.roll_until).is_some_and(|until| Instant::now() < until)
    }

    /// Judges a call by its headers: `Ok` to serve it, `Err` to refuse it.
    pub fn admit(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(());
        };
        if self.presented.is_none() {
            return Ok(());
        }
        let theirs = value
            .to_str()
            .ok()
            .and_then(ConfigIdentity::from_header_value);
        if theirs
            .as_ref()
            .is_some_and(|t| t.fingerprint == self.own.fingerprint)
        {
            return Ok(());
        }
        let caller_rolling = value
            .to_str()
            .is_ok_and(|v| v.split(';').any(|part| part.trim() == "rolling"));
        let refuse = self.policy == SkewPolicy::Refuse && !self.rolling() && !caller_rolling;
        let first = self.record(theirs.as_ref(), refuse);
        let shown = theirs.as_ref().map(describe).unwrap_or_else(|| {
            format!("unreadable `{}`", String::from_utf8_lossy(value.as_bytes()))
        });
        if first {
            tracing::warn!(
                caller = %shown,
                ours = %describe(&self.own),
                policy = self.policy.as_str(),
                "a caller runs another configuration of the deployment (drift, or a rollout half done); counted in photon_config_skew_calls_total"
            );
        }
        if refuse {
            Err(Refused {
                theirs: shown,
                ours: describe(&self.own),
            })
        } else {
            Ok(())
        }
    }

    /// Counts a call; whether its configuration is new.
    fn record(&self, theirs: Option<&ConfigIdentity>, refused: bool) -> bool {
        let mut seen = lock(&self.seen);
        let at = match seen.iter().position(|s| s.identity.as_ref() == theirs) {
            Some(at) => Some(at),
            None if seen.len() < REMEMBERED => {
                seen.push(Seen {
                    identity: theirs.cloned(),
                    served: 0,
                    refused: 0,
                });
                None
            }
            None => seen.iter().position(|s| s.identity.is_none()).or_else(|| {
                seen.push(Seen {
                    identity: None,
                    served: 0,
                    refused: 0,
                });
                None
            }),
        };
        let first = at.is_none();
        let entry = match at {
            Some(at) => &mut seen[at],
            None => seen.last_mut().expect("just pushed"),
        };
        if refused {
            entry.refused += 1;
        } else {
            entry.served += 1;
        }
        first
    }

    /// The foreign configurations seen so far: for `/health`.
    pub fn health_json(&self) -> serde_json::Value {
        let seen = lock(&self.seen);
        let callers: Vec<serde_json::Value> = seen
            .iter()
            .map(|s| {
                serde_json::json!({
                    "deployment": s.identity.as_ref().map(|i| i.deployment.as_str()),
                    "version": s.identity.as_ref().map(|i| i.version.as_str()),
                    "fingerprint": s.identity.as_ref().map(|i| i.fingerprint.as_str()),
                    "served": s.served,
                    "refused": s.refused,
                })
            })
            .collect();
        serde_json::json!({
            "policy": self.policy.as_str(),
            "rolling": self.rolling(),
            "callers": callers,
        })
    }

    /// `photon_config_skew_calls_total{version,fingerprint,outcome}`, once
    /// a foreign configuration has called.
    pub fn write_metrics(&self, out: &mut crate::admin::Metrics) {
        let seen = lock(&self.seen);
        if seen.is_empty() {
            return;
        }
        let mut family = out.counter(
            "photon_config_skew_calls_total",
            "Calls from nodes running another configuration, by the caller's version and fingerprint and whether they were served or refused.",
        );
        for s in seen.iter() {
            let (version, fingerprint) = match &s.identity {
                Some(i) => (i.version.as_str(), i.fingerprint.as_str()),
                None => ("other", "other"),
            };
            for (outcome, count) in [("served", s.served), ("refused", s.refused)] {
                if count > 0 {
                    family.labelled(
                        &[
                            ("version", version),
                            ("fingerprint", fingerprint),
                            ("outcome", outcome),
                        ],
                        count,
                    );
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(fingerprint: char, version: &str) -> ConfigIdentity {
        ConfigIdentity {
            deployment: "echo-canary".into(),
            version: version.into(),
            fingerprint: fingerprint.to_string().repeat(64),
        }
    }

    fn headers(from: &ConfigIdentity) -> HeaderMap {
        let mut h = HeaderMap::new();
        ConfigCheck::new(from.clone(), SkewPolicy::Report).present(&mut h);
        h
    }

    #[test]
    fn the_header_round_trips_and_anything_else_is_unreadable() {
        let id = identity('a', "1.0.0+main");
        assert_eq!(
            ConfigIdentity::from_header_value(&id.header_value()),
            Some(id)
        );
        for bad in [
            "",
            "zz; deployment=x; version=1",
            "ab; deployment=x",
            "hello",
        ] {
            assert_eq!(ConfigIdentity::from_header_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_configuration_and_unmarked_callers_pass_uncounted() {
        let check = ConfigCheck::new(identity('a', "1.0.0+main"), SkewPolicy::Refuse);
        assert!(check.admit(&HeaderMap::new()).is_ok());
        assert!(check.admit(&headers(&identity('a', "1.0.0+main"))).is_ok());
        assert_eq!(check.health_json()["callers"], serde_json::json!([]));
    }

    #[test]
    fn report_serves_and_counts_a_foreign_configuration() {
        let check = ConfigCheck::new(identity('a', "1.0.0+main"), SkewPolicy::Report);
        let other = headers(&identity('b', "1.1.0+main"));
        for _ in 0..3 {
            assert!(check.admit(&other).is_ok());
        }
        let health = check.health_json();
        assert_eq!(health["policy"], "report");
        assert_eq!(health["callers"][0]["version"], "1.1.0+main");
        assert_eq!(health["callers"][0]["served"], 3);
        assert_eq!(health["callers"][0]["refused"], 0);
        let mut metrics = crate::admin::Metrics::default();
        check.write_metrics(&mut metrics);
        let text = metrics.into_text();
        assert!(
            text.contains(&format!(
                "photon_config_skew_calls_total{{version=\"1.1.0+main\",fingerprint=\"{}\",outcome=\"served\"}} 3",
                "b".repeat(64)
            )),
            "{text}"
        );
    }

    #[test]
    fn refuse_refuses_outside_a_roll_window_and_serves_inside_one() {
        let check = ConfigCheck::new(identity('a', "1.0.0+main"), SkewPolicy::Refuse);
        let other = headers(&identity('b', "1.1.0+main"));
        let refused = check.admit(&other).unwrap_err();
        assert!(refused.theirs.contains("1.1.0+main"), "{refused}");
        assert!(refused.ours.contains("aaaaaaaaaaaaaaaa"), "{refused}");
        check.open_roll_window(Instant::now() + std::time::Duration::from_secs(60));
        assert!(check.admit(&other).is_ok());
        check.open_roll_window(Instant::now());
        assert!(check.admit(&other).is_err());
        let health = check.health_json();
        assert_eq!(health["callers"][0]["served"], 1);
        assert_eq!(health["callers"][0]["refused"], 2);
    }

    #[test]
    fn a_caller_inside_a_roll_window_is_served_under_refuse() {
        let check = ConfigCheck::new(identity('a', "1.1.0+main"), SkewPolicy::Refuse);
        let caller = ConfigCheck::new(identity('b', "1.0.0+main"), SkewPolicy::Refuse);
        let mut h = HeaderMap::new();
        caller.present(&mut h);
        assert!(check.admit(&h).is_err(), "no window anywhere: refused");
        caller.open_roll_window(Instant::now() + std::time::Duration::from_secs(60));
        let mut h = HeaderMap::new();
        caller.present(&mut h);
        assert!(h[HEADER].to_str().unwrap().ends_with("; rolling"));
        // the header still reads as the caller's configuration
        assert_eq!(
            ConfigIdentity::from_header_value(h[HEADER].to_str().unwrap())
                .unwrap()
                .version,
            "1.0.0+main"
        );
        assert!(
            check.admit(&h).is_ok(),
            "the caller's window lets it through"
        );
    }

    #[test]
    fn an_open_window_outlives_a_restart_and_a_closed_one_does_not() {
        let dir = std::env::temp_dir().join(format!("photon-skew-{}", std::process::id()));
        let file = dir.join("roll-window");
        let other = headers(&identity('b', "1.1.0+main"));
        let node = || {
            ConfigCheck::keeping_windows(
                identity('a', "1.0.0+main"),
                SkewPolicy::Refuse,
                Some(file.clone()),
            )
        };
        let first = node();
        assert!(first.admit(&other).is_err());
        first.open_roll_window(Instant::now() + Duration::from_secs(60));
        let restarted = node();
        assert!(restarted.admit(&other).is_ok(), "the window came back");
        restarted.open_roll_window(Instant::now());
        assert!(!file.exists());
        assert!(
            node().admit(&other).is_err(),
            "a closed window stays closed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_standalone_server_neither_presents_nor_judges() {
        let check = ConfigCheck::standalone(identity('a', "0.0.0+standalone"));
        let mut h = HeaderMap::new();
        check.present(&mut h);
        assert!(h.is_empty());
        assert!(check.admit(&headers(&identity('b', "1.1.0+main"))).is_ok());
    }

    #[test]
    fn foreign_configurations_past_the_limit_are_counted_together() {
        let check = ConfigCheck::new(identity('0', "1.0.0+main"), SkewPolicy::Report);
        for i in 0..(REMEMBERED as u32 + 4) {
            let fp = format!("{:064x}", i + 1);
            let id = ConfigIdentity {
                deployment: "x".into(),
                version: "1.0.0+main".into(),
                fingerprint: fp,
            };
            assert!(check.admit(&headers(&id)).is_ok());
        }
        let health = check.health_json();
        let callers = health["callers"].as_array().unwrap();
        assert_eq!(callers.len(), REMEMBERED + 1);
        assert_eq!(callers[REMEMBERED]["fingerprint"], serde_json::Value::Null);
        assert_eq!(callers[REMEMBERED]["served"], 4);
    }
}

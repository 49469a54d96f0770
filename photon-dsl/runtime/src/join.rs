//! Joining the platform (integrated mode), once for every component: reach
//! the control plane (when one is configured) and chainfire within a
//! timeout, register the component under a lease its heartbeat renews, and
//! leave when it stops.
//!
//! A standalone server joins when its configuration says `integrated`
//! ([`crate::standalone`]); a compiled deployment's service joins when its
//! spec is integrated ([`ServiceDecl::integration`]), before the supervisor
//! starts it. Both build a [`JoinPlan`] and call [`join`].
//!
//! The chainfire client (`etcd-client`, with tonic and prost under it) is
//! behind this crate's `integration` feature, which the components that can
//! run integrated enable: a deployment of components that never register
//! (the echo pair) builds without it. Without the feature, [`join`] says
//! so instead of joining.
//!
//! [`ServiceDecl::integration`]: photon_dsl::ServiceDecl::integration

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::ModeReport;

/// The design's default for both the heartbeat and the fallback timeout
/// (docs/design.md §3.2, §7.2).
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// How a start joins the platform, settled before anything starts.
#[derive(Debug)]
#[cfg_attr(not(feature = "integration"), allow(dead_code))]
pub(crate) struct JoinPlan {
    /// chainfire's client endpoints (`http://host:port`).
    pub(crate) chainfire: Vec<String>,
    /// The control plane's base URL, asked for `/health` first.
    pub(crate) control_plane: Option<String>,
    /// How long to try.
    pub(crate) timeout: Duration,
    /// What to register; `None` when `auto_register = false`.
    pub(crate) registration: Option<RegistrationPlan>,
    /// What integrated mode does not cover, for `/health`.
    pub(crate) note: Option<String>,
    /// Whether the service runs hybrid (`note` then says which backends
    /// are local).
    pub(crate) hybrid: bool,
}

/// What a component registers (see `photon_integration::Registration`).
#[derive(Debug)]
#[cfg_attr(not(feature = "integration"), allow(dead_code))]
pub(crate) struct RegistrationPlan {
    pub(crate) cluster_id: String,
    pub(crate) component: &'static str,
    pub(crate) component_id: String,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) heartbeat: Duration,
}

/// A service joined to the platform: what `/health` reports, and the
/// registration to leave when it stops.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) report: ModeReport,
    #[cfg(feature = "integration")]
    registered: Option<photon_integration::Registered>,
}

impl Joined {
    /// Stops the heartbeat and revokes the lease, so the registration goes
    /// at once.
    pub(crate) async fn leave(self) {
        #[cfg(feature = "integration")]
        if let Some(registered) = self.registered {
            registered.leave().await;
        }
    }
}

#[cfg(feature = "integration")]
impl crate::mode::LiveCheck for photon_integration::Status {
    fn check(&self) -> String {
        photon_integration::Status::check(self)
    }
}

/// Why joining the platform failed: what did not answer, or how.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JoinError {
    /// The control plane's URL is not `http://`.
    #[error("only http:// control planes can be asked")]
    NotHttp,
    /// Its host name did not resolve in time.
    #[error("resolving `{host}` took over {timeout:?}")]
    LookupTimedOut { host: String, timeout: Duration },
    /// Its host name did not resolve.
    #[error("resolving `{host}`: {source}")]
    Lookup {
        host: String,
        source: std::io::Error,
    },
    /// Its host name has no address.
    #[error("`{host}` has no address")]
    NoAddress { host: String },
    /// `/health` answered, but not with success.
    #[error("it answered {0}")]
    Status(hyper::StatusCode),
    /// `/health` did not answer.
    #[error("{0}")]
    Unanswered(crate::ServiceError),
    /// The control plane stayed silent until the deadline.
    #[error("the control plane did not answer {url} within {waited:?}: {last}")]
    ControlPlane {
        url: String,
        waited: Duration,
        last: Box<JoinError>,
    },
    /// chainfire could not be reached or registered in (the integration
    /// crate's own error, with its causes).
    #[cfg(feature = "integration")]
    #[error("{0}")]
    Chainfire(String),
    /// This binary has no chainfire client.
    #[cfg(not(feature = "integration"))]
    #[error(
        "this binary was built without photon-runtime's `integration` feature, so it cannot register in chainfire: enable it in the component's crate (its `server` or `standalone` feature)"
    )]
    NoIntegrationFeature,
}

/// Asks `url` (the control plane's `/health`) whether it is up.
pub(crate) async fn probe(url: &str, timeout: Duration) -> Result<(), JoinError> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(JoinError::NotHttp);
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_name = || host.to_owned();
    let mut addrs = tokio::time::timeout(timeout, tokio::net::lookup_host(host))
        .await
        .map_err(|_| JoinError::LookupTimedOut {
            host: host_name(),
            timeout,
        })?
        .map_err(|source| JoinError::Lookup {
            host: host_name(),
            source,
        })?;
    let addr = addrs
        .next()
        .ok_or_else(|| JoinError::NoAddress { host: host_name() })?;
    match crate::http::get(addr, path, timeout).await {
        Ok(answer) if answer.status.is_success() => Ok(()),
        Ok(answer) => Err(JoinError::Status(answer.status)),
        Err(e) => Err(JoinError::Unanswered(e)),
    }
}

/// Waits for the control plane's `/health` until `deadline`.
async fn reach_control_plane(
    plane: &str,
    deadline: Instant,
    waited: Duration,
) -> Result<(), JoinError> {
    let url = format!("{}/health", plane.trim_end_matches('/'));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match probe(
            &url,
            left.clamp(Duration::from_millis(100), Duration::from_secs(2)),
        )
        .await
        {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(JoinError::ControlPlane {
                    url,
                    waited,
                    last: Box::new(e),
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500).min(left)).await,
        }
    }
}

/// Reaches the control plane (when one is configured) and chainfire within
/// the plan's timeout, then registers with `listeners` (listener name to
/// `ip:port`). `Err` says what did not answer.
pub(crate) async fn join(
    plan: JoinPlan,
    listeners: BTreeMap<String, String>,
    presented: Option<crate::skew::Presenter>,
) -> Result<Joined, JoinError> {
    let deadline = Instant::now() + plan.timeout;
    if let Some(plane) = &plan.control_plane {
        reach_control_plane(plane, deadline, plan.timeout).await?;
    }
    register(plan, listeners, deadline, presented).await
}

/// chainfire's part of [`join`].
#[cfg(feature = "integration")]
async fn register(
    plan: JoinPlan,
    listeners: BTreeMap<String, String>,
    deadline: Instant,
    presented: Option<crate::skew::Presenter>,
) -> Result<Joined, JoinError> {
    use std::sync::Arc;
    let client = photon_integration::reach_chainfire(&plan.chainfire, deadline, presented)
        .await
        .map_err(|e| JoinError::Chainfire(e.to_string()))?;
    let (registered, status) = match plan.registration {
        Some(registration) => {
            let registered = photon_integration::register(
                client,
                photon_integration::Registration {
                    cluster_id: registration.cluster_id,
                    component: registration.component,
                    component_id: registration.component_id,
                    version: env!("CARGO_PKG_VERSION"),
                    listeners,
                    metadata: registration.metadata,
                    heartbeat: registration.heartbeat,
                },
            )
            .await
            .map_err(|e| JoinError::Chainfire(crate::error_chain(&e)))?;
            let status = registered.status();
            (Some(registered), status)
        }
        None => (
            None,
            Arc::new(photon_integration::Status::new(format!(
                "ok: {} answered; not registered (auto_register = false)",
                plan.chainfire.join(",")
            ))),
        ),
    };
    let report = match (plan.hybrid, plan.note) {
        (true, Some(note)) => ModeReport::hybrid(note, status),
        (_, note) => ModeReport::integrated(note, status),
    };
    Ok(Joined { report, registered })
}

/// Without the `integration` feature there is no chainfire client: say
/// which feature brings it.
#[cfg(not(feature = "integration"))]
async fn register(
    _plan: JoinPlan,
    _listeners: BTreeMap<String, String>,
    _deadline: Instant,
    _presented: Option<crate::skew::Presenter>,
) -> Result<Joined, JoinError> {
    Err(JoinError::NoIntegrationFeature)
}

/// Run by `.ci/run` with `cargo test -p photon-runtime --lib`, where the
/// feature is off (a workspace build turns it on).
#[cfg(all(test, not(feature = "integration")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_the_feature_a_join_names_the_feature() {
        let plan = JoinPlan {
            chainfire: vec!["http://127.0.0.1:9".to_owned()],
            control_plane: None,
            timeout: Duration::from_millis(10),
            registration: None,
            note: None,
            hybrid: false,
        };
        let error = join(plan, BTreeMap::new(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "this binary was built without photon-runtime's `integration` feature"
            ),
            "{error}"
        );
    }
}

//! Joins a component to the platform (the design's integrated mode,
//! docs/design.md §3.4): reach chainfire within the fallback timeout, then register
//! the component under a lease and keep the lease alive with a heartbeat.
//!
//! The registration is a key in chainfire,
//! `/photon/clusters/<cluster>/components/<component>/<component_id>`,
//! whose value says what the component is and where it listens. It lives
//! as long as its lease: a component that stops heartbeating disappears
//! after three missed beats, and one that stops cleanly revokes it at
//! once. The control plane, and `etcdctl get --prefix`, read that prefix.

pub mod retry;
pub mod state;

/// chainfire's client, as [`connect`] returns it.
pub use etcd_client::{Client, Error as ConnectError};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{ConnectOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions};
use tokio_util::sync::CancellationToken;

/// chainfire could not be reached before the deadline.
#[derive(Debug, thiserror::Error)]
#[error("chainfire at {endpoints} did not answer within {waited:?}: {last}")]
pub struct Unreachable {
    /// The endpoints tried, comma-separated.
    pub endpoints: String,
    /// How long it was tried.
    pub waited: Duration,
    /// The last attempt's error.
    pub last: String,
}

/// A registration failed after chainfire was reached.
#[derive(Debug, thiserror::Error)]
#[error("registering `{key}` in chainfire: {source}")]
pub struct RegisterError {
    /// The registration's key.
    pub key: String,
    /// What chainfire said.
    #[source]
    pub source: etcd_client::Error,
}

/// What a node presents on its calls: a header's name, and its value at
/// the moment of each call (the node's configuration, `photon-config`,
/// which says when a roll is under way).
pub type Presenter = (
    &'static str,
    Arc<dyn Fn() -> Option<http::HeaderValue> + Send + Sync>,
);

/// Connects to chainfire as `Client::connect` does, adding what
/// `presented` gives to every call, so that chainfire can tell a node of
/// another configuration from its own.
pub async fn connect(
    endpoints: &[String],
    options: Option<ConnectOptions>,
    presented: Option<Presenter>,
) -> Result<Client, etcd_client::Error> {
    match presented {
        None => Client::connect(endpoints, options).await,
        Some((name, value)) => {
            Client::connect_with_balanced_channel(endpoints, options, Presenting { name, value })
                .await
        }
    }
}

/// tonic's balanced channel, with a header added to every request.
struct Presenting {
    name: &'static str,
    value: Arc<dyn Fn() -> Option<http::HeaderValue> + Send + Sync>,
}

impl etcd_client::BalancedChannelBuilder for Presenting {
    type Error = tonic::transport::Error;

    fn balanced_channel(
        self,
        buffer_size: usize,
    ) -> Result<
        (
            etcd_client::Channel,
            tokio::sync::mpsc::Sender<
                tonic::transport::channel::Change<http::Uri, tonic::transport::Endpoint>,
            >,
        ),
        Self::Error,
    > {
        use tower::ServiceExt as _;
        let (channel, updates) = tonic::transport::Channel::balance_channel(buffer_size);
        let Presenting { name, value } = self;
        let presenting = channel
            .map_request(move |mut request: http::Request<tonic::body::Body>| {
                if let Some(value) = value() {
                    request.headers_mut().insert(name, value);
                }
                request
            })
            .map_err(tower::BoxError::from);
        Ok((
            etcd_client::Channel::Custom(tower::util::BoxCloneSyncService::new(presenting)),
            updates,
        ))
    }
}

/// Connects to chainfire, retrying until `deadline`. Reached means a
/// member answered `Status` and knows a leader: only then can a
/// registration be written.
pub async fn reach_chainfire(
    endpoints: &[String],
    deadline: Instant,
    presented: Option<Presenter>,
) -> Result<Client, Unreachable> {
    let started = Instant::now();
    let attempt_timeout = Duration::from_secs(2);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let options = ConnectOptions::new()
            .with_connect_timeout(attempt_timeout.min(left.max(Duration::from_millis(100))))
            .with_timeout(attempt_timeout);
        let last = match connect(endpoints, Some(options), presented.clone()).await {
            Ok(mut client) => match client.status().await {
                Ok(status) if status.leader() != 0 => return Ok(client),
                Ok(_) => "a member answered, but the cluster has no leader".to_owned(),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        tracing::debug!(endpoints = %endpoints.join(","), error = %last, "chainfire not reached yet");
        let pause =
            Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now()));
        if pause.is_zero() {
            return Err(Unreachable {
                endpoints: endpoints.join(","),
                waited: started.elapsed(),
                last,
            });
        }
        tokio::time::sleep(pause).await;
    }
}

/// What a component registers.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The cluster (`photon.cluster_id`).
    pub cluster_id: String,
    /// The component's kind (`flashdns`).
    pub component: &'static str,
    /// This instance (`photon.component_id`).
    pub component_id: String,
    /// Its version.
    pub version: &'static str,
    /// Where each of its listeners listens, by listener name.
    pub listeners: BTreeMap<String, String>,
    /// The operator's labels (`[photon.integrated.registration] metadata`).
    pub metadata: BTreeMap<String, String>,
    /// Seconds between heartbeats; the lease lives three of them.
    pub heartbeat: Duration,
}

impl Registration {
    /// Its key in chainfire.
    pub fn key(&self) -> String {
        format!(
            "/photon/clusters/{}/components/{}/{}",
            self.cluster_id, self.component, self.component_id
        )
    }

    /// Its value: JSON a control plane (or `jq`) reads.
    pub fn value(&self) -> String {
        serde_json::json!({
            "component": self.component,
            "component_id": self.component_id,
            "cluster_id": self.cluster_id,
            "version": self.version,
            "listeners": self.listeners,
            "metadata": self.metadata,
            "heartbeat_interval_sec": self.heartbeat.as_secs(),
        })
        .to_string()
    }

    /// The lease's time to live: three heartbeats, so one late beat is no
    /// loss.
    pub fn ttl(&self) -> i64 {
        i64::try_from(self.heartbeat.as_secs().saturating_mul(3))
            .unwrap_or(i64::MAX)
            .max(3)
    }
}

/// What `/health` says of the integration: kept current by the heartbeat.
#[derive(Debug, Default)]
pub struct Status {
    chainfire: Mutex<String>,
}

impl Status {
    /// A status that says `text` until something sets another.
    pub fn new(text: String) -> Status {
        Status {
            chainfire: Mutex::new(text),
        }
    }

    /// `/health`'s `checks.chainfire`.
    pub fn check(&self) -> String {
        self.chainfire
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, text: String) {
        *self.chainfire.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }
}

/// A live registration: its heartbeat runs until [`Registered::leave`].
#[derive(Debug)]
pub struct Registered {
    status: Arc<Status>,
    stop: CancellationToken,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Registered {
    /// Shared with `/health`.
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// Stops the heartbeat and revokes the lease, so the registration goes
    /// at once rather than when the lease runs out.
    pub async fn leave(self) {
        self.stop.cancel();
        let _ = self.heartbeat.await;
    }
}

/// Writes the registration under a new lease and starts its heartbeat.
pub async fn register(
    mut client: Client,
    registration: Registration,
) -> Result<Registered, RegisterError> {
    let key = registration.key();
    let lease = put_leased(&mut client, &registration)
        .await
        .map_err(|source| RegisterError {
            key: key.clone(),
            source,
        })?;
    tracing::info!(
        %key,
        lease = format_args!("{lease:x}"),
        ttl_sec = registration.ttl(),
        "registered in chainfire"
    );
    let status = Arc::new(Status::default());
    status.set(registered(&key, lease));
    let stop = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat(
        client,
        registration,
        lease,
        status.clone(),
        stop.clone(),
    ));
    Ok(Registered {
        status,
        stop,
        heartbeat,
    })
}

fn registered(key: &str, lease: i64) -> String {
    format!("ok: registered as {key} (lease {lease:x})")
}

async fn put_leased(
    client: &mut Client,
    registration: &Registration,
) -> Result<i64, etcd_client::Error> {
    let lease = client.lease_grant(registration.ttl(), None).await?.id();
    client
        .put(
            registration.key(),
            registration.value(),
            Some(PutOptions::new().with_lease(lease)),
        )
        .await?;
    Ok(lease)
}

/// Renews the lease every heartbeat, on one keep-alive stream while it
/// lasts. A lost lease (chainfire unreachable for longer than the TTL, or
/// the lease revoked) is said in `/health`, and the registration is
/// written again once chainfire answers.
async fn heartbeat(
    mut client: Client,
    registration: Registration,
    mut lease: i64,
    status: Arc<Status>,
    stop: CancellationToken,
) {
    let key = registration.key();
    let mut ticks = tokio::time::interval(registration.heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut stream = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let renewed = tokio::select! {
            _ = stop.cancelled() => break,
            renewed = tokio::time::timeout(
                registration.heartbeat,
                renew(&mut client, lease, &mut stream),
            ) => renewed.unwrap_or_else(|_| {
                Err(etcd_client::Error::LeaseKeepAliveError(format!(
                    "no answer within {:?}",
                    registration.heartbeat
                )))
            }),
        };
        match renewed {
            Ok(true) => status.set(registered(&key, lease)),
            Ok(false) => {
                stream = None;
                tracing::warn!(%key, lease = format_args!("{lease:x}"), "the registration's lease expired; registering again");
                match put_leased(&mut client, &registration).await {
                    Ok(new) => {
                        lease = new;
                        tracing::info!(%key, lease = format_args!("{lease:x}"), "registered in chainfire again");
                        status.set(registered(&key, lease));
                    }
                    Err(e) => status.set(format!(
                        "lost: the lease expired, and registering again failed: {e}"
                    )),
                }
            }
            Err(e) => {
                stream = None;
                tracing::warn!(%key, error = %e, "heartbeat to chainfire failed");
                status.set(format!("heartbeat failing: {e}"));
            }
        }
    }
    match client.lease_revoke(lease).await {
        Ok(_) => tracing::info!(%key, "left chainfire (lease revoked)"),
        Err(e) => {
            tracing::warn!(%key, error = %e, "could not revoke the registration's lease; it expires on its own")
        }
    }
}

/// One keep-alive: `Ok(false)` when the lease no longer exists. The
/// stream is opened on the first beat (opening it renews once) and reused.
async fn renew(
    client: &mut Client,
    lease: i64,
    stream: &mut Option<(LeaseKeeper, LeaseKeepAliveStream)>,
) -> Result<bool, etcd_client::Error> {
    let Some((keeper, answers)) = stream else {
        return match client.lease_keep_alive(lease).await {
            Ok(opened) => {
                *stream = Some(opened);
                Ok(true)
            }
            // etcd-client's words for a keep-alive answered with TTL 0.
            Err(etcd_client::Error::LeaseKeepAliveError(e)) if e == "lease not found" => Ok(false),
            Err(e) => Err(e),
        };
    };
    keeper.keep_alive().await?;
    match answers.message().await? {
        Some(answer) => Ok(answer.ttl() > 0),
        None => Err(etcd_client::Error::LeaseKeepAliveError(
            "chainfire closed the keep-alive stream".to_owned(),
        )),
    }
}

//! Scraping: each target's `/metrics` fetched on the interval, parsed,
//! labelled with its `job` and `instance`, stored with the `up` and
//! `scrape_*` series Prometheus adds, and the series that went away
//! marked stale (a scrape that fails marks every series of the target).
//!
//! Each target keeps, as Prometheus does, its lines' series text mapped
//! to the stored series: a line seen in the last scrape costs a hash
//! lookup, not a label parse and an index search.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use photon_dsl::Resolver;
use photon_dsl::{NodeName, Port};
use tokio_util::sync::CancellationToken;

use crate::api::now_ms;
use crate::exposition::{self, Format, Limits, Metadata};
use crate::labels::{Labels, NAME};
use crate::tsdb::{Db, STALE_NAN, SeriesRef};

/// Where a target is reached.
#[derive(Debug, Clone)]
pub enum Address {
    /// A port of a node of the topology, resolved at each scrape.
    Node(NodeName, Port),
    /// `host:port`, outside the topology.
    Static(String),
}

/// One scrape target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its `job` label.
    pub job: String,
    /// Its `instance` label.
    pub instance: String,
    /// Where it is.
    pub address: Address,
    /// The path of its metrics (`/metrics`).
    pub path: String,
}

/// How scrapes are done.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Between two scrapes of a target.
    pub interval: Duration,
    /// How long one may take.
    pub timeout: Duration,
    /// Bytes a body may have before the scrape fails.
    pub body_limit: usize,
    /// What one scrape may hold.
    pub limits: Limits,
    /// Whether labels the target sends win over `job`/`instance`
    /// (Prometheus's `honor_labels`); else the target's are kept as
    /// `exported_<name>`.
    pub honor_labels: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            body_limit: 64 << 20,
            limits: Limits {
                samples: 200_000,
                labels: 64,
                label_value_length: 4096,
            },
            honor_labels: false,
        }
    }
}

/// What the targets page and `/api/v1/targets` show of a target.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    /// The target.
    pub target: Target,
    /// The URL last scraped.
    pub url: String,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: &'static str,
    /// Why the last scrape failed ("" when it did not).
    pub last_error: String,
    /// When it last ran.
    pub last_scrape: Option<SystemTime>,
    /// How long it took.
    pub last_duration: Duration,
    /// Samples it stored.
    pub samples: usize,
    /// Each family's metadata, from the last successful scrape.
    pub metadata: BTreeMap<String, Metadata>,
}

/// Every target's status, shared with the API.
pub type Statuses = Arc<Mutex<Vec<TargetStatus>>>;

/// Scrapes `targets` until `shutdown`, writing into `db`; one task per
/// target, their first scrapes spread over the first interval.
pub fn spawn(
    db: Arc<Db>,
    targets: Vec<Target>,
    settings: Settings,
    resolver: Arc<Resolver>,
    shutdown: CancellationToken,
) -> (Statuses, tokio::task::JoinSet<()>) {
    let statuses: Statuses = Arc::new(Mutex::new(
        targets
            .iter()
            .map(|t| TargetStatus {
                target: t.clone(),
                url: String::new(),
                health: "unknown",
                last_error: String::new(),
                last_scrape: None,
                last_duration: Duration::ZERO,
                samples: 0,
                metadata: BTreeMap::new(),
            })
            .collect(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let count = targets.len().max(1) as u32;
    for (i, target) in targets.into_iter().enumerate() {
        let lane = Lane {
            db: db.clone(),
            target,
            settings,
            resolver: resolver.clone(),
            statuses: statuses.clone(),
            index: i,
            cache: HashMap::default(),
            scrapes: 0,
            reports: None,
        };
        let offset = settings.interval / count * i as u32;
        tasks.spawn(lane.run(offset, shutdown.clone()));
    }
    (statuses, tasks)
}

/// One target's scrape loop.
struct Lane {
    db: Arc<Db>,
    target: Target,
    settings: Settings,
    resolver: Arc<Resolver>,
    statuses: Statuses,
    index: usize,
    /// The series of the last scrape's lines, by their text.
    cache: HashMap<Box<str>, Cached, foldhash::fast::RandomState>,
    /// Scrapes so far.
    scrapes: u64,
    /// The `up` and `scrape_*` series, once made.
    reports: Option<[SeriesRef; 5]>,
}

/// A line's series, and the scrape that last had it.
struct Cached {
    id: SeriesRef,
    seen: u64,
    /// Whether it is marked stale when it goes (not when its lines carry
    /// their own timestamps, as in Prometheus).
    stales: bool,
}

/// The series Prometheus adds for each scrape, in [`Lane::reports`]'s order.
const REPORTS: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl Lane {
    async fn run(mut self, offset: Duration, shutdown: CancellationToken) {
        tokio::select! {
            () = tokio::time::sleep(offset) => {}
            () = shutdown.cancelled() => return,
        }
        let mut ticks = tokio::time::interval(self.settings.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            self.scrape_once().await;
        }
    }

    async fn scrape_once(&mut self) {
        let t = now_ms();
        let started = Instant::now();
        let fetched = tokio::time::timeout(self.settings.timeout, self.fetch()).await;
        let (url, body) = match fetched {
            Ok(Ok((url, body))) => (url, Ok(body)),
            Ok(Err((url, e))) => (url, Err(e)),
            Err(_) => (
                self.url_hint(),
                Err(format!(
                    "scrape timed out after {:?} (scrape_timeout)",
                    self.settings.timeout
                )),
            ),
        };
        self.scrapes += 1;
        let this = self.scrapes;
        let cache = &self.cache;
        let parsed = body
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|(content_type, body)| {
                let text =
                    std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
                exposition::parse_with(
                    text,
                    Format::from_content_type(content_type.as_deref()),
                    self.settings.limits,
                    |series| cache.contains_key(series),
                )
                .map_err(|e| e.to_string())
            });
        let duration = started.elapsed();
        let target_labels = [
            ("job", self.target.job.as_str()),
            ("instance", self.target.instance.as_str()),
        ];
        let mut batch: Vec<(SeriesRef, i64, f64)> = Vec::new();
        let mut fresh: Vec<(Box<str>, Labels, Option<i64>, f64)> = Vec::new();
        let (up, scraped, mut error, metadata) = match parsed {
            Ok(parsed) => {
                let scraped = parsed.samples.len();
                batch.reserve(scraped + REPORTS.len());
                for s in parsed.samples {
                    match s.labels {
                        None => {
                            let cached = self
                                .cache
                                .get_mut(s.series)
                                .expect("parse_with asked the cache");
                            cached.seen = this;
                            cached.stales = s.timestamp.is_none();
                            batch.push((cached.id, s.timestamp.unwrap_or(t), s.value));
                        }
                        Some(labels) => fresh.push((
                            s.series.into(),
                            self.with_target_labels(labels, &target_labels),
                            s.timestamp,
                            s.value,
                        )),
                    }
                }
                (1.0, scraped, String::new(), Some(parsed.metadata))
            }
            Err(e) => (0.0, 0, e, None),
        };
        let added = fresh.iter().filter(|f| f.2.is_none()).count();
        let stored_before = batch.len() + fresh.len();
        let reports = match self.resolve(&mut fresh) {
            Ok(reports) => Some(reports),
            Err(e) => {
                error = format!("storing the scrape failed: {e}");
                None
            }
        };
        for (series, _, timestamp, value) in fresh {
            if let Some(cached) = self.cache.get(&series) {
                batch.push((cached.id, timestamp.unwrap_or(t), value));
            }
        }
        // every series of the last scrape not in this one ends here
        let stale = f64::from_bits(STALE_NAN);
        for cached in self.cache.values() {
            if cached.stales && cached.seen + 1 == this {
                batch.push((cached.id, t, stale));
            }
        }
        self.cache.retain(|_, c| c.seen == this);
        if let Some(reports) = reports {
            let values = [
                up,
                duration.as_secs_f64(),
                scraped as f64,
                scraped as f64,
                added as f64,
            ];
            batch.extend(reports.into_iter().zip(values).map(|(id, v)| (id, t, v)));
        }
        match self.db.append(&batch, false) {
            Ok(done) if done.unknown > 0 => {
                // retention dropped series this target still had: find
                // them again next time
                self.cache.clear();
                self.reports = None;
            }
            Ok(done) if done.duplicate + done.out_of_order > 0 => {
                tracing::debug!(
                    job = %self.target.job,
                    instance = %self.target.instance,
                    out_of_order = done.out_of_order,
                    duplicate = done.duplicate,
                    "samples refused"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(job = %self.target.job, instance = %self.target.instance, error = %e, "storing a scrape failed");
                error = format!("storing the scrape failed: {e}");
            }
        }
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        let status = &mut statuses[self.index];
        status.url = url;
        status.health = if up == 1.0 && error.is_empty() {
            "up"
        } else {
            "down"
        };
        status.last_error = error;
        status.last_scrape = Some(SystemTime::now());
        status.last_duration = duration;
        status.samples = stored_before;
        if let Some(metadata) = metadata {
            status.metadata = metadata;
        }
    }

    /// Finds or makes the series of `fresh` lines (entering them in the
    /// cache as seen now) and of the reports.
    fn resolve(
        &mut self,
        fresh: &mut [(Box<str>, Labels, Option<i64>, f64)],
    ) -> Result<[SeriesRef; 5], crate::tsdb::DbError> {
        let mut wanted: Vec<Labels> = fresh.iter_mut().map(|f| std::mem::take(&mut f.1)).collect();
        if self.reports.is_none() {
            wanted.extend(REPORTS.iter().map(|name| {
                let mut labels = Labels::from_pairs([
                    ("job", self.target.job.as_str()),
                    ("instance", self.target.instance.as_str()),
                ]);
                labels.set(NAME.into(), (*name).into());
                labels
            }));
        }
        let ids = self.db.refs(&wanted)?;
        for (f, &id) in fresh.iter().zip(&ids) {
            self.cache.insert(
                f.0.clone(),
                Cached {
                    id,
                    seen: self.scrapes,
                    stales: f.2.is_none(),
                },
            );
        }
        if self.reports.is_none() {
            let made: [SeriesRef; 5] = ids[fresh.len()..]
                .try_into()
                .expect("one series per report");
            self.reports = Some(made);
        }
        Ok(self.reports.expect("set above"))
    }

    /// The target's labels on a scraped sample: `job` and `instance` set,
    /// the target's own kept as `exported_job`/`exported_instance` unless
    /// `honor_labels`.
    fn with_target_labels(&self, mut labels: Labels, target: &[(&str, &str)]) -> Labels {
        for &(name, value) in target {
            match labels.get(name).map(str::to_owned) {
                Some(_) if self.settings.honor_labels => {}
                Some(theirs) => {
                    labels.set(format!("exported_{name}"), theirs);
                    labels.set(name.into(), value.into());
                }
                None => labels.set(name.into(), value.into()),
            }
        }
        labels
    }

    fn url_hint(&self) -> String {
        match &self.target.address {
            Address::Static(a) => format!("http://{a}{}", self.target.path),
            Address::Node(node, port) => format!("http://{node}:{port}{}", self.target.path),
        }
    }

    async fn address(&self) -> Result<SocketAddr, String> {
        match &self.target.address {
            Address::Node(node, port) => {
                photon_runtime::resolve_socket(&self.resolver, *node, *port)
                    .await
                    .map_err(|e| e.to_string())
            }
            Address::Static(a) => tokio::net::lookup_host(a.as_str())
                .await
                .map_err(|e| format!("resolving {a}: {e}"))?
                .next()
                .ok_or_else(|| format!("{a} has no address")),
        }
    }

    /// GETs the target's metrics: the URL, and the body's content type
    /// and bytes.
    async fn fetch(&self) -> Result<(String, (Option<String>, Bytes)), (String, String)> {
        let addr = self.address().await.map_err(|e| (self.url_hint(), e))?;
        let url = format!("http://{addr}{}", self.target.path);
        let fail = |e: String| (url.clone(), e);
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| fail(format!("connecting: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail(format!("HTTP handshake: {e}")))?;
        let driver = tokio::spawn(connection);
        let request = Request::get(self.target.path.as_str())
            .header(header::HOST, addr.to_string())
            .header(
                header::ACCEPT,
                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
            )
            .header(header::USER_AGENT, concat!("nightlight/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| fail(format!("sending the request: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            driver.abort();
            return Err(fail(format!("server returned HTTP status {status}")));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = self.settings.body_limit;
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    fail(format!("body size limit exceeded: more than {limit} bytes"))
                } else {
                    fail(format!("reading the body: {e}"))
                }
            })?
            .to_bytes();
        driver.abort();
        Ok((url, (content_type, body)))
    }
}

//! nightlight as a PhotonCloud service: the store opened under its data
//! directory, every `/metrics` of the topology scraped (found from the
//! placements, none written by hand), and the Prometheus HTTP API,
//! `/health` and `/metrics` on its one listener.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use photon_dsl::Node;
use photon_runtime::admin::{Checks, Histogram, Metrics, Report};
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};

use crate::api::Api;
use crate::exposition::Limits;
use crate::promql::{self, Engine};
use crate::rules::Receiver;
use crate::scrape::{self, Address, Statuses, Target};
use crate::spec::{HttpListener, NightLight, Webhook};
use crate::tsdb::Db;

/// How long open connections get after a stop.
const DRAIN: Duration = Duration::from_secs(5);
/// How often retention is enforced.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// What `/health` and `/metrics` report.
struct Status {
    db: Arc<Db>,
    targets: Statuses,
    sent: Arc<crate::rules::Sent>,
    query_seconds: Arc<[(&'static str, Histogram); 2]>,
}

impl Report for Status {
    /// Healthy while the store answers; targets down are reported, not
    /// failed (a target's outage is what nightlight is there to record).
    fn health(&self, checks: &mut Checks) {
        checks.ok("store", format!("ok: {} series", self.db.series_count()));
        let statuses = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let up = statuses.iter().filter(|s| s.health == "up").count();
        checks.ok("targets", format!("{up} of {} up", statuses.len()));
    }

    fn metrics(&self, out: &mut Metrics) {
        let s = &self.db.stats;
        out.counter("nightlight_samples_appended_total", "Samples stored.")
            .value(s.samples_appended.load(Ordering::Relaxed));
        out.counter(
            "nightlight_samples_refused_total",
            "Samples refused as out of order or duplicate.",
        )
        .value(s.samples_refused.load(Ordering::Relaxed));
        out.counter(
            "nightlight_chunks_written_total",
            "Compressed chunks written.",
        )
        .value(s.chunks_written.load(Ordering::Relaxed));
        out.gauge("nightlight_series", "Series in the store.")
            .value(self.db.series_count() as u64);
        out.gauge("nightlight_wal_bytes", "Bytes of the write-ahead log.")
            .value(self.db.wal_bytes());
        out.gauge("nightlight_disk_bytes", "Bytes the store takes on disk.")
            .value(self.db.disk_bytes());
        out.counter(
            "nightlight_notifications_total",
            "Alert notifications POSTed to the webhook, by outcome.",
        )
        .labelled(&[("outcome", "ok")], self.sent.ok.load(Ordering::Relaxed))
        .labelled(
            &[("outcome", "failed")],
            self.sent.failed.load(Ordering::Relaxed),
        );
        {
            let mut family = out.histogram(
                "nightlight_query_duration_seconds",
                "How long queries of the HTTP API took, by endpoint.",
            );
            for (endpoint, h) in self.query_seconds.iter() {
                family.histogram(&[("endpoint", endpoint)], h);
            }
        }
        let statuses = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let mut family = out.gauge("nightlight_targets", "Scrape targets, by health.");
        for health in ["up", "down", "unknown"] {
            let n = statuses.iter().filter(|s| s.health == health).count();
            family.labelled(&[("health", health)], n as u64);
        }
    }
}

impl<N: Node> NightLight<N> {
    /// Every target: each listener of the topology that serves `/health`
    /// (and so `/metrics`), the extra endpoints, the outside addresses.
    fn targets(&self, ctx: &StartContext) -> Vec<Target> {
        let mut targets = Vec::new();
        for placement in ctx.placements.iter() {
            for listener in placement.listeners.iter().filter(|l| l.health) {
                targets.push(Target {
                    job: placement.kind.as_str().to_owned(),
                    instance: format!("{}:{}", placement.node, listener.port),
                    address: Address::Node(placement.node, listener.port),
                    path: "/metrics".into(),
                });
            }
        }
        for dep in self.declare().deps().filter(|d| d.slot == "extra_targets") {
            let job = if dep.provider.is_empty() {
                "extra"
            } else {
                dep.provider
            };
            let instance = format!("{}:{}", dep.node, dep.port);
            if targets.iter().any(|t| t.instance == instance) {
                continue;
            }
            targets.push(Target {
                job: job.to_owned(),
                instance,
                address: Address::Node(dep.node, dep.port),
                path: "/metrics".into(),
            });
        }
        for outside in self.outside {
            targets.push(Target {
                job: outside.job.to_owned(),
                instance: outside.address.to_owned(),
                address: Address::Static(outside.address.to_owned()),
                path: "/metrics".into(),
            });
        }
        targets
    }
}

impl<N: Node> Service for NightLight<N> {
    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc = crate::standalone::export(self, ctx)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        Box::pin(async move {
            for rule in self.rules {
                promql::parse(rule.expr).map_err(|e| {
                    format!("alert rule `{}`: `expr` does not parse: {e}", rule.name)
                })?;
            }
            let receiver = match self.webhook {
                Webhook::Off => Receiver::Off,
                Webhook::OutsideTopology(url) => Receiver::from_url(url)?,
                Webhook::To(dep) => Receiver::Node(
                    dep.node(),
                    dep.port(),
                    dep.path()
                        .map_or("/".to_owned(), |p| format!("/{}", p.trimmed())),
                    ctx.resolver.clone(),
                ),
            };
            let dir = match self.data_dir {
                Some(dir) => PathBuf::from(dir),
                None => ctx.state_dir.join("data"),
            };
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("making the data directory {}: {e}", dir.display()))?;
            let db = {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || Db::open(&dir)).await??
            };
            let db = Arc::new(db);
            tracing::info!(dir = %dir.display(), series = db.series_count(), "store opened");
            let targets = self.targets(&ctx);
            tracing::info!(
                targets = targets.len(),
                "scraping every /metrics of the topology"
            );
            let settings = scrape::Settings {
                interval: self.collection.scrape_interval,
                timeout: self.collection.scrape_timeout,
                limits: Limits {
                    ..scrape::Settings::default().limits
                },
                ..scrape::Settings::default()
            };
            let (statuses, scrapers) = scrape::spawn(
                db.clone(),
                targets,
                settings,
                ctx.resolver.clone(),
                ctx.shutdown.clone(),
            );
            let engine = Engine::new(
                db.clone(),
                promql::Settings {
                    default_step_ms: self.collection.scrape_interval.as_millis() as i64,
                    // 160 MB of samples at most per query
                    max_samples: 10_000_000,
                    ..promql::Settings::default()
                },
            );
            let listener = ctx.tcp(HttpListener, self)?;
            let local = listener.local_addr()?;
            let (rules, sent, evaluator) = crate::rules::spawn(
                self.rules,
                engine.clone(),
                db.clone(),
                receiver,
                self.collection.scrape_interval,
                format!("http://{local}"),
                ctx.shutdown.clone(),
            );
            let query_seconds = Arc::new([
                ("query", Histogram::new(crate::api::QUERY_BOUNDS)),
                ("query_range", Histogram::new(crate::api::QUERY_BOUNDS)),
            ]);
            let api = Arc::new(Api {
                db: db.clone(),
                engine,
                targets: statuses.clone(),
                rules,
                rule_interval: self.collection.scrape_interval,
                query_seconds: query_seconds.clone(),
            });
            let retention = {
                let db = db.clone();
                let keep = Duration::from_secs(u64::from(self.retention.days) * 86_400);
                let shutdown = ctx.shutdown.clone();
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(RETENTION_EVERY);
                    loop {
                        tokio::select! {
                            _ = every.tick() => {}
                            () = shutdown.cancelled() => return,
                        }
                        let cutoff = std::time::SystemTime::now()
                            .checked_sub(keep)
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_millis() as i64);
                        let db = db.clone();
                        match tokio::task::spawn_blocking(move || db.enforce_retention(cutoff))
                            .await
                        {
                            Ok(Ok(0)) => {}
                            Ok(Ok(n)) => tracing::info!(series = n, "retention removed series"),
                            Ok(Err(e)) => tracing::warn!(error = %e, "enforcing retention failed"),
                            Err(e) => tracing::warn!(error = %e, "enforcing retention failed"),
                        }
                    }
                })
            };
            tracing::info!(addr = %local, rules = self.rules.len(), "Prometheus API listening");
            let admin = Arc::new(ctx.admin(
                env!("CARGO_PKG_VERSION"),
                Status {
                    db: db.clone(),
                    targets: statuses,
                    sent,
                    query_seconds,
                },
            ));
            let shutdown = ctx.shutdown.clone();
            let running: Running = Box::pin(async move {
                let handler = move |req: hyper::Request<hyper::body::Incoming>| {
                    let admin = admin.clone();
                    let api = api.clone();
                    async move {
                        if let Some(reply) = admin.answer::<_, Full<Bytes>>(&req) {
                            return reply;
                        }
                        match api.answer(req).await {
                            Ok(reply) => reply,
                            Err(req) => crate::dashboard::page(&req).unwrap_or_else(|| {
                                let mut r = Response::new(Full::new(Bytes::from(format!(
                                    "no page {}: nightlight serves / (the dashboard), /api/v1/..., /health and /metrics\n",
                                    req.uri().path()
                                ))));
                                *r.status_mut() = StatusCode::NOT_FOUND;
                                r
                            }),
                        }
                    }
                };
                photon_runtime::http::serve_http1(listener, shutdown, DRAIN, handler).await;
                let mut scrapers = scrapers;
                while scrapers.join_next().await.is_some() {}
                retention.abort();
                evaluator.abort();
                drop(db);
                tracing::info!("nightlight stopped");
                Ok(())
            });
            Ok(running)
        })
    }
}

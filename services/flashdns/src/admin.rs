//! The read-only admin API over HTTP: `GET /zones` (each zone with its
//! serial, source and reload state) and `GET /zones/<name>` (the zone as
//! BIND text), beside the runtime's `/health` and `/metrics`, whose
//! checks and numbers [`Health`] supplies.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hickory_proto::rr::{LowerName, Name};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};

use photon_runtime::admin::{Checks, Metrics, Report};

use crate::dns::{Counters, QTYPE_LABELS, RCODE_LABELS};
use crate::zones::Zones;

/// What the admin handler reads.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The zones and their reload state.
    pub zones: Zones,
    /// `/health` and `/metrics`.
    pub surface: photon_runtime::Admin,
}

/// flashdns's checks and numbers, for `/health` and `/metrics`.
#[derive(Debug)]
pub struct Health {
    /// The zones and their reload state.
    pub zones: Zones,
    /// The DNS front end's counters.
    pub counters: Arc<Counters>,
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", format!("{value}\n"))
}

impl Admin {
    /// Answers one request.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"error": "the admin API is read-only: GET only"}),
            );
        }
        if let Some(answer) = self.surface.answer(&request) {
            return answer;
        }
        match request.uri().path() {
            "/zones" | "/zones/" => self.list(),
            path => match path.strip_prefix("/zones/") {
                Some(name) => self.dump(name),
                None => json(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"error": format!("no such resource: {path}"), "resources": ["/zones", "/zones/<name>", "/health", "/metrics"]}),
                ),
            },
        }
    }

    fn list(&self) -> Response<Full<Bytes>> {
        let catalog = self.zones.catalog().load();
        let zones: Vec<_> = self
            .zones
            .status()
            .into_iter()
            .map(|status| {
                let zone = Name::from_ascii(&status.origin)
                    .ok()
                    .and_then(|n| catalog.get(&LowerName::new(&n)).cloned());
                serde_json::json!({
                    "name": status.origin,
                    "serial": zone.as_ref().map(|z| z.serial()),
                    "records": zone.as_ref().map(|z| z.record_count()),
                    "source": zone.as_ref().map(|z| z.source().to_owned()),
                    "file": status.file.map(|f| f.display().to_string()),
                    "loaded_at": status.loaded_at,
                    "last_error": status.last_error,
                    "failed_reloads": status.failed_reloads,
                    "warnings": status.warnings,
                    "dnssec": zone.as_ref().and_then(|z| z.signed()).map(|signed| serde_json::json!({
                        "key_tag": signed.key_tag,
                        "algorithm": signed.algorithm,
                        "ds": signed.ds,
                        "key_file": status.key_file.as_ref().map(|f| f.display().to_string()),
                        "signatures_inception": signed.inception,
                        "signatures_expire": signed.expiration,
                    })),
                })
            })
            .collect();
        json(StatusCode::OK, serde_json::json!({ "zones": zones }))
    }

    fn dump(&self, name: &str) -> Response<Full<Bytes>> {
        let zone = Name::from_ascii(name).ok().and_then(|mut n| {
            n.set_fqdn(true);
            self.zones
                .catalog()
                .load()
                .get(&LowerName::new(&n))
                .cloned()
        });
        match zone {
            Some(zone) => reply(StatusCode::OK, "text/dns; charset=utf-8", zone.to_text()),
            None => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": format!("flashdns serves no zone `{name}`")}),
            ),
        }
    }
}

impl Report for Health {
    fn health(&self, checks: &mut Checks) {
        let catalog = self.zones.catalog().load();
        if catalog.zones().next().is_none() {
            // Every question would be REFUSED: nothing to be authoritative for.
            checks.failing("zones", "no zone is loaded: every question is refused");
            return;
        }
        let failing: Vec<_> = self
            .zones
            .status()
            .iter()
            .filter_map(|s| s.last_error.as_ref().map(|e| format!("{}: {e}", s.origin)))
            .collect();
        // A rejected reload leaves the last good zone serving: still healthy,
        // but the check says what was rejected.
        checks.ok(
            "zones",
            if failing.is_empty() {
                "ok".to_owned()
            } else {
                failing.join("; ")
            },
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        let c = &self.counters;
        let mut responses = out.counter(
            "flashdns_responses_total",
            "DNS responses sent, by the question's type and the response code (those sent).",
        );
        for (qtype, by_rcode) in QTYPE_LABELS.iter().zip(&c.by_qtype_rcode) {
            for (rcode, counter) in RCODE_LABELS.iter().zip(by_rcode) {
                let count = counter.load(Ordering::Relaxed);
                if count > 0 {
                    responses.labelled(&[("qtype", qtype), ("rcode", rcode)], count);
                }
            }
        }
        for (name, help, value) in [
            (
                "flashdns_truncated_total",
                "UDP responses sent truncated (TC) for the client to retry over TCP.",
                &c.truncated,
            ),
            (
                "flashdns_transfers_total",
                "Zone transfers sent.",
                &c.transfers,
            ),
            (
                "flashdns_transfers_refused_total",
                "Zone transfers refused by axfr_allow.",
                &c.transfers_refused,
            ),
            (
                "flashdns_rate_limited_dropped_total",
                "UDP responses dropped by response rate limiting.",
                &c.rate_limited_dropped,
            ),
            (
                "flashdns_rate_limited_slipped_total",
                "UDP responses rate limiting sent truncated instead of dropping.",
                &c.rate_limited_slipped,
            ),
        ] {
            out.counter(name, help).value(value.load(Ordering::Relaxed));
        }
        let catalog = self.zones.catalog().load();
        let mut serials = out.gauge("flashdns_zone_serial", "The SOA serial each zone serves.");
        for zone in catalog.zones() {
            serials.labelled(&[("zone", &zone.origin().to_string())], zone.serial());
        }
        let mut records = out.gauge("flashdns_zone_records", "Records in each zone.");
        for zone in catalog.zones() {
            records.labelled(&[("zone", &zone.origin().to_string())], zone.record_count());
        }
        let mut expiry = out.gauge(
            "flashdns_zone_signatures_expire_timestamp_seconds",
            "When the signed zones' RRSIGs expire (they are refreshed at half their validity).",
        );
        for zone in catalog.zones() {
            if let Some(signed) = zone.signed() {
                expiry.labelled(&[("zone", &zone.origin().to_string())], signed.expiration);
            }
        }
        let mut failures = out.counter(
            "flashdns_zone_reload_failures_total",
            "Zone file reloads rejected.",
        );
        for status in self.zones.status() {
            failures.labelled(&[("zone", &status.origin)], status.failed_reloads);
        }
    }
}

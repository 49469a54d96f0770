//! The read-only admin API over HTTP: `GET /zones` (each zone with its
//! serial, source and reload state), `GET /zones/<name>` (the zone as BIND
//! text), `/health` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hickory_proto::rr::{LowerName, Name};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};

use crate::dns::{Counters, RCODE_LABELS};
use crate::zones::Zones;

/// What the admin handler reads.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The zones and their reload state.
    pub zones: Zones,
    /// The DNS front end's counters.
    pub counters: Arc<Counters>,
    /// The mode `/health` reports.
    pub mode: photon_runtime::ModeReport,
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
        match request.uri().path() {
            "/health" => self.health(),
            "/metrics" => self.metrics(),
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

    fn health(&self) -> Response<Full<Bytes>> {
        let status = self.zones.status();
        let failing: Vec<_> = status
            .iter()
            .filter_map(|s| s.last_error.as_ref().map(|e| format!("{}: {e}", s.origin)))
            .collect();
        // A rejected reload leaves the last good zone serving: still healthy,
        // but the check says what was rejected.
        let zones = if failing.is_empty() {
            "ok".to_owned()
        } else {
            failing.join("; ")
        };
        let (_, body) = self.mode.health(
            "flashdns",
            env!("CARGO_PKG_VERSION"),
            true,
            [("zones", zones.into())],
        );
        reply(StatusCode::OK, "application/json", format!("{body}\n"))
    }

    fn metrics(&self) -> Response<Full<Bytes>> {
        let c = &self.counters;
        let mut out = String::new();
        out.push_str("# HELP flashdns_responses_total DNS responses sent, by response code.\n");
        out.push_str("# TYPE flashdns_responses_total counter\n");
        for (label, counter) in RCODE_LABELS.iter().zip(&c.by_rcode) {
            out.push_str(&format!(
                "flashdns_responses_total{{rcode=\"{label}\"}} {}\n",
                counter.load(Ordering::Relaxed)
            ));
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
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        let catalog = self.zones.catalog().load();
        out.push_str("# HELP flashdns_zone_serial The SOA serial each zone serves.\n");
        out.push_str("# TYPE flashdns_zone_serial gauge\n");
        for zone in catalog.zones() {
            out.push_str(&format!(
                "flashdns_zone_serial{{zone=\"{}\"}} {}\n",
                zone.origin(),
                zone.serial()
            ));
        }
        out.push_str("# HELP flashdns_zone_records Records in each zone.\n");
        out.push_str("# TYPE flashdns_zone_records gauge\n");
        for zone in catalog.zones() {
            out.push_str(&format!(
                "flashdns_zone_records{{zone=\"{}\"}} {}\n",
                zone.origin(),
                zone.record_count()
            ));
        }
        out.push_str("# HELP flashdns_zone_signatures_expire_timestamp_seconds When the signed zones' RRSIGs expire (they are refreshed at half their validity).\n");
        out.push_str("# TYPE flashdns_zone_signatures_expire_timestamp_seconds gauge\n");
        for zone in catalog.zones() {
            if let Some(signed) = zone.signed() {
                out.push_str(&format!(
                    "flashdns_zone_signatures_expire_timestamp_seconds{{zone=\"{}\"}} {}\n",
                    zone.origin(),
                    signed.expiration
                ));
            }
        }
        out.push_str("# HELP flashdns_zone_reload_failures_total Zone file reloads rejected.\n");
        out.push_str("# TYPE flashdns_zone_reload_failures_total counter\n");
        for status in self.zones.status() {
            out.push_str(&format!(
                "flashdns_zone_reload_failures_total{{zone=\"{}\"}} {}\n",
                status.origin, status.failed_reloads
            ));
        }
        reply(StatusCode::OK, "text/plain; version=0.0.4", out)
    }
}

//! Requests counted by operation and outcome, with how long each took:
//! the per-operation breakdown every front end reports in `/metrics`
//! (`GetObject` answered 404 twelve times, `KV/Range` took 2 ms), so an
//! operator sees which call fails or slows rather than a total by status.
//!
//! Outcomes are a fixed list per kind of front end (HTTP status classes,
//! gRPC codes, DNS response codes), so counting is an atomic add; the
//! operations are learnt as they come, each once, up to a bound that
//! keeps a client inventing method names from growing `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::admin::{Histogram, Metrics};

/// How long requests take, in seconds: from a cached answer to a slow disk.
pub const DURATION_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// HTTP status classes, indexed by the status divided by 100 (minus one).
pub const HTTP_CLASSES: &[&str] = &["1xx", "2xx", "3xx", "4xx", "5xx"];

/// gRPC status codes' names, indexed by the code.
pub const GRPC_CODES: &[&str] = &[
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// Operations beyond this many are counted as `other`.
const MAX_OPERATIONS: usize = 256;

/// Requests by operation and outcome (see the module's documentation).
#[derive(Debug)]
pub struct Operations {
    /// The outcome's label name (`class`, `code`, `rcode`).
    label: &'static str,
    outcomes: &'static [&'static str],
    by_name: RwLock<BTreeMap<Box<str>, Arc<Operation>>>,
}

#[derive(Debug)]
struct Operation {
    outcomes: Vec<AtomicU64>,
    duration: Histogram,
}

impl Operations {
    /// Outcomes named `outcomes`, under the label `label`.
    pub fn new(label: &'static str, outcomes: &'static [&'static str]) -> Operations {
        Operations {
            label,
            outcomes,
            by_name: RwLock::new(BTreeMap::new()),
        }
    }

    /// Outcomes by HTTP status class (`class="2xx"`).
    pub fn http() -> Operations {
        Operations::new("class", HTTP_CLASSES)
    }

    /// Outcomes by gRPC status code (`code="NotFound"`).
    pub fn grpc() -> Operations {
        Operations::new("code", GRPC_CODES)
    }

    /// Counts one `operation` that ended in outcome number `outcome` after
    /// `took`; an outcome past the list is not counted.
    pub fn record(&self, operation: &str, outcome: usize, took: Duration) {
        if outcome >= self.outcomes.len() {
            return;
        }
        let known = self
            .by_name
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(operation)
            .cloned();
        let op = match known {
            Some(op) => op,
            None => self.learn(operation),
        };
        op.outcomes[outcome].fetch_add(1, Ordering::Relaxed);
        op.duration.observe(took.as_secs_f64());
    }

    /// Counts one HTTP request of `operation` answered with `status`.
    pub fn record_http(&self, operation: &str, status: hyper::StatusCode, took: Duration) {
        self.record(
            operation,
            usize::from(status.as_u16() / 100).wrapping_sub(1),
            took,
        );
    }

    fn learn(&self, operation: &str) -> Arc<Operation> {
        let mut by_name = self.by_name.write().unwrap_or_else(|e| e.into_inner());
        let name = if by_name.len() >= MAX_OPERATIONS && !by_name.contains_key(operation) {
            "other"
        } else {
            operation
        };
        by_name
            .entry(name.into())
            .or_insert_with(|| {
                Arc::new(Operation {
                    outcomes: self.outcomes.iter().map(|_| AtomicU64::new(0)).collect(),
                    duration: Histogram::new(DURATION_BOUNDS),
                })
            })
            .clone()
    }

    /// Writes the counter `requests` (by `operation` and outcome, the
    /// outcomes seen) and the histogram `durations` (by `operation`).
    pub fn write(
        &self,
        out: &mut Metrics,
        requests: (&'static str, &str),
        durations: (&'static str, &str),
    ) {
        let by_name = self.by_name.read().unwrap_or_else(|e| e.into_inner());
        let mut family = out.counter(requests.0, requests.1);
        for (name, op) in by_name.iter() {
            for (outcome, count) in self.outcomes.iter().zip(&op.outcomes) {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    family.labelled(&[("operation", name), (self.label, outcome)], count);
                }
            }
        }
        let mut family = out.histogram(durations.0, durations.1);
        for (name, op) in by_name.iter() {
            family.histogram(&[("operation", name)], &op.duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation_and_outcome_with_durations() {
        let ops = Operations::http();
        ops.record_http("GetObject", hyper::StatusCode::OK, Duration::from_millis(2));
        ops.record_http(
            "GetObject",
            hyper::StatusCode::NOT_FOUND,
            Duration::from_millis(1),
        );
        ops.record_http("PutObject", hyper::StatusCode::OK, Duration::from_secs(20));
        let mut out = Metrics::default();
        ops.write(
            &mut out,
            ("s3_requests_total", "Requests."),
            ("s3_request_duration_seconds", "Durations."),
        );
        let text = out.into_text();
        for line in [
            "s3_requests_total{operation=\"GetObject\",class=\"2xx\"} 1\n",
            "s3_requests_total{operation=\"GetObject\",class=\"4xx\"} 1\n",
            "s3_requests_total{operation=\"PutObject\",class=\"2xx\"} 1\n",
            "s3_request_duration_seconds_bucket{operation=\"GetObject\",le=\"0.0025\"} 2\n",
            "s3_request_duration_seconds_bucket{operation=\"PutObject\",le=\"10\"} 0\n",
            "s3_request_duration_seconds_count{operation=\"PutObject\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        assert!(!text.contains("PutObject\",class=\"4xx\""), "{text}");
    }

    #[test]
    fn invented_operations_stop_at_the_bound() {
        let ops = Operations::grpc();
        for i in 0..MAX_OPERATIONS + 50 {
            ops.record(&format!("m{i}"), 0, Duration::ZERO);
        }
        ops.record("m0", 5, Duration::ZERO);
        ops.record("m0", GRPC_CODES.len(), Duration::ZERO);
        let by_name = ops.by_name.read().expect("lock");
        assert_eq!(by_name.len(), MAX_OPERATIONS + 1);
        assert_eq!(by_name["other"].outcomes[0].load(Ordering::Relaxed), 50);
        assert_eq!(by_name["m0"].outcomes[5].load(Ordering::Relaxed), 1);
    }
}

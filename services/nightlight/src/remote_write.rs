//! Prometheus's remote write (1.0): `POST /api/v1/write`, a snappy-block
//! compressed protobuf `WriteRequest`, so an existing Prometheus (or any
//! agent that speaks it) writes into nightlight. A request is stored in
//! one write, fsynced, before it is answered 204; a body that is not
//! snappy or not the message is a 400 naming which, and stores nothing.
//!
//! The messages are declared here with prost's derive (the fields remote
//! write 1.0 uses, by Prometheus's field numbers) rather than generated
//! from Prometheus's `.proto`, which pulls in gogoproto's options.

use crate::labels::Labels;
use crate::tsdb::Db;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Its labels, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Its samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Most bytes a request body may have, compressed or not.
pub const MAX_BODY: usize = 32 << 20;

/// What a remote-write request stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Samples stored.
    pub stored: usize,
    /// Samples refused (older than their series' newest).
    pub refused: usize,
}

/// Decodes `body` and stores it in one synced write; the error is what the
/// client is told (400).
pub fn write(db: &Db, body: &[u8]) -> Result<Written, String> {
    let length = snap::raw::decompress_len(body)
        .map_err(|e| format!("the body is not snappy-compressed: {e}"))?;
    if length > MAX_BODY {
        return Err(format!(
            "the body decompresses to {length} bytes, over the limit of {MAX_BODY}"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("the body is not snappy-compressed: {e}"))?;
    let request = <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| format!("the body is not a remote-write WriteRequest: {e}"))?;
    let mut samples = Vec::new();
    for (i, series) in request.timeseries.iter().enumerate() {
        for label in &series.labels {
            if !crate::exposition::is_label_name(&label.name) {
                return Err(format!("series {i}: `{}` is not a label name", label.name));
            }
        }
        let labels = Labels::from_pairs(
            series
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone())),
        );
        match labels.name() {
            Some(name) if crate::exposition::is_metric_name(name) => {}
            _ => return Err(format!("series {i} ({labels}) has no valid metric name")),
        }
        for s in &series.samples {
            samples.push((labels.clone(), s.timestamp, s.value));
        }
    }
    let done = db
        .append_labelled(&samples, true)
        .map_err(|e| e.to_string())?;
    Ok(Written {
        stored: done.stored,
        refused: done.out_of_order + done.duplicate,
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn a_request_is_stored_and_bad_bodies_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "remote_metric".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "agent".into(),
                    },
                ],
                samples: vec![
                    Sample {
                        value: 1.5,
                        timestamp: 1000,
                    },
                    Sample {
                        value: 2.5,
                        timestamp: 2000,
                    },
                ],
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap();
        assert_eq!(
            write(&db, &body),
            Ok(Written {
                stored: 2,
                refused: 0
            })
        );
        assert!(
            write(&db, b"not snappy at all")
                .unwrap_err()
                .contains("snappy")
        );
        let garbage = snap::raw::Encoder::new()
            .compress_vec(&[0xff, 0xff, 0xff])
            .unwrap();
        assert!(write(&db, &garbage).unwrap_err().contains("WriteRequest"));
        let nameless = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&nameless.encode_to_vec())
            .unwrap();
        assert!(
            write(&db, &body)
                .unwrap_err()
                .contains("no valid metric name")
        );
    }
}

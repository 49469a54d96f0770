//! The text a target's `/metrics` answers: Prometheus's text format
//! (0.0.4) and OpenMetrics 1.0, parsed line by line into samples, with
//! the line and what was expected when a line is not either.

use std::collections::BTreeMap;

use crate::labels::{Labels, NAME};

/// Which of the two text formats a body is in (from its content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in ms.
    Prometheus,
    /// `application/openmetrics-text`: timestamps in seconds, `# EOF` last.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` names (Prometheus's when unsure).
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        match content_type {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => {
                Format::OpenMetrics
            }
            _ => Format::Prometheus,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The line's name and labels as written: the same text is the same
    /// series, which lets a scraper skip parsing labels it has seen.
    pub series: &'a str,
    /// Name and labels, parsed unless the caller knew `series` already.
    pub labels: Option<Labels>,
    /// The value.
    pub value: f64,
    /// Its own timestamp in ms, if the line gave one.
    pub timestamp: Option<i64>,
}

/// What `# TYPE`, `# HELP` and `# UNIT` said of a family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `counter`, `gauge`, `histogram`, `summary`, `untyped`, ...
    pub kind: String,
    /// The help text.
    pub help: String,
    /// The unit (OpenMetrics).
    pub unit: String,
}

/// A line that is not the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// What a body holds.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    /// The samples, in order.
    pub samples: Vec<Sample<'a>>,
    /// Each family's metadata, by family name.
    pub metadata: BTreeMap<String, Metadata>,
}

/// Limits on what one scrape may hold, so a target cannot exhaust memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Samples (Prometheus's `sample_limit`); 0 for none.
    pub samples: usize,
    /// Labels on one sample (`label_limit`); 0 for none.
    pub labels: usize,
    /// Bytes of a label value (`label_value_length_limit`); 0 for none.
    pub label_value_length: usize,
}

/// Parses `body` in `format`.
pub fn parse(body: &str, format: Format, limits: Limits) -> Result<Parsed<'_>, ParseError> {
    parse_with(body, format, limits, |_| false)
}

/// Parses `body` in `format`, leaving the labels of a line unparsed
/// (`None`) when `known` says its series text was seen before (it was
/// valid then, and the same text parses to the same labels).
pub fn parse_with<'a>(
    body: &'a str,
    format: Format,
    limits: Limits,
    mut known: impl FnMut(&str) -> bool,
) -> Result<Parsed<'a>, ParseError> {
    let mut parsed = Parsed::default();
    let mut saw_eof = false;
    for (i, raw) in body.split('\n').enumerate() {
        let line_no = i + 1;
        let fail = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if saw_eof {
            if line.is_empty() {
                continue;
            }
            return Err(fail("content after `# EOF`".into()));
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if format == Format::OpenMetrics && comment.trim() == "EOF" {
                saw_eof = true;
                continue;
            }
            comment_line(comment, format, &mut parsed.metadata).map_err(fail)?;
            continue;
        }
        let sample = sample_line(line, format, limits, &mut known).map_err(fail)?;
        if limits.samples > 0 && parsed.samples.len() >= limits.samples {
            return Err(fail(format!(
                "sample limit exceeded: more than {} samples",
                limits.samples
            )));
        }
        parsed.samples.push(sample);
    }
    if format == Format::OpenMetrics && !saw_eof {
        return Err(ParseError {
            line: body.split('\n').count(),
            message: "an OpenMetrics body must end with `# EOF`".into(),
        });
    }
    Ok(parsed)
}

/// `# HELP name text`, `# TYPE name type`, `# UNIT name unit`; other
/// comments are ignored.
fn comment_line(
    comment: &str,
    format: Format,
    metadata: &mut BTreeMap<String, Metadata>,
) -> Result<(), String> {
    let rest = comment.trim_start_matches([' ', '\t']);
    let (keyword, rest) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        if format == Format::OpenMetrics {
            return Err(format!(
                "unknown comment `# {keyword}` (OpenMetrics has HELP, TYPE, UNIT, EOF)"
            ));
        }
        return Ok(());
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (name, text) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    if !is_metric_name(name) {
        return Err(format!(
            "`# {keyword}` names `{name}`, which is not a metric name"
        ));
    }
    let entry = metadata.entry(name.to_owned()).or_default();
    match keyword {
        "HELP" => entry.help = unescape_help(text),
        "UNIT" => entry.unit = text.trim().to_owned(),
        _ => {
            let kind = text.trim();
            let known: &[&str] = match format {
                Format::Prometheus => &["counter", "gauge", "histogram", "summary", "untyped"],
                Format::OpenMetrics => &[
                    "counter",
                    "gauge",
                    "histogram",
                    "gaugehistogram",
                    "summary",
                    "info",
                    "stateset",
                    "unknown",
                ],
            };
            if !known.contains(&kind) {
                return Err(format!(
                    "`# TYPE {name}` is `{kind}`, not one of {}",
                    known.join(", ")
                ));
            }
            entry.kind = kind.to_owned();
        }
    }
    Ok(())
}

fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `name` is a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `name` is a label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A line's cursor.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(|b| b == b' ' || b == b'\t') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn take_while(&mut self, ok: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&ok) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// What is at the cursor, for an error.
    fn found(&self) -> String {
        match self.text[self.pos..].chars().next() {
            None => "the end of the line".into(),
            Some(c) => format!("`{c}`"),
        }
    }
}

fn sample_line<'a>(
    line: &'a str,
    format: Format,
    limits: Limits,
    known: &mut impl FnMut(&str) -> bool,
) -> Result<Sample<'a>, String> {
    let (name, series, mut c, labels) = match series_end(line) {
        Some((name_end, end)) if known(&line[..end]) => {
            let c = Cursor {
                text: line,
                pos: end,
            };
            (&line[..name_end], &line[..end], c, None)
        }
        _ => {
            let mut c = Cursor { text: line, pos: 0 };
            let (name, labels) = series_labels(&mut c, limits)?;
            (name, &line[..c.pos], c, Some(labels))
        }
    };
    let before_value = c.pos;
    c.skip_blanks();
    if c.pos == before_value {
        return Err(format!(
            "expected a space and the value after `{name}`, found {}",
            c.found()
        ));
    }
    let value_text = c.take_while(|b| b != b' ' && b != b'\t');
    let value = parse_value(value_text).ok_or_else(|| format!("`{value_text}` is not a number"))?;
    c.skip_blanks();
    let mut timestamp = None;
    if c.peek().is_some_and(|b| b != b'#') {
        let ts_text = c.take_while(|b| b != b' ' && b != b'\t');
        timestamp = Some(match format {
            Format::Prometheus => ts_text
                .parse::<i64>()
                .map_err(|_| format!("the timestamp `{ts_text}` is not whole milliseconds"))?,
            Format::OpenMetrics => ts_text
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .map(|s| (s * 1000.0).round() as i64)
                .ok_or_else(|| format!("the timestamp `{ts_text}` is not seconds"))?,
        });
        c.skip_blanks();
    }
    match c.peek() {
        None => {}
        // an OpenMetrics exemplar: ` # {trace_id="..."} 1.0`
        Some(b'#') if format == Format::OpenMetrics => {}
        Some(_) => return Err(format!("unexpected {} after the value", c.found())),
    }
    Ok(Sample {
        series,
        labels,
        value,
        timestamp,
    })
}

/// Where a line's name ends and where its series text (name, blanks and
/// `{...}`) ends, found without checking it: a quick look for the cache.
fn series_end(line: &str) -> Option<(usize, usize)> {
    let b = line.as_bytes();
    let name_end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b':'))
        .unwrap_or(b.len());
    let mut i = name_end;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    if b.get(i) != Some(&b'{') {
        return Some((name_end, name_end));
    }
    let mut quoted = false;
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'}' if !quoted => return Some((name_end, i + 1)),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The name and labels at the start of a line, checked; the cursor is
/// left after them.
fn series_labels<'a>(c: &mut Cursor<'a>, limits: Limits) -> Result<(&'a str, Labels), String> {
    let name = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    if name.is_empty() {
        return Err(format!("expected a metric name, found {}", c.found()));
    }
    if !is_metric_name(name) {
        return Err(format!("`{name}` is not a metric name"));
    }
    let mut labels = Labels::from_pairs([(NAME, name)]);
    let after_name = c.pos;
    c.skip_blanks();
    if c.peek() != Some(b'{') {
        c.pos = after_name;
        return Ok((name, labels));
    }
    c.pos += 1;
    let mut count = 0;
    loop {
        c.skip_blanks();
        if c.peek() == Some(b'}') {
            c.pos += 1;
            break;
        }
        let label = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !is_label_name(label) {
            return Err(format!(
                "expected a label name or `}}`, found {}",
                c.found()
            ));
        }
        c.skip_blanks();
        if c.peek() != Some(b'=') {
            return Err(format!(
                "expected `=` after label `{label}`, found {}",
                c.found()
            ));
        }
        c.pos += 1;
        c.skip_blanks();
        if c.peek() != Some(b'"') {
            return Err(format!(
                "expected `\"` to start the value of label `{label}`, found {}",
                c.found()
            ));
        }
        c.pos += 1;
        let value =
            quoted(c).ok_or_else(|| format!("the value of label `{label}` is not closed"))?;
        if limits.label_value_length > 0 && value.len() > limits.label_value_length {
            return Err(format!(
                "the value of label `{label}` is {} bytes, over the limit of {}",
                value.len(),
                limits.label_value_length
            ));
        }
        if labels.get(label).is_some() || (label == NAME) {
            return Err(format!("label `{label}` is given twice"));
        }
        labels.set(label.to_owned(), value);
        count += 1;
        if limits.labels > 0 && count > limits.labels {
            return Err(format!("more than {} labels on one sample", limits.labels));
        }
        c.skip_blanks();
        match c.peek() {
            Some(b',') => c.pos += 1,
            Some(b'}') => {
                c.pos += 1;
                break;
            }
            _ => {
                return Err(format!(
                    "expected `,` or `}}` after label `{label}`, found {}",
                    c.found()
                ));
            }
        }
    }
    Ok((name, labels))
}

/// A label value up to its closing quote, unescaped.
fn quoted(c: &mut Cursor<'_>) -> Option<String> {
    let mut out = String::new();
    let rest = &c.text[c.pos..];
    let mut chars = rest.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => {
                c.pos += i + 1;
                return Some(out);
            }
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            other => out.push(other),
        }
    }
    None
}

/// A sample value as Go's `ParseFloat` reads it: decimal, `NaN`, `±Inf`.
pub fn parse_value(text: &str) -> Option<f64> {
    let unsigned = text.trim_start_matches(['+', '-']);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if text.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
        || text.contains('_')
    {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Limits = Limits {
        samples: 0,
        labels: 0,
        label_value_length: 0,
    };

    #[test]
    fn the_prometheus_text_format() {
        let body = "# HELP http_requests_total The total.\\nSecond line.\n# TYPE http_requests_total counter\nhttp_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\nhttp_requests_total{method=\"post\",code=\"400\",}    3 1395066363000\n\n# a comment\nmetric_without_timestamp_and_labels 12.47\nsomething_weird{problem=\"division by zero\"} +Inf -3982045\nmsdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\nnan_value NaN\n";
        let parsed = parse(body, Format::Prometheus, NONE).expect("parses");
        assert_eq!(parsed.samples.len(), 6);
        let first = &parsed.samples[0];
        assert_eq!(
            first.labels.as_ref().expect("parsed").to_string(),
            "http_requests_total{code=\"200\", method=\"post\"}"
        );
        assert_eq!(
            (first.value, first.timestamp),
            (1027.0, Some(1_395_066_363_000))
        );
        assert_eq!(parsed.samples[3].value, f64::INFINITY);
        assert_eq!(parsed.samples[3].timestamp, Some(-3_982_045));
        assert_eq!(
            parsed.samples[4]
                .labels
                .as_ref()
                .and_then(|l| l.get("error")),
            Some("Cannot find file:\n\"FILE.TXT\"")
        );
        assert_eq!(
            parsed.samples[4]
                .labels
                .as_ref()
                .and_then(|l| l.get("path")),
            Some("C:\\DIR\\FILE.TXT")
        );
        assert!(parsed.samples[5].value.is_nan());
        let meta = &parsed.metadata["http_requests_total"];
        assert_eq!(
            (meta.kind.as_str(), meta.help.as_str()),
            ("counter", "The total.\nSecond line.")
        );
    }

    #[test]
    fn openmetrics_with_seconds_exemplars_and_eof() {
        let body = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"x\"} 1 1520879607.7\nfoo_created 1520430000.123\n# EOF\n";
        let parsed = parse(body, Format::OpenMetrics, NONE).expect("parses");
        assert_eq!(parsed.samples[0].timestamp, Some(1_520_879_607_789));
        assert_eq!(parsed.metadata["foo"].unit, "seconds");
        let unended = parse("foo 1\n", Format::OpenMetrics, NONE).expect_err("no EOF");
        assert!(unended.message.contains("# EOF"), "{unended}");
    }

    #[test]
    fn a_bad_line_is_named_with_what_was_expected() {
        for (body, line, says) in [
            (
                "ok 1\nbad{a=1} 2\n",
                2,
                "expected `\"` to start the value of label `a`, found `1`",
            ),
            (
                "x{a=\"1\" b=\"2\"} 1",
                1,
                "expected `,` or `}` after label `a`, found `b`",
            ),
            ("x 1 2 3", 1, "unexpected `3` after the value"),
            ("x one", 1, "`one` is not a number"),
            ("x{a=\"1} 1", 1, "the value of label `a` is not closed"),
            ("x{a=\"1\",a=\"2\"} 1", 1, "label `a` is given twice"),
            ("# TYPE x weird", 1, "`# TYPE x` is `weird`"),
            ("9x 1", 1, "`9x` is not a metric name"),
            ("{a=\"1\"} 1", 1, "expected a metric name, found `{`"),
            (
                "x 1 12.5",
                1,
                "the timestamp `12.5` is not whole milliseconds",
            ),
        ] {
            let e = parse(body, Format::Prometheus, NONE).expect_err(body);
            assert_eq!(e.line, line, "{body}");
            assert!(e.message.contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn limits_stop_an_exploding_target() {
        let body: String = (0..1000).map(|i| format!("x{{id=\"{i}\"}} 1\n")).collect();
        let limits = Limits {
            samples: 100,
            ..NONE
        };
        let e = parse(&body, Format::Prometheus, limits).expect_err("too many");
        assert!(e.message.contains("sample limit exceeded"), "{e}");
        let long = format!("x{{a=\"{}\"}} 1", "v".repeat(100));
        let e = parse(
            &long,
            Format::Prometheus,
            Limits {
                label_value_length: 50,
                ..NONE
            },
        )
        .expect_err("too long");
        assert!(e.message.contains("over the limit of 50"), "{e}");
    }

    #[test]
    fn a_known_series_text_skips_its_labels_but_not_its_checks() {
        let body = "a{x=\"}\\\" y\"} 1 5\nb 2\nc {z=\"1\"}  3\n";
        let fresh = parse(body, Format::Prometheus, NONE).expect("parses");
        let series: Vec<&str> = fresh.samples.iter().map(|s| s.series).collect();
        assert_eq!(series, ["a{x=\"}\\\" y\"}", "b", "c {z=\"1\"}"]);
        let known =
            parse_with(body, Format::Prometheus, NONE, |s| series.contains(&s)).expect("parses");
        for (k, f) in known.samples.iter().zip(&fresh.samples) {
            assert_eq!(k.labels, None);
            assert_eq!(
                (k.series, k.value, k.timestamp),
                (f.series, f.value, f.timestamp)
            );
        }
        // the value and what follows it are still checked
        let err = parse_with("b x\n", Format::Prometheus, NONE, |_| true).expect_err("bad value");
        assert_eq!(err.to_string(), "line 1: `x` is not a number");
        let err = parse_with("b{}1\n", Format::Prometheus, NONE, |_| true).expect_err("no space");
        assert!(err.message.starts_with("expected a space"), "{err}");
    }
}

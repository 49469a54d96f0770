//! PromQL's functions: over range vectors (`rate`, `*_over_time`, ...),
//! over instant vectors (math, `clamp*`, `label_replace`,
//! `histogram_quantile`, dates, sorting), and `time`, `vector`, `scalar`,
//! `absent`.

use chrono::{DateTime, Datelike as _, Timelike as _};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};

use super::aggregate::{mean, quantile, variance};
use super::{Evaluator, Result, Sample, Series, Value, duration_ms, exec, no_duplicate_labelsets};
use crate::exposition::{is_label_name, parse_value};
use crate::labels::{Labels, NAME};
use crate::tsdb::is_stale;

/// The functions of one range vector that [`range_function`] computes
/// (and [`by_series`] evaluates for a whole range query).
const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "resets",
    "changes",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
];

/// For a range query: `call`'s value at every step, if it is a range
/// function of a range selector, computed a series at a time across all
/// steps (each series' samples are read once, in order, while they are in
/// the CPU's cache) rather than a step at a time across all series, which
/// for long ranges spends its time waiting on memory. `None` for other
/// calls, which are evaluated step by step.
pub(super) fn by_series(
    ev: &Evaluator<'_>,
    call: &Call,
    steps: &[i64],
) -> Option<Vec<Vec<Sample>>> {
    let name = call.func.name;
    if !RANGE_FUNCTIONS.contains(&name) || call.args.args.len() != 1 {
        return None;
    }
    let Expr::MatrixSelector(ms) = unparen(&call.args.args[0]) else {
        return None;
    };
    if ms.vs.at.is_some() {
        return None;
    }
    let keep_name = name == "last_over_time";
    let range = duration_ms(&ms.range);
    let offset = super::offset_ms(&ms.vs.offset);
    let mut out: Vec<Vec<Sample>> = steps.iter().map(|_| Vec::new()).collect();
    let mut without_stale = Vec::new();
    for (labels, points) in ev.loaded(&ms.vs) {
        let labels = if keep_name {
            labels.clone()
        } else {
            labels.clone().without_name()
        };
        let (mut a, mut b) = (0, 0);
        for (i, &t) in steps.iter().enumerate() {
            let ts = t - offset;
            let from = ts - range;
            while a < points.len() && points[a].0 < from {
                a += 1;
            }
            b = b.max(a);
            while b < points.len() && points[b].0 <= ts {
                b += 1;
            }
            let mut window = &points[a..b];
            if window.iter().any(|p| is_stale(p.1)) {
                without_stale.clear();
                without_stale.extend(window.iter().copied().filter(|p| !is_stale(p.1)));
                window = &without_stale;
            }
            if window.is_empty() {
                continue;
            }
            if let Some(value) = range_function(name, window, from, ts) {
                out[i].push(Sample {
                    labels: labels.clone(),
                    value,
                    t,
                });
            }
        }
    }
    Some(out)
}

pub(super) fn eval(ev: &mut Evaluator<'_>, call: &Call, t: i64) -> Result<Value> {
    let name = call.func.name;
    let args = &call.args.args;
    if call.func.experimental {
        return Err(exec(format!(
            "function \"{name}\" is experimental and not evaluated by nightlight"
        )));
    }
    let arg = |i: usize| -> Result<&Expr> {
        args.get(i)
            .map(|b| b.as_ref())
            .ok_or_else(|| exec(format!("{name}: argument {} is missing", i + 1)))
    };
    let value = match name {
        "time" => Value::Scalar(t as f64 / 1000.0),
        "pi" => Value::Scalar(std::f64::consts::PI),
        "vector" => {
            let v = ev.scalar(arg(0)?, t)?;
            Value::Vector(vec![Sample {
                labels: Labels::default(),
                value: v,
                t,
            }])
        }
        "scalar" => {
            let v = ev.vector(arg(0)?, t)?;
            Value::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN })
        }
        "timestamp" => {
            let samples = ev.vector(arg(0)?, t)?;
            let own_time = matches!(unparen(arg(0)?), Expr::VectorSelector(_));
            map_samples(samples, t, |s| {
                if own_time {
                    s.t as f64 / 1000.0
                } else {
                    t as f64 / 1000.0
                }
            })?
        }
        "absent" => {
            let samples = ev.vector(arg(0)?, t)?;
            if samples.is_empty() {
                Value::Vector(vec![Sample {
                    labels: absent_labels(arg(0)?),
                    value: 1.0,
                    t,
                }])
            } else {
                Value::Vector(Vec::new())
            }
        }
        "absent_over_time" => {
            let (series, _, _) = ev.range_arg(arg(0)?, t)?;
            if series.is_empty() {
                Value::Vector(vec![Sample {
                    labels: absent_labels(arg(0)?),
                    value: 1.0,
                    t,
                }])
            } else {
                Value::Vector(Vec::new())
            }
        }
        _ if RANGE_FUNCTIONS.contains(&name) => {
            // Prometheus 2 keeps the name for `last_over_time` alone
            let keep_name = name == "last_over_time";
            if let Some(samples) = ev.precomputed(call, t) {
                return Ok(Value::Vector(no_duplicate_labelsets(samples)?));
            }
            match unparen(arg(0)?) {
                // the common case, read in place
                Expr::MatrixSelector(ms) => {
                    let mut out = Vec::new();
                    let range = duration_ms(&ms.range);
                    ev.for_each_window(&ms.vs, range, t, |labels, points, from, to| {
                        if let Some(value) = range_function(name, points, from, to) {
                            let labels = labels.clone();
                            out.push(Sample {
                                labels: if keep_name {
                                    labels
                                } else {
                                    labels.without_name()
                                },
                                value,
                                t,
                            });
                        }
                    });
                    Value::Vector(no_duplicate_labelsets(out)?)
                }
                other => {
                    let (series, from, to) = ev.range_arg(other, t)?;
                    over_range(keep_name, series, from, to, t, |points, from, to| {
                        range_function(name, points, from, to)
                    })?
                }
            }
        }
        "quantile_over_time" => {
            let q = ev.scalar(arg(0)?, t)?;
            let (series, from, to) = ev.range_arg(arg(1)?, t)?;
            over_range(false, series, from, to, t, |points, _, _| {
                Some(quantile(q, points.iter().map(|p| p.1).collect()))
            })?
        }
        "predict_linear" => {
            let (series, from, to) = ev.range_arg(arg(0)?, t)?;
            let seconds = ev.scalar(arg(1)?, t)?;
            over_range(false, series, from, to, t, |points, _, _| {
                if points.len() < 2 {
                    return None;
                }
                let (slope, intercept) = linear_regression(points, t);
                Some(slope * seconds + intercept)
            })?
        }
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "acos"
        | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cos" | "cosh" | "sin" | "sinh"
        | "tan" | "tanh" | "deg" | "rad" => {
            let f = math(name);
            map_samples(ev.vector(arg(0)?, t)?, t, |s| f(s.value))?
        }
        "round" => {
            let samples = ev.vector(arg(0)?, t)?;
            let to_nearest = match args.get(1) {
                Some(a) => ev.scalar(a, t)?,
                None => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            map_samples(samples, t, |s| (s.value * inverse + 0.5).floor() / inverse)?
        }
        "clamp" => {
            let samples = ev.vector(arg(0)?, t)?;
            let (lo, hi) = (ev.scalar(arg(1)?, t)?, ev.scalar(arg(2)?, t)?);
            if hi < lo {
                return Ok(Value::Vector(Vec::new()));
            }
            map_samples(samples, t, |s| go_max(lo, go_min(hi, s.value)))?
        }
        "clamp_min" => {
            let samples = ev.vector(arg(0)?, t)?;
            let lo = ev.scalar(arg(1)?, t)?;
            map_samples(samples, t, |s| go_max(lo, s.value))?
        }
        "clamp_max" => {
            let samples = ev.vector(arg(0)?, t)?;
            let hi = ev.scalar(arg(1)?, t)?;
            map_samples(samples, t, |s| go_min(hi, s.value))?
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let samples = match args.first() {
                Some(a) => ev.vector(a, t)?,
                None => vec![Sample {
                    labels: Labels::default(),
                    value: t as f64 / 1000.0,
                    t,
                }],
            };
            map_samples(samples, t, |s| date_part(name, s.value))?
        }
        "sort" | "sort_desc" => {
            let mut samples = ev.vector(arg(0)?, t)?;
            // NaN last either way
            if name == "sort" {
                samples.sort_by(|a, b| nan_last(a.value, b.value, false));
            } else {
                samples.sort_by(|a, b| nan_last(a.value, b.value, true));
            }
            Value::Vector(samples)
        }
        "label_replace" => label_replace(ev, args, t)?,
        "label_join" => label_join(ev, args, t)?,
        "histogram_quantile" => {
            let q = ev.scalar(arg(0)?, t)?;
            histogram_quantile(q, ev.vector(arg(1)?, t)?, t)?
        }
        other => {
            return Err(exec(format!(
                "function \"{other}\" is not supported by nightlight yet"
            )));
        }
    };
    Ok(value)
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if desc => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

/// Each sample's value through `f`, its name dropped.
fn map_samples(samples: Vec<Sample>, t: i64, f: impl Fn(&Sample) -> f64) -> Result<Value> {
    let out = samples
        .into_iter()
        .map(|s| Sample {
            value: f(&s),
            labels: s.labels.without_name(),
            t,
        })
        .collect();
    Ok(Value::Vector(no_duplicate_labelsets(out)?))
}

/// A range function over each series; a series it has no value for is
/// left out. Names are dropped unless `keep_name`.
fn over_range(
    keep_name: bool,
    series: Vec<Series>,
    from: i64,
    to: i64,
    t: i64,
    f: impl Fn(&[(i64, f64)], i64, i64) -> Option<f64>,
) -> Result<Value> {
    let out = series
        .into_iter()
        .filter_map(|s| {
            let value = f(&s.points, from, to)?;
            Some(Sample {
                labels: if keep_name {
                    s.labels
                } else {
                    s.labels.without_name()
                },
                value,
                t,
            })
        })
        .collect();
    Ok(Value::Vector(no_duplicate_labelsets(out)?))
}

fn range_function(name: &str, points: &[(i64, f64)], from: i64, to: i64) -> Option<f64> {
    let values = || points.iter().map(|p| p.1);
    match name {
        "rate" => extrapolated(points, from, to, true, true),
        "increase" => extrapolated(points, from, to, true, false),
        "delta" => extrapolated(points, from, to, false, false),
        "irate" | "idelta" => {
            let [.., (pt, pv), (lt, lv)] = points else {
                return None;
            };
            let mut v = lv - pv;
            if name == "irate" && lv < pv {
                v = *lv;
            }
            let interval = lt - pt;
            if interval == 0 {
                return None;
            }
            Some(if name == "irate" {
                v / (interval as f64 / 1000.0)
            } else {
                v
            })
        }
        "deriv" => {
            if points.len() < 2 {
                return None;
            }
            Some(linear_regression(points, points[0].0).0)
        }
        "resets" => Some(points.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
        "changes" => Some(
            points
                .windows(2)
                .filter(|w| !(w[1].1 == w[0].1 || (w[1].1.is_nan() && w[0].1.is_nan())))
                .count() as f64,
        ),
        "avg_over_time" => Some(mean(&values().collect::<Vec<_>>())),
        "min_over_time" => {
            Some(values().fold(
                f64::NAN,
                |acc, v| if acc.is_nan() || v < acc { v } else { acc },
            ))
        }
        "max_over_time" => {
            Some(values().fold(
                f64::NAN,
                |acc, v| if acc.is_nan() || v > acc { v } else { acc },
            ))
        }
        "sum_over_time" => Some(values().sum()),
        "count_over_time" => Some(points.len() as f64),
        "stddev_over_time" => Some(variance(&values().collect::<Vec<_>>()).sqrt()),
        "stdvar_over_time" => Some(variance(&values().collect::<Vec<_>>())),
        "last_over_time" => points.last().map(|p| p.1),
        "present_over_time" => Some(1.0),
        _ => None,
    }
}

/// `rate`, `increase` and `delta`: the change over the samples in the
/// window, corrected for counter resets and extrapolated towards the
/// window's edges as Prometheus does (not past half an average interval
/// beyond the samples, nor below zero for a counter).
fn extrapolated(
    points: &[(i64, f64)],
    from: i64,
    to: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = first.1;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 - from) as f64 / 1000.0;
    let to_end = (to - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let average = sampled / (points.len() - 1) as f64;
    if counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    result *= interval / sampled;
    if rate {
        result /= (to - from) as f64 / 1000.0;
    }
    Some(result)
}

/// Least squares over `points`, times taken relative to `intercept_at`:
/// (slope per second, value at `intercept_at`).
fn linear_regression(points: &[(i64, f64)], intercept_at: i64) -> (f64, f64) {
    let first = points[0].1;
    if points.iter().all(|p| p.1 == first) {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let n = points.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sx2) = (0.0, 0.0, 0.0, 0.0);
    for &(pt, v) in points {
        let x = (pt - intercept_at) as f64 / 1000.0;
        sx += x;
        sy += v;
        sxy += x * v;
        sx2 += x * x;
    }
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn math(name: &str) -> fn(f64) -> f64 {
    match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        "tanh" => f64::tanh,
        "deg" => f64::to_degrees,
        _ => f64::to_radians,
    }
}

/// A date part of `seconds` (UTC), as Go's time package gives it.
fn date_part(name: &str, seconds: f64) -> f64 {
    if seconds.is_nan() || seconds.is_infinite() {
        return f64::NAN;
    }
    let Some(d) = DateTime::from_timestamp(seconds as i64, 0) else {
        return f64::NAN;
    };
    f64::from(match name {
        "day_of_month" => d.day(),
        "day_of_week" => d.weekday().num_days_from_sunday(),
        "day_of_year" => d.ordinal(),
        "hour" => d.hour(),
        "minute" => d.minute(),
        "month" => d.month(),
        "year" => return f64::from(d.year()),
        _ => {
            // days in the month: the day before the first of the next
            let (y, m) = if d.month() == 12 {
                (d.year() + 1, 1)
            } else {
                (d.year(), d.month() + 1)
            };
            chrono::NaiveDate::from_ymd_opt(y, m, 1)
                .and_then(|first| first.pred_opt())
                .map_or(0, |last| last.day())
        }
    })
}

/// The labels `absent` gives: those the selector sets with `=`, unless
/// set twice.
fn absent_labels(expr: &Expr) -> Labels {
    let vs = match unparen(expr) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut labels = Labels::default();
    let mut twice: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == NAME || !matches!(m.op, MatchOp::Equal) {
            continue;
        }
        if labels.get(&m.name).is_some() {
            twice.push(&m.name);
        }
        labels.set(m.name.clone(), m.value.clone());
    }
    for name in twice {
        labels.remove(name);
    }
    labels
}

fn string_arg(ev: &mut Evaluator<'_>, args: &[Box<Expr>], i: usize, t: i64) -> Result<String> {
    match args.get(i).map(|a| ev.eval(a, t)).transpose()? {
        Some(Value::String(s)) => Ok(s),
        _ => Err(exec(format!("argument {} must be a string", i + 1))),
    }
}

fn label_replace(ev: &mut Evaluator<'_>, args: &[Box<Expr>], t: i64) -> Result<Value> {
    let samples = ev.vector(&args[0], t)?;
    let dst = string_arg(ev, args, 1, t)?;
    let replacement = string_arg(ev, args, 2, t)?;
    let src = string_arg(ev, args, 3, t)?;
    let pattern = string_arg(ev, args, 4, t)?;
    let regex = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
        exec(format!(
            "invalid regular expression in label_replace(): {pattern}: {e}"
        ))
    })?;
    if !is_label_name(&dst) {
        return Err(exec(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(samples.len());
    for mut s in samples {
        let value = s.labels.get(&src).unwrap_or("").to_owned();
        if let Some(caps) = regex.captures(&value) {
            let mut replaced = String::new();
            caps.expand(&replacement, &mut replaced);
            s.labels.set(dst.clone(), replaced);
        }
        s.t = t;
        out.push(s);
    }
    Ok(Value::Vector(no_duplicate_labelsets(out)?))
}

fn label_join(ev: &mut Evaluator<'_>, args: &[Box<Expr>], t: i64) -> Result<Value> {
    let samples = ev.vector(&args[0], t)?;
    let dst = string_arg(ev, args, 1, t)?;
    let sep = string_arg(ev, args, 2, t)?;
    let mut srcs = Vec::new();
    for i in 3..args.len() {
        let src = string_arg(ev, args, i, t)?;
        if !is_label_name(&src) {
            return Err(exec(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
        srcs.push(src);
    }
    if !is_label_name(&dst) {
        return Err(exec(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let out = samples
        .into_iter()
        .map(|mut s| {
            let joined = srcs
                .iter()
                .map(|src| s.labels.get(src).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&sep);
            s.labels.set(dst.clone(), joined);
            s.t = t;
            s
        })
        .collect();
    Ok(Value::Vector(no_duplicate_labelsets(out)?))
}

/// `histogram_quantile` over classic buckets (`le` series): buckets of a
/// histogram are the series equal but for `le`.
fn histogram_quantile(q: f64, samples: Vec<Sample>, t: i64) -> Result<Value> {
    let mut histograms: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for s in samples {
        let Some(le) = s.labels.get("le").and_then(parse_value) else {
            continue;
        };
        let mut key = s.labels.without_name();
        key.remove("le");
        match histograms.iter_mut().find(|(k, _)| *k == key) {
            Some((_, buckets)) => buckets.push((le, s.value)),
            None => histograms.push((key, vec![(le, s.value)])),
        }
    }
    let out = histograms
        .into_iter()
        .map(|(labels, buckets)| Sample {
            labels,
            value: bucket_quantile(q, buckets),
            t,
        })
        .collect();
    Ok(Value::Vector(out))
}

fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // the same upper bound twice: their counts add up
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (le, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    // counts must not decrease with the bound (scrapes are not atomic)
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged.partition_point(|x| x.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

//! Aggregations: `sum avg min max count group stddev stdvar topk bottomk
//! quantile count_values`, grouped `by` or `without` labels.

use promql_parser::parser::token;
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::{Evaluator, Result, Sample, Value, exec, format_value};
use crate::exposition::is_label_name;
use crate::labels::{LabelMap, Labels};

pub(super) fn eval(ev: &mut Evaluator<'_>, a: &AggregateExpr, t: i64) -> Result<Value> {
    let op = a.op.id();
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, t)?),
        None => None,
    };
    let input = ev.vector(&a.expr, t)?;
    let group_of = |labels: &Labels| -> Labels {
        match &a.modifier {
            Some(LabelModifier::Include(by)) => labels.keep(&by.labels),
            Some(LabelModifier::Exclude(without)) => {
                labels.drop_names(&without.labels).without_name()
            }
            None => Labels::default(),
        }
    };
    // groups in the order their first sample came
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: LabelMap<Vec<Sample>> = LabelMap::default();
    for s in input {
        let g = group_of(&s.labels);
        match groups.get_mut(&g) {
            Some(members) => members.push(s),
            None => {
                order.push(g.clone());
                groups.insert(g, vec![s]);
            }
        }
    }
    let scalar_param = |what: &str| -> Result<f64> {
        match &param {
            Some(Value::Scalar(v)) => Ok(*v),
            _ => Err(exec(format!("{what} needs a scalar parameter"))),
        }
    };
    let mut out = Vec::new();
    match op {
        token::T_TOPK | token::T_BOTTOMK => {
            let k = scalar_param("topk/bottomk")?;
            // Go's conversion: NaN and below 1 select nothing
            let k = if k.is_nan() { 0 } else { k as i64 };
            if k < 1 {
                return Ok(Value::Vector(Vec::new()));
            }
            let top = op == token::T_TOPK;
            for g in order {
                let mut members = groups.remove(&g).unwrap_or_default();
                // NaN sorts below every number for topk, above for bottomk
                if top {
                    members.sort_by(|x, y| nan_low(y.value).total_cmp(&nan_low(x.value)));
                } else {
                    members.sort_by(|x, y| nan_high(x.value).total_cmp(&nan_high(y.value)));
                }
                members.truncate(usize::try_from(k).unwrap_or(usize::MAX));
                out.extend(members.into_iter().map(|s| Sample { t, ..s }));
            }
            return Ok(Value::Vector(out));
        }
        token::T_COUNT_VALUES => {
            let Some(Value::String(label)) = &param else {
                return Err(exec("count_values needs a string parameter"));
            };
            if !is_label_name(label) {
                return Err(exec(format!("invalid label name {label:?}")));
            }
            let mut counts: Vec<(Labels, f64)> = Vec::new();
            for g in order {
                for s in groups.remove(&g).unwrap_or_default() {
                    let mut labels = g.clone();
                    labels.set(label.clone(), format_value(s.value));
                    match counts.iter_mut().find(|(l, _)| *l == labels) {
                        Some((_, n)) => *n += 1.0,
                        None => counts.push((labels, 1.0)),
                    }
                }
            }
            out.extend(
                counts
                    .into_iter()
                    .map(|(labels, value)| Sample { labels, value, t }),
            );
            return Ok(Value::Vector(out));
        }
        _ => {}
    }
    let q = if op == token::T_QUANTILE {
        Some(scalar_param("quantile")?)
    } else {
        None
    };
    for g in order {
        let members = groups.remove(&g).unwrap_or_default();
        let values: Vec<f64> = members.iter().map(|s| s.value).collect();
        let n = values.len() as f64;
        let value =
            match op {
                token::T_SUM => values.iter().sum(),
                token::T_AVG => mean(&values),
                token::T_COUNT => n,
                token::T_GROUP => 1.0,
                token::T_MIN => values.iter().copied().fold(f64::NAN, |acc, v| {
                    if acc.is_nan() || v < acc { v } else { acc }
                }),
                token::T_MAX => values.iter().copied().fold(f64::NAN, |acc, v| {
                    if acc.is_nan() || v > acc { v } else { acc }
                }),
                token::T_STDVAR => variance(&values),
                token::T_STDDEV => variance(&values).sqrt(),
                token::T_QUANTILE => quantile(q.unwrap_or(f64::NAN), values),
                other => {
                    return Err(exec(format!(
                        "the aggregation `{}` is not supported",
                        token::TokenType::new(other)
                    )));
                }
            };
        out.push(Sample {
            labels: g,
            value,
            t,
        });
    }
    Ok(Value::Vector(out))
}

fn nan_low(v: f64) -> f64 {
    if v.is_nan() { f64::NEG_INFINITY } else { v }
}

fn nan_high(v: f64) -> f64 {
    if v.is_nan() { f64::INFINITY } else { v }
}

/// The mean, computed incrementally as Prometheus does so that large
/// values do not overflow a plain sum.
pub(super) fn mean(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    if sum.is_finite() || values.iter().any(|v| v.is_nan()) {
        return sum / values.len() as f64;
    }
    let mut mean = 0.0f64;
    for (i, v) in values.iter().enumerate() {
        let count = (i + 1) as f64;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (*v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / count - mean / count;
    }
    mean
}

/// The population variance.
pub(super) fn variance(values: &[f64]) -> f64 {
    let (mut count, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for &v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}

/// The φ-quantile by linear interpolation between the closest ranks, as
/// Prometheus computes it.
pub(super) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort.Float64s: NaN before every number
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len();
    let rank = q * (n - 1) as f64;
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(n - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

//! Binary operators: arithmetic, comparison (filtering or `bool`), and
//! the set operators, with Prometheus's vector matching (`on`,
//! `ignoring`, `group_left`, `group_right`).

use promql_parser::parser::token::{self, TokenId};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::{Evaluator, Result, Sample, Value, exec, no_duplicate_labelsets};
use crate::labels::{LabelMap, LabelSet, Labels, NAME};

pub(super) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, t: i64) -> Result<Value> {
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    let op = b.op.id();
    let bool_ = b.return_bool();
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = apply(op, l, r)?;
            Ok(Value::Scalar(if is_comparison(op) {
                f64::from(u8::from(keep))
            } else {
                v
            }))
        }
        (Value::Vector(l), Value::Scalar(r)) => vector_scalar(op, l, r, false, bool_, t),
        (Value::Scalar(l), Value::Vector(r)) => vector_scalar(op, r, l, true, bool_, t),
        (Value::Vector(l), Value::Vector(r)) => {
            let modifier = b.modifier.as_ref();
            match op {
                token::T_LAND => Ok(Value::Vector(and_unless(l, &r, modifier, true))),
                token::T_LUNLESS => Ok(Value::Vector(and_unless(l, &r, modifier, false))),
                token::T_LOR => Ok(Value::Vector(or(l, r, modifier))),
                _ => vector_vector(op, l, r, modifier, bool_, t).map(Value::Vector),
            }
        }
        (l, r) => Err(exec(format!(
            "binary operator between {} and {}",
            l.kind(),
            r.kind()
        ))),
    }
}

fn is_comparison(op: TokenId) -> bool {
    matches!(
        op,
        token::T_EQLC | token::T_NEQ | token::T_GTR | token::T_LSS | token::T_GTE | token::T_LTE
    )
}

/// Arithmetic drops the metric name; comparisons (without `bool`) and,
/// in Prometheus 2, `atan2` keep it.
fn drops_name(op: TokenId) -> bool {
    matches!(
        op,
        token::T_ADD | token::T_SUB | token::T_MUL | token::T_DIV | token::T_MOD | token::T_POW
    )
}

/// `l op r`: the value, and for comparisons whether it holds.
fn apply(op: TokenId, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        token::T_ADD => (l + r, true),
        token::T_SUB => (l - r, true),
        token::T_MUL => (l * r, true),
        token::T_DIV => (l / r, true),
        token::T_POW => (l.powf(r), true),
        token::T_MOD => (go_mod(l, r), true),
        token::T_ATAN2 => (l.atan2(r), true),
        token::T_EQLC => (l, l == r),
        token::T_NEQ => (l, l != r),
        token::T_GTR => (l, l > r),
        token::T_LSS => (l, l < r),
        token::T_GTE => (l, l >= r),
        token::T_LTE => (l, l <= r),
        other => {
            return Err(exec(format!(
                "operator `{}` between these operands",
                token::TokenType::new(other)
            )));
        }
    })
}

/// Go's `math.Mod`: the sign of the dividend, NaN for a zero divisor.
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

fn vector_scalar(
    op: TokenId,
    vector: Vec<Sample>,
    scalar: f64,
    scalar_left: bool,
    bool_: bool,
    t: i64,
) -> Result<Value> {
    let mut out = Vec::with_capacity(vector.len());
    for s in vector {
        let (l, r) = if scalar_left {
            (scalar, s.value)
        } else {
            (s.value, scalar)
        };
        let (mut value, mut keep) = apply(op, l, r)?;
        // a comparison keeps the vector's value whichever side it is on
        if is_comparison(op) && scalar_left {
            value = r;
        }
        if bool_ {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || bool_ {
                s.labels.without_name()
            } else {
                s.labels
            };
            out.push(Sample { labels, value, t });
        }
    }
    no_duplicate_labelsets(out).map(Value::Vector)
}

/// The labels a sample is matched by: those of `on`, or all but those of
/// `ignoring` and the name.
fn signature(labels: &Labels, modifier: Option<&BinModifier>) -> Labels {
    match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(on)) => labels.keep(&on.labels),
        Some(LabelModifier::Exclude(ignoring)) => {
            labels.drop_names(&ignoring.labels).without_name()
        }
        None => labels.clone().without_name(),
    }
}

fn and_unless(
    l: Vec<Sample>,
    r: &[Sample],
    modifier: Option<&BinModifier>,
    and: bool,
) -> Vec<Sample> {
    let right: LabelSet = r.iter().map(|s| signature(&s.labels, modifier)).collect();
    l.into_iter()
        .filter(|s| right.contains(&signature(&s.labels, modifier)) == and)
        .collect()
}

fn or(l: Vec<Sample>, r: Vec<Sample>, modifier: Option<&BinModifier>) -> Vec<Sample> {
    let left: LabelSet = l.iter().map(|s| signature(&s.labels, modifier)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|s| !left.contains(&signature(&s.labels, modifier))),
    );
    out
}

fn vector_vector(
    op: TokenId,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    modifier: Option<&BinModifier>,
    bool_: bool,
    t: i64,
) -> Result<Vec<Sample>> {
    let card = modifier.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card);
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    // iterate the "many" side; the other is looked up by signature
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut by_sig: LabelMap<&Sample> =
        LabelMap::with_capacity_and_hasher(one.len(), Default::default());
    for s in &one {
        let sig = signature(&s.labels, modifier);
        if let Some(first) = by_sig.insert(sig.clone(), s) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(exec(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                first.labels, s.labels
            )));
        }
    }
    let mut matched: LabelMap<LabelSet> = LabelMap::default();
    let mut out = Vec::new();
    for s in &many {
        let sig = signature(&s.labels, modifier);
        let Some(other) = by_sig.get(&sig) else {
            continue;
        };
        let (l, r) = if one_to_many {
            (other.value, s.value)
        } else {
            (s.value, other.value)
        };
        let (mut value, keep) = apply(op, l, r)?;
        if bool_ {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(&s.labels, &other.labels, op, modifier, card);
        if bool_ {
            labels = labels.without_name();
        }
        match card {
            VectorMatchCardinality::OneToOne => {
                if matched.insert(sig, LabelSet::default()).is_some() {
                    return Err(exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
            }
            _ => {
                if !matched.entry(sig).or_default().insert(labels.clone()) {
                    return Err(exec(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
            }
        }
        out.push(Sample { labels, value, t });
    }
    no_duplicate_labelsets(out)
}

fn result_labels(
    many: &Labels,
    one: &Labels,
    op: TokenId,
    modifier: Option<&BinModifier>,
    card: &VectorMatchCardinality,
) -> Labels {
    let mut labels = many.clone();
    if drops_name(op) {
        labels.remove(NAME);
    }
    let matching = modifier.and_then(|m| m.matching.as_ref());
    match card {
        VectorMatchCardinality::OneToOne => match matching {
            Some(LabelModifier::Include(on)) => labels = labels.keep(&on.labels),
            Some(LabelModifier::Exclude(ignoring)) => labels = labels.drop_names(&ignoring.labels),
            None => {}
        },
        VectorMatchCardinality::ManyToOne(include) | VectorMatchCardinality::OneToMany(include) => {
            for name in &include.labels {
                labels.set(name.clone(), one.get(name).unwrap_or("").to_owned());
            }
        }
        VectorMatchCardinality::ManyToMany => {}
    }
    labels
}

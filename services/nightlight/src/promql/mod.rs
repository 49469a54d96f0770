//! PromQL over the store, with Prometheus 2's semantics: a 5 minute
//! lookback for instant selectors, ranges closed at both ends, staleness
//! markers ending a series, subquery steps aligned to absolute time, and
//! the same extrapolation in `rate`/`increase`/`delta`.
//!
//! The expression is parsed by `promql-parser` (GreptimeDB's, which
//! tracks Prometheus's grammar); this module evaluates it. Every selector
//! is read from the store once, over the whole window the query needs
//! ([`Engine`] walks the expression first), then each step is evaluated
//! from memory. What is not evaluated yet (native histograms, the
//! experimental functions) is an error naming it, never a wrong answer.

mod aggregate;
mod binary;
mod functions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use promql_parser::label::Matcher;
use promql_parser::parser::{self, AtModifier, Expr, Offset, VectorSelector};

use crate::labels::{LabelMap, Labels, NAME};
use crate::tsdb::{Db, DbError, is_stale};

/// A sample of an instant vector: its labels, value, and time (the
/// sample's own for a selector's result, else the evaluation time).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
    /// Its time in ms.
    pub t: i64,
}

/// A series of a range vector or of a range query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// `(ms, value)`, ascending.
    pub points: Vec<(i64, f64)>,
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector.
    Matrix(Vec<Series>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
        }
    }
}

/// Why a query has no answer, in the Prometheus API's error classes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The expression or a parameter is wrong (`bad_data`, 400).
    #[error("{0}")]
    BadData(String),
    /// Evaluating it failed (`execution`, 422).
    #[error("{0}")]
    Execution(String),
    /// It ran past its deadline (`timeout`, 503).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
}

impl From<DbError> for QueryError {
    fn from(e: DbError) -> Self {
        QueryError::Execution(e.to_string())
    }
}

type Result<T> = std::result::Result<T, QueryError>;

fn exec(message: impl Into<String>) -> QueryError {
    QueryError::Execution(message.into())
}

/// Settings Prometheus has as flags.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How far back an instant selector looks (`--query.lookback-delta`).
    pub lookback_ms: i64,
    /// Samples one query may load (`--query.max-samples`).
    pub max_samples: usize,
    /// A subquery's step when it gives none (`evaluation_interval`).
    pub default_step_ms: i64,
    /// How long one query may run (`--query.timeout`).
    pub timeout: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lookback_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            default_step_ms: 60_000,
            timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// Most points a range query may return per series (Prometheus's).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Evaluates PromQL over a store.
#[derive(Debug, Clone)]
pub struct Engine {
    db: Arc<Db>,
    settings: Settings,
}

/// Parses `query`, as the API reports a parse error.
pub fn parse(query: &str) -> Result<Expr> {
    parser::parse(query)
        .map_err(|e| QueryError::BadData(format!("invalid parameter \"query\": {e}")))
}

impl Engine {
    /// An engine over `db`.
    pub fn new(db: Arc<Db>, settings: Settings) -> Engine {
        Engine { db, settings }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// `query` at `t` (ms).
    pub fn instant(&self, query: &str, t: i64) -> Result<Value> {
        let expr = parse(query)?;
        self.instant_expr(&expr, t)
    }

    /// A parsed expression at `t`.
    pub fn instant_expr(&self, expr: &Expr, t: i64) -> Result<Value> {
        let mut ev = self.evaluator(expr, t, t, 0)?;
        let value = ev.eval(expr, t)?;
        Ok(match value {
            Value::Vector(mut v) => {
                for s in &mut v {
                    s.t = t;
                }
                Value::Vector(v)
            }
            other => other,
        })
    }

    /// `query` from `start` to `end` every `step` (ms): a matrix, sorted
    /// by labels.
    pub fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Vec<Series>> {
        let expr = parse(query)?;
        if end < start {
            return Err(QueryError::BadData(
                "invalid parameter \"end\": end timestamp must not be before start time".into(),
            ));
        }
        if step <= 0 {
            return Err(QueryError::BadData(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(QueryError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let kind = static_kind(&expr);
        if kind != "scalar" && kind != "instant vector" {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
            )));
        }
        let mut ev = self.evaluator(&expr, start, end, step)?;
        if end > start {
            let steps: Vec<i64> = (start..=end).step_by(step as usize).collect();
            ev.precompute(&expr, &steps);
        }
        let mut out: LabelMap<Vec<(i64, f64)>> = LabelMap::default();
        let mut points = 0usize;
        let mut t = start;
        while t <= end {
            ev.check_deadline()?;
            match ev.eval(&expr, t)? {
                Value::Scalar(v) => out.entry(Labels::default()).or_default().push((t, v)),
                Value::Vector(samples) => {
                    for s in samples {
                        out.entry(s.labels).or_default().push((t, s.value));
                    }
                }
                other => {
                    return Err(exec(format!(
                        "invalid expression type \"{}\" for range query",
                        other.kind()
                    )));
                }
            }
            points = out.values().map(Vec::len).sum();
            if points > self.settings.max_samples {
                return Err(exec(too_many_samples()));
            }
            t += step;
        }
        let _ = points;
        let mut series: Vec<Series> = out
            .into_iter()
            .map(|(labels, points)| Series { labels, points })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(series)
    }

    fn evaluator<'a>(
        &'a self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Evaluator<'a>> {
        let mut ev = Evaluator {
            engine: self,
            start,
            end,
            step,
            data: HashMap::new(),
            precomputed: HashMap::new(),
            deadline: Instant::now() + self.settings.timeout,
        };
        let mut budget = self.settings.max_samples;
        ev.load(expr, start, end, &mut budget)?;
        Ok(ev)
    }
}

fn too_many_samples() -> String {
    "query processing would load too many samples into memory in query execution".into()
}

/// The type an expression has, without evaluating it.
pub fn static_kind(expr: &Expr) -> &'static str {
    match expr.value_type() {
        parser::value::ValueType::Scalar => "scalar",
        parser::value::ValueType::String => "string",
        parser::value::ValueType::Vector => "instant vector",
        parser::value::ValueType::Matrix => "range vector",
    }
}

fn duration_ms(d: &std::time::Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// A selector's samples, read once for the whole query.
type Loaded = Vec<(Labels, Vec<(i64, f64)>)>;

/// One query's evaluation.
struct Evaluator<'a> {
    engine: &'a Engine,
    /// The query's own start and end (`@ start()`, `@ end()`).
    start: i64,
    end: i64,
    /// A range query's step (0 for an instant query).
    step: i64,
    /// Each selector's samples, by the selector's address in the tree.
    data: HashMap<usize, Loaded>,
    /// Calls whose every step a range query computed at once (see
    /// [`functions::by_series`]), by the call's address: each step's
    /// vector, taken when that step is evaluated.
    precomputed: HashMap<usize, Vec<Option<Vec<Sample>>>>,
    deadline: Instant,
}

fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

impl Evaluator<'_> {
    /// Computes ahead, for the steps of a range query, the calls of
    /// `expr` that are faster a series at a time (not inside subqueries,
    /// which have steps of their own), as long as what they hold at once
    /// stays within the query's sample limit.
    fn precompute(&mut self, expr: &Expr, steps: &[i64]) {
        match expr {
            Expr::Call(call) => {
                let fits = |ev: &Self| {
                    call.args.args.iter().all(|arg| match &**arg {
                        Expr::MatrixSelector(ms) => {
                            ev.loaded(&ms.vs).len().saturating_mul(steps.len())
                                <= ev.engine.settings.max_samples
                        }
                        _ => true,
                    })
                };
                if fits(self)
                    && let Some(values) = functions::by_series(self, call, steps)
                {
                    let values = values.into_iter().map(Some).collect();
                    self.precomputed.insert(call as *const _ as usize, values);
                    return;
                }
                for arg in &call.args.args {
                    self.precompute(arg, steps);
                }
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.precompute(p, steps);
                }
                self.precompute(&a.expr, steps);
            }
            Expr::Binary(b) => {
                self.precompute(&b.lhs, steps);
                self.precompute(&b.rhs, steps);
            }
            Expr::Paren(p) => self.precompute(&p.expr, steps),
            Expr::Unary(u) => self.precompute(&u.expr, steps),
            _ => {}
        }
    }

    /// `call`'s precomputed value at `t`, if it has one (once: a second
    /// evaluation at the same step computes it again).
    fn precomputed(&mut self, call: &parser::Call, t: i64) -> Option<Vec<Sample>> {
        let values = self.precomputed.get_mut(&(call as *const _ as usize))?;
        let offset = t.checked_sub(self.start)?;
        if self.step <= 0 || offset % self.step != 0 {
            return None;
        }
        values
            .get_mut(usize::try_from(offset / self.step).ok()?)?
            .take()
    }

    /// A selector's samples, as loaded.
    fn loaded(&self, vs: &VectorSelector) -> &[(Labels, Vec<(i64, f64)>)] {
        self.data.get(&key(vs)).map_or(&[], Vec::as_slice)
    }

    fn check_deadline(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout("query execution"));
        }
        Ok(())
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.start),
            Some(AtModifier::End) => Some(self.end),
            Some(AtModifier::At(t)) => Some(system_ms(t)),
        }
    }

    /// Reads every selector in `expr`, evaluated between `from` and `to`.
    fn load(&mut self, expr: &Expr, from: i64, to: i64, budget: &mut usize) -> Result<()> {
        match expr {
            Expr::VectorSelector(vs) => {
                let lookback = self.engine.settings.lookback_ms;
                self.load_selector(vs, from, to, lookback, budget)
            }
            Expr::MatrixSelector(ms) => {
                self.load_selector(&ms.vs, from, to, duration_ms(&ms.range), budget)
            }
            Expr::Subquery(sq) => {
                let (a, b) = match self.at_ms(&sq.at) {
                    Some(at) => (at, at),
                    None => (from, to),
                };
                let off = offset_ms(&sq.offset);
                self.load(&sq.expr, a - off - duration_ms(&sq.range), b - off, budget)
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.load(p, from, to, budget)?;
                }
                self.load(&a.expr, from, to, budget)
            }
            Expr::Unary(u) => self.load(&u.expr, from, to, budget),
            Expr::Binary(b) => {
                self.load(&b.lhs, from, to, budget)?;
                self.load(&b.rhs, from, to, budget)
            }
            Expr::Paren(p) => self.load(&p.expr, from, to, budget),
            Expr::Call(c) => {
                for arg in &c.args.args {
                    self.load(arg, from, to, budget)?;
                }
                Ok(())
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::Extension(_) => Err(exec("extension expressions are not evaluated")),
        }
    }

    fn load_selector(
        &mut self,
        vs: &VectorSelector,
        from: i64,
        to: i64,
        back: i64,
        budget: &mut usize,
    ) -> Result<()> {
        if !vs.matchers.or_matchers.is_empty() {
            return Err(exec("`or` inside a selector's braces is not supported"));
        }
        let (a, b) = match self.at_ms(&vs.at) {
            Some(at) => (at, at),
            None => (from, to),
        };
        let off = offset_ms(&vs.offset);
        let mut matchers: Vec<&Matcher> = vs.matchers.matchers.iter().collect();
        let name_matcher;
        if let Some(name) = &vs.name
            && !matchers.iter().any(|m| m.name == NAME)
        {
            name_matcher = Matcher::new(promql_parser::label::MatchOp::Equal, NAME, name);
            matchers.push(&name_matcher);
        }
        let limit = self.engine.settings.max_samples;
        let loaded = self
            .engine
            .db
            .select(&matchers, a - off - back, b - off, budget, limit)
            .map_err(|e| match e {
                DbError::TooManySamples { .. } => exec(too_many_samples()),
                other => other.into(),
            })?;
        self.data.insert(key(vs), loaded);
        Ok(())
    }

    fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.instant_selector(vs, t))),
            Expr::MatrixSelector(ms) => {
                let (series, _, _) = self.range_selector(&ms.vs, duration_ms(&ms.range), t);
                Ok(Value::Matrix(series))
            }
            Expr::Subquery(sq) => {
                let (series, _, _) = self.subquery(sq, t)?;
                Ok(Value::Matrix(series))
            }
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => {
                    let out = v
                        .into_iter()
                        .map(|s| Sample {
                            labels: s.labels.without_name(),
                            value: -s.value,
                            t,
                        })
                        .collect();
                    Ok(Value::Vector(no_duplicate_labelsets(out)?))
                }
                other => Err(exec(format!("unary minus on a {}", other.kind()))),
            },
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Call(c) => functions::eval(self, c, t),
            Expr::Extension(_) => Err(exec("extension expressions are not evaluated")),
        }
    }

    /// An instant selector at `t`: each series' newest sample within the
    /// lookback, unless that sample is a staleness marker.
    fn instant_selector(&self, vs: &VectorSelector, t: i64) -> Vec<Sample> {
        let ts = self.at_ms(&vs.at).unwrap_or(t) - offset_ms(&vs.offset);
        let lookback = self.engine.settings.lookback_ms;
        let Some(data) = self.data.get(&key(vs)) else {
            return Vec::new();
        };
        data.iter()
            .filter_map(|(labels, points)| {
                let i = points.partition_point(|p| p.0 <= ts);
                let &(pt, v) = points.get(i.checked_sub(1)?)?;
                (pt >= ts - lookback && !is_stale(v)).then(|| Sample {
                    labels: labels.clone(),
                    value: v,
                    t: pt,
                })
            })
            .collect()
    }

    /// A range selector at `t`: each series' samples in `[ts - range, ts]`
    /// (stale markers left out), and that window.
    fn range_selector(&self, vs: &VectorSelector, range: i64, t: i64) -> (Vec<Series>, i64, i64) {
        let mut series = Vec::new();
        let (from, ts) = self.for_each_window(vs, range, t, |labels, points, _, _| {
            series.push(Series {
                labels: labels.clone(),
                points: points.to_vec(),
            });
        });
        (series, from, ts)
    }

    /// [`range_selector`](Self::range_selector)'s windows, each lent to
    /// `f` in turn with the window's bounds rather than copied (range
    /// functions read them once); series with no sample in theirs are
    /// skipped. Returns the bounds.
    fn for_each_window(
        &self,
        vs: &VectorSelector,
        range: i64,
        t: i64,
        mut f: impl FnMut(&Labels, &[(i64, f64)], i64, i64),
    ) -> (i64, i64) {
        let ts = self.at_ms(&vs.at).unwrap_or(t) - offset_ms(&vs.offset);
        let from = ts - range;
        let mut without_stale = Vec::new();
        for (labels, points) in self.data.get(&key(vs)).into_iter().flatten() {
            let a = points.partition_point(|p| p.0 < from);
            let b = points.partition_point(|p| p.0 <= ts);
            let mut window = &points[a..b];
            if window.iter().any(|p| is_stale(p.1)) {
                without_stale.clear();
                without_stale.extend(window.iter().copied().filter(|p| !is_stale(p.1)));
                window = &without_stale;
            }
            if !window.is_empty() {
                f(labels, window, from, ts);
            }
        }
        (from, ts)
    }

    /// A subquery at `t`: its expression at every multiple of its step in
    /// `[ts - range, ts]`, as series.
    fn subquery(&mut self, sq: &parser::SubqueryExpr, t: i64) -> Result<(Vec<Series>, i64, i64)> {
        let ts = self.at_ms(&sq.at).unwrap_or(t) - offset_ms(&sq.offset);
        let range = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|&s| s > 0)
            .unwrap_or(self.engine.settings.default_step_ms);
        let from = ts - range;
        let mut s = from - from.rem_euclid(step);
        if s < from {
            s += step;
        }
        let mut out: LabelMap<Vec<(i64, f64)>> = LabelMap::default();
        let mut order: Vec<Labels> = Vec::new();
        while s <= ts {
            self.check_deadline()?;
            match self.eval(&sq.expr, s)? {
                Value::Scalar(v) => push_point(&mut out, &mut order, Labels::default(), s, v),
                Value::Vector(samples) => {
                    for sample in samples {
                        push_point(&mut out, &mut order, sample.labels, s, sample.value);
                    }
                }
                other => return Err(exec(format!("a subquery of a {}", other.kind()))),
            }
            s += step;
        }
        let series = order
            .into_iter()
            .map(|labels| {
                let points = out.remove(&labels).unwrap_or_default();
                Series { labels, points }
            })
            .collect();
        Ok((series, from, ts))
    }

    /// A range-vector argument (a range selector or a subquery) at `t`,
    /// with its window.
    fn range_arg(&mut self, expr: &Expr, t: i64) -> Result<(Vec<Series>, i64, i64)> {
        match expr {
            Expr::MatrixSelector(ms) => Ok(self.range_selector(&ms.vs, duration_ms(&ms.range), t)),
            Expr::Subquery(sq) => self.subquery(sq, t),
            Expr::Paren(p) => self.range_arg(&p.expr, t),
            other => Err(exec(format!(
                "expected a range vector, got {}",
                static_kind(other)
            ))),
        }
    }

    fn vector(&mut self, expr: &Expr, t: i64) -> Result<Vec<Sample>> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(exec(format!(
                "expected an instant vector, got {}",
                other.kind()
            ))),
        }
    }

    fn scalar(&mut self, expr: &Expr, t: i64) -> Result<f64> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(exec(format!("expected a scalar, got {}", other.kind()))),
        }
    }
}

fn push_point(
    out: &mut LabelMap<Vec<(i64, f64)>>,
    order: &mut Vec<Labels>,
    labels: Labels,
    t: i64,
    v: f64,
) {
    match out.get_mut(&labels) {
        Some(points) => points.push((t, v)),
        None => {
            order.push(labels.clone());
            out.insert(labels, vec![(t, v)]);
        }
    }
}

/// Prometheus refuses a result in which two samples share labels (e.g.
/// after names were dropped).
fn no_duplicate_labelsets(v: Vec<Sample>) -> Result<Vec<Sample>> {
    if v.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity_and_hasher(
            v.len(),
            foldhash::fast::RandomState::default(),
        );
        for s in &v {
            if !seen.insert(&s.labels) {
                return Err(exec("vector cannot contain metrics with the same labelset"));
            }
        }
    }
    Ok(v)
}

/// A float as Prometheus writes it (Go's `FormatFloat(v, 'f', -1, 64)`,
/// with `+Inf`, `-Inf`, `NaN`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests;

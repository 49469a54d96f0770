//! A linearizability checker for key-value histories: the algorithm of
//! Porcupine (Wing and Gong's search with Lowe's memoization, as
//! Porcupine implements it), written here in Rust for a register per key.
//!
//! A history is what clients saw: each operation's call and return times
//! and result. It is linearizable if every operation can be given one
//! instant between its call and its return such that, in that order, each
//! read returns the latest write. An operation whose outcome is unknown (a
//! write that timed out or failed: it may have happened, later or never)
//! has no return: it may take effect at any instant after its call, or
//! not at all. Keys are independent registers, so each key's history is
//! checked alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

/// What a client asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Wrote the value.
    Put(String),
    /// Read; `None` when the key was absent.
    Get(Option<String>),
}

/// One operation as a client saw it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The key.
    pub key: String,
    /// What was asked (with, for a read, what came back).
    pub op: Op,
    /// When it was sent.
    pub call: Instant,
    /// When its answer came; `None` when the outcome is unknown (a write
    /// without an answer: it may or may not take effect).
    pub ret: Option<Instant>,
}

/// A history recorded by several clients at once.
#[derive(Debug, Default, Clone)]
pub struct History {
    events: Vec<Event>,
}

impl History {
    /// Records an operation.
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Adds another client's operations.
    pub fn extend(&mut self, other: History) {
        self.events.extend(other.events);
    }

    /// How many operations.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// How many writes had no answer (their outcome unknown).
    pub fn unanswered(&self) -> usize {
        self.events.iter().filter(|e| e.ret.is_none()).count()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// `Ok` if linearizable; else the first key whose history is not,
    /// with its operations.
    pub fn check(&self) -> Result<(), String> {
        let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
        for e in &self.events {
            // a failed read saw nothing: it constrains nothing
            by_key.entry(&e.key).or_default().push(e);
        }
        for (key, events) in by_key {
            let reads_answered: Vec<&Event> = events
                .into_iter()
                .filter(|e| !(matches!(e.op, Op::Get(_)) && e.ret.is_none()))
                .collect();
            if !register_linearizable(&reads_answered) {
                let mut shown: Vec<String> = reads_answered
                    .iter()
                    .map(|e| format!("{:?}", e.op))
                    .collect();
                shown.truncate(40);
                return Err(format!(
                    "key `{key}`: no order of its {} operations explains what clients saw (first: {})",
                    reads_answered.len(),
                    shown.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// One end of an operation in the time-ordered list.
#[derive(Debug, Clone)]
struct Node {
    /// The operation.
    op: usize,
    /// A call (with its return's index) or a return.
    matching: Option<usize>,
    prev: usize,
    next: usize,
}

const HEAD: usize = 0;
const NIL: usize = usize::MAX;

/// Porcupine's search for one register.
fn register_linearizable(events: &[&Event]) -> bool {
    if events.is_empty() {
        return true;
    }
    let origin = events.iter().map(|e| e.call).min().expect("not empty");
    let nanos = |t: Instant| t.duration_since(origin).as_nanos();
    // (time, is_return, op): at equal times a return goes first, so an
    // operation that returned before another was called is ordered before it
    let mut points: Vec<(u128, bool, usize)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        points.push((nanos(e.call), false, i));
        points.push((e.ret.map_or(u128::MAX, nanos), true, i));
    }
    points.sort_by_key(|&(t, is_return, i)| (t, !is_return, i));
    // node 0 is the head sentinel
    let mut nodes = vec![Node {
        op: NIL,
        matching: None,
        prev: NIL,
        next: 1,
    }];
    let mut return_of = vec![0usize; events.len()];
    for (k, &(_, is_return, op)) in points.iter().enumerate() {
        let index = k + 1;
        if is_return {
            return_of[op] = index;
        }
        nodes.push(Node {
            op,
            matching: None,
            prev: index - 1,
            next: if k + 1 == points.len() {
                NIL
            } else {
                index + 1
            },
        });
    }
    for (index, node) in nodes.iter_mut().enumerate().skip(1) {
        if return_of[node.op] != index {
            node.matching = Some(return_of[node.op]);
        }
    }

    let words = events.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut state: Option<String> = None;
    let mut cache: HashSet<(Vec<u64>, Option<String>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut entry = nodes[HEAD].next;
    let lift = |nodes: &mut Vec<Node>, call: usize| {
        let ret = nodes[call].matching.expect("a call");
        let (p, n) = (nodes[call].prev, nodes[call].next);
        nodes[p].next = n;
        if n != NIL {
            nodes[n].prev = p;
        }
        let (p, n) = (nodes[ret].prev, nodes[ret].next);
        nodes[p].next = n;
        if n != NIL {
            nodes[n].prev = p;
        }
    };
    let unlift = |nodes: &mut Vec<Node>, call: usize| {
        let ret = nodes[call].matching.expect("a call");
        let (p, n) = (nodes[ret].prev, nodes[ret].next);
        nodes[p].next = ret;
        if n != NIL {
            nodes[n].prev = ret;
        }
        let (p, n) = (nodes[call].prev, nodes[call].next);
        nodes[p].next = call;
        if n != NIL {
            nodes[n].prev = call;
        }
    };
    while nodes[HEAD].next != NIL {
        if entry == NIL {
            // only unknown-outcome returns are left past here: those
            // operations may never take effect
            if nodes_left_are_unknown(&nodes, events) {
                return true;
            }
            return false;
        }
        let node = nodes[entry].clone();
        match node.matching {
            Some(_) => {
                let e = events[node.op];
                let next_state = match &e.op {
                    Op::Put(v) => Some(Some(v.clone())),
                    Op::Get(seen) => (seen == &state).then(|| state.clone()),
                };
                let mut moved = false;
                if let Some(next_state) = next_state {
                    let mut after = linearized.clone();
                    after[node.op / 64] |= 1 << (node.op % 64);
                    if cache.insert((after.clone(), next_state.clone())) {
                        stack.push((entry, state.clone()));
                        state = next_state;
                        linearized = after;
                        lift(&mut nodes, entry);
                        entry = nodes[HEAD].next;
                        moved = true;
                    }
                }
                if !moved {
                    entry = node.next;
                }
            }
            None => {
                // a return whose call could not be placed before it
                if events[node.op].ret.is_none() {
                    // unknown outcome: it may never happen; skip it
                    entry = node.next;
                    continue;
                }
                let Some((call, before)) = stack.pop() else {
                    return false;
                };
                let op = nodes[call].op;
                linearized[op / 64] &= !(1 << (op % 64));
                state = before;
                unlift(&mut nodes, call);
                entry = nodes[call].next;
            }
        }
    }
    true
}

/// Whether every operation still in the list has an unknown outcome.
fn nodes_left_are_unknown(nodes: &[Node], events: &[&Event]) -> bool {
    let mut at = nodes[HEAD].next;
    while at != NIL {
        if events[nodes[at].op].ret.is_some() {
            return false;
        }
        at = nodes[at].next;
    }
    true
}

/// Counts values per key: a convenience for building test histories.
pub fn keys_of(history: &History) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in &history.events {
        *counts.entry(e.key.clone()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An operation from `call` to `ret` (milliseconds after `t0`; `ret`
    /// `None` for an unknown outcome).
    fn op(t0: Instant, op: Op, call: u64, ret: Option<u64>) -> Event {
        Event {
            key: "k".into(),
            op,
            call: t0 + Duration::from_millis(call),
            ret: ret.map(|r| t0 + Duration::from_millis(r)),
        }
    }

    fn put(v: &str) -> Op {
        Op::Put(v.into())
    }

    fn get(v: Option<&str>) -> Op {
        Op::Get(v.map(str::to_owned))
    }

    fn history(events: Vec<Event>) -> History {
        History { events }
    }

    #[test]
    fn sequential_reads_of_the_latest_write_are_linearizable() {
        let t = Instant::now();
        let h = history(vec![
            op(t, get(None), 0, Some(1)),
            op(t, put("a"), 2, Some(3)),
            op(t, get(Some("a")), 4, Some(5)),
            op(t, put("b"), 6, Some(7)),
            op(t, get(Some("b")), 8, Some(9)),
        ]);
        assert!(h.check().is_ok());
    }

    #[test]
    fn a_stale_read_after_a_write_returned_is_not() {
        let t = Instant::now();
        let h = history(vec![
            op(t, put("a"), 0, Some(1)),
            op(t, put("b"), 2, Some(3)),
            op(t, get(Some("a")), 4, Some(5)),
        ]);
        assert!(h.check().is_err());
    }

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        let t = Instant::now();
        // the read overlaps both writes: it may see either
        for seen in ["a", "b"] {
            let h = history(vec![
                op(t, put("a"), 0, Some(10)),
                op(t, put("b"), 1, Some(10)),
                op(t, get(Some(seen)), 2, Some(11)),
            ]);
            assert!(h.check().is_ok(), "{seen}");
        }
        // but two later reads cannot disagree about which came last
        let h = history(vec![
            op(t, put("a"), 0, Some(10)),
            op(t, put("b"), 1, Some(10)),
            op(t, get(Some("a")), 20, Some(21)),
            op(t, get(Some("b")), 22, Some(23)),
        ]);
        assert!(h.check().is_err());
    }

    #[test]
    fn a_write_without_an_answer_may_happen_late_or_never() {
        let t = Instant::now();
        // seen long after it was sent
        let late = history(vec![
            op(t, put("a"), 0, Some(1)),
            op(t, put("x"), 2, None),
            op(t, get(Some("a")), 3, Some(4)),
            op(t, get(Some("x")), 50, Some(51)),
        ]);
        assert!(late.check().is_ok());
        // never seen
        let never = history(vec![
            op(t, put("a"), 0, Some(1)),
            op(t, put("x"), 2, None),
            op(t, get(Some("a")), 50, Some(51)),
        ]);
        assert!(never.check().is_ok());
        // but not before it was sent
        let early = history(vec![
            op(t, get(Some("x")), 0, Some(1)),
            op(t, put("x"), 2, None),
        ]);
        assert!(early.check().is_err());
    }

    #[test]
    fn a_value_nobody_wrote_is_not_linearizable() {
        let t = Instant::now();
        let h = history(vec![
            op(t, put("a"), 0, Some(1)),
            op(t, get(Some("ghost")), 2, Some(3)),
        ]);
        assert!(h.check().is_err());
    }

    #[test]
    fn keys_are_checked_alone() {
        let t = Instant::now();
        let mut other = op(t, get(Some("a")), 4, Some(5));
        other.key = "other".into();
        let h = history(vec![op(t, put("a"), 0, Some(1)), other]);
        let err = h.check().unwrap_err();
        assert!(err.starts_with("key `other`"), "{err}");
    }

    #[test]
    fn a_long_concurrent_history_is_checked_quickly() {
        // 8 clients, 60 rounds each: writes of unique values, reads of the
        // latest, all overlapping their neighbours; memoization keeps this
        // far from exponential
        let t = Instant::now();
        let mut events = Vec::new();
        for round in 0..60u64 {
            for client in 0..8u64 {
                let start = round * 100 + client;
                events.push(op(
                    t,
                    put(&format!("{round}-{client}")),
                    start,
                    Some(start + 20),
                ));
            }
            events.push(op(
                t,
                get(Some(&format!("{round}-7"))),
                round * 100 + 50,
                Some(round * 100 + 60),
            ));
        }
        let h = history(events);
        assert_eq!(keys_of(&h)["k"], 60 * 9);
        assert!(h.check().is_ok());
    }
}

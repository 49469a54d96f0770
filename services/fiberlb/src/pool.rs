//! Choosing a backend: the spec's [`Method`]s over the backends that may
//! take new traffic now (healthy, not drained, weight above 0).
//!
//! Each backend's live state ([`BackendState`]) is shared with the health
//! checker that sets it, the proxy that counts its connections and the
//! admin API that drains it; the pool only reads it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use photon_runtime::admin::Histogram;

use crate::spec::Method;

/// What is known about one backend right now.
#[derive(Debug)]
pub struct BackendState {
    /// Where it is.
    pub addr: SocketAddr,
    /// How it is named in logs, metrics and the admin API (`ip:port`).
    pub name: String,
    /// Its share of new traffic.
    pub weight: u32,
    healthy: AtomicBool,
    drained: AtomicBool,
    active: AtomicU64,
    connections: AtomicU64,
    failures: AtomicU64,
    /// Answers by class (1xx to 5xx), for L7.
    answers: [AtomicU64; 5],
    /// How long it took to accept a connection (L4) or to answer a
    /// request's headers (L7), in seconds.
    pub latency: Histogram,
}

/// Latency buckets, in seconds: 1 ms to 10 s.
const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl BackendState {
    /// A backend named `name`, healthy until a check says otherwise (as
    /// HAProxy starts its servers), not drained, with no connections.
    pub fn new(addr: SocketAddr, weight: u32) -> Arc<BackendState> {
        Arc::new(BackendState {
            addr,
            name: addr.to_string(),
            weight,
            healthy: AtomicBool::new(true),
            drained: AtomicBool::new(false),
            active: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            answers: Default::default(),
            latency: Histogram::new(LATENCY_BOUNDS),
        })
    }

    /// Whether the health checks last said it serves.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Records what the health checks concluded.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Whether an operator drained it (it finishes what it has and takes
    /// nothing new).
    pub fn is_drained(&self) -> bool {
        self.drained.load(Ordering::Relaxed)
    }

    /// Drains it, or takes it back.
    pub fn set_drained(&self, drained: bool) {
        self.drained.store(drained, Ordering::Relaxed);
    }

    /// Connections (L4) or requests (L7) it has open.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a connection (or request) it took.
    pub fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection (or request) it failed: refused, timed out.
    pub fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections (or requests) it took so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Connections (or requests) it failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts an answer with `status` (L7).
    pub fn count_answer(&self, status: u16) {
        if let Some(class) = self.answers.get(usize::from(status / 100).wrapping_sub(1)) {
            class.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Answers so far with a status in `class` (1 to 5: 1xx to 5xx).
    pub fn answers(&self, class: usize) -> u64 {
        self.answers[class - 1].load(Ordering::Relaxed)
    }

    /// Whether it may take new traffic.
    pub fn eligible(&self) -> bool {
        self.weight > 0 && self.is_healthy() && !self.is_drained()
    }

    /// Counts one connection or request until the guard is dropped.
    pub fn open(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard {
            backend: self.clone(),
        }
    }
}

/// One open connection or request of a backend (see [`BackendState::open`]).
#[derive(Debug)]
pub struct ActiveGuard {
    backend: Arc<BackendState>,
}

impl ActiveGuard {
    /// The backend it counts for.
    pub fn backend(&self) -> &Arc<BackendState> {
        &self.backend
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.backend.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A balancer's backends and how it picks among them.
#[derive(Debug)]
pub struct Pool {
    backends: Vec<Arc<BackendState>>,
    method: Method,
    /// Smooth weighted round robin's running scores (nginx's method: every
    /// pick adds each eligible backend's weight to its score, takes the
    /// highest and subtracts the total from it, which spreads a backend's
    /// turns evenly instead of in runs). Least connections uses it to
    /// break ties.
    scores: Mutex<Vec<i64>>,
}

impl Pool {
    /// `backends`, picked among by `method`.
    pub fn new(backends: Vec<Arc<BackendState>>, method: Method) -> Pool {
        let scores = Mutex::new(vec![0; backends.len()]);
        Pool {
            backends,
            method,
            scores,
        }
    }

    /// Every backend, eligible or not.
    pub fn backends(&self) -> &[Arc<BackendState>] {
        &self.backends
    }

    /// The backend for new traffic from `client`, or `None` when none may
    /// take any.
    pub fn pick(&self, client: IpAddr) -> Option<&Arc<BackendState>> {
        self.pick_except(client, &[])
    }

    /// As [`pick`](Self::pick), leaving out backends already tried for
    /// this connection (one that refused it).
    pub fn pick_except(
        &self,
        client: IpAddr,
        tried: &[Arc<BackendState>],
    ) -> Option<&Arc<BackendState>> {
        let usable =
            |b: &Arc<BackendState>| b.eligible() && !tried.iter().any(|t| Arc::ptr_eq(t, b));
        match self.method {
            Method::RoundRobin => self.round_robin(&usable),
            Method::LeastConnections => {
                // Fewest open per unit of weight, counting the new one
                // ((open + 1) / weight), ties in weighted turn.
                let least = self
                    .backends
                    .iter()
                    .filter(|b| usable(b))
                    .map(|b| (b.active() + 1) as u128 * 1_000_000 / b.weight as u128)
                    .min()?;
                self.round_robin(&|b: &Arc<BackendState>| {
                    usable(b) && (b.active() + 1) as u128 * 1_000_000 / b.weight as u128 == least
                })
            }
            Method::SourceHash => self
                .backends
                .iter()
                .filter(|b| usable(b))
                .map(|b| (rendezvous_score(client, b), b))
                .max_by(|(a, _), (b, _)| a.total_cmp(b))
                .map(|(_, b)| b),
        }
    }

    /// Smooth weighted round robin among the backends `usable` accepts.
    fn round_robin(
        &self,
        usable: &dyn Fn(&Arc<BackendState>) -> bool,
    ) -> Option<&Arc<BackendState>> {
        let mut scores = self.scores.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, backend) in self.backends.iter().enumerate() {
            if !usable(backend) {
                continue;
            }
            scores[i] += i64::from(backend.weight);
            total += i64::from(backend.weight);
            if best.is_none_or(|b| scores[i] > scores[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        scores[best] -= total;
        Some(&self.backends[best])
    }
}

/// Weighted rendezvous hashing: each backend scores each client, and the
/// client goes to the highest score. A backend that leaves takes only its
/// own clients with it; one that comes back takes back only those.
fn rendezvous_score(client: IpAddr, backend: &BackendState) -> f64 {
    let mut hasher = DefaultHasher::new();
    client.hash(&mut hasher);
    backend.name.hash(&mut hasher);
    // A uniform draw in (0, 1), then -w / ln(draw): the max over backends
    // is each backend's with probability proportional to its weight.
    let draw = ((hasher.finish() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -f64::from(backend.weight) / draw.ln()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn pool(weights: &[u32], method: Method) -> Pool {
        let backends = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let addr = format!("10.0.0.{}:80", i + 1).parse().expect("an address");
                BackendState::new(addr, w)
            })
            .collect();
        Pool::new(backends, method)
    }

    fn client(i: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i))
    }

    fn counts(pool: &Pool, picks: u32, from: impl Fn(u32) -> IpAddr) -> HashMap<String, u32> {
        let mut counts = HashMap::new();
        for i in 0..picks {
            let backend = pool.pick(from(i)).expect("a backend");
            *counts.entry(backend.name.clone()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn round_robin_follows_the_weights_exactly_and_spreads_the_turns() {
        let pool = pool(&[100, 100, 50], Method::RoundRobin);
        let counts = counts(&pool, 250, |_| client(1));
        assert_eq!(counts["10.0.0.1:80"], 100);
        assert_eq!(counts["10.0.0.2:80"], 100);
        assert_eq!(counts["10.0.0.3:80"], 50);
        // Smooth: within any 5 picks (one weight cycle) each backend
        // appears its share, never a run of one backend.
        let order: Vec<String> = (0..10)
            .map(|_| pool.pick(client(1)).unwrap().name.clone())
            .collect();
        for window in order.windows(2) {
            assert!(
                window[0] != window[1] || window[0] != "10.0.0.3:80",
                "{order:?}"
            );
        }
        assert!(
            order.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])),
            "{order:?}"
        );
    }

    #[test]
    fn backends_out_of_service_get_nothing_and_return_when_healthy() {
        let pool = pool(&[1, 1, 1], Method::RoundRobin);
        pool.backends()[1].set_healthy(false);
        pool.backends()[2].set_drained(true);
        let counts = counts(&pool, 30, |_| client(1));
        assert_eq!(counts.len(), 1);
        assert_eq!(counts["10.0.0.1:80"], 30);
        pool.backends()[0].set_healthy(false);
        assert!(pool.pick(client(1)).is_none(), "nothing eligible: no pick");
        pool.backends()[1].set_healthy(true);
        assert_eq!(pool.pick(client(1)).unwrap().name, "10.0.0.2:80");
    }

    #[test]
    fn least_connections_weighs_open_connections_by_weight() {
        let pool = pool(&[100, 100, 200], Method::LeastConnections);
        // Scored as (open + 1) / weight: what the backend would carry with
        // the new connection.
        let held: Vec<ActiveGuard> = (0..3).map(|_| pool.backends()[0].open()).collect();
        let _one = pool.backends()[1].open();
        // 4/100, 2/100, 1/200: the idle third.
        assert_eq!(pool.pick(client(1)).unwrap().name, "10.0.0.3:80");
        let _more: Vec<ActiveGuard> = (0..4).map(|_| pool.backends()[2].open()).collect();
        // 4/100, 2/100, 5/200: the second.
        assert_eq!(pool.pick(client(1)).unwrap().name, "10.0.0.2:80");
        drop(held);
        // 1/100 now: the first.
        assert_eq!(pool.pick(client(1)).unwrap().name, "10.0.0.1:80");
        assert_eq!(pool.backends()[0].active(), 0, "guards count down");
    }

    #[test]
    fn source_hash_keeps_clients_and_moves_only_a_leaving_backends_clients() {
        let pool = pool(&[1, 1, 1, 1], Method::SourceHash);
        let before: Vec<String> = (0..2000)
            .map(|i| pool.pick(client(i)).unwrap().name.clone())
            .collect();
        let again: Vec<String> = (0..2000)
            .map(|i| pool.pick(client(i)).unwrap().name.clone())
            .collect();
        assert_eq!(before, again, "a client keeps its backend");
        let per_backend = counts(&pool, 2000, client);
        for (name, n) in &per_backend {
            assert!((400..=600).contains(n), "{name}: {n} of 2000");
        }
        pool.backends()[2].set_healthy(false);
        for (i, was) in before.iter().enumerate() {
            let now = &pool.pick(client(i as u32)).unwrap().name;
            if was != "10.0.0.3:80" {
                assert_eq!(now, was, "client {i} moved although its backend stayed");
            } else {
                assert_ne!(now, "10.0.0.3:80");
            }
        }
        pool.backends()[2].set_healthy(true);
        let back: Vec<String> = (0..2000)
            .map(|i| pool.pick(client(i)).unwrap().name.clone())
            .collect();
        assert_eq!(back, before, "its clients come back to it");
    }

    #[test]
    fn source_hash_follows_the_weights() {
        let pool = pool(&[1, 3], Method::SourceHash);
        let counts = counts(&pool, 4000, client);
        let heavy = counts["10.0.0.2:80"];
        assert!(
            (2800..=3200).contains(&heavy),
            "{heavy} of 4000 for weight 3 of 4"
        );
    }

    #[test]
    fn a_backend_already_tried_is_left_out() {
        let pool = pool(&[1, 1], Method::SourceHash);
        let first = pool.pick(client(7)).unwrap().clone();
        let second = pool
            .pick_except(client(7), std::slice::from_ref(&first))
            .unwrap();
        assert!(!Arc::ptr_eq(&first, second));
        assert!(
            pool.pick_except(client(7), &[first, second.clone()])
                .is_none()
        );
    }
}

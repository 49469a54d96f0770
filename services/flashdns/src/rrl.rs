//! Response rate limiting (RRL) over UDP, with BIND's and Knot's meaning:
//! each client prefix (an IPv4 /24, an IPv6 /56) has a balance that grows
//! by the allowed rate every second, up to one second's worth, and shrinks
//! by one per response. Below zero the prefix is limited: its responses are
//! dropped, but every `slip`-th one is sent truncated (TC, empty) instead,
//! so a real client behind a spoofed flood still gets through over TCP. A
//! flood's debt is kept for at most `window` seconds' worth of responses.
//! TCP is never limited: its source address cannot be spoofed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::spec::RateLimit;

/// How many prefixes are tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// What to do with one UDP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Send it.
    Send,
    /// Send it truncated, empty: the client may retry over TCP.
    Slip,
    /// Send nothing.
    Drop,
}

/// The balances of every prefix that asked recently.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    window: f64,
    slip: u32,
    buckets: Mutex<HashMap<[u8; 16], Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    balance: f64,
    last: Instant,
    limited: u64,
}

impl RateLimiter {
    /// A limiter for `limit`; `None` when it is off.
    pub fn new(limit: RateLimit) -> Option<RateLimiter> {
        match limit {
            RateLimit::Off => None,
            RateLimit::PerPrefix {
                responses_per_second,
                window_seconds,
                slip,
            } => Some(RateLimiter {
                per_second: f64::from(responses_per_second),
                window: f64::from(window_seconds),
                slip,
                buckets: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether a response to `client` goes out at `now`.
    pub fn admit(&self, client: IpAddr, now: Instant) -> Admit {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            let window = self.window;
            buckets.retain(|_, b| now.duration_since(b.last).as_secs_f64() < window);
        }
        let bucket = buckets.entry(prefix(client)).or_insert(Bucket {
            balance: self.per_second,
            last: now,
            limited: 0,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.last = now;
        bucket.balance = (bucket.balance + elapsed * self.per_second).min(self.per_second) - 1.0;
        bucket.balance = bucket.balance.max(-self.per_second * self.window);
        if bucket.balance >= 0.0 {
            return Admit::Send;
        }
        bucket.limited += 1;
        if self.slip > 0 && bucket.limited.is_multiple_of(u64::from(self.slip)) {
            Admit::Slip
        } else {
            Admit::Drop
        }
    }
}

/// The bucket a client's address counts in: its /24 or /56.
fn prefix(ip: IpAddr) -> [u8; 16] {
    let mut key = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            key[..3].copy_from_slice(&v4.octets()[..3]);
            key[15] = 4;
        }
        IpAddr::V6(v6) => key[..7].copy_from_slice(&v6.octets()[..7]),
    }
    key
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(slip: u32) -> RateLimiter {
        RateLimiter::new(RateLimit::PerPrefix {
            responses_per_second: 5,
            window_seconds: 2,
            slip,
        })
        .unwrap()
    }

    #[test]
    fn a_prefix_over_its_rate_is_limited_and_slips_every_nth() {
        let rrl = limiter(2);
        let start = Instant::now();
        let flooder: IpAddr = "192.0.2.7".parse().unwrap();
        let neighbour: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let first: Vec<Admit> = (0..9).map(|_| rrl.admit(flooder, start)).collect();
        assert_eq!(&first[..5], [Admit::Send; 5]);
        assert_eq!(
            &first[5..],
            [Admit::Drop, Admit::Slip, Admit::Drop, Admit::Slip]
        );
        // The same /24 shares the debt; another prefix does not.
        assert_ne!(rrl.admit(neighbour, start), Admit::Send);
        assert_eq!(rrl.admit(other, start), Admit::Send);
        // A second later the rate has refilled only part of the debt.
        let later = start + Duration::from_secs(1);
        assert_ne!(rrl.admit(flooder, later), Admit::Send);
        // After the window the debt is paid.
        let after = start + Duration::from_secs(4);
        assert_eq!(rrl.admit(flooder, after), Admit::Send);
    }

    #[test]
    fn slip_zero_always_drops_and_off_is_no_limiter() {
        let rrl = limiter(0);
        let now = Instant::now();
        let client: IpAddr = "2001:db8::1".parse().unwrap();
        let admitted: Vec<Admit> = (0..10).map(|_| rrl.admit(client, now)).collect();
        assert!(admitted[5..].iter().all(|a| *a == Admit::Drop));
        assert!(RateLimiter::new(RateLimit::Off).is_none());
    }
}

//! fiberlb and HAProxy (Debian's 2.6) side by side, configured alike in
//! front of the same real backends and driven by the same clients:
//! weighted round robin, least connections, consistent source hashing,
//! `option httpchk` with rise and fall, failover and return, and
//! `cookie SRV insert`. Each scenario asserts the same behaviour of both,
//! so a difference is a failure that names the balancer.
//!
//! fiberlb listens on `.1:8080` of the test's loopback block, HAProxy on
//! `.10:8080`, backends on `.2` to `.4`, clients come from `.100` and up.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e::Loopback;
use e2e::fiberlb::Haproxy;
use e2e::http::{Backend, Client, Version};

/// How a pair balances.
#[derive(Clone, Copy)]
enum Balance {
    RoundRobin,
    LeastConn,
    Source,
}

/// fiberlb and HAProxy over the same backends, configured alike.
struct Pair {
    _fiberlb: (e2e::Running, tempfile::TempDir),
    _haproxy: Haproxy,
    fronts: [(&'static str, SocketAddr); 2],
}

/// Health checks as both write them: `GET /health` every 200 ms, out
/// after one failure, back after one success.
fn pair(net: &Loopback, backends: &[(&Backend, u16)], balance: Balance, cookie: bool) -> Pair {
    let (ours, theirs) = match balance {
        Balance::RoundRobin => ("roundrobin", "balance roundrobin"),
        Balance::LeastConn => ("leastconn", "balance leastconn"),
        Balance::Source => ("source", "balance source\n    hash-type consistent"),
    };
    let mut fiberlb = format!(
        "[[standalone.loadbalancers]]\nname = \"web\"\nvip = \"{}\"\nport = 8080\nprotocol = \"http\"\nmethod = \"{ours}\"\n",
        net.ip(1)
    );
    if cookie {
        fiberlb.push_str("persistence = \"cookie\"\ncookie_name = \"SRV\"\n");
    }
    fiberlb.push_str(
        "[standalone.loadbalancers.healthcheck]\ntype = \"http\"\npath = \"/health\"\ninterval_sec = 0.2\ntimeout_sec = 0.5\nrise = 1\nfall = 1\n",
    );
    let mut servers = String::new();
    for (backend, weight) in backends {
        fiberlb.push_str(&e2e::fiberlb::backend(backend, *weight));
        servers.push_str(&format!(
            "    server {name} {addr} weight {weight} check inter 200 rise 1 fall 1{cookie}\n",
            name = backend.name,
            addr = backend.addr,
            cookie = if cookie {
                format!(" cookie {}", backend.name)
            } else {
                String::new()
            },
        ));
    }
    let haproxy = format!(
        "global\n    maxconn 4096\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    option redispatch 1\n    retries 3\n\
         frontend web\n    bind {front}\n    default_backend pool\n\
         backend pool\n    {theirs}\n    option httpchk GET /health\n    http-check expect status 200\n{cookie}{servers}",
        front = net.addr(10, 8080),
        cookie = if cookie {
            "    cookie SRV insert indirect nocache\n"
        } else {
            ""
        },
    );
    let haproxy_front: SocketAddr = net.addr(10, 8080).parse().unwrap();
    Pair {
        _fiberlb: e2e::fiberlb::start(net, &fiberlb),
        _haproxy: Haproxy::start(&haproxy, haproxy_front),
        fronts: [
            ("fiberlb", net.addr(1, 8080).parse().unwrap()),
            ("haproxy", haproxy_front),
        ],
    }
}

/// Which backend answered `GET path` on a new connection from `source`.
async fn who(front: SocketAddr, source: IpAddr, path: &str) -> String {
    let mut client = Client::connect_from(front, source, Version::Http1).await;
    let answer = client.get("www.example.com", path).await;
    assert_eq!(answer.status, 200, "{front}: {}", answer.text());
    answer.backend().unwrap_or("none").to_owned()
}

/// Backends `a`, `b` and `c` on `.2`, `.3` and `.4`.
async fn three_backends(net: &Loopback) -> Vec<Backend> {
    let mut backends = Vec::new();
    for (host, name) in [(2, "a"), (3, "b"), (4, "c")] {
        backends.push(Backend::start(name, &net.addr(host, 8080)).await);
    }
    backends
}

fn client(net: &Loopback, i: u8) -> IpAddr {
    net.ip(100 + i).parse().unwrap()
}

/// Waits until `n` requests in a row through `front` skip `gone`.
async fn until_skipped(front: SocketAddr, source: IpAddr, gone: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut streak = 0;
    while streak < n {
        assert!(Instant::now() < deadline, "{front} still sends to {gone}");
        streak = if who(front, source, "/").await == gone {
            0
        } else {
            streak + 1
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_and_least_connections_spread_alike() {
    let net = Loopback::block();
    let backends = three_backends(&net).await;
    let weighted = [(&backends[0], 2), (&backends[1], 1), (&backends[2], 1)];
    let pair_rr = pair(&net, &weighted, Balance::RoundRobin, false);
    for (name, front) in pair_rr.fronts {
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(who(front, client(&net, 0), "/").await);
        }
        let counts = e2e::fiberlb::tally(&seen);
        for (backend, expected) in [("a", 20), ("b", 10), ("c", 10)] {
            let got = counts.get(backend).copied().unwrap_or(0);
            assert!(
                got.abs_diff(expected) <= 1,
                "{name}: {backend} took {got} of 40, weight says {expected}: {counts:?}"
            );
        }
    }
    drop(pair_rr);

    // Least connections: six slow requests opened one after another land
    // two on each backend, each going where the fewest are open.
    let equal = [(&backends[0], 1), (&backends[1], 1), (&backends[2], 1)];
    let pair_lc = pair(&net, &equal, Balance::LeastConn, false);
    for (name, front) in pair_lc.fronts {
        let mut held = Vec::new();
        for i in 0..6 {
            let source = client(&net, i);
            held.push(tokio::spawn(async move {
                who(front, source, "/slow/1500").await
            }));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut seen = Vec::new();
        for request in held {
            seen.push(request.await.unwrap());
        }
        let counts = e2e::fiberlb::tally(&seen);
        assert!(
            counts.len() == 3 && counts.values().all(|n| *n == 2),
            "{name}: {counts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_hashing_keeps_each_client_and_moves_only_a_leaving_backends_clients() {
    let net = Loopback::block();
    let mut backends = three_backends(&net).await;
    let pool: Vec<(&Backend, u16)> = backends.iter().map(|b| (b, 1)).collect();
    let pair = pair(&net, &pool, Balance::Source, false);
    drop(pool);
    let mut before: Vec<Vec<String>> = Vec::new();
    for (name, front) in pair.fronts {
        let mut placed = Vec::new();
        for i in 0..24 {
            let first = who(front, client(&net, i), "/").await;
            for _ in 0..2 {
                assert_eq!(
                    who(front, client(&net, i), "/").await,
                    first,
                    "{name}: client {i} moved"
                );
            }
            placed.push(first);
        }
        let used = e2e::fiberlb::tally(&placed);
        assert_eq!(
            used.len(),
            3,
            "{name} spreads 24 clients over all three: {used:?}"
        );
        before.push(placed);
    }

    drop(backends.remove(1));
    for ((name, front), placed) in pair.fronts.iter().zip(&before) {
        // Once the checks take b out, its clients move, and only they do.
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, was) in placed.iter().enumerate() {
            let source = client(&net, i as u8);
            if was == "b" {
                while who(*front, source, "/").await == "b" {
                    assert!(
                        Instant::now() < deadline,
                        "{name} still sends client {i} to b"
                    );
                }
            }
        }
        for (i, was) in placed.iter().enumerate() {
            let now = who(*front, client(&net, i as u8), "/").await;
            if was == "b" {
                assert_ne!(now, "b", "{name}: client {i}");
            } else {
                assert_eq!(
                    &now, was,
                    "{name}: client {i} moved though its backend stayed"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_dies_costs_no_request_and_returns_alike() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let b = Backend::start("b", &net.addr(3, 8080)).await;
    let pair = pair(&net, &[(&a, 1), (&b, 1)], Balance::RoundRobin, false);
    let b_addr = b.addr.to_string();
    drop(b);
    // Before either health check notices, a refused connection is tried
    // again elsewhere (HAProxy: `retries 3` with `option redispatch 1`).
    for (name, front) in pair.fronts {
        for i in 0..12 {
            let mut client = Client::connect(front, Version::Http1).await;
            let answer = client
                .send(
                    "POST",
                    "www.example.com",
                    "/form",
                    &[],
                    Bytes::from(format!("n={i}")),
                )
                .await
                .unwrap();
            assert_eq!(
                (answer.status, answer.backend()),
                (200, Some("a")),
                "{name}: {}",
                answer.text()
            );
        }
    }
    for (_, front) in pair.fronts {
        until_skipped(front, client(&net, 0), "b", 4).await;
    }
    let b = Backend::start("b", &b_addr).await;
    for (name, front) in pair.fronts {
        let deadline = Instant::now() + Duration::from_secs(10);
        while who(front, client(&net, 0), "/").await != "b" {
            assert!(Instant::now() < deadline, "{name} never took b back");
        }
    }
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inserted_cookie_keeps_a_client_until_its_backend_goes_alike() {
    let net = Loopback::block();
    let mut backends = three_backends(&net).await;
    let pool: Vec<(&Backend, u16)> = backends.iter().map(|b| (b, 1)).collect();
    let pair = pair(&net, &pool, Balance::RoundRobin, true);
    drop(pool);
    let mut homes = Vec::new();
    for (name, front) in pair.fronts {
        let mut client = Client::connect(front, Version::Http1).await;
        let first = client.get("www.example.com", "/").await;
        let set = first.headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(set.starts_with("SRV="), "{name}: {set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        let home = first.backend().unwrap().to_owned();
        for _ in 0..10 {
            let answer = client
                .send(
                    "GET",
                    "www.example.com",
                    "/",
                    &[("cookie", &cookie)],
                    Bytes::new(),
                )
                .await
                .unwrap();
            assert_eq!(
                answer.backend(),
                Some(home.as_str()),
                "{name}: the cookie holds"
            );
            assert!(
                answer.headers.get("set-cookie").is_none(),
                "{name}: set once"
            );
        }
        homes.push((name, front, cookie, home));
    }
    // Both took their first client to the first backend in turn.
    assert_eq!(homes[0].3, homes[1].3);
    let gone = backends.iter().position(|b| b.name == homes[0].3).unwrap();
    drop(backends.remove(gone));
    for (name, front, cookie, home) in &homes {
        until_skipped(*front, client(&net, 0), home, 4).await;
        let mut client = Client::connect(*front, Version::Http1).await;
        let moved = client
            .send(
                "GET",
                "www.example.com",
                "/",
                &[("cookie", cookie)],
                Bytes::new(),
            )
            .await
            .unwrap();
        assert_eq!(moved.status, 200, "{name}");
        assert_ne!(moved.backend(), Some(home.as_str()), "{name}");
        let again = moved.headers["set-cookie"].to_str().unwrap();
        assert_ne!(
            again.split(';').next().unwrap(),
            cookie,
            "{name}: a new cookie"
        );
    }
}

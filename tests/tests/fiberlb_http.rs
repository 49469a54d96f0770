//! fiberlb's L7 balancing, `fiberlb-server` in front of small real HTTP
//! servers (`e2e::http::Backend`) and driven by hyper's HTTP/1.1 and
//! HTTP/2 clients: the spread by weight, routes by host and path, the
//! headers backends are given, kept-alive backend connections, cookie
//! stickiness, failover, streamed bodies in bounded memory, fiberlb's own
//! 502/503/504, bad clients, and a shutdown that finishes what it started.
//!
//! Each test holds its own loopback block: fiberlb on `.1` (balancers on
//! 8080, admin on 8404), backends on `.2` and up.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e::Loopback;
use e2e::http::{Backend, Client, Version};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// An L7 balancer `web` on `.1:8080` with `extra` keys and `backends`.
fn web(net: &Loopback, extra: &str, backends: &[(&Backend, u16)]) -> String {
    let mut text = format!(
        "[[standalone.loadbalancers]]\nname = \"web\"\nvip = \"{}\"\nport = 8080\nprotocol = \"http\"\n{extra}\n",
        net.ip(1)
    );
    for (backend, weight) in backends {
        text.push_str(&e2e::fiberlb::backend(backend, *weight));
    }
    text
}

/// Health checks every 200 ms, `GET /health`, out after one failure.
const QUICK_CHECKS: &str = "[standalone.loadbalancers.healthcheck]\ntype = \"http\"\npath = \"/health\"\ninterval_sec = 0.2\ntimeout_sec = 0.5\nrise = 1\nfall = 1\n";

fn front(net: &Loopback) -> SocketAddr {
    net.addr(1, 8080).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_follow_the_weights_over_http1_and_http2_on_kept_backend_connections() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let b = Backend::start("b", &net.addr(3, 8080)).await;
    // One health check each at start, then none during the test.
    let checks = "[standalone.loadbalancers.healthcheck]\ntype = \"tcp\"\ninterval_sec = 600\n";
    let (_lb, _dir) = e2e::fiberlb::start(&net, &web(&net, checks, &[(&a, 200), (&b, 100)]));

    for version in [Version::Http1, Version::Http2] {
        let mut client = Client::connect(front(&net), version).await;
        let mut answered = Vec::new();
        for _ in 0..30 {
            let answer = client.get("www.example.com", "/page?q=1").await;
            assert_eq!(answer.status, 200, "{version:?}: {}", answer.text());
            answered.push(answer.text());
        }
        let counts = e2e::fiberlb::tally(&answered);
        assert_eq!(counts["a"], 20, "{version:?}: {counts:?}");
        assert_eq!(counts["b"], 10, "{version:?}: {counts:?}");
    }
    // 40 and 20 requests, each backend's on a handful of connections (its
    // health check's, and those kept alive), not one per request.
    assert_eq!((a.requests(), b.requests()), (40, 20));
    assert!(
        a.connections() <= 4,
        "a took {} connections",
        a.connections()
    );
    assert!(
        b.connections() <= 4,
        "b took {} connections",
        b.connections()
    );

    // Per backend: requests, answers by class, and the latency histogram.
    let (_, metrics) = e2e::http_get(&net.url(1, 8404), "/metrics").await;
    for (backend, requests) in [(&a, 40), (&b, 20)] {
        let labels = format!("balancer=\"web\",backend=\"{}\"", backend.addr);
        for line in [
            format!("fiberlb_backend_connections_total{{{labels}}} {requests}"),
            format!("fiberlb_backend_responses_total{{{labels},code=\"2xx\"}} {requests}"),
            format!("fiberlb_backend_response_seconds_count{{{labels}}} {requests}"),
            format!("fiberlb_backend_response_seconds_bucket{{{labels},le=\"+Inf\"}} {requests}"),
            format!("fiberlb_backend_up{{{labels}}} 1"),
        ] {
            assert!(
                metrics.lines().any(|l| l == line),
                "no `{line}` in:\n{metrics}"
            );
        }
    }

    // What the backend is told about the client.
    let seen = a.seen().pop().unwrap();
    assert_eq!(seen.target, "/page?q=1");
    assert_eq!(seen.headers["host"], "www.example.com");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(
        seen.headers["forwarded"],
        "for=127.0.0.1;proto=http;host=\"www.example.com\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_send_a_host_and_a_path_prefix_to_their_own_backends() {
    let net = Loopback::block();
    let site = Backend::start("site", &net.addr(2, 8080)).await;
    let api = Backend::start("api", &net.addr(3, 8080)).await;
    let assets = Backend::start("assets", &net.addr(4, 8080)).await;
    let routes = format!(
        "[[standalone.loadbalancers.routes]]\nhost = \"api.example.com\"\nbackends = [{{ address = \"{}\", port = 8080 }}]\n\
         [[standalone.loadbalancers.routes]]\npath = \"static\"\nbackends = [{{ address = \"{}\", port = 8080 }}]\n",
        net.ip(3),
        net.ip(4)
    );
    let (_lb, _dir) =
        e2e::fiberlb::start(&net, &format!("{}{routes}", web(&net, "", &[(&site, 100)])));
    let mut client = Client::connect(front(&net), Version::Http1).await;
    for (host, path, want) in [
        ("api.example.com", "/v1/things", "api"),
        ("API.Example.com:8080", "/", "api"),
        ("www.example.com", "/static/logo.png", "assets"),
        ("www.example.com", "/static", "assets"),
        ("www.example.com", "/staticky", "site"),
        ("www.example.com", "/", "site"),
    ] {
        let answer = client.get(host, path).await;
        assert_eq!(answer.text(), want, "{host}{path}");
    }
    let mut h2 = Client::connect(front(&net), Version::Http2).await;
    assert_eq!(h2.get("api.example.com", "/v2").await.text(), "api");
    assert_eq!(
        (site.requests(), api.requests(), assets.requests()),
        (2, 3, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_keeps_a_client_on_its_backend_until_that_one_is_drained() {
    let net = Loopback::block();
    let backends = [
        Backend::start("a", &net.addr(2, 8080)).await,
        Backend::start("b", &net.addr(3, 8080)).await,
        Backend::start("c", &net.addr(4, 8080)).await,
    ];
    let pool: Vec<(&Backend, u16)> = backends.iter().map(|b| (b, 100)).collect();
    let (_lb, _dir) = e2e::fiberlb::start(
        &net,
        &web(
            &net,
            "persistence = \"cookie\"\ncookie_name = \"SRV\"",
            &pool,
        ),
    );
    let mut client = Client::connect(front(&net), Version::Http1).await;
    let first = client.get("www.example.com", "/").await;
    let set = first.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with("SRV=") && set.contains("Path=/") && set.contains("HttpOnly"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let home = first.text();
    for _ in 0..12 {
        let answer = client
            .send(
                "GET",
                "www.example.com",
                "/",
                &[("cookie", &format!("lang=en; {cookie}"))],
                Bytes::new(),
            )
            .await
            .unwrap();
        assert_eq!(answer.text(), home, "the cookie keeps the backend");
        assert!(
            answer.headers.get("set-cookie").is_none(),
            "no new cookie while it holds"
        );
    }
    // Without the cookie, clients still take turns.
    let others: Vec<String> = one_each(&net, 3).await;
    assert_eq!(e2e::fiberlb::tally(&others).len(), 3, "{others:?}");

    // Drained, its clients move, and are given the new backend's cookie.
    let admin = net.url(1, 8404);
    let home_addr = backends.iter().find(|b| b.name == home).unwrap().addr;
    let (status, _) = e2e::s3::raw(
        &format!("{admin}/balancers/web/backends/{home_addr}/drain"),
        "POST",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let moved = client
        .send(
            "GET",
            "www.example.com",
            "/",
            &[("cookie", &cookie)],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_ne!(moved.text(), home);
    let again = moved.headers["set-cookie"].to_str().unwrap();
    assert_ne!(again.split(';').next().unwrap(), cookie);
}

/// One request on each of `n` new connections, no cookie: who answered.
async fn one_each(net: &Loopback, n: usize) -> Vec<String> {
    let mut answered = Vec::new();
    for _ in 0..n {
        answered.push(
            e2e::http::get(front(net), "www.example.com", "/")
                .await
                .text(),
        );
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_costs_no_request_and_no_backend_answers_503_at_once() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let b = Backend::start("b", &net.addr(3, 8080)).await;
    let (_lb, _dir) = e2e::fiberlb::start(&net, &web(&net, QUICK_CHECKS, &[(&a, 100), (&b, 100)]));
    let b_addr = b.addr;
    drop(b);
    // Before the checks notice, a refused connection is retried on `a`,
    // with the request whole: a POST's body too.
    let mut client = Client::connect(front(&net), Version::Http1).await;
    for i in 0..6 {
        let body = Bytes::from(format!("payload {i}"));
        let answer = client
            .send("POST", "www.example.com", "/upload", &[], body.clone())
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert!(
            answer.text().starts_with(&format!("a {} ", body.len())),
            "{}",
            answer.text()
        );
    }
    e2e::fiberlb::wait_health(&net, "web", "ok: 1 of 2 backends up").await;
    let b = Backend::start("b", &b_addr.to_string()).await;
    e2e::fiberlb::wait_health(&net, "web", "ok: 2 of 2 backends up").await;
    let back: Vec<String> = one_each(&net, 4).await;
    assert_eq!(
        e2e::fiberlb::tally(&back).len(),
        2,
        "b takes turns again: {back:?}"
    );

    drop((a, b));
    e2e::fiberlb::wait_health(&net, "web", "no backend up (of 2)").await;
    let started = Instant::now();
    let answer = client.get("www.example.com", "/").await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(answer.text().contains("no backend is available"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "503 at once, not after a wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_through_both_ways_in_bounded_memory() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (lb, _dir) = e2e::fiberlb::start(&net, &web(&net, "", &[(&a, 100)]));
    let before = e2e::peak_rss_mib(lb.pid());
    const SIZE: usize = 256 << 20;
    for version in [Version::Http1, Version::Http2] {
        let (status, len, md5) = e2e::http::download(
            front(&net),
            version,
            "www.example.com",
            &format!("/bytes/{SIZE}"),
        )
        .await;
        assert_eq!((status, len), (200, SIZE as u64), "{version:?}");
        let expected = e2e::http::pattern_md5(SIZE);
        assert_eq!(md5, expected, "{version:?}");
    }
    let upload = Bytes::from(e2e::s3::pattern(64 << 20, 3));
    let mut client = Client::connect(front(&net), Version::Http1).await;
    let answer = client
        .send("PUT", "www.example.com", "/big", &[], upload.clone())
        .await
        .unwrap();
    assert_eq!(
        answer.text(),
        format!("a {} {}", upload.len(), e2e::s3::md5_hex(&upload))
    );
    let after = e2e::peak_rss_mib(lb.pid());
    assert!(
        after < before + 48,
        "fiberlb's peak memory went from {before} MiB to {after} MiB passing 2 x 256 MiB down and 64 MiB up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_backend_is_answered_504_and_a_resetting_one_502_while_others_serve() {
    let net = Loopback::block();
    let good = Backend::start("good", &net.addr(2, 8080)).await;
    // Reads a request, then resets the connection instead of answering.
    let resetting = tokio::net::TcpListener::bind(net.addr(3, 8080))
        .await
        .unwrap();
    tokio::spawn(async move {
        loop {
            if let Ok((mut stream, _)) = resetting.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    let _ = stream.read(&mut request).await;
                    let _ = stream.set_zero_linger();
                });
            }
        }
    });
    let silent = Backend::start("silent", &net.addr(4, 8080)).await;
    let config = format!(
        "{}[[standalone.loadbalancers.routes]]\npath = \"reset\"\nbackends = [{{ address = \"{}\", port = 8080 }}]\n\
         [[standalone.loadbalancers.routes]]\npath = \"hang\"\nbackends = [{{ address = \"{}\", port = 8080 }}]\n",
        web(&net, "request_timeout_sec = 1", &[(&good, 100)]),
        net.ip(3),
        net.ip(4),
    );
    let (_lb, _dir) = e2e::fiberlb::start(&net, &config);
    let hanging = tokio::spawn({
        let front = front(&net);
        async move {
            let started = Instant::now();
            let answer = e2e::http::get(front, "www.example.com", "/hang").await;
            (answer.status, answer.text(), started.elapsed())
        }
    });
    let reset = e2e::http::get(front(&net), "www.example.com", "/reset").await;
    assert_eq!(reset.status, 502, "{}", reset.text());
    assert!(
        reset.text().contains("the backend broke off"),
        "{}",
        reset.text()
    );
    // The others are served meanwhile.
    for _ in 0..5 {
        assert_eq!(
            e2e::http::get(front(&net), "www.example.com", "/")
                .await
                .text(),
            "good"
        );
    }
    let (status, text, took) = hanging.await.unwrap();
    assert_eq!(status, 504, "{text}");
    assert!(text.contains("did not answer within 1s"), "{text}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(silent.requests(), 1);
}

/// Sends `bytes` on a new connection to `addr` and reads what comes back
/// until the server closes (or 5 s pass).
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut back = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut back)).await;
    String::from_utf8_lossy(&back).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_oversized_heads_and_slow_clients_are_refused_in_bounded_memory() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (lb, _dir) = e2e::fiberlb::start(&net, &web(&net, "request_timeout_sec = 2", &[(&a, 100)]));

    let garbage = raw_exchange(front(&net), b"THIS IS NOT HTTP\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: www.example.com\r\nX-Filler: {}\r\n\r\n",
        "x".repeat(100 * 1024)
    );
    let oversized = raw_exchange(front(&net), huge.as_bytes()).await;
    assert!(oversized.starts_with("HTTP/1.1 431"), "{oversized}");
    assert_eq!(a.requests(), 0, "neither reached the backend");

    // 400 slowloris clients: each sends part of a head, then a byte now
    // and then, never finishing.
    let before = e2e::memory_kib(lb.pid(), "VmRSS");
    let mut slow = Vec::new();
    for _ in 0..400 {
        let mut stream = tokio::net::TcpStream::connect(front(&net)).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: www.example.com\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let dribble = tokio::spawn(async move {
        let mut closed = 0;
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            closed = 0;
            for stream in &mut slow {
                if stream.write_all(b"X-A: b\r\n").await.is_err() {
                    closed += 1;
                }
            }
        }
        (closed, slow)
    });
    // Served meanwhile.
    for _ in 0..5 {
        assert_eq!(
            e2e::http::get(front(&net), "www.example.com", "/")
                .await
                .text(),
            "a"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let during = e2e::memory_kib(lb.pid(), "VmRSS");
    let (closed, mut slow) = dribble.await.unwrap();
    // Cut off after the 2 s a request may take to arrive: each stream's
    // last writes fail, or it reads the close.
    let mut cut = closed;
    for stream in &mut slow {
        let mut byte = [0u8; 64];
        if matches!(
            tokio::time::timeout(Duration::from_millis(100), stream.read(&mut byte)).await,
            Ok(Ok(_) | Err(_))
        ) {
            cut += 1;
        }
    }
    assert!(cut >= 400, "{cut} of 400 slow clients were cut off");
    assert!(
        during < before + 32 * 1024,
        "400 slow clients took fiberlb from {before} KiB to {during} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_becomes_a_tunnel_to_the_backend_that_agreed() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (_lb, _dir) = e2e::fiberlb::start(&net, &web(&net, "", &[(&a, 100)]));
    let mut stream = tokio::net::TcpStream::connect(front(&net)).await.unwrap();
    stream
        .write_all(b"GET /upgrade HTTP/1.1\r\nHost: www.example.com\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n")
        .await
        .unwrap();
    // The 101 head, read up to its blank line.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("upgrade: echo/1") && head.contains("connection: upgrade"),
        "{head}"
    );
    // Now a tunnel: what goes in comes back from the backend.
    for message in ["hello", "through the balancer", &"x".repeat(100_000)] {
        stream.write_all(message.as_bytes()).await.unwrap();
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(back, message.as_bytes());
    }
    let seen = a.seen().pop().unwrap();
    assert_eq!(seen.headers["upgrade"], "echo/1");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    // A plain request on a new connection still goes through.
    assert_eq!(
        e2e::http::get(front(&net), "www.example.com", "/")
            .await
            .text(),
        "a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_requests_in_flight_finish() {
    let net = Loopback::block();
    let a = Backend::start("a", &net.addr(2, 8080)).await;
    let (mut lb, _dir) = e2e::fiberlb::start(&net, &web(&net, "", &[(&a, 100)]));
    let mut in_flight = Vec::new();
    for version in [Version::Http1, Version::Http2].repeat(5) {
        let front = front(&net);
        in_flight.push(tokio::spawn(async move {
            let mut client = Client::connect(front, version).await;
            client
                .send("GET", "www.example.com", "/slow/1500", &[], Bytes::new())
                .await
        }));
    }
    while a.requests() < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lb.signal("TERM");
    for request in in_flight {
        let answer = request.await.unwrap().expect("answered, not cut");
        assert_eq!((answer.status, answer.text().as_str()), (200, "a"));
    }
    let (status, _) = lb.wait(Duration::from_secs(15));
    assert!(status.success(), "{}", lb.log());
    assert!(
        tokio::net::TcpStream::connect(front(&net)).await.is_err(),
        "closed after the stop"
    );
}

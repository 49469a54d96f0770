//! Secrets are references resolved on the node: the value never appears in
//! `plan`, in logs, or in the deployment binary, and a missing one stops the
//! run before anything listens.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use e2e::Loopback;
use e2e::{Running, deployment, output_with_env};

/// A value no test input or source file contains elsewhere.
const TOKEN: &str = "tok-7f3a9c1e55b04d2e8a6f0b9d3c2e1a47";

#[test]
fn plan_shows_where_the_token_comes_from_and_never_the_value() {
    for format in ["table", "json"] {
        let out = output_with_env(
            "echo-token",
            &["plan", "--format", format],
            &[("ECHO_TOKEN", TOKEN)],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(
            !text.contains(TOKEN),
            "{format} plan leaks the token:\n{text}"
        );
        let reference = if format == "json" {
            r#""env": "ECHO_TOKEN""#
        } else {
            "token: secret from env ECHO_TOKEN"
        };
        assert!(text.contains(reference), "{format} plan:\n{text}");
    }
}

#[test]
fn the_binary_does_not_contain_the_value() {
    let bytes = std::fs::read(deployment("echo-token")).unwrap();
    let found = bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
    assert!(!found, "the deployment binary contains the token");
    // What it does contain is the reference.
    let name = b"ECHO_TOKEN";
    assert!(bytes.windows(name.len()).any(|w| w == name));
}

#[test]
fn a_missing_secret_stops_the_run_before_anything_listens() {
    let net = Loopback::block();
    let out = output_with_env(
        "echo-token",
        &["up", "--loopback-base", &format!("{net}.0")],
        &[],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "log:\n{log}");
    // `cargo test` may run with ECHO_TOKEN set by accident; this test needs it unset.
    assert!(std::env::var_os("ECHO_TOKEN").is_none());
    assert!(
        log.contains("cannot read 2 secret(s), so nothing was started"),
        "{log}"
    );
    assert!(
        log.contains("server/echo `token`: secret `env ECHO_TOKEN`: the environment variable is not set on this node"),
        "{log}"
    );
    assert!(
        log.contains("client/echo-client `token`: secret `env ECHO_TOKEN`"),
        "{log}"
    );
    assert!(!log.contains("listening"), "{log}");
}

#[test]
fn the_token_is_used_on_the_wire_and_never_logged() {
    let net = Loopback::block();
    let base = ["--loopback-base", &format!("{net}.0")];
    let mut up = Running::start_with_env(
        "echo-token",
        &["up", base[0], base[1], "--log", "trace"],
        &[("ECHO_TOKEN", TOKEN)],
    );
    // The client's requests carry the token: replies arrive.
    up.wait_for("echo reply", Duration::from_secs(15));

    // A request without it is refused with 401 and the scheme to use.
    let mut stream = TcpStream::connect(format!("{net}.1:8080")).unwrap();
    stream
        .write_all(b"GET /echo/hi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    assert!(
        reply.contains("www-authenticate: Bearer realm=\"echo\""),
        "{reply}"
    );

    // A wrong token is refused too.
    let mut stream = TcpStream::connect(format!("{net}.1:8080")).unwrap();
    stream
        .write_all(b"GET /echo/hi HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");

    // `check` reads the token on its side and probes with it.
    let check = output_with_env(
        "echo-token",
        &["check", base[0], base[1]],
        &[("ECHO_TOKEN", TOKEN)],
    );
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(!report.contains(TOKEN), "{report}");

    up.signal("TERM");
    let (status, _) = up.wait(Duration::from_secs(15));
    assert!(status.success(), "log:\n{}", up.log());
    let log = up.log();
    assert!(log.contains("token=Some(Secret(env ECHO_TOKEN))"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the log (at trace level) leaks the token"
    );
}

//! The echo deployments, run as processes, as a user would.
//!
//! Each test uses its own loopback block (`--loopback-base`), so tests run in
//! parallel on the deployments' fixed ports without colliding.

use std::time::Duration;

use e2e::Loopback;
use e2e::{Running, output};

#[test]
fn echo_single_up_prints_ten_replies_and_exits_by_itself() {
    let net = Loopback::block();
    let mut up = Running::start(
        "echo-single",
        &["up", "--loopback-base", &format!("{net}.0")],
    );
    let (status, took) = up.wait(Duration::from_secs(30));
    assert!(status.success(), "exit {status:?}; log:\n{}", up.log());
    let replies = up.lines_with("echo reply");
    assert_eq!(replies.len(), 10, "log:\n{}", up.log());
    assert!(
        replies.iter().all(|l| l.contains("reply=hello")),
        "{replies:#?}"
    );
    assert!(
        took >= Duration::from_millis(10_500) && took < Duration::from_secs(14),
        "ran for {took:?}, expected about 10.5 s"
    );
    // Stopped in reverse start order: the client before the server.
    let log = up.log();
    let client = log.find("echo client stopped").expect("client stopped");
    let server = log.find("echo server stopped").expect("server stopped");
    assert!(client < server, "log:\n{log}");
}

#[test]
fn ctrl_c_stops_echo_single_cleanly_before_its_lifetime() {
    let net = Loopback::block();
    let mut up = Running::start(
        "echo-single",
        &["up", "--loopback-base", &format!("{net}.0")],
    );
    up.wait_for("echo reply", Duration::from_secs(10));
    let check = output(
        "echo-single",
        &["check", "--loopback-base", &format!("{net}.0")],
    );
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(
        report.contains(&format!("ok    solo/echo echo 8088/tcp at {net}.1:8088")),
        "{report}"
    );
    up.signal("INT");
    let (status, took) = up.wait(Duration::from_secs(10));
    assert!(status.success(), "exit {status:?}; log:\n{}", up.log());
    assert!(took < Duration::from_secs(9), "ran for {took:?}");
    assert_eq!(
        up.lines_with("stopping every service").len(),
        1,
        "{}",
        up.log()
    );
    assert_eq!(
        up.lines_with("all services stopped").len(),
        1,
        "{}",
        up.log()
    );
}

#[test]
fn echo_pair_runs_as_two_processes_and_check_probes_the_server() {
    let net = Loopback::block();
    let base = ["--loopback-base", &format!("{net}.0")];
    let mut server = Running::start("echo-pair", &["run", "--node", "server", base[0], base[1]]);
    server.wait_for("echo server listening", Duration::from_secs(10));

    let check = output("echo-pair", &["check", base[0], base[1]]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "check failed:\n{report}");
    assert!(
        report.contains(&format!("ok    server/echo echo 8080/tcp at {net}.1:8080")),
        "{report}"
    );
    assert!(
        report.contains("1 endpoint(s) probed, 1 healthy, 0 failing"),
        "{report}"
    );

    let mut client = Running::start("echo-pair", &["run", "--node", "client", base[0], base[1]]);
    let (status, _) = client.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "client exit {status:?}; log:\n{}",
        client.log()
    );
    let replies = client.lines_with("echo reply");
    assert_eq!(replies.len(), 10, "log:\n{}", client.log());
    assert!(replies.iter().all(|l| l.contains("reply=dolly")));

    // The server runs until it is told to stop.
    assert!(server.is_running());
    server.signal("TERM");
    let (status, _) = server.wait(Duration::from_secs(10));
    assert!(
        status.success(),
        "server exit {status:?}; log:\n{}",
        server.log()
    );

    // Nothing listens now: check says so and fails.
    let check = output("echo-pair", &["check", "--timeout", "1", base[0], base[1]]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(report.contains("FAIL  server/echo"), "{report}");
    assert!(report.contains("Connection refused"), "{report}");
}

#[test]
fn echo_pair_up_keeps_the_server_after_the_client_node_stops() {
    let net = Loopback::block();
    let mut up = Running::start("echo-pair", &["up", "--loopback-base", &format!("{net}.0")]);
    up.wait_for("stopping node", Duration::from_secs(20));
    assert_eq!(up.lines_with("echo reply").len(), 10, "log:\n{}", up.log());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        up.is_running(),
        "the server node has no lifetime; log:\n{}",
        up.log()
    );
    let check = output(
        "echo-pair",
        &["check", "--loopback-base", &format!("{net}.0")],
    );
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    up.signal("TERM");
    let (status, _) = up.wait(Duration::from_secs(10));
    assert!(status.success(), "exit {status:?}; log:\n{}", up.log());
}

#[test]
fn run_with_a_mistyped_node_lists_the_valid_names() {
    let out = output("echo-pair", &["run", "--node", "sever"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("invalid value 'sever' for '--node <node>'"),
        "{err}"
    );
    assert!(err.contains("[possible values: server, client]"), "{err}");
    assert!(err.contains("a similar value exists: 'server'"), "{err}");
}

#[test]
fn plan_graph_and_version_describe_the_same_configuration() {
    let version = output("echo-pair", &["--version"]);
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(
        version.starts_with("deploy-echo-pair 0.1.0 (config 1.0.0+main, fingerprint "),
        "{version}"
    );
    let short_fp = version
        .trim()
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(short_fp.len(), 16);

    let plan = output("echo-pair", &["plan"]);
    let table = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success());
    assert!(
        table.contains(&format!("fingerprint  {short_fp}")),
        "{table}"
    );
    assert!(
        table.contains("server  127.0.1.1  echo         echo 8080/tcp http-get"),
        "{table}"
    );
    assert!(table.contains("echo: http-get echo@server:8080"), "{table}");
    assert!(
        table.contains("start order: server/echo, client/echo-client, client/lifetime"),
        "{table}"
    );

    let plan = output("echo-pair", &["plan", "--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_slice(&plan.stdout).expect("plan --format json is JSON");
    assert_eq!(json["deployment"], "echo-pair");
    assert_eq!(json["version"], "1.0.0+main");
    assert!(json["fingerprint"].as_str().unwrap().starts_with(&short_fp));
    assert_eq!(json["nodes"][1]["name"], "client");
    assert_eq!(json["services"][0]["listens"][0]["port"], 8080);
    assert_eq!(json["services"][1]["needs"][0]["provider"], "echo");

    let graph = output("echo-pair", &["graph"]);
    let mermaid = String::from_utf8_lossy(&graph.stdout);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(
        mermaid.contains("client_echo_client -->|http-get| server_echo"),
        "{mermaid}"
    );
    let graph = output("echo-pair", &["graph", "--format", "dot"]);
    let dot = String::from_utf8_lossy(&graph.stdout);
    assert!(
        dot.contains("\"client/echo-client\" -> \"server/echo\" [label=\"http-get\"];"),
        "{dot}"
    );

    // The single-node deployment: its own plan, graph and a different fingerprint.
    let single = output("echo-single", &["--version"]);
    assert!(!String::from_utf8_lossy(&single.stdout).contains(&short_fp));
    let plan = output("echo-single", &["plan", "--loopback-base", "127.0.9.0"]);
    let table = String::from_utf8_lossy(&plan.stdout);
    assert!(
        table.contains("solo  127.0.9.1  echo         echo 8088/tcp http-get"),
        "{table}"
    );
    assert!(
        table.contains("start order: solo/echo, solo/echo-client, solo/lifetime"),
        "{table}"
    );
    let graph = output("echo-single", &["graph"]);
    assert!(
        String::from_utf8_lossy(&graph.stdout).contains("solo_echo_client -->|http-get| solo_echo")
    );
}

/// A port held by something outside the topology cannot be seen at compile
/// time; the binary names node, service, address and cause when it starts.
#[test]
fn a_port_taken_by_another_program_is_reported_in_the_users_terms() {
    let net = Loopback::block();
    let _squatter = std::net::TcpListener::bind(format!("{net}.1:8088")).unwrap();
    let out = output(
        "echo-single",
        &["up", "--loopback-base", &format!("{net}.0")],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "node `solo`: service `echo` cannot listen on {net}.1:8088 (echo)"
        )),
        "{log}"
    );
    assert!(log.contains("Address already in use"), "{log}");
}

#[test]
fn the_exported_pair_runs_from_text_as_the_deployment_does() {
    let net = Loopback::block();
    // The server is .1 of the block, the client .2.
    let base = ["--loopback-base", &format!("{net}.0")];
    let export = |node: &str, service: &str| {
        let out = output(
            "echo-pair",
            &[
                "export-config",
                "--node",
                node,
                "--service",
                service,
                base[0],
                base[1],
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let server_toml = export("server", "echo");
    assert!(
        server_toml.contains(&format!("addr = \"{net}.1:8080\"\nprefix = \"echo\"")),
        "{server_toml}"
    );
    let client_toml = export("client", "echo-client");
    assert!(
        client_toml.contains(
            &format!("echo_url = \"http://{net}.1:8080/echo\"\ntest_message = \"dolly\"\npoll_interval_ms = 1000\nstop_after_ms = 10500\n")
        ),
        "{client_toml}"
    );
    // A lifetime is carried by the service it stops.
    let lifetime = output(
        "echo-pair",
        &[
            "export-config",
            "--node",
            "client",
            "--service",
            "lifetime",
            base[0],
            base[1],
        ],
    );
    assert_eq!(lifetime.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&lifetime.stderr),
        "error: cannot export `lifetime` on node `client`: a lifetime has no server of its own: export the service it stops, whose `stop_after_ms` carries it\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let server_file = dir.path().join("server.toml");
    let client_file = dir.path().join("client.toml");
    std::fs::write(&server_file, server_toml).unwrap();
    std::fs::write(&client_file, client_toml).unwrap();
    let mut server = Running::start_server(
        "echo",
        &["--config", server_file.to_str().unwrap()],
        &[],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, health) =
        runtime.block_on(e2e::http_get(&format!("http://{net}.1:8080"), "/health"));
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["component"], "echo");
    assert_eq!(health["mode"], "standalone");
    assert_eq!(health["checks"]["mode"], "ok");
    let mut client = Running::start_server(
        "echo-client",
        &["--config", client_file.to_str().unwrap()],
        &[],
        None,
    );
    let (status, _) = client.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "client exit {status:?}; log:\n{}",
        client.log()
    );
    let replies = client.lines_with("echo reply");
    assert_eq!(replies.len(), 10, "log:\n{}", client.log());
    assert!(replies.iter().all(|l| l.contains("reply=dolly")));
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).0.success());
}

//! `deploy-eventbus`: nats-server run by the runtime, driven with NATS's
//! own client (async-nats) through `photon-bus`'s typed subjects. A kept
//! subject's messages survive the bus being stopped and started, and
//! nats-server being killed; a durable subscriber gets every message it
//! has not acknowledged, once it has, never again; a retried publish is
//! stored once; a message that is not the subject's type is named as such
//! and does not stall the subscriber.

use std::time::Duration;

use e2e::{Loopback, Running};
use eventbus::{BusLimits, EventBus};
use photon_bus::{Bus, BusError, Delivery, Subscription};
use photon_dsl::events::{Message, Stream, Subject};
use photon_dsl::port;
use serde::{Deserialize, Serialize};

photon_dsl::nodes! {
    /// The deployment's one node.
    pub BusNode = "bus";
}

/// `deployments/eventbus.rs`'s stream and bus, as a service publishing
/// into it would name them.
const RESOURCES: Stream = Stream {
    name: "RESOURCES",
    subjects: "photon.resources",
    max_age_seconds: 7 * 24 * 3600,
    max_mib: 256,
};
const BUS: EventBus<BusNode> = EventBus {
    node: BusNode,
    client_port: port!(4222),
    admin_port: port!(8222),
    streams: &[RESOURCES],
    limits: BusLimits::DEFAULT,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Changed {
    name: String,
    version: u64,
}

impl Message for Changed {
    const NAME: &'static str = "Changed";
}

const CHANGED: Subject<Changed> =
    Subject::kept(BUS.client().dep(), RESOURCES, "photon.resources.changed");
const LIVE: Subject<Changed> = Subject::live(BUS.client().dep(), "photon.live.changed");

fn changed(name: &str, version: u64) -> Changed {
    Changed {
        name: name.into(),
        version,
    }
}

fn up(net: &Loopback, state: &std::path::Path) -> Running {
    Running::up("eventbus", net, state, &[], Duration::from_secs(60))
}

async fn next(subscription: &mut Subscription<Changed>) -> Delivery<Changed> {
    tokio::time::timeout(Duration::from_secs(20), subscription.next())
        .await
        .expect("a message within 20 s")
        .expect("the subscription is open")
        .expect("a well-formed message")
}

/// Nothing arrives within a second.
async fn quiet(subscription: &mut Subscription<Changed>) {
    if let Ok(got) = tokio::time::timeout(Duration::from_secs(1), subscription.next()).await {
        panic!("expected nothing, got {got:?}");
    }
}

async fn health(net: &Loopback) -> serde_json::Value {
    let (code, body) = e2e::http_get(&net.url(1, 8222), "/health").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits until the metric line starting with `name` says `want` (the bus
/// reads nats-server's monitoring every two seconds).
async fn metric_becomes(net: &Loopback, name: &str, want: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = metric(net, name).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is {got}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of the metric line starting with `name`.
async fn metric(net: &Loopback, name: &str) -> f64 {
    let (code, body) = e2e::http_get(&net.url(1, 8222), "/metrics").await;
    assert_eq!(code, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{body}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_events_survive_the_bus_stopping_and_reach_a_subscriber_until_it_acknowledges() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut deployment = up(&net, state.path());
    let health_now = health(&net).await;
    assert_eq!(health_now["component"], "eventbus");
    assert_eq!(health_now["status"], "healthy");
    assert_eq!(
        health_now["checks"]["jetstream"],
        "ok: 1 streams, 0 messages kept"
    );

    let bus = Bus::connect(&net.addr(1, 4222), "test").await.unwrap();
    let mut agent = bus.subscribe(&CHANGED, "agent").await.unwrap();
    for version in 1..=3 {
        let published = bus
            .publish(
                &CHANGED,
                &format!("m{version}"),
                &changed("zone-a", version),
            )
            .await
            .unwrap();
        assert_eq!(published.sequence, Some(version));
        assert!(!published.duplicate);
    }
    // A publisher retrying after a lost acknowledgement: stored once.
    let again = bus
        .publish(&CHANGED, "m1", &changed("zone-a", 1))
        .await
        .unwrap();
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.sequence, Some(1));

    let first = next(&mut agent).await;
    assert_eq!(first.message, changed("zone-a", 1));
    assert_eq!(first.id.as_deref(), Some("m1"));
    assert_eq!(first.attempt, 1);
    first.ack().await.unwrap();
    // The second is taken but never acknowledged: the agent "dies".
    let second = next(&mut agent).await;
    assert_eq!(second.message, changed("zone-a", 2));
    drop(second);
    drop(agent);
    drop(bus);

    // The bus stops cleanly and starts again on its disk.
    deployment.signal("TERM");
    let (status, _) = deployment.wait(Duration::from_secs(30));
    assert!(status.success(), "{}", deployment.log());
    assert!(
        deployment.log().contains("nats-server stopped"),
        "{}",
        deployment.log()
    );
    let _deployment = up(&net, state.path());
    assert_eq!(
        health(&net).await["checks"]["jetstream"],
        "ok: 1 streams, 3 messages kept"
    );

    let bus = Bus::connect(&net.addr(1, 4222), "test").await.unwrap();
    let mut agent = bus.subscribe(&CHANGED, "agent").await.unwrap();
    // Not the acknowledged first; the second again (after its ack wait),
    // and the third (which the first subscription may have fetched
    // already, unacknowledged).
    let mut got = Vec::new();
    for _ in 0..2 {
        let delivery = next(&mut agent).await;
        got.push((delivery.message.version, delivery.attempt));
        delivery.ack().await.unwrap();
    }
    got.sort();
    assert_eq!(got[0].0, 2);
    assert!(got[0].1 >= 2, "the second was delivered before: {got:?}");
    assert_eq!(got[1].0, 3);
    quiet(&mut agent).await;

    // A new subscriber name starts from the stream's beginning.
    let mut auditor = bus.subscribe(&CHANGED, "auditor").await.unwrap();
    for version in 1..=3 {
        let delivery = next(&mut auditor).await;
        assert_eq!(delivery.message.version, version);
        delivery.ack().await.unwrap();
    }

    // Something that is not a `Changed`, published by hand: named, set
    // aside, and the next message still arrives.
    bus.client()
        .publish("photon.resources.changed", "{\"name\": 7}".into())
        .await
        .unwrap();
    bus.publish(&CHANGED, "m4", &changed("zone-b", 4))
        .await
        .unwrap();
    let malformed = tokio::time::timeout(Duration::from_secs(20), agent.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(malformed, BusError::Malformed { .. }));
    let text = malformed.to_string();
    assert!(
        text.contains("photon.resources.changed") && text.contains("is not a `Changed`"),
        "{text}"
    );
    let fourth = next(&mut agent).await;
    assert_eq!(fourth.message, changed("zone-b", 4));
    fourth.ack().await.unwrap();
    quiet(&mut agent).await;

    // One name, one subject.
    const OTHER: Subject<Changed> =
        Subject::kept(BUS.client().dep(), RESOURCES, "photon.resources.other");
    let taken = bus.subscribe(&OTHER, "agent").await.unwrap_err();
    assert!(matches!(taken, BusError::NameTaken { .. }), "{taken}");
    assert!(
        taken
            .to_string()
            .contains("follows `photon.resources.changed`")
    );

    metric_becomes(&net, "eventbus_stream_messages{stream=\"RESOURCES\"}", 5.0).await;
    metric_becomes(&net, "eventbus_stream_consumers{stream=\"RESOURCES\"}", 2.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nats_server_is_started_again_and_clients_carry_on() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut deployment = up(&net, state.path());
    let bus = Bus::connect(&net.addr(1, 4222), "test").await.unwrap();
    let mut one = bus.subscribe(&LIVE, "one").await.unwrap();
    let mut two = bus.subscribe(&LIVE, "two").await.unwrap();
    let mut agent = bus.subscribe(&CHANGED, "agent").await.unwrap();

    // Live: every subscriber hears it; nothing is kept.
    bus.publish(&LIVE, "l1", &changed("a", 1)).await.unwrap();
    assert_eq!(next(&mut one).await.message, changed("a", 1));
    assert_eq!(next(&mut two).await.message, changed("a", 1));
    bus.publish(&CHANGED, "k1", &changed("b", 1)).await.unwrap();

    // nats-server dies under the runtime.
    let config = state.path().join("eventbus/bus/eventbus/nats-server.conf");
    assert!(config.exists(), "{}", config.display());
    let killed = std::process::Command::new("pkill")
        .args([
            "-KILL",
            "-f",
            &format!("nats-server --config {}", config.display()),
        ])
        .status()
        .unwrap();
    assert!(killed.success());
    deployment.wait_for("nats-server restarted", Duration::from_secs(30));
    assert!(deployment.is_running());
    assert!(deployment.log().contains("nats-server exited"));

    // The same client reconnects by itself; the kept message is there,
    // and a new one published after the restart too.
    let published = tokio::time::timeout(
        Duration::from_secs(20),
        bus.publish(&CHANGED, "k2", &changed("b", 2)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(published.sequence, Some(2));
    let mut versions = Vec::new();
    for _ in 0..2 {
        let delivery = next(&mut agent).await;
        versions.push(delivery.message.version);
        delivery.ack().await.unwrap();
    }
    assert_eq!(versions, [1, 2]);
    assert_eq!(health(&net).await["status"], "healthy");
    metric_becomes(&net, "eventbus_server_restarts_total", 1.0).await;

    // The runtime killed outright: nats-server does not outlive it (it
    // would hold the port and the store the next start needs).
    deployment.signal("KILL");
    deployment.wait(Duration::from_secs(10));
    let pattern = format!("nats-server --config {}", config.display());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while nats_running(&pattern) {
        assert!(
            std::time::Instant::now() < deadline,
            "nats-server outlived the runtime"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _again = up(&net, state.path());
    assert_eq!(health(&net).await["status"], "healthy");
}

fn nats_running(pattern: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_missing_nats_server_is_named() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let output = e2e::output_with_env(
        "eventbus",
        &[
            "up",
            "--loopback-base",
            &net.base(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &[("PHOTON_NATS_SERVER", "/nonexistent/nats-server")],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PHOTON_NATS_SERVER is /nonexistent/nats-server, which is not a file"),
        "{stderr}"
    );
}

#[test]
fn an_exported_image_installs_nats_server() {
    let out = tempfile::tempdir().unwrap();
    let output = e2e::output(
        "eventbus",
        &[
            "export",
            "--format",
            "compose",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let dockerfile = std::fs::read_to_string(out.path().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("--no-install-recommends librocksdb7.8 ca-certificates nats-server"),
        "{dockerfile}"
    );
}

/// `eventbus-server` runs from the TOML `deploy-eventbus` exports for its
/// bus (the same streams and limits), and keeps what is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbus_server_runs_from_the_toml_a_deployment_exports() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let text = e2e::export_config(
        "eventbus",
        "bus",
        "eventbus",
        &net.base(),
        dir.path().join("exported").to_str().unwrap(),
    );
    assert!(text.contains("[[standalone.streams]]"), "{text}");
    assert!(text.contains("subjects = \"photon.resources\""), "{text}");
    let config = dir.path().join("eventbus.toml");
    std::fs::write(&config, &text).unwrap();
    let state = dir.path().join("state");
    let mut server = Running::start_server(
        "eventbus",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(60));
    assert_eq!(
        health(&net).await["checks"]["jetstream"],
        "ok: 1 streams, 0 messages kept"
    );
    let bus = Bus::connect(&net.addr(1, 4222), "test").await.unwrap();
    let stored = bus.publish(&CHANGED, "s1", &changed("x", 1)).await.unwrap();
    assert_eq!(stored.sequence, Some(1));
}

#[test]
fn eventbus_server_names_what_is_wrong_in_its_toml() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let out = e2e::server_output(
            "eventbus",
            &["--config", config.to_str().unwrap(), "--print-config"],
            &[],
        );
        assert!(!out.status.success(), "{text} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let typo = check(
        "[photon]\nmode = \"standalone\"\n[standalone.server]\nclient_adr = \"127.0.0.1:4222\"\n",
    );
    assert!(typo.contains("client_adr"), "{typo}");
    let overlap = check(
        "[photon]\nmode = \"standalone\"\n\
         [[standalone.streams]]\nname = \"A\"\nsubjects = \"photon\"\nmax_age_seconds = 60\nmax_mib = 1\n\
         [[standalone.streams]]\nname = \"B\"\nsubjects = \"photon.b\"\nmax_age_seconds = 60\nmax_mib = 1\n",
    );
    assert!(
        overlap.contains("standalone.streams")
            && overlap.contains("`B` and `A` would both keep subjects under `photon.b`"),
        "{overlap}"
    );
    let too_big = check(
        "[photon]\nmode = \"standalone\"\n[standalone.limits]\nstore_mib = 10\n\
         [[standalone.streams]]\nname = \"A\"\nsubjects = \"photon\"\nmax_age_seconds = 60\nmax_mib = 64\n",
    );
    assert!(
        too_big.contains("more than `limits.store_mib` (10 MiB)"),
        "{too_big}"
    );
}

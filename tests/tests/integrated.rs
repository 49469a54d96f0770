//! Integrated mode in the standalone binaries: `flashdns-server` started
//! from docs/design.md §3.2 (`mode = "integrated"`) reaches a real
//! chainfire (and its `/health` as the control plane's) within the fallback
//! timeout, registers under a lease its heartbeat keeps alive, and leaves
//! when stopped; when nothing answers in time it falls back to standalone
//! if allowed, and stops if not. A compiled deployment's integrated
//! lightningstor registers in the deployment's chainfire the same way.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::{Duration, Instant};

use e2e::Loopback;
use e2e::Running;
use e2e::dns::{ask, udp, zone_dir};
use e2e::http_get;
use etcd_client::Client;
use hickory_proto::rr::RecordType;

const INTEGRATED: &str = include_str!("../standalone/design/integrated-3.2.toml");
const KEY: &str = "/photon/clusters/cluster-identifier/components/flashdns/unique-component-id";

/// The design's §3.2 file (docs/design.md) with flashdns's own section: DNS and the admin
/// API on `ip`, example.com from the test zones.
fn config(dir: &std::path::Path, ip: &str) -> String {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::copy(
        zone_dir().join("example.com.zone"),
        zones.join("example.com.zone"),
    )
    .unwrap();
    let text = format!(
        "{INTEGRATED}\n[standalone.server]\ndns_addr = \"{ip}:5300\"\ndns_tcp_addr = \"{ip}:5300\"\nadmin_api_addr = \"{ip}:8053\"\n\n[standalone.zones]\nzone_dir = \"{}\"\n",
        zones.display()
    );
    let path = dir.join("flashdns.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn chainfire(net: &Loopback, dir: &std::path::Path) -> Running {
    e2e::etcd::start_chainfire_server(net, 1, dir)
}

/// The registration, if there is one: its value and lease.
async fn registration(client: &mut Client) -> Option<(serde_json::Value, i64)> {
    let got = client.get(KEY, None).await.unwrap();
    got.kvs().first().map(|kv| {
        (
            serde_json::from_str(kv.value_str().unwrap()).unwrap(),
            kv.lease(),
        )
    })
}

/// `pairs` as `start_server` takes them.
fn env_of<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Waits for the registration to come back on another lease than `old`.
async fn registered_again(client: &mut Client, old: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((_, lease)) = registration(client).await
            && lease != old
        {
            return lease;
        }
        assert!(Instant::now() < deadline, "not registered again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for `/health`'s `checks.chainfire` to satisfy `wanted`.
async fn chainfire_check(
    net: &Loopback,
    flashdns: &mut Running,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let check =
        |health: &serde_json::Value| health["checks"]["chainfire"].as_str().unwrap().to_owned();
    let health = e2e::health_when(&net.url(2, 8053), flashdns, |_, health| {
        wanted(&check(health))
    })
    .await;
    check(&health)
}

/// Flags that point the design file at this file's chainfire, whose
/// `/health` stands in for the control plane's, with a one-second
/// heartbeat.
const JOIN: [&str; 4] = [
    "--set",
    "photon.integrated.registration.heartbeat_interval_sec=1",
    "--set",
    "photon.integrated.fallback_timeout_sec=30",
];
/// The control plane and chainfire at this test's chainfire (`<net>.1`).
fn endpoints(net: &Loopback) -> [(&'static str, String); 2] {
    [
        ("PHOTON_CONTROL_PLANE_ENDPOINT", net.url(1, 2379)),
        ("PHOTON_CHAINFIRE_ENDPOINTS", net.url(1, 2379)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_in_chainfire_keeps_the_lease_alive_and_leaves_when_stopped() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &format!("{net}.2"));
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let args = [&["--config", &config, "--state-dir", state][..], &JOIN[..]].concat();

    // flashdns first: it waits for chainfire, within the fallback timeout.
    let mut flashdns = Running::start_server("flashdns", &args, &env_of(&endpoints(&net)), None);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        flashdns.lines_with("all services started").is_empty(),
        "{}",
        flashdns.log()
    );
    let mut store = chainfire(&net, dir.path());
    store.wait_for("all services started", Duration::from_secs(30));
    flashdns.wait_for("all services started", Duration::from_secs(30));
    assert_eq!(
        flashdns
            .lines_with("operation mode chosen")
            .iter()
            .filter(|l| l.contains("operation_mode=\"integrated\""))
            .count(),
        1,
        "{}",
        flashdns.log()
    );

    let mut client = Client::connect([&format!("{net}.1:2379")], None)
        .await
        .unwrap();
    let (value, lease) = registration(&mut client).await.expect("registered");
    assert_eq!(
        value,
        serde_json::json!({
            "component": "flashdns",
            "component_id": "unique-component-id",
            "cluster_id": "cluster-identifier",
            "version": env!("CARGO_PKG_VERSION"),
            "listeners": {"dns": &format!("{net}.2:5300"), "admin": &format!("{net}.2:8053")},
            "metadata": {"region": "tokyo", "zone": "az-1"},
            "heartbeat_interval_sec": 1,
        })
    );
    assert_ne!(lease, 0, "the registration lives on a lease");
    let ttl = client.lease_time_to_live(lease, None).await.unwrap();
    assert_eq!(ttl.granted_ttl(), 3, "three heartbeats");

    // Past the lease's TTL, the heartbeat has kept it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(registration(&mut client).await.map(|(_, l)| l), Some(lease));

    let (status, health) = http_get(&format!("http://{net}.2:8053"), "/health").await;
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["mode"], "integrated");
    assert_eq!(
        health["checks"]["chainfire"],
        format!("ok: registered as {KEY} (lease {lease:x})")
    );
    assert_eq!(
        health["checks"]["mode"],
        "zone files and typed zones are read locally; only stored zones are kept in chainfire; photonauth at http://photonauth:50051 is not used: its client is not built yet; the event bus at http://events:4222 is not used: this component publishes and subscribes to nothing"
    );
    let dns = udp(format!("{net}.2:5300").parse().unwrap(), None);
    assert_eq!(
        ask(&dns, "www.example.com.", RecordType::A)
            .await
            .answers
            .len(),
        1
    );

    // The operator's view (design 7.3): photonctl reaches chainfire and
    // lists flashdns, healthy, from its registration and its /health.
    let endpoint = format!("http://{net}.1:2379");
    let check = e2e::tool_output("photonctl", &["check-connection", "--endpoint", &endpoint]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        text.starts_with(&format!("ok      {endpoint}  version ")) && text.contains("1 member(s)"),
        "{text}"
    );
    let status = e2e::tool_output("photonctl", &["status", "--endpoint", &endpoint]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "ok      flashdns/unique-component-id  cluster cluster-identifier, version {}, mode integrated  admin={net}.2:8053 dns={net}.2:5300\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(
        text.ends_with("1 component(s) registered under /photon/clusters/, 1 healthy\n"),
        "{text}"
    );

    // A lease revoked under it is noticed at the next beat, and the
    // registration written again under a new one.
    client.lease_revoke(lease).await.unwrap();
    registered_again(&mut client, lease).await;
    assert_eq!(
        flashdns
            .lines_with("the registration's lease expired; registering again")
            .len(),
        1,
        "{}",
        flashdns.log()
    );

    // chainfire gone: `/health` says the heartbeat fails; back, the
    // registration is renewed or written again.
    store.signal("TERM");
    assert!(store.wait(Duration::from_secs(15)).0.success());
    let failing = chainfire_check(&net, &mut flashdns, |c| {
        c.starts_with("heartbeat failing: ")
    })
    .await;
    assert!(failing.starts_with("heartbeat failing: "), "{failing}");
    let mut store = chainfire(&net, dir.path());
    store.wait_for("all services started", Duration::from_secs(30));
    chainfire_check(&net, &mut flashdns, |c| c.starts_with("ok: registered as ")).await;
    let mut client = Client::connect([&format!("{net}.1:2379")], None)
        .await
        .unwrap();
    assert!(registration(&mut client).await.is_some());

    // A clean stop revokes the lease: the registration goes at once.
    flashdns.signal("TERM");
    let (exit, _) = flashdns.wait(Duration::from_secs(15));
    assert!(exit.success(), "{}", flashdns.log());
    assert_eq!(
        flashdns.lines_with("left chainfire (lease revoked)").len(),
        1
    );
    assert!(registration(&mut client).await.is_none());

    // A killed one stops heartbeating: its registration expires with the
    // lease, three seconds on.
    let mut flashdns = Running::start_server("flashdns", &args, &env_of(&endpoints(&net)), None);
    flashdns.wait_for("all services started", Duration::from_secs(30));
    assert!(registration(&mut client).await.is_some());
    flashdns.signal("KILL");
    let killed = Instant::now();
    let _ = flashdns.wait(Duration::from_secs(5));
    // Until the lease runs out, photonctl lists it, failing: its /health
    // does not answer.
    let status = e2e::tool_output("photonctl", &["status", "--endpoint", &endpoint]);
    let text = String::from_utf8_lossy(&status.stdout);
    if text.contains("flashdns/unique-component-id") {
        assert_eq!(status.status.code(), Some(1), "{text}");
        assert!(
            text.contains("failing flashdns/unique-component-id")
                && text.contains("no /health answered")
                && text.ends_with("1 component(s) registered under /photon/clusters/, 0 healthy\n"),
            "{text}"
        );
    } else {
        assert!(
            killed.elapsed() >= Duration::from_secs(2),
            "the registration went before its lease could run out:\n{text}"
        );
    }
    while registration(&mut client).await.is_some() {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the registration outlived its lease"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn photonctl_says_which_chainfire_it_cannot_reach() {
    let net = Loopback::block();
    let endpoint = net.url(1, 2379);
    for command in ["check-connection", "status"] {
        let out = e2e::tool_output(
            "photonctl",
            &[command, "--endpoint", &endpoint, "--timeout-sec", "1"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.starts_with(&format!("photonctl: chainfire at {endpoint} ")),
            "{command}: {stderr}"
        );
    }
}

/// The design file without its control plane, chainfire at an address
/// nothing listens on, a two-second fallback timeout.
fn unreachable_args(net: &Loopback, config: &str, state: &str, fallback: bool) -> Vec<String> {
    [
        "--config",
        config,
        "--state-dir",
        state,
        "--set",
        &format!(
            "photon.integrated.chainfire_endpoints=[\"{}\"]",
            net.url(9, 2379)
        ),
        "--set",
        "photon.integrated.fallback_timeout_sec=2",
        "--set",
        &format!("photon.integrated.fallback_to_standalone={fallback}"),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_chainfire_means_standalone_after_the_timeout_if_allowed_else_a_stop() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &format!("{net}.3"));
    let no_plane = dir.path().join("no-plane.toml");
    std::fs::write(
        &no_plane,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("control_plane_endpoint = \"http://photon-cp:8080\"\n", ""),
    )
    .unwrap();
    let no_plane = no_plane.to_str().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();

    let args = unreachable_args(&net, no_plane, state, true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut flashdns = Running::start_server("flashdns", &args, &[], None);
    flashdns.wait_for(
        "falling back to standalone (fallback_to_standalone = true)",
        Duration::from_secs(30),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it tried for the whole timeout first"
    );
    flashdns.wait_for("all services started", Duration::from_secs(30));
    let (_, health) = http_get(&format!("http://{net}.3:8053"), "/health").await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["mode"], "standalone");
    let check = health["checks"]["mode"].as_str().unwrap();
    assert!(
        check.starts_with(&format!(
            "fell back from integrated: chainfire at http://{net}.9:2379 did not answer within 2."
        )),
        "{check}"
    );
    assert!(health["checks"].get("chainfire").is_none(), "{health}");
    drop(flashdns);

    // Without the fallback it stops, saying what did not answer.
    let args = unreachable_args(&net, no_plane, state, false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = e2e::server_output("flashdns", &args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(
            &format!("flashdns-server: chainfire at http://{net}.9:2379 did not answer within 2.")
        ) && last.ends_with(
            "; run it with mode = \"standalone\", or allow the fallback with [photon.integrated] fallback_to_standalone = true"
        ),
        "{last}"
    );

    // A control plane that does not answer is said first.
    let args = unreachable_args(&net, &config, state, false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = e2e::server_output(
        "flashdns",
        &args,
        &[(
            "PHOTON_CONTROL_PLANE_ENDPOINT",
            &format!("http://{net}.9:8080"),
        )],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.lines().last().unwrap().starts_with(
            &format!("flashdns-server: the control plane did not answer http://{net}.9:8080/health within 2s: ")
        ),
        "{stderr}"
    );
}

#[test]
fn integrated_settings_are_checked_before_anything_starts() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &format!("{net}.4"));
    let without = |line: &str| {
        let path = dir.path().join("edited.toml");
        std::fs::write(
            &path,
            std::fs::read_to_string(&config).unwrap().replace(line, ""),
        )
        .unwrap();
        path.to_str().unwrap().to_owned()
    };
    let d = dir.path().display();

    let no_chainfire = without("chainfire_endpoints = [\"http://chainfire:2379\"]\n");
    assert_eq!(
        e2e::last_words(
            "flashdns",
            &["--config", &no_chainfire, "--print-config"],
            &[]
        ),
        (
            Some(2),
            format!(
                "flashdns-server: configuration error: {d}/edited.toml:7: `photon.integrated.chainfire_endpoints`: integrated mode registers the component in chainfire: give its endpoints, such as chainfire_endpoints = [\"http://chainfire:2379\"] or PHOTON_CHAINFIRE_ENDPOINTS"
            )
        )
    );

    let no_cluster = without("cluster_id = \"cluster-identifier\"\n");
    assert_eq!(
        e2e::last_words(
            "flashdns",
            &["--config", &no_cluster, "--print-config"],
            &[]
        ),
        (
            Some(2),
            format!(
                "flashdns-server: configuration error: {d}/edited.toml:2: `photon.cluster_id`: integrated mode needs the cluster this component joins, such as cluster_id = \"cluster-1\" or PHOTON_CLUSTER_ID"
            )
        )
    );

    assert_eq!(
        e2e::last_words(
            "flashdns",
            &["--config", &config, "--print-config"],
            &[(
                "PHOTON__PHOTON__INTEGRATED__REGISTRATION__HEARTBEAT_INTERVAL_SEC",
                "0",
            )],
        ),
        (
            Some(2),
            "flashdns-server: configuration error: environment variable PHOTON__PHOTON__INTEGRATED__REGISTRATION__HEARTBEAT_INTERVAL_SEC: `photon.integrated.registration.heartbeat_interval_sec`: a heartbeat is at least 1 second apart".to_owned()
        )
    );

    // Settled, the file prints as loaded: nothing was reached for.
    let out = e2e::server_output("flashdns", &["--config", &config, "--print-config"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compiled_integrated_lightningstor_registers_in_its_state_store() {
    let net = Loopback::block();
    // Nodes from .16 of the block: `kv` is .17, `storage` .18.
    let state = tempfile::tempdir().unwrap();
    let mut deployment = Running::start_with_env(
        "lightningstor-integrated",
        &[
            "up",
            "--loopback-base",
            &format!("{net}.16"),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &[("LIGHTNINGSTOR_SECRET_KEY", "integrated-secret")],
    );
    deployment.wait_for("all services started", Duration::from_secs(60));

    let mut client = Client::connect([&format!("{net}.17:2379")], None)
        .await
        .unwrap();
    let key = "/photon/clusters/lightningstor-integrated/components/lightningstor/storage";
    let got = client.get(key, None).await.unwrap();
    let kv = got.kvs().first().expect("registered");
    assert_ne!(kv.lease(), 0);
    let value: serde_json::Value = serde_json::from_str(kv.value_str().unwrap()).unwrap();
    assert_eq!(
        value["listeners"],
        serde_json::json!({"s3": &format!("{net}.18:9000"), "admin": &format!("{net}.18:9001")})
    );
    assert_eq!(value["heartbeat_interval_sec"], 30);

    let (status, health) = http_get(&format!("http://{net}.18:9000"), "/health").await;
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["mode"], "integrated");
    assert_eq!(
        health["checks"]["chainfire"],
        format!("ok: registered as {key} (lease {:x})", kv.lease())
    );
    // Nothing is left local but the bytes, which the design keeps there.
    assert_eq!(health["checks"]["mode"], "ok");

    // It serves S3 as ever.
    let s3 = e2e::s3::client_with(
        &format!("http://{net}.18:9000"),
        "PHOTONADMIN",
        "integrated-secret",
    );
    s3.create_bucket().bucket("kept").send().await.unwrap();
    s3.put_object()
        .bucket("kept")
        .key("k")
        .body(b"integrated".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(e2e::s3::get_bytes(&s3, "kept", "k").await, b"integrated");
    // Its metadata is in chainfire, under its own prefix (the bytes stay
    // on its disk); /health names where.
    let prefix = "/photon/clusters/lightningstor-integrated/lightningstor/storage/";
    let object = client
        .get(format!("{prefix}o/kept\0k"), None)
        .await
        .unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(object.kvs().first().expect("the object's record").value()).unwrap();
    assert_eq!(record["size"], 10);
    assert!(
        client
            .get(format!("{prefix}b/kept"), None)
            .await
            .unwrap()
            .count()
            == 1,
        "the bucket's record"
    );
    assert_eq!(
        health["checks"]["metadata"],
        format!("ok: chainfire {prefix}")
    );

    // Stopped, it leaves before chainfire (reverse start order) stops.
    deployment.signal("TERM");
    assert!(
        deployment.wait(Duration::from_secs(30)).0.success(),
        "{}",
        deployment.log()
    );
    assert_eq!(
        deployment
            .lines_with("left chainfire (lease revoked)")
            .len(),
        1,
        "{}",
        deployment.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lightningstor_that_falls_back_serves_without_waiting_for_the_chainfire_it_could_not_reach()
 {
    // Its integrated spec names chainfire as its state store: fallen back,
    // that is not a dependency to wait for.
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let ip = format!("{net}.4");
    let config = dir.path().join("lightningstor.toml");
    std::fs::write(
        &config,
        format!(
            "[photon]\nmode = \"integrated\"\ncomponent_id = \"ls-1\"\ncluster_id = \"c1\"\n\
             [photon.integrated]\nchainfire_endpoints = [\"http://chainfire:2379\"]\n\
             [standalone.server]\ns3_addr = \"{ip}:9000\"\ngrpc_addr = \"{ip}:9001\"\n\
             [standalone.storage]\ndata_dir = \"{}\"\n\
             [standalone.metadata]\npath = \"{}\"\n\
             [standalone.auth]\ntype = \"access_key\"\naccess_key = \"PHOTONADMIN\"\n\
             secret_key = \"0123456789abcdef0123456789abcdef01234567\"\n",
            dir.path().join("data").display(),
            dir.path().join("meta").display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let args = unreachable_args(
        &net,
        config.to_str().unwrap(),
        state.to_str().unwrap(),
        true,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut store = Running::start_server("lightningstor", &args, &[], None);
    store.wait_for(
        "falling back to standalone (fallback_to_standalone = true)",
        Duration::from_secs(30),
    );
    let fell_back = Instant::now();
    // Well under the 30 s a dependency is waited for.
    store.wait_for("all services started", Duration::from_secs(10));
    assert!(
        fell_back.elapsed() < Duration::from_secs(10),
        "started {:?} after falling back\n{}",
        fell_back.elapsed(),
        store.log()
    );
    let (_, health) = http_get(&format!("http://{ip}:9000"), "/health").await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["mode"], "standalone", "{health}");
}

//! flashdns's zone store over the etcd v3 API (`store::chainfire`): the
//! same conformance suite `FileStore` passes in flashdns's own tests, run
//! against a real `chainfire-server` and against Debian's etcd, the
//! reference.

use std::sync::Arc;

use e2e::Loopback;
use flashdns::store::chainfire::{ChainfireStore, cluster_prefix};
use flashdns::store::conformance;
use futures::StreamExt as _;
use hickory_net::client::ClientHandle as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_in_chainfire_keep_the_zone_store_promises() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let client = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let store = ChainfireStore::new(client, cluster_prefix("conformance"));
    conformance::run(Arc::new(store), "chainfire.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_in_etcd_keep_them_too() {
    let net = Loopback::block();
    let etcd = e2e::etcd::Etcd::start(&net, 1).await;
    let client = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    let store = ChainfireStore::new(client, cluster_prefix("conformance"));
    conformance::run(Arc::new(store), "etcd.test").await;
}

/// `flashdns-server` integrated in cluster `c1` at `net.ip(host)`, serving
/// `vpc.test` from chainfire at `net.ip(1)`.
fn integrated_flashdns(net: &Loopback, host: u8, dir: &std::path::Path) -> e2e::Running {
    let ip = net.ip(host);
    let config = dir.join(format!("flashdns-{host}.toml"));
    std::fs::write(
        &config,
        format!(
            "[photon]\nmode = \"integrated\"\ncomponent_id = \"dns-{host}\"\ncluster_id = \"c1\"\n\
             [photon.integrated]\nchainfire_endpoints = [\"{}\"]\n\
             [photon.standalone]\nzone_backend = \"chainfire\"\n\
             [standalone.server]\ndns_addr = \"{ip}:5300\"\nadmin_api_addr = \"{ip}:8053\"\n\
             [standalone.features]\naxfr_allow = [\"127.0.0.1\"]\n\
             [[standalone.zones.zone]]\nname = \"vpc.test\"\n",
            net.url(1, 2379)
        ),
    )
    .unwrap();
    let state = dir.join(format!("state-{host}"));
    let mut running = e2e::Running::start_server(
        "flashdns",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
        None,
    );
    running.wait_for("all services started", std::time::Duration::from_secs(30));
    running
}

/// `photonctl dns <args>` against the chainfire at `endpoint`, for
/// `cluster`'s zones.
fn photonctl_dns(endpoint: &str, cluster: &str, args: &[&str]) -> std::process::Output {
    let all = [
        &["dns", "--endpoint", endpoint, "--cluster", cluster][..],
        args,
    ]
    .concat();
    e2e::tool_output("photonctl", &all)
}

fn photonctl(net: &Loopback, args: &[&str]) -> std::process::Output {
    photonctl_dns(&net.url(1, 2379), "c1", args)
}

/// What `name A` answers at `server` once `wanted` says it is right,
/// within a second; panics with the last answer otherwise.
async fn within_a_second(
    server: std::net::SocketAddr,
    name: &str,
    rtype: hickory_proto::rr::RecordType,
    wanted: impl Fn(&hickory_proto::op::DnsResponse) -> bool,
) -> hickory_proto::op::DnsResponse {
    let client = e2e::dns::udp(server, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let answer = e2e::dns::ask(&client, name, rtype).await;
        if wanted(&answer) {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{server} still answers {name} {rtype} with {:?} after a second",
            answer.answers
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_integrated_flashdns_serves_a_record_changed_in_chainfire_within_a_second() {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{RData, RecordType};

    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let zone = dir.path().join("vpc.test.zone");
    std::fs::write(
        &zone,
        "$TTL 300\n@ IN SOA ns.vpc.test. hostmaster.vpc.test. 41 7200 900 1209600 60\n\
         @ IN NS ns\nns IN A 10.0.0.1\n",
    )
    .unwrap();
    let created = photonctl(
        &net,
        &[
            "create",
            "--zone",
            "vpc.test",
            "--file",
            zone.to_str().unwrap(),
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let servers: Vec<std::net::SocketAddr> = [2, 3]
        .iter()
        .map(|host| net.addr(*host, 5300).parse().unwrap())
        .collect();
    let _a = integrated_flashdns(&net, 2, dir.path());
    let _b = integrated_flashdns(&net, 3, dir.path());

    for server in &servers {
        let absent = e2e::dns::ask(
            &e2e::dns::udp(*server, None),
            "web-1.vpc.test.",
            RecordType::A,
        )
        .await;
        assert_eq!(absent.response_code, ResponseCode::NXDomain, "{server}");
    }
    let added = photonctl(
        &net,
        &[
            "add",
            "--zone",
            "vpc.test",
            "web-1 60 IN A 10.0.0.5",
            "web-1 60 IN TXT \"tier=web\"",
        ],
    );
    assert!(added.status.success(), "{added:?}");
    assert_eq!(
        String::from_utf8_lossy(&added.stdout),
        "vpc.test.: 2 added, serial 42\n"
    );
    for server in &servers {
        let answer = within_a_second(*server, "web-1.vpc.test.", RecordType::A, |a| {
            !a.answers.is_empty()
        })
        .await;
        assert_eq!(
            e2e::dns::lines(&answer.answers),
            ["web-1.vpc.test. 60 IN A 10.0.0.5"]
        );
        let soa = e2e::dns::ask(&e2e::dns::udp(*server, None), "vpc.test.", RecordType::SOA).await;
        match &soa.answers[0].data {
            RData::SOA(soa) => assert_eq!(soa.serial, 42, "{server}: the serial names the change"),
            other => panic!("{other:?}"),
        }
    }

    // A transfer carries the new version whole, the SOA at both ends.
    let mut client = e2e::dns::tcp(servers[0], Some("127.0.0.1:0".parse().unwrap())).await;
    let mut transfer = client.zone_transfer(
        hickory_proto::rr::Name::from_ascii("vpc.test.").unwrap(),
        None,
    );
    let mut records = Vec::new();
    while let Some(response) = transfer.next().await {
        records.extend(response.expect("the transfer").answers.clone());
    }
    let transferred = e2e::dns::lines(&records);
    assert_eq!(
        transferred,
        [
            "ns.vpc.test. 300 IN A 10.0.0.1",
            "vpc.test. 300 IN NS ns.vpc.test.",
            "vpc.test. 300 IN SOA ns.vpc.test. hostmaster.vpc.test. 42 7200 900 1209600 60",
            "vpc.test. 300 IN SOA ns.vpc.test. hostmaster.vpc.test. 42 7200 900 1209600 60",
            "web-1.vpc.test. 60 IN A 10.0.0.5",
            "web-1.vpc.test. 60 IN TXT tier=web",
        ]
    );

    let removed = photonctl(
        &net,
        &["remove", "--zone", "vpc.test", "web-1 IN A 10.0.0.5"],
    );
    assert!(removed.status.success(), "{removed:?}");
    for server in &servers {
        within_a_second(*server, "web-1.vpc.test.", RecordType::A, |a| {
            a.answers.is_empty()
        })
        .await;
    }
    let listed = photonctl(&net, &["list", "--zone", "vpc.test"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains(" 43 7200 900 1209600 60\n"), "{listed}");
    assert!(
        listed.contains("web-1.vpc.test. 60 IN TXT \"tier=web\"\n"),
        "{listed}"
    );
    assert!(!listed.contains("10.0.0.5"), "{listed}");

    // Bad input changes nothing: a record outside the zone, a CNAME beside
    // the TXT, a line that is not a record.
    for bad in [
        &[
            "add",
            "--zone",
            "vpc.test",
            "www.elsewhere.test. 60 IN A 10.0.0.9",
        ][..],
        &["add", "--zone", "vpc.test", "web-1 60 IN CNAME ns"][..],
        &["add", "--zone", "vpc.test", "web-1 60 IN A not-an-address"][..],
    ] {
        let refused = photonctl(&net, bad);
        assert!(!refused.status.success(), "{bad:?} was taken");
        assert!(!refused.stderr.is_empty(), "{bad:?} says why");
    }
    let after = photonctl(&net, &["list", "--zone", "vpc.test"]);
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        listed,
        "nothing changed"
    );

    // /health: the zone served from the store, integrated mode whole.
    for host in [2, 3] {
        let health = e2e::http_get(&net.url(host, 8053), "/health").await.1;
        let health: serde_json::Value = serde_json::from_str(&health).unwrap();
        assert_eq!(health["status"], "healthy", "{health}");
        assert_eq!(health["mode"], "integrated", "{health}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_in_a_chainfire_cluster_keep_the_promises_with_its_leader_killed_mid_suite() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut cluster = e2e::etcd::LeaderToKill::start(&net.to_string(), state.path()).await;
    let store = ChainfireStore::new(cluster.client().await, cluster_prefix("conformance"));
    conformance::run_with(Arc::new(store), "cluster.test", |case| {
        // After the first changes: the rest of the suite runs while the
        // two members left elect a leader and after.
        if case == "apply" {
            cluster.kill_leader();
        }
    })
    .await;
    assert!(cluster.killed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compiled_integrated_flashdns_serves_its_stored_zone_from_the_deployments_chainfire() {
    use hickory_proto::rr::RecordType;

    let net = Loopback::block();
    let (running, _state, endpoints) =
        e2e::etcd::deployment_up("flashdns-integrated", &net, 1).await;
    let dns: std::net::SocketAddr = net.addr(2, 5300).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("vpc.internal.zone");
    std::fs::write(
        &zone,
        "$TTL 300\n@ IN SOA ns.vpc.internal. hostmaster.vpc.internal. 1 7200 900 1209600 60\n\
         @ IN NS ns\nns IN A 10.0.0.1\n",
    )
    .unwrap();
    // The deployment's name is the cluster its services register in.
    let endpoint = format!("http://{}", endpoints[0]);
    let dns_tool = |args: &[&str]| photonctl_dns(&endpoint, "flashdns-integrated", args);
    let created = dns_tool(&[
        "create",
        "--zone",
        "vpc.internal",
        "--file",
        zone.to_str().unwrap(),
    ]);
    assert!(created.status.success(), "{created:?}");
    within_a_second(dns, "vpc.internal.", RecordType::SOA, |a| {
        !a.answers.is_empty()
    })
    .await;
    let added = dns_tool(&["add", "--zone", "vpc.internal", "web-1 60 IN A 10.0.0.5"]);
    assert!(added.status.success(), "{added:?}");
    let answer = within_a_second(dns, "web-1.vpc.internal.", RecordType::A, |a| {
        !a.answers.is_empty()
    })
    .await;
    assert_eq!(
        e2e::dns::lines(&answer.answers),
        ["web-1.vpc.internal. 60 IN A 10.0.0.5"]
    );

    // Registered as its node, integrated whole.
    let status = e2e::tool_output(
        "photonctl",
        &[
            "status",
            "--endpoint",
            &endpoint,
            "--cluster",
            "flashdns-integrated",
        ],
    );
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{report}\n{}", running.log());
    assert!(report.contains("flashdns/dns"), "{report}");
    let health = e2e::http_get(&net.url(2, 8053), "/health").await.1;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["mode"], "integrated", "{health}");
    assert!(
        health["checks"]["mode"].is_null()
            || !health["checks"]["mode"]
                .as_str()
                .unwrap_or("")
                .contains("local"),
        "{health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photonctl_migrate_moves_a_standalone_flashdns_stored_zones_into_chainfire() {
    use hickory_proto::rr::RecordType;

    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    // A standalone flashdns's stored zones: zone files under `zones/` of
    // its state directory.
    let zones = dir.path().join("standalone-state/zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(
        zones.join("vpc.test.zone"),
        "vpc.test. 300 IN SOA ns.vpc.test. hostmaster.vpc.test. 41 7200 900 1209600 60\n\
         vpc.test. 300 IN NS ns.vpc.test.\nns.vpc.test. 300 IN A 10.0.0.1\n\
         web.vpc.test. 60 IN A 10.0.0.5\n",
    )
    .unwrap();
    let endpoint = net.url(1, 2379);
    let migrate = |extra: &[&str]| {
        let args = [
            &[
                "migrate",
                "--from",
                "standalone",
                "--to",
                "integrated",
                "--component",
                "flashdns",
                "--zones-dir",
                zones.to_str().unwrap(),
                "--cluster",
                "c1",
                "--endpoint",
                &endpoint,
            ][..],
            extra,
        ]
        .concat();
        let out = e2e::tool_output("photonctl", &args);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        migrate(&["--dry-run"]),
        "would copy vpc.test. (4 records)\n"
    );
    let listed = photonctl(&net, &["list", "--zone", "vpc.test"]);
    assert!(
        !listed.status.success(),
        "a dry run created the zone: {listed:?}"
    );
    assert_eq!(
        migrate(&[]),
        "ok      copied vpc.test. (4 records, read back equal)\n"
    );
    assert_eq!(migrate(&[]), "ok      vpc.test. is already there\n");

    // An integrated flashdns serves it, serial and all.
    let _dns = integrated_flashdns(&net, 2, dir.path());
    let server: std::net::SocketAddr = net.addr(2, 5300).parse().unwrap();
    let answer = within_a_second(server, "web.vpc.test.", RecordType::A, |a| {
        !a.answers.is_empty()
    })
    .await;
    assert_eq!(
        e2e::dns::lines(&answer.answers),
        ["web.vpc.test. 60 IN A 10.0.0.5"]
    );
    let soa = e2e::dns::ask(&e2e::dns::udp(server, None), "vpc.test.", RecordType::SOA).await;
    assert_eq!(
        e2e::dns::lines(&soa.answers),
        ["vpc.test. 300 IN SOA ns.vpc.test. hostmaster.vpc.test. 41 7200 900 1209600 60"]
    );
}

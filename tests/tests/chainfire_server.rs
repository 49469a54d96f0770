//! `chainfire-server`, the standalone binary: a single-member cluster from
//! TOML that etcd clients use, its data where the file says, and a
//! deployment's `export-config` serving the deployment's data.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::Duration;

use e2e::Loopback;
use e2e::Running;
use etcd_client::Client;

/// A client once the member has a leader.
async fn ready(endpoint: &str, running: &Running) -> Client {
    if let Err(problem) = e2e::etcd::leader(endpoint, Duration::from_secs(20)).await {
        panic!("{problem}; log:\n{}", running.log());
    }
    Client::connect([endpoint], None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_member_from_toml_keeps_its_data_where_the_file_says() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kv");
    let config = dir.path().join("chainfire.toml");
    std::fs::write(
        &config,
        format!(
            "[photon]\nmode = \"standalone\"\ncomponent_id = \"chainfire-01\"\n\n[standalone.server]\nclient_addr = \"{net}.1:2379\"\npeer_addr = \"{net}.1:2380\"\n\n[standalone.storage]\ndata_dir = \"{}\"\n",
            data.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let mut server = Running::start_server("chainfire", &["--config", &config], &[], None);
    server.wait_for("all services started", Duration::from_secs(30));
    let mut client = ready(&format!("{net}.1:2379"), &server).await;
    client.put("greeting", "hello", None).await.unwrap();

    // `/health` answers on the client port, beside gRPC, in the design's
    // shape.
    let (status, health) = e2e::http_get(&format!("http://{net}.1:2379"), "/health").await;
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["mode"], "standalone");
    assert_eq!(health["component"], "chainfire");
    assert_eq!(health["checks"]["mode"], "ok");
    assert_eq!(health["checks"]["storage"], "ok");
    assert!(
        health["checks"]["raft"]
            .as_str()
            .unwrap()
            .starts_with("ok: leader "),
        "{health}"
    );
    assert!(
        health["checks"]["revision"].as_i64().unwrap() >= 2,
        "{health}"
    );
    server.signal("TERM");
    let (status, _) = server.wait(Duration::from_secs(15));
    assert!(status.success(), "{}", server.log());
    assert!(data.exists(), "the data is in data_dir");

    let mut server = Running::start_server("chainfire", &["--config", &config], &[], None);
    let mut client = ready(&format!("{net}.1:2379"), &server).await;
    let got = client.get("greeting", None).await.unwrap();
    assert_eq!(got.kvs()[0].value_str().unwrap(), "hello");
    server.signal("TERM");
    let (status, _) = server.wait(Duration::from_secs(15));
    assert!(status.success(), "{}", server.log());

    // Another member's name on this data is refused before it starts, with
    // both names.
    let (code, words) = e2e::last_words(
        "chainfire",
        &[
            "--config",
            &config,
            "--set",
            "photon.component_id=chainfire-02",
        ],
        &[],
    );
    assert_ne!(code, Some(0));
    assert!(
        words.contains(&format!(
            "the data directory {} belongs to member `chainfire-01`, not `chainfire-02`",
            data.display()
        )),
        "{words}"
    );
    let server = Running::start_server("chainfire", &["--config", &config], &[], None);
    let mut client = ready(&format!("{net}.1:2379"), &server).await;
    let got = client.get("greeting", None).await.unwrap();
    assert_eq!(
        got.kvs()[0].value_str().unwrap(),
        "hello",
        "the data is untouched"
    );

    // The same port twice is refused by key.
    let out = e2e::server_output(
        "chainfire",
        &[
            "--config",
            &config,
            "--set",
            &format!("standalone.server.peer_addr={net}.1:2379"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().last().unwrap(),
        &format!(
            "chainfire-server: configuration error: flag --set standalone.server.peer_addr: `standalone.server.peer_addr`: the same address as `client_addr` ({net}.1:2379): clients and Raft peers need a port each"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_exported_member_serves_its_data() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_owned();
    let mut deployment = Running::start(
        "chainfire-single",
        &[
            "up",
            "--loopback-base",
            &format!("{net}.8"),
            "--state-dir",
            &state_dir,
        ],
    );
    deployment.wait_for("all services started", Duration::from_secs(30));
    let mut client = ready(&format!("{net}.9:2379"), &deployment).await;
    client.put("kept", "by the deployment", None).await.unwrap();
    deployment.signal("TERM");
    deployment.wait(Duration::from_secs(15));

    let exported = e2e::export_config(
        "chainfire-single",
        "kv",
        "chainfire",
        &format!("{net}.8"),
        &state_dir,
    );
    let config = state.path().join("exported.toml");
    std::fs::write(&config, &exported).unwrap();
    let server = Running::start_server(
        "chainfire",
        &["--config", config.to_str().unwrap()],
        &[],
        None,
    );
    let mut client = ready(&format!("{net}.9:2379"), &server).await;
    let got = client.get("kept", None).await.unwrap();
    assert_eq!(got.kvs()[0].value_str().unwrap(), "by the deployment");
}

/// `deploy-chainfire-cluster run --node <node>` at `<net>.16` (members
/// on .17 to .19).
fn member(net: &Loopback, node: &str, state: &str) -> Running {
    Running::start(
        "chainfire-cluster",
        &[
            "run",
            "--node",
            node,
            "--loopback-base",
            &net.ip(16),
            "--state-dir",
            state,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_member_run_from_its_exported_configuration_rejoins_its_cluster() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_owned();
    let mut kv1 = member(&net, "kv-1", &state_dir);
    let kv2 = member(&net, "kv-2", &state_dir);
    let mut kv3 = member(&net, "kv-3", &state_dir);
    let mut client = ready(&format!("{net}.17:2379"), &kv1).await;
    client.put("before", "three processes", None).await.unwrap();
    let members_before = client.member_list().await.unwrap().members().len();
    assert_eq!(members_before, 3);

    // kv-3's deployment process stops; chainfire-server takes its place from
    // the TOML the deployment exports for it: same name, same addresses, same
    // data, the two others as `[[standalone.cluster.member]]`.
    // Started (signal handlers installed) before it is told to stop.
    kv3.wait_for("all services started", Duration::from_secs(30));
    kv3.signal("TERM");
    assert!(
        kv3.wait(Duration::from_secs(15)).0.success(),
        "{}",
        kv3.log()
    );
    let text = e2e::export_config(
        "chainfire-cluster",
        "kv-3",
        "chainfire",
        &format!("{net}.16"),
        &state_dir,
    );
    assert!(
        text.contains(
            &format!("[[standalone.cluster.member]]\nname = \"kv-1\"\nclient_addr = \"{net}.17:2379\"\npeer_addr = \"{net}.17:2380\"\n")
        ),
        "{text}"
    );
    client.put("while", "kv-3 was away", None).await.unwrap();
    let config = state.path().join("kv-3.toml");
    std::fs::write(&config, &text).unwrap();
    let mut server = Running::start_server(
        "chainfire",
        &["--config", config.to_str().unwrap()],
        &[],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));

    // It serves the cluster's data, including what was written without it,
    // and the cluster still has three members, one of them it.
    let mut alone = ready(&format!("{net}.19:2379"), &server).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = alone
            .get(
                "while",
                Some(etcd_client::GetOptions::new().with_serializable()),
            )
            .await
            .unwrap();
        if let Some(kv) = got.kvs().first() {
            assert_eq!(kv.value_str().unwrap(), "kv-3 was away");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kv-3 never caught up; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = alone.get("before", None).await.unwrap();
    assert_eq!(got.kvs()[0].value_str().unwrap(), "three processes");
    let names: Vec<String> = alone
        .member_list()
        .await
        .unwrap()
        .members()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"kv-3".to_owned()), "{names:?}");

    // With kv-1 gone too, writes need kv-3: the standalone member is a
    // voting member of the cluster, not a bystander.
    kv1.signal("TERM");
    kv1.wait(Duration::from_secs(15));
    let mut via_kv2 = ready(&format!("{net}.18:2379"), &kv2).await;
    via_kv2.put("after", "two of three", None).await.unwrap();
    let got = alone.get("after", None).await.unwrap();
    assert_eq!(got.kvs()[0].value_str().unwrap(), "two of three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restored_with_restore_starts_a_member_with_its_data() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[photon]\nmode = \"standalone\"\ncomponent_id = \"chainfire-01\"\n\n[standalone.server]\nclient_addr = \"{net}.1:2379\"\npeer_addr = \"{net}.1:2380\"\n\n[standalone.storage]\ndata_dir = \"{}\"\n",
                dir.path().join(name).display()
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (old, new) = (config("old"), config("new"));
    let mut server = Running::start_server("chainfire", &["--config", &old], &[], None);
    let mut client = ready(&format!("{net}.1:2379"), &server).await;
    client.put("kept", "by the backup", None).await.unwrap();
    let backup = dir.path().join("backup.db");
    let mut maintenance = client.maintenance_client();
    let mut stream = maintenance.snapshot().await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes.extend_from_slice(chunk.blob());
    }
    std::fs::write(&backup, &bytes).unwrap();
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(15)).0.success());

    let (code, last) = e2e::last_words("chainfire", &["--config", &new, "--restore", &old], &[]);
    assert_eq!(code, Some(1));
    assert!(last.contains("is not a chainfire backup"), "{last}");
    let restored = e2e::server_output(
        "chainfire",
        &["--config", &new, "--restore", backup.to_str().unwrap()],
        &[],
    );
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let server = Running::start_server("chainfire", &["--config", &new], &[], None);
    let mut client = ready(&format!("{net}.1:2379"), &server).await;
    let got = client.get("kept", None).await.unwrap();
    assert_eq!(got.kvs()[0].value_str().unwrap(), "by the backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_configuration_names_no_leader_it_can_reach_is_not_healthy() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_owned();
    let nodes = ["kv-1", "kv-2", "kv-3"];
    let mut members: Vec<Running> = nodes
        .iter()
        .map(|node| member(&net, node, &state_dir))
        .collect();
    let mut client = ready(&format!("{net}.17:2379"), &members[0]).await;
    client.put("before", "the rename", None).await.unwrap();
    // A follower goes away.
    let leader = client.status().await.unwrap().leader();
    let mut follower = 0;
    for (i, _) in nodes.iter().enumerate() {
        let mut each = Client::connect([format!("{net}.{}:2379", 17 + i)], None)
            .await
            .unwrap();
        if each.status().await.unwrap().header().unwrap().member_id() != leader {
            follower = i;
        }
    }
    let node = nodes[follower];
    members[follower].wait_for("all services started", Duration::from_secs(30));
    members[follower].signal("TERM");
    assert!(members[follower].wait(Duration::from_secs(15)).0.success());

    // It comes back with its own name and data, but its configuration
    // calls the other members by names the cluster does not know them by:
    // it follows the leader Raft elected, and cannot forward to it.
    let mut text = e2e::export_config(
        "chainfire-cluster",
        node,
        "chainfire",
        &format!("{net}.16"),
        &state_dir,
    );
    for other in nodes.iter().filter(|other| **other != node) {
        text = text.replace(
            &format!("name = \"{other}\""),
            &format!("name = \"renamed-{other}\""),
        );
    }
    let config = state.path().join(format!("{node}.toml"));
    std::fs::write(&config, &text).unwrap();
    let mut server = Running::start_server(
        "chainfire",
        &["--config", config.to_str().unwrap()],
        &[],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    let base = format!("http://{net}.{}:2379", 17 + follower);
    let health = e2e::health_when(&base, &server, |status, health| {
        assert_ne!(status, 200, "healthy while it cannot forward: {health}");
        health["checks"]["raft"]
            .as_str()
            .is_some_and(|raft| raft.contains("is not a known member"))
    })
    .await;
    assert_ne!(health["status"], "healthy", "{health}");
}

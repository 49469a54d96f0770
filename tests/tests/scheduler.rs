//! `deploy-scheduler`, every node its own process as on seven machines:
//! tenants' load balancers spread over the two balancer nodes by the
//! scheduler, served by the agent of the node each is placed on; a node
//! killed has its balancers moved to the other and reached there; the
//! scheduler killed while a balancer is asked for places it once it is
//! back; and no balancer is ever served by both nodes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use e2e::{Loopback, Running};
use resource_manager::api::proto::resources_client::ResourcesClient;
use resource_manager::api::proto::*;
use tonic::transport::Channel;

const TOKEN: &str = "resources-admin-0123456789abcdef";
const ENV: [(&str, &str); 2] = [
    ("PHOTONAUTH_ADMIN_TOKEN", "auth-admin-0123456789abcdef"),
    ("RESOURCES_ADMIN_TOKEN", TOKEN),
];
/// The balancer nodes' hosts in the loopback block, by node name.
const LB_HOSTS: [(&str, u8); 2] = [("lb-1", 5), ("lb-2", 6)];

fn op<T>(message: T) -> tonic::Request<T> {
    e2e::auth::with_token(message, TOKEN)
}

fn run_node(net: &Loopback, state: &Path, node: &str) -> Running {
    Running::run_node("scheduler", net, node, state, &ENV, Duration::from_secs(90))
}

fn balancer(name: &str, port: u16, backends: &[SocketAddr]) -> ApplyRequest {
    let backends: Vec<String> = backends.iter().map(ToString::to_string).collect();
    ApplyRequest {
        tenant: "acme".into(),
        kind: "load-balancer".into(),
        name: name.into(),
        spec_json: serde_json::json!({ "port": port, "backends": backends }).to_string(),
    }
}

/// Waits until `name` is ready with its current generation placed on a
/// node other than `not_on`: that node, and the address it serves on.
async fn served(
    net: &Loopback,
    resources: &mut ResourcesClient<Channel>,
    name: &str,
    not_on: Option<&str>,
    within: Duration,
) -> (String, String) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = resources
            .get(op(ResourceRef {
                tenant: "acme".into(),
                kind: "load-balancer".into(),
                name: name.into(),
            }))
            .await
            .unwrap()
            .into_inner();
        if let Some(status) = got.status.as_ref().filter(|s| s.ready)
            && !got.placement.is_empty()
            && Some(got.placement.as_str()) != not_on
        {
            let outputs: serde_json::Value = serde_json::from_str(&status.outputs_json).unwrap();
            let host = LB_HOSTS
                .iter()
                .find(|(n, _)| *n == got.placement)
                .unwrap()
                .1;
            // The status is the placed node's agent's: its address.
            if let Some(address) = outputs["address"].as_str()
                && address.starts_with(&format!("{}:", net.ip(host)))
            {
                return (got.placement, address.to_owned());
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} not served (off {not_on:?}) within {within:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The backends that answer through `front` in six requests.
async fn answering(front: &str) -> Vec<String> {
    let front: SocketAddr = front.parse().unwrap();
    let mut names = Vec::new();
    for _ in 0..6 {
        names.push(e2e::http::get(front, "front", "/").await.text());
    }
    names.sort();
    names.dedup();
    names
}

/// Nothing listens on `port` of `node`'s address.
async fn not_served(net: &Loopback, node: &str, port: u16) {
    let host = LB_HOSTS.iter().find(|(n, _)| *n == node).unwrap().1;
    let addr = net.addr(host, port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still served on {node}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balancers_spread_move_off_a_node_that_goes_away_and_wait_out_a_killed_scheduler() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut nodes: std::collections::HashMap<&str, Running> =
        ["kv", "auth", "bus", "manager", "lb-1", "lb-2", "scheduler"]
            .into_iter()
            .map(|node| (node, run_node(&net, state.path(), node)))
            .collect();
    let backends = [
        e2e::http::Backend::start("web-a", &net.addr(30, 0)).await,
        e2e::http::Backend::start("web-b", &net.addr(31, 0)).await,
    ];
    let both = [backends[0].addr, backends[1].addr];
    let mut resources = ResourcesClient::connect(net.url(4, 50054)).await.unwrap();

    // Two balancers: one on each node, each reaching both backends.
    resources
        .apply(op(balancer("a", 20001, &both)))
        .await
        .unwrap();
    let (a_node, a_front) = served(&net, &mut resources, "a", None, Duration::from_secs(30)).await;
    resources
        .apply(op(balancer("b", 20002, &both)))
        .await
        .unwrap();
    let (b_node, b_front) = served(&net, &mut resources, "b", None, Duration::from_secs(30)).await;
    assert_ne!(a_node, b_node, "the scheduler spreads them");
    assert_eq!(answering(&a_front).await, ["web-a", "web-b"]);
    assert_eq!(answering(&b_front).await, ["web-a", "web-b"]);
    let other = |node: &str| if node == "lb-1" { "lb-2" } else { "lb-1" };
    not_served(&net, other(&a_node), 20001).await;

    // `a`'s node goes away: `a` moves to the other, and is reached there.
    let gone = a_node.clone();
    nodes.get_mut(gone.as_str()).unwrap().kill();
    let (moved_to, moved_front) = served(
        &net,
        &mut resources,
        "a",
        Some(&gone),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(moved_to, other(&gone));
    assert_eq!(answering(&moved_front).await, ["web-a", "web-b"]);
    let (code, metrics) = e2e::http_get(&net.url(7, 8058), "/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.contains("scheduler_moves_total 1\n"), "{metrics}");

    // The node comes back: it serves nothing of `a`, which stays moved.
    nodes.insert("lb-back", run_node(&net, state.path(), &gone));
    tokio::time::sleep(Duration::from_secs(3)).await;
    not_served(&net, &gone, 20001).await;
    let (still, _) = served(
        &net,
        &mut resources,
        "a",
        Some(&gone),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(still, moved_to);

    // The scheduler killed: a balancer asked for meanwhile waits,
    // unplaced, and is placed (once) when it is back.
    nodes.get_mut("scheduler").unwrap().kill();
    resources
        .apply(op(balancer("c", 20003, &both[..1])))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = resources
        .get(op(ResourceRef {
            tenant: "acme".into(),
            kind: "load-balancer".into(),
            name: "c".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        waiting.placement.is_empty() && waiting.status.is_none(),
        "{waiting:?}"
    );
    nodes.insert("scheduler-back", run_node(&net, state.path(), "scheduler"));
    let (c_node, c_front) = served(&net, &mut resources, "c", None, Duration::from_secs(30)).await;
    assert_eq!(answering(&c_front).await, ["web-a"]);
    not_served(&net, other(&c_node), 20003).await;

    // Deleted: no node serves it.
    resources
        .delete(op(ResourceRef {
            tenant: "acme".into(),
            kind: "load-balancer".into(),
            name: "c".into(),
        }))
        .await
        .unwrap();
    not_served(&net, &c_node, 20003).await;
}

/// `scheduler-server` from the TOML `deploy-scheduler export-config`
/// writes for its scheduler node, in that node's place: the agents the
/// topology runs are listed in the document, and it places balancers on
/// them, never two of one port on one node: a third balancer on the port
/// of the first goes to the other node (by load alone it would go to the
/// first), and a fourth, whose port both nodes have taken, waits with a
/// status saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_server_from_exported_toml_never_places_two_balancers_of_one_port_on_a_node() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let text = e2e::export_config(
        "scheduler",
        "scheduler",
        "scheduler",
        &net.base(),
        state.path().join("exported").to_str().unwrap(),
    );
    for expected in [
        format!("chainfire_endpoints = [\"{}\"]", net.url(1, 2379)),
        format!("event_bus_endpoint = \"nats://{}\"", net.addr(3, 4222)),
        format!("admin_addr = \"{}\"", net.addr(7, 8058)),
        format!(
            "kind = \"load-balancer\"\nnode = \"lb-1\"\nadmin_addr = \"{}\"",
            net.addr(5, 8057)
        ),
        format!(
            "kind = \"load-balancer\"\nnode = \"lb-2\"\nadmin_addr = \"{}\"",
            net.addr(6, 8057)
        ),
    ] {
        assert!(text.contains(&expected), "{expected} in {text}");
    }
    let _nodes: Vec<Running> = ["kv", "auth", "bus", "manager", "lb-1", "lb-2"]
        .into_iter()
        .map(|node| run_node(&net, state.path(), node))
        .collect();
    let config = state.path().join("scheduler.toml");
    std::fs::write(&config, &text).unwrap();
    let mut scheduler = Running::start_server(
        "scheduler",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.path().join("server").to_str().unwrap(),
        ],
        &[],
        None,
    );
    scheduler.wait_for("all services started", Duration::from_secs(60));

    let backend = e2e::http::Backend::start("web-a", &net.addr(30, 0)).await;
    let mut resources = ResourcesClient::connect(net.url(4, 50054)).await.unwrap();
    // a (20001) on the first node, b (20002) on the second: one each.
    let mut placed = Vec::new();
    for (name, port) in [("a", 20001), ("b", 20002), ("c", 20001)] {
        resources
            .apply(op(balancer(name, port, &[backend.addr])))
            .await
            .unwrap();
        let (node, front) = served(&net, &mut resources, name, None, Duration::from_secs(30)).await;
        assert_eq!(answering(&front).await, ["web-a"], "{name}");
        placed.push((node, front));
    }
    assert_eq!(placed[0].0, "lb-1", "equal loads: topology order");
    assert_eq!(placed[1].0, "lb-2", "the least loaded");
    // Equal loads again, but lb-1 has a's port: c goes to lb-2.
    assert_eq!(placed[2].0, "lb-2", "{placed:?}");
    assert_ne!(placed[0].1, placed[2].1);
    // Port 20001 is taken on both nodes now: d waits, and says why.
    resources
        .apply(op(balancer("d", 20001, &[backend.addr])))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let got = resources
            .get(op(ResourceRef {
                tenant: "acme".into(),
                kind: "load-balancer".into(),
                name: "d".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(got.placement.is_empty(), "{got:?}");
        if let Some(status) = got.status {
            break status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (status.ready, status.state.as_str(), status.agent.as_str()),
        (false, "pending", "scheduler")
    );
    assert_eq!(
        status.message,
        "waiting for a node (lb-1: port 20001 taken; lb-2: port 20001 taken)"
    );
    // a deleted: its port on lb-1 frees, and d takes it.
    resources
        .delete(op(ResourceRef {
            tenant: "acme".into(),
            kind: "load-balancer".into(),
            name: "a".into(),
        }))
        .await
        .unwrap();
    let (d_node, d_front) = served(&net, &mut resources, "d", None, Duration::from_secs(30)).await;
    assert_eq!(
        (d_node.as_str(), d_front.as_str()),
        ("lb-1", placed[0].1.as_str())
    );
    assert_eq!(answering(&d_front).await, ["web-a"]);
    let node = placed[0].0.clone();
    let (code, health) = e2e::http_get(&net.url(7, 8058), "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("\"status\":\"healthy\""), "{health}");
    let (_, metrics) = e2e::http_get(&net.url(7, 8058), "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "scheduler_node_up{{kind=\"load-balancer\",node=\"{node}\"}} 1"
        )),
        "{metrics}"
    );
}

//! `deploy-resource-manager`: tenants' desired resources through the
//! resource manager's gRPC API, made real by the DNS agent (records of
//! the tenants' zone, answered by flashdns), driven as the API gateway
//! will; then every node as its own process, with the agent, the resource
//! manager and the event bus each killed while a change is under way:
//! the desired state is reached once they are back, and no record is made
//! twice.

use std::net::SocketAddr;
use std::time::Duration;

use e2e::{Loopback, Running};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use resource_manager::api::proto::resources_client::ResourcesClient;
use resource_manager::api::proto::*;
use tonic::Code;
use tonic::transport::Channel;

const AUTH_TOKEN: &str = "auth-admin-0123456789abcdef";
const TOKEN: &str = "resources-admin-0123456789abcdef";
const ENV: [(&str, &str); 4] = [
    ("PHOTONAUTH_ADMIN_TOKEN", AUTH_TOKEN),
    ("RESOURCES_ADMIN_TOKEN", TOKEN),
    ("PHOTONNET_ADMIN_TOKEN", "net-admin-0123456789abcdef"),
    (
        "LIGHTNINGSTOR_SECRET_KEY",
        "storage-secret-0123456789abcdef0123",
    ),
];
const NODES: [&str; 6] = ["kv", "auth", "bus", "manager", "dns", "dns-agent"];

fn op<T>(message: T) -> tonic::Request<T> {
    e2e::auth::with_token(message, TOKEN)
}

fn record(name: &str, spec: serde_json::Value) -> ApplyRequest {
    ApplyRequest {
        tenant: "acme".into(),
        kind: "dns-record".into(),
        name: name.into(),
        spec_json: spec.to_string(),
    }
}

fn of(name: &str) -> ResourceRef {
    ResourceRef {
        tenant: "acme".into(),
        kind: "dns-record".into(),
        name: name.into(),
    }
}

async fn client(net: &Loopback) -> ResourcesClient<Channel> {
    ResourcesClient::connect(net.url(4, 50054)).await.unwrap()
}

/// Waits until `name`'s agent reports its current generation ready.
async fn ready(resources: &mut ResourcesClient<Channel>, name: &str, within: Duration) -> Resource {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = resources.get(op(of(name))).await;
        if let Ok(got) = &got
            && got.get_ref().status.as_ref().is_some_and(|s| s.ready)
        {
            return got.get_ref().clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} not ready within {within:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `name` is gone.
async fn gone(resources: &mut ResourcesClient<Channel>, name: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match resources.get(op(of(name))).await {
            Err(status) if status.code() == Code::NotFound => return,
            got => assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not gone within {within:?}: {got:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The A records flashdns answers for `name` (sorted), or the code.
async fn a_records(dns: SocketAddr, name: &str) -> Result<Vec<String>, ResponseCode> {
    let client = e2e::dns::udp(dns, None);
    let response = e2e::dns::ask(&client, name, RecordType::A).await;
    if response.metadata.response_code != ResponseCode::NoError {
        return Err(response.metadata.response_code);
    }
    let mut addresses: Vec<String> = response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    addresses.sort();
    Ok(addresses)
}

/// Waits until `name` answers exactly `want`.
async fn answers(dns: SocketAddr, name: &str, want: Result<Vec<&str>, ResponseCode>) {
    let want = want.map(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = a_records(dns, name).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_resource_is_made_served_changed_and_deleted_by_its_agent() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let deployment = up(&net, state.path());
    let dns: SocketAddr = net.addr(5, 5300).parse().unwrap();
    let mut resources = client(&net).await;

    let applied = resources
        .apply(op(record(
            "www",
            serde_json::json!({"type": "A", "values": ["192.0.2.10"]}),
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.applied, "created");
    let created = applied.resource.unwrap();
    assert_eq!(created.generation, 1);
    assert_eq!(created.finalizers, ["flashdns"]);
    // Defaults filled in: what is stored is the kind's whole spec.
    let spec: serde_json::Value = serde_json::from_str(&created.spec_json).unwrap();
    assert_eq!(spec["ttl"], 300);

    let made = ready(&mut resources, "www", Duration::from_secs(20)).await;
    let status = made.status.unwrap();
    assert_eq!(status.agent, "flashdns");
    assert_eq!(status.observed_generation, 1);
    let outputs: serde_json::Value = serde_json::from_str(&status.outputs_json).unwrap();
    assert_eq!(outputs["fqdn"], "www.acme.tenants.photon.test.");
    answers(dns, "www.acme.tenants.photon.test.", Ok(vec!["192.0.2.10"])).await;

    // The same spec again: nothing changes.
    let again = resources
        .apply(op(record(
            "www",
            serde_json::json!({"type": "A", "values": ["192.0.2.10"]}),
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.applied, "unchanged");
    assert_eq!(again.resource.unwrap().generation, 1);

    // A new spec: the old address goes, the new ones come.
    let changed = resources
        .apply(op(record(
            "www",
            serde_json::json!({"type": "A", "values": ["192.0.2.11", "192.0.2.12"], "ttl": 60}),
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.applied, "updated");
    assert_eq!(changed.resource.unwrap().generation, 2);
    let made = ready(&mut resources, "www", Duration::from_secs(20)).await;
    assert_eq!(made.status.unwrap().observed_generation, 2);
    answers(
        dns,
        "www.acme.tenants.photon.test.",
        Ok(vec!["192.0.2.11", "192.0.2.12"]),
    )
    .await;

    // Refusals name what is wrong.
    let refused = resources
        .apply(op(record(
            "www",
            serde_json::json!({"type": "A", "values": ["not-an-ip"]}),
        )))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused
            .message()
            .contains("`not-an-ip` is not a value of a A record"),
        "{refused:?}"
    );
    let refused = resources
        .apply(op(ApplyRequest {
            kind: "volume".into(),
            ..record("v", serde_json::json!({}))
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused
            .message()
            .contains("`volume` is not a resource kind"),
        "{refused:?}"
    );
    let refused = resources
        .apply(e2e::auth::with_token(
            record(
                "x",
                serde_json::json!({"type": "A", "values": ["192.0.2.1"]}),
            ),
            "wrong-token",
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // The operator lists every tenant's.
    let listed = resources
        .list(op(ListRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.resources.len(), 1);

    // Deleted: the agent removes the records, then its finalizer, and the
    // resource is gone.
    let deleting = resources.delete(op(of("www"))).await.unwrap().into_inner();
    assert!(deleting.deleting);
    gone(&mut resources, "www", Duration::from_secs(20)).await;
    answers(
        dns,
        "www.acme.tenants.photon.test.",
        Err(ResponseCode::NXDomain),
    )
    .await;
    let missing = resources.delete(op(of("www"))).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let (code, health) = e2e::http_get(&net.url(4, 50054), "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("ok: 0 resources in chainfire"), "{health}");
    // created, updated, deleting (published in the background)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, metrics) = e2e::http_get(&net.url(4, 50054), "/metrics").await;
        assert_eq!(code, 200);
        if metrics.contains("resource_manager_events_published_total 3") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, health) = e2e::http_get(&net.url(6, 8054), "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("\"events\":\"ok: subscribed\""), "{health}");
    assert!(!deployment.log().contains(TOKEN));
}

/// `deploy-resource-manager up` on `net`, every node in one process.
fn up(net: &Loopback, state: &std::path::Path) -> Running {
    Running::up(
        "resource-manager",
        net,
        state,
        &ENV,
        Duration::from_secs(90),
    )
}

/// Each node as its own process, as on six machines.
fn run_node(net: &Loopback, state: &std::path::Path, node: &str) -> Running {
    Running::run_node(
        "resource-manager",
        net,
        node,
        state,
        &ENV,
        Duration::from_secs(90),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_the_agent_the_manager_or_the_bus_is_down_are_reached_once_each_is_back()
{
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut nodes: std::collections::HashMap<&str, Running> = NODES
        .iter()
        .map(|node| (*node, run_node(&net, state.path(), node)))
        .collect();
    let dns: SocketAddr = net.addr(5, 5300).parse().unwrap();
    let mut resources = client(&net).await;

    // The agent is away while a record is applied: the change waits in
    // the bus (and in chainfire) until it is back.
    nodes.get_mut("dns-agent").unwrap().kill();
    resources
        .apply(op(record(
            "a",
            serde_json::json!({"type": "A", "values": ["192.0.2.1"]}),
        )))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting = resources.get(op(of("a"))).await.unwrap().into_inner();
    assert!(waiting.status.is_none(), "{waiting:?}");
    nodes.insert("dns-agent", run_node(&net, state.path(), "dns-agent"));
    ready(&mut resources, "a", Duration::from_secs(20)).await;
    answers(dns, "a.acme.tenants.photon.test.", Ok(vec!["192.0.2.1"])).await;

    // The resource manager is killed the moment it has answered (its
    // event may or may not have left): the agent reaches the change
    // anyway.
    resources
        .apply(op(record(
            "b",
            serde_json::json!({"type": "A", "values": ["192.0.2.2"]}),
        )))
        .await
        .unwrap();
    nodes.get_mut("manager").unwrap().kill();
    answers(dns, "b.acme.tenants.photon.test.", Ok(vec!["192.0.2.2"])).await;
    nodes.insert("manager", run_node(&net, state.path(), "manager"));
    let mut resources = client(&net).await;
    ready(&mut resources, "b", Duration::from_secs(20)).await;

    // The bus is down while records change and one is deleted: the agent
    // finds the changes on its next pass, and hears of the events once
    // the bus is back.
    nodes.get_mut("bus").unwrap().kill();
    // nats-server is told to stop when its runtime dies; its port is free
    // once it has.
    let bus_port: SocketAddr = net.addr(3, 4222).parse().unwrap();
    while std::net::TcpStream::connect(bus_port).is_ok() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    resources
        .apply(op(record(
            "a",
            serde_json::json!({"type": "A", "values": ["192.0.2.3"]}),
        )))
        .await
        .unwrap();
    resources
        .apply(op(record(
            "c",
            serde_json::json!({"type": "A", "values": ["192.0.2.4"]}),
        )))
        .await
        .unwrap();
    resources.delete(op(of("b"))).await.unwrap();
    answers(dns, "a.acme.tenants.photon.test.", Ok(vec!["192.0.2.3"])).await;
    answers(dns, "c.acme.tenants.photon.test.", Ok(vec!["192.0.2.4"])).await;
    answers(
        dns,
        "b.acme.tenants.photon.test.",
        Err(ResponseCode::NXDomain),
    )
    .await;
    gone(&mut resources, "b", Duration::from_secs(20)).await;
    nodes.insert("bus", run_node(&net, state.path(), "bus"));

    // Once more through the bus, and then: nothing made twice.
    resources
        .apply(op(record(
            "d",
            serde_json::json!({"type": "A", "values": ["192.0.2.5"]}),
        )))
        .await
        .unwrap();
    ready(&mut resources, "d", Duration::from_secs(20)).await;
    for (name, want) in [("a", "192.0.2.3"), ("c", "192.0.2.4"), ("d", "192.0.2.5")] {
        assert_eq!(
            a_records(dns, &format!("{name}.acme.tenants.photon.test.")).await,
            Ok(vec![want.to_owned()]),
            "{name}"
        );
        ready(&mut resources, name, Duration::from_secs(20)).await;
    }
    let listed = resources
        .list(op(ListRequest {
            tenant: "acme".into(),
            kind: "dns-record".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = listed.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "c", "d"]);
}

/// `resource-manager-server` runs from the TOML the deployment exports for
/// its manager node, in that node's place: records applied through it
/// are made by the deployment's agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_manager_server_runs_from_the_toml_a_deployment_exports() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let text = e2e::export_config(
        "resource-manager",
        "manager",
        "resource-manager",
        &net.base(),
        state.path().join("exported").to_str().unwrap(),
    );
    assert!(
        text.contains(&format!(
            "event_bus_endpoint = \"nats://{}\"",
            net.addr(3, 4222)
        )),
        "{text}"
    );
    assert!(
        text.contains("subject = \"photon.resources.changed\""),
        "{text}"
    );
    let _nodes: Vec<Running> = ["kv", "auth", "bus", "dns", "dns-agent"]
        .iter()
        .map(|node| run_node(&net, state.path(), node))
        .collect();
    let config = state.path().join("resources.toml");
    std::fs::write(&config, &text).unwrap();
    let mut server = Running::start_server(
        "resource-manager",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.path().join("server").to_str().unwrap(),
        ],
        &ENV,
        None,
    );
    server.wait_for("all services started", Duration::from_secs(60));
    let mut resources = client(&net).await;
    resources
        .apply(op(record(
            "s",
            serde_json::json!({"type": "A", "values": ["192.0.2.9"]}),
        )))
        .await
        .unwrap();
    ready(&mut resources, "s", Duration::from_secs(20)).await;
    let dns: SocketAddr = net.addr(5, 5300).parse().unwrap();
    answers(dns, "s.acme.tenants.photon.test.", Ok(vec!["192.0.2.9"])).await;
    let (code, health) = e2e::http_get(&net.url(4, 50054), "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(!health.contains("not used"), "{health}");
}

#[test]
fn resource_manager_server_needs_the_event_bus() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("resources.toml");
    std::fs::write(
        &config,
        "[photon]\nmode = \"integrated\"\ncluster_id = \"c\"\n\
         [photon.integrated]\nchainfire_endpoints = [\"http://127.0.0.1:2379\"]\n\
         auth_service_endpoint = \"http://127.0.0.1:50051\"\n\
         [standalone.auth]\nadmin_token = \"0123456789abcdef0123\"\n",
    )
    .unwrap();
    let out = e2e::server_output(
        "resource-manager",
        &["--config", config.to_str().unwrap(), "--print-config"],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("photon.integrated.event_bus_endpoint")
            && stderr.contains("publishes every change on the event bus"),
        "{stderr}"
    );
}

fn resource(kind: &str, name: &str, spec: serde_json::Value) -> ApplyRequest {
    ApplyRequest {
        tenant: "acme".into(),
        kind: kind.into(),
        name: name.into(),
        spec_json: spec.to_string(),
    }
}

fn of_kind(kind: &str, name: &str) -> ResourceRef {
    ResourceRef {
        tenant: "acme".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

/// Waits until the `kind` resource `name` is ready; its outputs.
async fn outputs(
    resources: &mut ResourcesClient<Channel>,
    kind: &str,
    name: &str,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = resources
            .get(op(of_kind(kind, name)))
            .await
            .unwrap()
            .into_inner();
        if let Some(status) = got.status.as_ref().filter(|s| s.ready) {
            return serde_json::from_str(&status.outputs_json).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind} {name}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_resources_become_photonnet_vpcs_subnets_and_named_addresses() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let _deployment = up(&net, state.path());
    let dns: SocketAddr = net.addr(5, 5300).parse().unwrap();
    let mut resources = client(&net).await;

    // Applied in any order: the subnet and the address wait (failed, and
    // tried again) until what they are in exists.
    resources
        .apply(op(resource(
            "address",
            "web",
            serde_json::json!({"vpc": "prod", "subnet": "front"}),
        )))
        .await
        .unwrap();
    resources
        .apply(op(resource(
            "subnet",
            "front",
            serde_json::json!({"vpc": "prod", "cidr": "10.1.1.0/24"}),
        )))
        .await
        .unwrap();
    resources
        .apply(op(resource(
            "vpc",
            "prod",
            serde_json::json!({"cidr": "10.1.0.0/16"}),
        )))
        .await
        .unwrap();
    assert_eq!(
        outputs(&mut resources, "vpc", "prod").await["cidr"],
        "10.1.0.0/16"
    );
    assert_eq!(
        outputs(&mut resources, "subnet", "front").await["gateway"],
        "10.1.1.1"
    );
    let web = outputs(&mut resources, "address", "web").await;
    let address = web["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("10.1.1."), "{web}");
    assert_eq!(web["fqdn"], "web.prod.acme.vpc.photon.test.");
    answers(
        dns,
        "web.prod.acme.vpc.photon.test.",
        Ok(vec![address.as_str()]),
    )
    .await;

    // Passes over every resource come and go: the address is the one
    // allocation it was, never a second.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        outputs(&mut resources, "address", "web").await["address"],
        address.as_str()
    );
    let (code, health) = e2e::http_get(&net.url(7, 8055), "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("\"events\":\"ok: subscribed\""), "{health}");

    // Deleted, address first: released, its name gone from DNS; then the
    // subnet and the VPC.
    resources
        .delete(op(of_kind("address", "web")))
        .await
        .unwrap();
    resources
        .delete(op(of_kind("subnet", "front")))
        .await
        .unwrap();
    resources.delete(op(of_kind("vpc", "prod"))).await.unwrap();
    for (kind, name) in [("address", "web"), ("subnet", "front"), ("vpc", "prod")] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while resources.get(op(of_kind(kind, name))).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind} {name} not gone"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    answers(
        dns,
        "web.prod.acme.vpc.photon.test.",
        Err(ResponseCode::NXDomain),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_resource_is_its_tenants_bucket_which_its_keys_alone_reach() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let deployment = up(&net, state.path());
    let mut resources = client(&net).await;
    resources
        .apply(op(resource("bucket", "photos", serde_json::json!({}))))
        .await
        .unwrap();
    let made = outputs(&mut resources, "bucket", "photos").await;
    assert_eq!(made["bucket"], "acme-photos");
    assert_eq!(made["endpoint"], net.url(8, 9000));

    // The tenant's own key, from photonauth, reaches it with the AWS SDK;
    // another tenant's does not.
    let mut auth =
        photonauth::api::proto::photon_auth_client::PhotonAuthClient::connect(net.url(2, 50051))
            .await
            .unwrap();
    let acme =
        e2e::auth::user_with_key(&mut auth, AUTH_TOKEN, "acme", "alice", e2e::auth::ALLOW_ALL)
            .await;
    let rival =
        e2e::auth::user_with_key(&mut auth, AUTH_TOKEN, "rival", "bob", e2e::auth::ALLOW_ALL).await;
    let s3 = e2e::s3::client_with(&net.url(8, 9000), &acme.0, &acme.1);
    let body = e2e::s3::pattern(100_000, 3);
    s3.put_object()
        .bucket("acme-photos")
        .key("cat.jpg")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        e2e::s3::get_bytes(&s3, "acme-photos", "cat.jpg").await,
        body
    );
    let other = e2e::s3::client_with(&net.url(8, 9000), &rival.0, &rival.1);
    let refused = other
        .get_object()
        .bucket("acme-photos")
        .key("cat.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e2e::s3::code(&refused), "AccessDenied", "{refused:?}");

    // Deleting a bucket that holds objects waits, failed and saying why,
    // until it is emptied; then it is gone.
    resources
        .delete(op(of_kind("bucket", "photos")))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = resources
            .get(op(of_kind("bucket", "photos")))
            .await
            .unwrap()
            .into_inner();
        if got.finalizers == ["lightningstor"] && deployment.log().contains("still holds objects") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s3.delete_object()
        .bucket("acme-photos")
        .key("cat.jpg")
        .send()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while resources.get(op(of_kind("bucket", "photos"))).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bucket resource stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone = s3
        .head_bucket()
        .bucket("acme-photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        gone.raw_response().map(|r| r.status().as_u16()),
        Some(404),
        "{gone:?}"
    );
}

#[test]
fn plan_names_the_subject_each_service_publishes_or_hears() {
    let out = e2e::output("resource-manager", &["plan"]);
    assert!(out.status.success(), "{out:?}");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("events: nats eventbus@bus:4222 photon.resources.changed"),
        "{plan}"
    );
    assert_eq!(
        plan.matches("changes: nats eventbus@bus:4222 photon.resources.changed")
            .count(),
        3,
        "one per agent: {plan}"
    );
}

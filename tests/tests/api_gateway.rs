//! `deploy-level4` through its API gateway only, as a tenant would use it:
//! photonauth tokens, creditservice quotas, resources the agents make
//! real (answered by flashdns, reached with the AWS SDK, allocated by
//! photonnet), one JSON error shape; the checked-in OpenAPI document
//! judged by a validator and by schemathesis against the running gateway;
//! `api-gateway-server` from the TOML the deployment exports, beside the
//! deployment's own gateway: two gateways racing for one quota spend it
//! once.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use creditservice::api::proto::SetLimitRequest;
use creditservice::api::proto::credits_client::CreditsClient;
use e2e::http::{Client, Version};
use e2e::{Loopback, Running};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use serde_json::{Value, json};

const AUTH_TOKEN: &str = "auth-admin-0123456789abcdef";
const CREDITS_TOKEN: &str = "credits-admin-0123456789abcdef";
const GATEWAY_TOKEN: &str = "gateway-admin-0123456789abcdef";
const ENV: [(&str, &str); 7] = [
    ("FLAREDB_TOKEN", "flaredb-token-0123456789abcdef"),
    ("PHOTONAUTH_ADMIN_TOKEN", AUTH_TOKEN),
    ("RESOURCES_ADMIN_TOKEN", "resources-admin-0123456789abcdef"),
    ("PHOTONNET_ADMIN_TOKEN", "net-admin-0123456789abcdef"),
    (
        "LIGHTNINGSTOR_SECRET_KEY",
        "storage-secret-0123456789abcdef0123",
    ),
    ("CREDITSERVICE_ADMIN_TOKEN", CREDITS_TOKEN),
    ("GATEWAY_ADMIN_TOKEN", GATEWAY_TOKEN),
];
/// The gateway's host in the loopback block.
const GATEWAY: u8 = 10;
/// The two load-balancer agents'.
const LB_1: u8 = 11;
const LB_2: u8 = 12;

/// `deploy-level4 up` on `net`.
fn up(net: &Loopback, state: &std::path::Path) -> Running {
    Running::up("level4", net, state, &ENV, Duration::from_secs(120))
}

/// The gateway's API, called with one token.
struct Api {
    addr: SocketAddr,
    token: Option<String>,
}

impl Api {
    fn new(net: &Loopback, token: Option<&str>) -> Api {
        Api {
            addr: net.addr(GATEWAY, 8080).parse().unwrap(),
            token: token.map(str::to_owned),
        }
    }

    /// `method path` with `body` as JSON: the status and the JSON answer.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let answer = Client::connect(self.addr, Version::Http1)
            .await
            .send(method, "gateway", path, &headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(
            answer.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..]),
            "{method} {path}: {}",
            answer.text()
        );
        let value = serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", answer.text()));
        (answer.status, value)
    }

    async fn put(&self, kind: &str, name: &str, spec: Value) -> (u16, Value) {
        let path = format!("/v1/tenants/acme/resources/{kind}/{name}");
        self.call("PUT", &path, Some(spec)).await
    }

    async fn get(&self, kind: &str, name: &str) -> (u16, Value) {
        let path = format!("/v1/tenants/acme/resources/{kind}/{name}");
        self.call("GET", &path, None).await
    }

    async fn delete(&self, kind: &str, name: &str) -> (u16, Value) {
        let path = format!("/v1/tenants/acme/resources/{kind}/{name}");
        self.call("DELETE", &path, None).await
    }

    /// Waits until the resource is ready: its status outputs.
    async fn ready(&self, kind: &str, name: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (code, got) = self.get(kind, name).await;
            assert_eq!(code, 200, "{got}");
            if got["ready"] == true {
                return got["status"]["outputs"].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind} {name} not ready: {got}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the resource's agent reports it failed: its message.
    async fn failed(&self, kind: &str, name: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (code, got) = self.get(kind, name).await;
            assert_eq!(code, 200, "{got}");
            if got["status"]["state"] == "failed" {
                assert_eq!(got["ready"], false, "{got}");
                return got["status"]["message"].as_str().unwrap().to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind} {name} not failed: {got}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the resource is gone (404).
    async fn gone(&self, kind: &str, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (code, got) = self.get(kind, name).await;
            if code == 404 {
                assert_eq!(got["error"]["code"], "not_found", "{got}");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind} {name} stays: {got}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The tenant's usage of `kind`: (used, limit).
    async fn usage(&self, kind: &str) -> (u64, Option<u64>) {
        let (code, account) = self.call("GET", "/v1/tenants/acme/account", None).await;
        assert_eq!(code, 200, "{account}");
        let usage = account["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {account}"));
        (usage["used"].as_u64().unwrap(), usage["limit"].as_u64())
    }
}

/// Every refusal's one shape: the HTTP status repeated, a documented
/// code, a message.
fn refused(answer: &(u16, Value), status: u16, code: &str) -> String {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// What flashdns answers for `name`: its A records, or the code.
async fn a_records(dns: SocketAddr, name: &str) -> Result<Vec<String>, ResponseCode> {
    let client = e2e::dns::udp(dns, None);
    let response = e2e::dns::ask(&client, name, RecordType::A).await;
    if response.metadata.response_code != ResponseCode::NoError {
        return Err(response.metadata.response_code);
    }
    Ok(e2e::dns::lines(&response.answers))
}

/// Waits until `name` answers as `want` says.
async fn until_dns(
    dns: SocketAddr,
    name: &str,
    want: impl Fn(&Result<Vec<String>, ResponseCode>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = a_records(dns, name).await;
        if want(&got) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name}: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_makes_uses_and_deletes_resources_through_the_gateway_alone() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let deployment = up(&net, state.path());
    let dns: SocketAddr = net.addr(5, 5300).parse().unwrap();

    // Tenants and their keys are photonauth's; a tenant's token for the
    // gateway comes from its key.
    let mut auth = PhotonAuthClient::connect(net.url(2, 50051)).await.unwrap();
    let acme_key =
        e2e::auth::user_with_key(&mut auth, AUTH_TOKEN, "acme", "alice", e2e::auth::ALLOW_ALL)
            .await;
    let rival_key =
        e2e::auth::user_with_key(&mut auth, AUTH_TOKEN, "rival", "bob", e2e::auth::ALLOW_ALL).await;
    let acme_token = e2e::auth::key_token(&mut auth, &acme_key, "api-gateway").await;
    let rival_token = e2e::auth::key_token(&mut auth, &rival_key, "api-gateway").await;
    let wrong_audience = e2e::auth::key_token(&mut auth, &acme_key, "photonnet").await;
    let api = Api::new(&net, Some(&acme_token));

    // No token, a token for another service, another tenant's token.
    let anonymous = Api::new(&net, None);
    let why = refused(
        &anonymous
            .call("GET", "/v1/tenants/acme/resources", None)
            .await,
        401,
        "unauthenticated",
    );
    assert!(why.contains("Authorization: Bearer"), "{why}");
    refused(
        &Api::new(&net, Some(&wrong_audience))
            .call("GET", "/v1/tenants/acme/resources", None)
            .await,
        401,
        "unauthenticated",
    );
    let rival = Api::new(&net, Some(&rival_token));
    let why = refused(
        &rival.call("GET", "/v1/tenants/acme/resources", None).await,
        403,
        "forbidden",
    );
    assert!(why.contains("tenant `rival`"), "{why}");

    // A DNS record: made, answered by flashdns; the same spec again
    // changes nothing.
    let record = json!({"type": "A", "values": ["192.0.2.10"]});
    let (code, made) = api.put("dns-record", "www", record.clone()).await;
    assert_eq!(code, 201, "{made}");
    assert_eq!(made["applied"], "created");
    assert_eq!(made["spec"]["ttl"], 300, "defaults filled: {made}");
    api.ready("dns-record", "www").await;
    until_dns(dns, "www.acme.tenants.photon.test.", |got| {
        got.as_ref()
            .is_ok_and(|lines| lines.len() == 1 && lines[0].ends_with("192.0.2.10"))
    })
    .await;
    let (code, again) = api.put("dns-record", "www", record).await;
    assert_eq!(
        (code, &again["applied"]),
        (200, &json!("unchanged")),
        "{again}"
    );

    // A bucket: the tenant's own, reached with the AWS SDK and its key.
    let (code, made) = api.put("bucket", "photos", json!({})).await;
    assert_eq!(code, 201, "{made}");
    let bucket = api.ready("bucket", "photos").await;
    assert_eq!(bucket["bucket"], "acme-photos");
    let s3 = e2e::s3::client_with(&net.url(8, 9000), &acme_key.0, &acme_key.1);
    let body = e2e::s3::pattern(200_000, 7);
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

    // A VPC, a subnet and an address in it, answered by its name.
    api.put("vpc", "prod", json!({"cidr": "10.20.0.0/16"}))
        .await;
    api.put(
        "subnet",
        "web",
        json!({"vpc": "prod", "cidr": "10.20.1.0/24"}),
    )
    .await;
    api.put("address", "web-1", json!({"vpc": "prod", "subnet": "web"}))
        .await;
    let address = api.ready("address", "web-1").await;
    let allocated = address["address"].as_str().unwrap().to_owned();
    assert!(allocated.starts_with("10.20.1."), "{address}");
    let fqdn = address["fqdn"].as_str().unwrap().to_owned();
    until_dns(dns, &fqdn, |got| {
        got.as_ref()
            .is_ok_and(|lines| lines.iter().any(|l| l.ends_with(&allocated)))
    })
    .await;

    let (code, listed) = api.call("GET", "/v1/tenants/acme/resources", None).await;
    assert_eq!(code, 200, "{listed}");
    let mut names: Vec<&str> = listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["photos", "prod", "web", "web-1", "www"]);
    // A load balancer in front of two backends: both reached through it.
    let backends = [
        e2e::http::Backend::start("web-a", &net.addr(30, 0)).await,
        e2e::http::Backend::start("web-b", &net.addr(31, 0)).await,
    ];
    let (code, made) = api
        .put(
            "load-balancer",
            "front",
            json!({"port": 20080, "backends": [backends[0].addr.to_string(), backends[1].addr.to_string()]}),
        )
        .await;
    assert_eq!(code, 201, "{made}");
    let balancer = api.ready("load-balancer", "front").await;
    // The scheduler placed it on one of the two balancer nodes.
    let (_, placed) = api.get("load-balancer", "front").await;
    let host = match placed["placement"].as_str() {
        Some("lb-1") => LB_1,
        Some("lb-2") => LB_2,
        other => panic!("placed on {other:?}: {placed}"),
    };
    assert_eq!(balancer["address"], net.addr(host, 20080), "{balancer}");
    let front: SocketAddr = net.addr(host, 20080).parse().unwrap();
    let mut answered = Vec::new();
    for _ in 0..6 {
        answered.push(e2e::http::get(front, "front", "/").await.text());
    }
    answered.sort();
    answered.dedup();
    assert_eq!(answered, ["web-a", "web-b"]);
    // A port outside the tenants' range is refused by its agent, saying why.
    api.put(
        "load-balancer",
        "low",
        json!({"port": 80, "backends": [backends[0].addr.to_string()]}),
    )
    .await;
    let low = api.failed("load-balancer", "low").await;
    assert!(low.contains("20000-20999"), "{low}");

    let (_, buckets) = api
        .call("GET", "/v1/tenants/acme/resources/bucket", None)
        .await;
    assert_eq!(
        buckets["resources"].as_array().unwrap().len(),
        1,
        "{buckets}"
    );

    // A quota: the operator limits acme to one bucket; a second is
    // refused, clearly, and nothing of it is made.
    let mut credits = CreditsClient::connect(net.url(9, 50053)).await.unwrap();
    credits
        .set_limit(e2e::auth::with_token(
            SetLimitRequest {
                tenant: "acme".into(),
                kind: "bucket".into(),
                limit: Some(1),
            },
            CREDITS_TOKEN,
        ))
        .await
        .unwrap();
    assert_eq!(api.usage("bucket").await, (1, Some(1)));
    let why = refused(
        &api.put("bucket", "videos", json!({})).await,
        403,
        "quota_exceeded",
    );
    assert!(why.contains("limit of 1"), "{why}");
    refused(&api.get("bucket", "videos").await, 404, "not_found");
    // A spec the kind refuses takes no quota either.
    let (used, _) = api.usage("dns-record").await;
    let why = refused(
        &api.put(
            "dns-record",
            "bad",
            json!({"type": "A", "values": ["not-an-address"]}),
        )
        .await,
        400,
        "invalid_request",
    );
    assert!(why.contains("`not-an-address`"), "{why}");
    assert_eq!(api.usage("dns-record").await.0, used);
    let why = refused(
        &api.put(
            "dns-record",
            "typo",
            json!({"type": "A", "value": ["192.0.2.1"]}),
        )
        .await,
        400,
        "invalid_request",
    );
    assert!(why.contains("unknown field `value`"), "{why}");

    // Everything deleted: gone from the API, from DNS, from S3, from the
    // balancer's port, and the quota is free again.
    s3.delete_object()
        .bucket("acme-photos")
        .key("cat.jpg")
        .send()
        .await
        .unwrap();
    let made = [
        ("address", "web-1"),
        ("subnet", "web"),
        ("vpc", "prod"),
        ("dns-record", "www"),
        ("bucket", "photos"),
        ("load-balancer", "front"),
        ("load-balancer", "low"),
    ];
    for (kind, name) in made {
        let (code, deleting) = api.delete(kind, name).await;
        assert_eq!(code, 202, "{kind} {name}: {deleting}");
        assert_eq!(deleting["deleting"], true, "{deleting}");
    }
    for (kind, name) in made {
        api.gone(kind, name).await;
    }
    assert!(
        tokio::net::TcpStream::connect(front).await.is_err(),
        "the deleted balancer still listens"
    );
    refused(&api.delete("bucket", "photos").await, 404, "not_found");
    until_dns(dns, "www.acme.tenants.photon.test.", |got| {
        *got == Err(ResponseCode::NXDomain)
    })
    .await;
    until_dns(dns, &fqdn, |got| *got == Err(ResponseCode::NXDomain)).await;
    let head = s3
        .head_bucket()
        .bucket("acme-photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(head.raw_response().map(|r| r.status().as_u16()), Some(404));
    assert_eq!(api.usage("bucket").await, (0, Some(1)));
    assert_eq!(api.usage("dns-record").await.0, 0);
    let (code, made) = api.put("bucket", "videos", json!({})).await;
    assert_eq!(code, 201, "the freed quota takes a new bucket: {made}");

    // photonctl against the gateway, with the tenant's token.
    let base = net.url(GATEWAY, 8080);
    let token_file = state.path().join("acme.token");
    std::fs::write(&token_file, &acme_token).unwrap();
    let photonctl = |args: &[&str]| {
        let mut all = vec![
            "cloud",
            "--endpoint",
            &base,
            "--token-file",
            token_file.to_str().unwrap(),
            "--tenant",
            "acme",
        ];
        all.extend_from_slice(args);
        e2e::tool_output("photonctl", &all)
    };
    let out = photonctl(&[
        "apply",
        "dns-record",
        "cli",
        "--spec",
        r#"{"type": "A", "values": ["192.0.2.77"]}"#,
        "--wait",
    ]);
    assert!(out.status.success(), "{out:?}");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["ready"], true, "{shown}");
    until_dns(dns, "cli.acme.tenants.photon.test.", |got| {
        got.as_ref()
            .is_ok_and(|lines| lines.iter().any(|l| l.ends_with("192.0.2.77")))
    })
    .await;
    let out = photonctl(&["apply", "bucket", "third", "--spec", "{}"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(403 quota_exceeded)"), "{stderr}");
    let out = photonctl(&["delete", "dns-record", "cli", "--wait"]);
    assert!(out.status.success(), "{out:?}");
    api.gone("dns-record", "cli").await;

    // flaredb, the stack's key-value database, holds its sixteen shards
    // over its two nodes.
    let mut held = 0;
    for host in [14, 15] {
        let (code, health) = e2e::http_get(&net.url(host, 50060), "/health").await;
        assert_eq!(code, 200, "{health}");
        let shards = serde_json::from_str::<Value>(&health).unwrap()["checks"]["shards"]
            .as_str()
            .unwrap()
            .to_owned();
        held += shards
            .strip_prefix("ok: holds ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("{shards}"));
    }
    assert_eq!(held, 16);

    // What the gateway did is on its /metrics; no token is in the log.
    let (code, metrics) = e2e::http_get(&net.url(GATEWAY, 8080), "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("api_gateway_requests_total{operation=\"apply\""),
        "{metrics}"
    );
    let log = deployment.log();
    assert!(!log.contains(GATEWAY_TOKEN) && !log.contains(&acme_token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_what_its_openapi_document_says() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let _deployment = up(&net, state.path());
    let base = net.url(GATEWAY, 8080);

    // It serves the document checked in, which a validator accepts.
    let checked_in = include_str!("../../services/api-gateway/openapi.json");
    let (code, served) = e2e::http_get(&base, "/openapi.json").await;
    assert_eq!((code, served.as_str()), (200, checked_in));
    let document = state.path().join("openapi.json");
    std::fs::write(&document, checked_in).unwrap();
    let validated = std::process::Command::new(e2e::installed_tool("openapi-spec-validator"))
        .arg(&document)
        .output()
        .unwrap();
    assert!(
        validated.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    // schemathesis generates requests from the document (valid and
    // invalid, one by one and in sequences) and checks every answer: no
    // server error, a documented status, content type and schema. Its
    // positive-data check is left out: the document cannot say all a
    // kind checks (a CIDR given as its network's address, an A record's
    // values being IPv4 addresses), so some schema-valid specs are
    // rightly refused.
    let out = std::process::Command::new(e2e::installed_tool("schemathesis"))
        .args([
            "run",
            &format!("{base}/openapi.json"),
            "--header",
            &format!("Authorization: Bearer {GATEWAY_TOKEN}"),
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--no-color",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .current_dir(state.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("No issues found"),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_server_runs_from_the_toml_a_deployment_exports() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let text = e2e::export_config(
        "level4",
        "gateway",
        "api-gateway",
        &net.base(),
        state.path().join("exported").to_str().unwrap(),
    );
    for expected in [
        format!("endpoint = \"{}\"", net.url(4, 50054)),
        format!("endpoint = \"{}\"", net.url(9, 50053)),
        "admin_token_env = \"CREDITSERVICE_ADMIN_TOKEN\"".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected} in {text}");
    }
    let _deployment = up(&net, state.path());
    // Beside the deployment's own gateway, on the next address.
    let config = state.path().join("gateway.toml");
    std::fs::write(&config, &text).unwrap();
    let second = net.addr(GATEWAY + 10, 8080);
    let mut env = ENV.to_vec();
    env.push(("PHOTON__STANDALONE__SERVER__HTTP_ADDR", &second));
    let mut server = Running::start_server(
        "api-gateway",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.path().join("server").to_str().unwrap(),
        ],
        &env,
        None,
    );
    server.wait_for("all services started", Duration::from_secs(60));
    let api = Api {
        addr: second.parse().unwrap(),
        token: Some(GATEWAY_TOKEN.into()),
    };
    let (code, made) = api
        .put(
            "dns-record",
            "s",
            json!({"type": "A", "values": ["192.0.2.9"]}),
        )
        .await;
    assert_eq!(code, 201, "{made}");
    api.ready("dns-record", "s").await;
    let (code, health) = e2e::http_get(&format!("http://{second}"), "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("\"resource_manager\":\"ok"), "{health}");

    // Two gateways, twenty records asked for at once against a quota of
    // five: exactly five are made, whichever gateway took them.
    let mut credits = CreditsClient::connect(net.url(9, 50053)).await.unwrap();
    credits
        .set_limit(e2e::auth::with_token(
            SetLimitRequest {
                tenant: "race".into(),
                kind: "dns-record".into(),
                limit: Some(5),
            },
            CREDITS_TOKEN,
        ))
        .await
        .unwrap();
    let gateways = [
        net.addr(GATEWAY, 8080).parse::<SocketAddr>().unwrap(),
        second.parse().unwrap(),
    ];
    let asked = (0..20).map(|i| {
        let api = Api {
            addr: gateways[i % 2],
            token: Some(GATEWAY_TOKEN.into()),
        };
        async move {
            let path = format!("/v1/tenants/race/resources/dns-record/r{i}");
            let spec = json!({"type": "A", "values": [format!("192.0.2.{}", i + 1)]});
            api.call("PUT", &path, Some(spec)).await
        }
    });
    let answers = futures::future::join_all(asked).await;
    let made = answers.iter().filter(|(code, _)| *code == 201).count();
    let refused = answers
        .iter()
        .filter(|(code, body)| *code == 403 && body["error"]["code"] == "quota_exceeded")
        .count();
    assert_eq!((made, refused), (5, 15), "{answers:?}");
    let race = Api {
        addr: gateways[0],
        token: Some(GATEWAY_TOKEN.into()),
    };
    let (_, listed) = race
        .call("GET", "/v1/tenants/race/resources/dns-record", None)
        .await;
    assert_eq!(listed["resources"].as_array().unwrap().len(), 5, "{listed}");
    let (_, account) = race.call("GET", "/v1/tenants/race/account", None).await;
    let used = account["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "dns-record")
        .map(|u| u["used"].clone());
    assert_eq!(used, Some(json!(5)), "{account}");
}

#[test]
fn api_gateway_server_names_a_missing_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "[photon]\nmode = \"integrated\"\ncluster_id = \"c\"\n\
         [photon.integrated]\nchainfire_endpoints = [\"http://127.0.0.1:2379\"]\n\
         auth_service_endpoint = \"http://127.0.0.1:50051\"\n\
         [standalone.auth]\nadmin_token = \"0123456789abcdef0123\"\n\
         [standalone.resource_manager]\nendpoint = \"http://127.0.0.1:50054\"\n\
         admin_token_env = \"RESOURCES_ADMIN_TOKEN\"\n",
    )
    .unwrap();
    let out = e2e::server_output(
        "api-gateway",
        &["--config", config.to_str().unwrap(), "--print-config"],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("standalone.creditservice") && stderr.contains("forwards to creditservice"),
        "{stderr}"
    );
}

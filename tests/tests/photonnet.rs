//! `deploy-photonnet`, each node in a process of its own: a three-member
//! chainfire cluster, photonauth, photonnet and flashdns serving the VPC
//! zone. Tenants call photonnet with tokens photonauth signs for their
//! access keys: each sees and changes only its own VPCs; subnets are
//! checked (inside the VPC, no overlap, a network address); many clients
//! allocate in one subnet at once while the chainfire leader is killed,
//! and no address is handed out twice; each named address resolves
//! through flashdns within a second, and stops resolving once released;
//! an exhausted subnet and a second release are refused, leaking nothing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use e2e::Loopback;
use e2e::auth::{ALLOW_ALL, key_token, user_with_key};
use e2e::etcd::{leader_index, run_node_with_env};
use e2e::net::Net;
use hickory_proto::rr::RecordType;
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonnet::api::AUDIENCE;
use photonnet::api::proto::*;
use tonic::Code;

const NAME: &str = "photonnet";
const AUTH_TOKEN: &str = "photonnet-auth-admin-0123456789";
const NET_TOKEN: &str = "photonnet-net-admin-0123456789";
/// Allocating clients, and allocations each.
const ALLOCATORS: usize = 4;
const EACH: usize = 15;

fn env() -> [(&'static str, &'static str); 2] {
    [
        ("PHOTONAUTH_ADMIN_TOKEN", AUTH_TOKEN),
        ("PHOTONNET_ADMIN_TOKEN", NET_TOKEN),
    ]
}

/// The code and message of a refused call.
fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>) -> (Code, String) {
    match result {
        Ok(answer) => panic!("{what} was allowed: {answer:?}"),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

/// Asks flashdns for `host`'s A record until it is `expected` (empty: no
/// answer) or a second passes.
async fn resolves_to(dns: &e2e::dns::DnsClient, host: &str, expected: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let answer = e2e::dns::ask(dns, host, RecordType::A).await;
        let lines = e2e::dns::lines(&answer.answers);
        let got = lines
            .first()
            .map(|l| l.rsplit(' ').next().unwrap().to_owned());
        if got.as_deref() == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{host}: {lines:?}, expected {expected:?} within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_get_their_own_vpcs_and_addresses_never_handed_out_twice() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let base = net.to_string();
    let env = env();
    let mut members: Vec<Option<e2e::Running>> = ["kv-1", "kv-2", "kv-3"]
        .iter()
        .map(|node| Some(run_node_with_env(NAME, node, &base, state.path(), &env)))
        .collect();
    let endpoints: Vec<String> = (1..=3).map(|i| net.addr(i, 2379)).collect();
    let leading = leader_index(&endpoints).await;
    let mut services = Vec::new();
    for node in ["auth", "dns", "net"] {
        let mut running = run_node_with_env(NAME, node, &base, state.path(), &env);
        running.wait_for("all services started", Duration::from_secs(60));
        services.push(running);
    }

    // Two tenants, each with a key, each key swapped for a photonnet token.
    let mut auth = PhotonAuthClient::connect(net.url(4, 50051)).await.unwrap();
    let acme_key = user_with_key(&mut auth, AUTH_TOKEN, "acme", "ops", ALLOW_ALL).await;
    let globex_key = user_with_key(&mut auth, AUTH_TOKEN, "globex", "ops", ALLOW_ALL).await;
    let api = net.url(5, 50052);
    let mut acme = Net::connect(&api, &key_token(&mut auth, &acme_key, "photonnet").await).await;
    let mut globex =
        Net::connect(&api, &key_token(&mut auth, &globex_key, "photonnet").await).await;

    // No token, a wrong one, a token for another service: refused.
    let mut nobody = Net::connect(&api, "").await;
    nobody.token = "not-a-token".into();
    assert_eq!(
        refused("a made-up token", nobody.vpc("x", "10.0.0.0/16").await).0,
        Code::Unauthenticated
    );
    let elsewhere = key_token(&mut auth, &acme_key, "lightningstor").await;
    nobody.token = elsewhere;
    let (code, said) = refused(
        "a token for lightningstor",
        nobody.vpc("x", "10.0.0.0/16").await,
    );
    assert_eq!(code, Code::Unauthenticated, "{said}");
    assert!(said.contains("lightningstor"), "{said}");

    // A VPC and its subnets, checked.
    let vpc = acme.vpc("prod", "10.0.0.0/16").await.unwrap();
    assert_eq!(vpc.tenant, "acme");
    assert_eq!(vpc.dns_suffix, "prod.acme.vpc.internal.");
    let (code, said) = refused("a second VPC prod", acme.vpc("prod", "10.1.0.0/16").await);
    assert_eq!(code, Code::AlreadyExists, "{said}");
    let (code, said) = refused(
        "a host address as a VPC",
        acme.vpc("dev", "10.0.0.5/16").await,
    );
    assert_eq!(code, Code::InvalidArgument);
    assert!(said.contains("did you mean 10.0.0.0/16"), "{said}");
    let web = acme.subnet("prod", "web", "10.0.1.0/24").await.unwrap();
    assert_eq!(web.gateway, "10.0.1.1");
    assert_eq!(web.free, 253);
    let (code, said) = refused(
        "an overlapping subnet",
        acme.subnet("prod", "half", "10.0.1.128/25").await,
    );
    assert_eq!(code, Code::FailedPrecondition);
    assert!(
        said.contains("overlaps subnet `web` (10.0.1.0/24)"),
        "{said}"
    );
    let (code, said) = refused(
        "a subnet outside the VPC",
        acme.subnet("prod", "far", "10.9.0.0/24").await,
    );
    assert_eq!(code, Code::InvalidArgument);
    assert!(
        said.contains("outside VPC `prod`'s range 10.0.0.0/16"),
        "{said}"
    );
    let (code, said) = refused("a /30", acme.subnet("prod", "tiny", "10.0.9.0/30").await);
    assert_eq!(code, Code::InvalidArgument, "{said}");
    acme.subnet("prod", "small", "10.0.2.0/29").await.unwrap();

    // Another tenant sees none of it and cannot name it.
    let listed = globex
        .client
        .list_vpcs(globex.req(ListVpcsRequest {
            tenant: String::new(),
        }))
        .await
        .unwrap()
        .into_inner()
        .vpcs;
    assert!(listed.is_empty(), "{listed:?}");
    let named = globex.req(ListVpcsRequest {
        tenant: "acme".into(),
    });
    let (code, said) = refused("globex naming acme", globex.client.list_vpcs(named).await);
    assert_eq!(code, Code::PermissionDenied, "{said}");
    assert_eq!(
        refused(
            "globex allocating in prod",
            globex.allocate("prod", "web", "x").await
        )
        .0,
        Code::NotFound
    );
    // globex may use the same names and range in its own VPC.
    globex.vpc("prod", "10.0.0.0/16").await.unwrap();

    // Many allocators at once, the chainfire leader killed among them.
    let mut tasks = Vec::new();
    for t in 0..ALLOCATORS {
        let mut client = Net::connect(&api, &acme.token).await;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..EACH {
                let name = format!("vm-{t}-{i}");
                got.push((name.clone(), client.allocate("prod", "web", &name).await));
            }
            got
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leader = members[leading].take().unwrap();
    leader.signal("KILL");
    leader.wait(Duration::from_secs(10));
    let mut addresses = HashSet::new();
    let mut names = Vec::new();
    for task in tasks {
        for (name, allocated) in task.await.unwrap() {
            let allocated = allocated.unwrap_or_else(|e| {
                panic!(
                    "{name}: {e:?}; photonnet said: {:?}",
                    services[2].lines_with("ERROR")
                )
            });
            assert_eq!(allocated.name, name);
            assert_eq!(allocated.fqdn, format!("{name}.prod.acme.vpc.internal."));
            assert!(
                addresses.insert(allocated.address.clone()),
                "{} handed out twice",
                allocated.address
            );
            names.push((allocated.fqdn, allocated.address));
        }
    }
    assert_eq!(addresses.len(), ALLOCATORS * EACH);
    assert!(
        !addresses.contains("10.0.1.1"),
        "the gateway was handed out"
    );
    let stored = acme.allocations("prod", "web").await;
    assert_eq!(
        stored.len(),
        ALLOCATORS * EACH,
        "nothing more is allocated than was answered"
    );

    // Each name resolves through flashdns.
    let dns = e2e::dns::udp(net.addr(6, 5300).parse().unwrap(), None);
    for (fqdn, address) in &names {
        resolves_to(&dns, fqdn, Some(address)).await;
    }

    // A release frees the address and the name; a second release is an
    // error, and frees nothing else.
    let (fqdn, address) = names[0].clone();
    acme.release("prod", "web", &address).await.unwrap();
    resolves_to(&dns, &fqdn, None).await;
    let (code, said) = refused(
        "a second release",
        acme.release("prod", "web", &address).await,
    );
    assert_eq!(code, Code::FailedPrecondition);
    assert!(said.contains("is not allocated"), "{said}");
    assert_eq!(
        acme.allocations("prod", "web").await.len(),
        ALLOCATORS * EACH - 1
    );
    let (code, _) = refused(
        "globex releasing acme's address",
        globex.release("prod", "web", &names[1].1).await,
    );
    assert_eq!(code, Code::NotFound);
    resolves_to(&dns, &names[1].0, Some(&names[1].1)).await;

    // A name is one address's in its VPC.
    let (code, said) = refused(
        "a taken name",
        acme.allocate("prod", "small", "vm-1-1").await,
    );
    assert_eq!(code, Code::AlreadyExists, "{said}");

    // A /29 holds five; the sixth is refused and nothing is leaked.
    for i in 0..5 {
        acme.allocate("prod", "small", &format!("s-{i}"))
            .await
            .unwrap();
    }
    let (code, said) = refused(
        "a sixth address in a /29",
        acme.allocate("prod", "small", "s-5").await,
    );
    assert_eq!(code, Code::ResourceExhausted);
    assert!(said.contains("no free address"), "{said}");
    assert_eq!(acme.allocations("prod", "small").await.len(), 5);
    resolves_to(&dns, "s-5.prod.acme.vpc.internal.", None).await;

    // What holds something is not deleted.
    let request = acme.req(DeleteSubnetRequest {
        tenant: String::new(),
        vpc: "prod".into(),
        name: "small".into(),
    });
    let (code, said) = refused(
        "deleting a subnet in use",
        acme.client.delete_subnet(request).await,
    );
    assert_eq!(code, Code::FailedPrecondition, "{said}");
    let request = acme.req(DeleteVpcRequest {
        tenant: String::new(),
        name: "prod".into(),
    });
    assert_eq!(
        refused(
            "deleting a VPC with subnets",
            acme.client.delete_vpc(request).await
        )
        .0,
        Code::FailedPrecondition
    );

    // The operator's token reaches every tenant, named.
    let mut operator = Net::connect(&api, NET_TOKEN).await;
    let request = operator.req(ListVpcsRequest {
        tenant: "acme".into(),
    });
    let vpcs = operator
        .client
        .list_vpcs(request)
        .await
        .unwrap()
        .into_inner()
        .vpcs;
    assert_eq!(vpcs.len(), 1);
    let request = operator.req(ListVpcsRequest {
        tenant: String::new(),
    });
    assert_eq!(
        refused(
            "the operator naming no tenant",
            operator.client.list_vpcs(request).await
        )
        .0,
        Code::InvalidArgument
    );

    // photonctl, as a tenant: a token for its key (the secret read from a
    // file, never sent), then its VPCs through that token.
    let files = tempfile::tempdir().unwrap();
    let secret_file = files.path().join("secret");
    std::fs::write(&secret_file, &globex_key.1).unwrap();
    let out = e2e::tool_output(
        "photonctl",
        &[
            "auth",
            "--endpoint",
            &net.url(4, 50051),
            "token",
            "--key",
            &globex_key.0,
            "--audience",
            "photonnet",
            "--secret-file",
            secret_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let token_file = files.path().join("token");
    std::fs::write(&token_file, &out.stdout).unwrap();
    let ctl = |args: &[&str]| {
        let mut all = vec![
            "net",
            "--endpoint",
            &api,
            "--token-file",
            token_file.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let out = e2e::tool_output("photonctl", &all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(ctl(&["vpc", "list"]).1, "prod 10.0.0.0/16\n");
    let (code, _, err) = ctl(&["allocate", "--vpc", "prod", "--subnet", "web"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "photonctl: NotFound: subnet `web` of VPC `prod` does not exist\n"
    );
    let (code, out, err) = ctl(&[
        "subnet",
        "create",
        "--vpc",
        "prod",
        "db",
        "--cidr",
        "10.0.3.0/24",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "subnet db created: 10.0.3.0/24, gateway 10.0.3.1, 253 free\n"
    );
    let (code, out, err) = ctl(&[
        "allocate", "--vpc", "prod", "--subnet", "db", "--name", "pg",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (address, fqdn) = out.trim_end().split_once(' ').unwrap();
    assert_eq!(fqdn, "pg.prod.globex.vpc.internal.");
    assert!(address.starts_with("10.0.3."), "{out}");
    resolves_to(&dns, fqdn, Some(address)).await;
    let (code, _, err) = ctl(&["--tenant", "acme", "vpc", "list"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("PermissionDenied"), "{err}");

    // /health says where the state and names are.
    let (status, health) = e2e::http_get(&api, "/health").await;
    assert_eq!(status, 200, "{health}");
    assert!(
        health.contains("names published into vpc.internal."),
        "{health}"
    );
    drop(services);
    drop(members);
}

/// The exported TOML of node `node`'s `service`, its chainfire list cut to
/// the one member running (`.1`), as an operator would edit it.
fn exported(net: &Loopback, dir: &std::path::Path, node: &str, service: &str) -> String {
    let text = e2e::export_config(
        NAME,
        node,
        service,
        &net.base(),
        dir.join(format!("exported-{node}")).to_str().unwrap(),
    );
    let all = format!(
        "chainfire_endpoints = [\n    \"http://{}\",\n    \"http://{}\",\n    \"http://{}\",\n]",
        net.addr(1, 2379),
        net.addr(2, 2379),
        net.addr(3, 2379)
    );
    assert!(text.contains(&all), "{text}");
    text.replace(
        &all,
        &format!("chainfire_endpoints = [\"http://{}\"]", net.addr(1, 2379)),
    )
}

/// `<component>-server --config <file>` with `text` as the file.
fn server_from(dir: &std::path::Path, component: &str, text: &str) -> e2e::Running {
    let config = dir.join(format!("{component}.toml"));
    std::fs::write(&config, text).unwrap();
    let state = dir.join(format!("state-{component}"));
    let env = env();
    e2e::Running::start_server(
        component,
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &env,
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photonnet_server_runs_from_the_toml_a_deployment_exports() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;

    let auth_toml = exported(&net, dir.path(), "auth", "photonauth");
    let net_toml = exported(&net, dir.path(), "net", "photonnet");
    assert!(net_toml.contains("mode = \"integrated\""), "{net_toml}");
    assert!(
        net_toml.contains(&format!(
            "auth_service_endpoint = \"http://{}\"",
            net.addr(4, 50051)
        )),
        "{net_toml}"
    );
    assert!(
        net_toml.contains("admin_token_env = \"PHOTONNET_ADMIN_TOKEN\""),
        "{net_toml}"
    );
    assert!(net_toml.contains("zone = \"vpc.internal\""), "{net_toml}");
    assert!(
        net_toml.contains(&format!("server = \"{}\"", net.addr(6, 5300))),
        "{net_toml}"
    );
    // No flashdns runs here: VPC DNS off, as an operator without one sets it.
    let start = net_toml.find("[standalone.dns]").unwrap();
    let net_toml = net_toml[..start].to_owned();

    let mut auth_server = server_from(dir.path(), "photonauth", &auth_toml);
    auth_server.wait_for("all services started", Duration::from_secs(30));
    let mut net_server = server_from(dir.path(), "photonnet", &net_toml);
    net_server.wait_for("all services started", Duration::from_secs(30));

    let mut auth = PhotonAuthClient::connect(net.url(4, 50051)).await.unwrap();
    let key = user_with_key(&mut auth, AUTH_TOKEN, "acme", "ops", ALLOW_ALL).await;
    let api = net.url(5, 50052);
    let mut acme = Net::connect(&api, &key_token(&mut auth, &key, AUDIENCE).await).await;
    let vpc = acme.vpc("prod", "10.0.0.0/16").await.unwrap();
    assert_eq!(vpc.dns_suffix, "", "VPC DNS is off");
    acme.subnet("prod", "web", "10.0.1.0/24").await.unwrap();
    let first = acme.allocate("prod", "web", "web-1").await.unwrap();
    assert_eq!(first.fqdn, "");
    assert_eq!(acme.allocations("prod", "web").await, vec![first]);

    let (code, health) = e2e::http_get(&api, "/health").await;
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("VPC DNS off"), "{health}");
    net_server.signal("TERM");
    assert!(
        net_server.wait(Duration::from_secs(30)).0.success(),
        "{}",
        net_server.log()
    );
}

#[test]
fn a_photonnet_server_missing_what_it_needs_is_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        e2e::last_words(
            "photonnet",
            &["--config", config.to_str().unwrap(), "--print-config"],
            &[],
        )
    };
    let (code, last) =
        check("[photon]\nmode = \"standalone\"\n[standalone.auth]\nadmin_token_env = \"T\"\n");
    assert_eq!(code, Some(2), "{last}");
    assert!(
        last.contains("`photon.mode`") && last.contains("keeps VPCs, subnets and addresses"),
        "{last}"
    );
    let (code, last) = check(
        "[photon]\nmode = \"integrated\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\n[standalone.auth]\nadmin_token_env = \"T\"\n",
    );
    assert_eq!(code, Some(2), "{last}");
    assert!(
        last.contains("`photon.integrated.auth_service_endpoint`")
            && last.contains("tenants are photonauth's"),
        "{last}"
    );
    let (code, last) = check(
        "[photon]\nmode = \"integrated\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\nauth_service_endpoint = \"http://auth:50051\"\n[standalone.auth]\nadmin_token_env = \"T\"\n[standalone.dns]\nzone = \"vpc.internal\"\n",
    );
    assert_eq!(code, Some(2), "{last}");
    assert!(last.contains("server"), "{last}");
    let (code, last) = check(
        "[photon]\nmode = \"integrated\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\nauth_service_endpoint = \"http://auth:50051\"\n[standalone.auth]\nadmin_token_env = \"T\"\n[standalone.dns]\nzone = \"vpc.internal\"\nserver = \"dns:53\"\nttl = 5\n",
    );
    assert_eq!(code, Some(2), "{last}");
    assert!(last.contains("ttl"), "{last}");
}

//! creditservice's state in a real chainfire (`creditservice::store`):
//! quotas and credits reserved, committed and released, and never spent
//! twice by reservations racing from several processes' clients.

use creditservice::store::{CreditError, CreditStore, Defaults};
use e2e::Loopback;

async fn client(net: &Loopback) -> etcd_client::Client {
    etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap()
}

fn defaults() -> Defaults {
    Defaults {
        limits: [("bucket".to_owned(), 10)].into(),
        other: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_take_quota_and_credits_and_release_gives_back_what_was_not_spent() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let store = CreditStore::new(client(&net).await, "c1", defaults());

    store.top_up("acme", 100).await.unwrap();
    store.set_limit("acme", "bucket", Some(2)).await.unwrap();
    let first = store.reserve("acme", "b-1", "bucket", 1, 30).await.unwrap();
    assert!(!first.committed);
    // Asked again (an answer lost): the same reservation, taken once.
    assert_eq!(
        store.reserve("acme", "b-1", "bucket", 1, 30).await.unwrap(),
        first
    );
    assert!(matches!(
        store.reserve("acme", "b-1", "bucket", 2, 30).await,
        Err(CreditError::IdTaken { .. })
    ));
    store.reserve("acme", "b-2", "bucket", 1, 30).await.unwrap();
    let refused = store
        .reserve("acme", "b-3", "bucket", 1, 0)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "quota exceeded: tenant `acme` asks for 1 bucket, holds 2 of its limit of 2"
    );
    let (balance, usage) = store.account("acme").await.unwrap();
    assert_eq!(balance, 40);
    assert_eq!(usage["bucket"].used, 2);
    assert_eq!(usage["bucket"].limit, Some(2));

    // Committed: the credits are spent; released: only the unit returns.
    store.commit("acme", "b-1").await.unwrap();
    assert!(store.commit("acme", "b-1").await.unwrap().committed);
    assert!(store.release("acme", "b-1").await.unwrap());
    assert!(
        !store.release("acme", "b-1").await.unwrap(),
        "released once"
    );
    // Not committed: the credits come back too.
    assert!(store.release("acme", "b-2").await.unwrap());
    let (balance, usage) = store.account("acme").await.unwrap();
    assert_eq!(balance, 70);
    assert_eq!(usage["bucket"].used, 0);
    assert!(store.reservations("acme").await.unwrap().is_empty());

    // Credits bound what can be made, whatever the quota.
    let poor = store
        .reserve("acme", "lb-1", "load-balancer", 1, 71)
        .await
        .unwrap_err();
    assert_eq!(
        poor.to_string(),
        "not enough credits: tenant `acme` has 70, the reservation costs 71"
    );
    assert!(matches!(
        store.commit("acme", "nothing").await,
        Err(CreditError::Missing { .. })
    ));

    // A tenant never written has the defaults: 10 buckets, other kinds
    // unlimited, no credits.
    for i in 0..10 {
        store
            .reserve("globex", &format!("b{i}"), "bucket", 1, 0)
            .await
            .unwrap();
    }
    assert!(matches!(
        store.reserve("globex", "b10", "bucket", 1, 0).await,
        Err(CreditError::QuotaExceeded {
            limit: 10,
            used: 10,
            ..
        })
    ));
    store
        .reserve("globex", "r1", "dns-record", 1000, 0)
        .await
        .unwrap();
    // Unsetting a tenant's limit brings the default back.
    store.set_limit("acme", "bucket", None).await.unwrap();
    assert_eq!(
        store
            .account("acme")
            .await
            .unwrap()
            .1
            .get("bucket")
            .map(|u| u.limit),
        Some(Some(10))
    );
}

/// Many reservations at once from separate clients (as several gateways
/// would make them): exactly as many succeed as the quota and the balance
/// allow, and the account adds up to what succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_never_spend_a_unit_or_a_credit_twice() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(CreditStore::new(client(&net).await, "c1", defaults()));
    }
    stores[0].top_up("acme", 1_000).await.unwrap();
    stores[0]
        .set_limit("acme", "bucket", Some(25))
        .await
        .unwrap();

    // 60 buckets at once, each costing 7 credits: the quota (25) binds.
    // Then 40 load balancers at once at 30 credits each, against the 825
    // credits left: the balance binds (27 fit).
    let race = |kind: &'static str, count: usize, from: usize, credits: u64| {
        let tasks: Vec<_> = (from..from + count)
            .map(|i| {
                let store = stores[i % stores.len()].clone();
                tokio::spawn(async move {
                    store
                        .reserve("acme", &format!("r{i}"), kind, 1, credits)
                        .await
                })
            })
            .collect();
        async move {
            let (mut won, mut over_quota, mut too_poor) = (0u64, 0, 0);
            for task in tasks {
                match task.await.unwrap() {
                    Ok(_) => won += 1,
                    Err(CreditError::QuotaExceeded { .. }) => over_quota += 1,
                    Err(CreditError::InsufficientCredits { .. }) => too_poor += 1,
                    Err(e) => panic!("a {kind} reservation: {e}"),
                }
            }
            (won, over_quota, too_poor)
        }
    };
    let (buckets, over_quota, too_poor) = race("bucket", 60, 0, 7).await;
    assert_eq!((buckets, over_quota, too_poor), (25, 35, 0));
    let (balancers, over_quota, too_poor) = race("load-balancer", 40, 60, 30).await;
    assert_eq!((balancers, over_quota, too_poor), (27, 0, 13));
    let (balance, usage) = stores[1].account("acme").await.unwrap();
    assert_eq!(usage["bucket"].used, buckets);
    assert_eq!(usage["load-balancer"].used, balancers);
    assert_eq!(balance, 1_000 - 7 * buckets - 30 * balancers);
    assert_eq!(balance, 15);
    assert_eq!(
        stores[2].reservations("acme").await.unwrap().len() as u64,
        buckets + balancers
    );

    // Every reservation released twice at once, from different clients:
    // each gives back once, and the account returns to its start.
    let ids: Vec<String> = stores[0]
        .reservations("acme")
        .await
        .unwrap()
        .into_keys()
        .collect();
    let mut releases = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        for k in 0..2 {
            let store = stores[(n + k) % stores.len()].clone();
            let id = id.clone();
            releases.push(tokio::spawn(async move {
                store.release("acme", &id).await.unwrap()
            }));
        }
    }
    let mut released = 0;
    for release in releases {
        released += usize::from(release.await.unwrap());
    }
    assert_eq!(released, ids.len());
    let (balance, usage) = stores[3].account("acme").await.unwrap();
    assert_eq!(balance, 1_000);
    assert!(usage.values().all(|u| u.used == 0), "{usage:?}");
}

/// The gRPC API: the admin token (the gateway's) reaches every call; a
/// tenant's photonauth token reads its own account and nothing else; the
/// store's refusals arrive as their gRPC codes with the store's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_the_operator_everything_and_a_tenant_its_own_account() {
    use creditservice::api::proto::credits_client::CreditsClient;
    use creditservice::api::proto::*;
    use e2e::auth::with_token;
    use photonauth::token::{Claims, Signer, now_seconds};

    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let store = CreditStore::new(client(&net).await, "c1", defaults());
    let signer = Signer::from_pkcs8(&Signer::generate().unwrap()).unwrap();
    let token_of = |sub: &str, aud: &str| {
        signer.sign(&Claims {
            sub: sub.to_owned(),
            aud: aud.to_owned(),
            iat: now_seconds(),
            exp: now_seconds() + 60,
        })
    };
    let listener = tokio::net::TcpListener::bind(net.addr(2, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = creditservice::api::CreditApi::server(store, "admin-secret", signer.public_key());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(photon_runtime::grpc::incoming(listener)),
    );
    let mut api = CreditsClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let admin = "admin-secret";

    api.top_up(with_token(
        TopUpRequest {
            tenant: "acme".into(),
            credits: 50,
        },
        admin,
    ))
    .await
    .unwrap();
    let limited = api
        .set_limit(with_token(
            SetLimitRequest {
                tenant: "acme".into(),
                kind: "bucket".into(),
                limit: Some(1),
            },
            admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(limited.balance, 50);
    let reserve = |id: &str| ReserveRequest {
        tenant: "acme".into(),
        id: id.into(),
        kind: "bucket".into(),
        units: 1,
        credits: 20,
    };
    let held = api
        .reserve(with_token(reserve("b1"), admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (held.kind.as_str(), held.credits, held.committed),
        ("bucket", 20, false)
    );
    let over = api
        .reserve(with_token(reserve("b2"), admin))
        .await
        .unwrap_err();
    assert_eq!(over.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        over.message(),
        "quota exceeded: tenant `acme` asks for 1 bucket, holds 1 of its limit of 1"
    );

    // A tenant's token: its own account, read only.
    let acme = token_of("acme/alice", "creditservice");
    let own = api
        .get_account(with_token(
            AccountRequest {
                tenant: String::new(),
            },
            &acme,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((own.tenant.as_str(), own.balance), ("acme", 30));
    assert_eq!(
        own.usage,
        [Usage {
            kind: "bucket".into(),
            used: 1,
            limit: Some(1)
        }]
    );
    let listed = api
        .list_reservations(with_token(
            AccountRequest {
                tenant: "acme".into(),
            },
            &acme,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.reservations.len(), 1);
    let other = api
        .get_account(with_token(
            AccountRequest {
                tenant: "globex".into(),
            },
            &acme,
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        other.message(),
        "a token of tenant `acme` reaches only that tenant's account"
    );
    let spend = api
        .top_up(with_token(
            TopUpRequest {
                tenant: "acme".into(),
                credits: 1,
            },
            &acme,
        ))
        .await
        .unwrap_err();
    assert_eq!(spend.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        spend.message(),
        "TopUp takes the admin token; a token of tenant `acme` cannot"
    );
    let elsewhere = api
        .get_account(with_token(
            AccountRequest::default(),
            &token_of("acme/alice", "photonnet"),
        ))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), tonic::Code::Unauthenticated);
    let bare = api
        .get_account(AccountRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bare.code(), tonic::Code::Unauthenticated);

    // Released before it was committed: the credits come back.
    let released = api
        .release(with_token(
            ReservationRef {
                tenant: "acme".into(),
                id: "b1".into(),
            },
            admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(released.released);
    let missing = api
        .commit(with_token(
            ReservationRef {
                tenant: "acme".into(),
                id: "b1".into(),
            },
            admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let after = api
        .get_account(with_token(
            AccountRequest {
                tenant: "acme".into(),
            },
            admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.balance, 50);
}

/// `creditservice-server` reads the TOML of its module doc; a document it
/// cannot honour is refused with the key named, before anything starts.
#[test]
fn the_server_reads_its_toml_and_names_the_key_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credits.toml");
    let document = |limits: &str| {
        format!(
            r#"
[photon]
mode = "integrated"
component_id = "credits-1"
cluster_id = "prod"
[photon.integrated]
chainfire_endpoints = ["http://127.0.0.1:2379"]
auth_service_endpoint = "http://127.0.0.1:50051"
[standalone.server]
grpc_addr = "127.0.0.1:50053"
[standalone.auth]
admin_token = "t0ken"
{limits}
"#
        )
    };
    let run = |limits: &str, extra: &[&str]| {
        std::fs::write(&file, document(limits)).unwrap();
        let path = file.to_str().unwrap().to_owned();
        let args: Vec<&str> = [&["--config", path.as_str()][..], extra].concat();
        e2e::server_output("creditservice", &args, &[])
    };

    let out = run(
        "[standalone.limits]\ndefault = 100\n[standalone.limits.kinds]\nbucket = 10\nload-balancer = 2",
        &["--print-config"],
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("load-balancer = 2"), "{printed}");
    assert!(printed.contains("default = 100"), "{printed}");
    assert!(
        !printed.contains("t0ken"),
        "secrets are not printed: {printed}"
    );

    let refused = |limits: &str, extra: &[&str]| {
        let out = run(limits, extra);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        stderr
    };
    let bad_kind = refused(
        "[standalone.limits.kinds]\nBuckets = 10",
        &["--print-config"],
    );
    assert!(
        bad_kind.contains("standalone.limits")
            && bad_kind.contains("`Buckets` is not a resource kind"),
        "{bad_kind}"
    );
    let typo = refused("[standalone.limits]\ndefualt = 5", &["--print-config"]);
    assert!(typo.contains("defualt"), "{typo}");
    std::fs::write(
        &file,
        document("").replace("auth_service_endpoint = \"http://127.0.0.1:50051\"\n", ""),
    )
    .unwrap();
    let path = file.to_str().unwrap().to_owned();
    let out = e2e::server_output("creditservice", &["--config", &path, "--print-config"], &[]);
    let no_auth = String::from_utf8_lossy(&out.stderr);
    assert!(
        no_auth.contains("photon.integrated.auth_service_endpoint")
            && no_auth.contains("required: creditservice's tenants are photonauth's"),
        "{no_auth}"
    );
    let alone = refused("", &["--print-config", "--set", "photon.mode=standalone"]);
    assert!(
        alone.contains("creditservice keeps accounts and reservations in chainfire"),
        "{alone}"
    );
}

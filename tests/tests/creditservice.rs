//! `deploy-creditservice`: creditservice's gRPC API in front of its
//! chainfire, driven with a tonic client as the API gateway and tenants
//! will: the operator sets limits and credits and reserves on a tenant's
//! behalf; a tenant's photonauth token (got with its access key) reads its
//! own account only; `/health` and `/metrics` say what is held.

use std::time::Duration;

use creditservice::api::proto::credits_client::CreditsClient;
use creditservice::api::proto::*;
use e2e::auth::{ALLOW_ALL, key_token, user_with_key, with_token};
use e2e::{Loopback, Running};
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use tonic::Code;

fn op<T>(message: T) -> tonic::Request<T> {
    with_token(message, TOKEN)
}

const AUTH_TOKEN: &str = "auth-admin-0123456789abcdef";
const TOKEN: &str = "credits-admin-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_reserves_for_tenants_and_a_tenant_reads_its_own_account() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut deployment = Running::start_with_env(
        "creditservice",
        &[
            "up",
            "--loopback-base",
            &net.base(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &[
            ("PHOTONAUTH_ADMIN_TOKEN", AUTH_TOKEN),
            ("CREDITSERVICE_ADMIN_TOKEN", TOKEN),
        ],
    );
    deployment.wait_for("all services started", Duration::from_secs(60));
    let url = net.url(3, 50053);

    let (code, health) = e2e::http_get(&url, "/health").await;
    assert_eq!(code, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["component"], "creditservice");
    assert_eq!(health["mode"], "integrated");
    assert_eq!(
        health["checks"]["state"],
        "ok: 0 accounts, 0 reservations in chainfire"
    );

    let mut credits = CreditsClient::connect(url.clone()).await.unwrap();
    credits
        .top_up(op(TopUpRequest {
            tenant: "acme".into(),
            credits: 100,
        }))
        .await
        .unwrap();
    // The deployment's default: 2 load balancers a tenant.
    for id in ["lb-1", "lb-2"] {
        credits
            .reserve(op(ReserveRequest {
                tenant: "acme".into(),
                id: id.into(),
                kind: "load-balancer".into(),
                units: 1,
                credits: 10,
            }))
            .await
            .unwrap();
    }
    credits
        .commit(op(ReservationRef {
            tenant: "acme".into(),
            id: "lb-1".into(),
        }))
        .await
        .unwrap();
    let refused = credits
        .reserve(op(ReserveRequest {
            tenant: "acme".into(),
            id: "lb-3".into(),
            kind: "load-balancer".into(),
            units: 1,
            credits: 10,
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(
        refused.message(),
        "quota exceeded: tenant `acme` asks for 1 load-balancer, holds 2 of its limit of 2"
    );

    // A tenant, with a token photonauth signed for its access key.
    let mut auth = PhotonAuthClient::connect(net.url(2, 50051)).await.unwrap();
    let key = user_with_key(&mut auth, AUTH_TOKEN, "acme", "alice", ALLOW_ALL).await;
    let tenant = key_token(&mut auth, &key, "creditservice").await;
    let account = credits
        .get_account(with_token(AccountRequest::default(), &tenant))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((account.tenant.as_str(), account.balance), ("acme", 80));
    let balancers = account
        .usage
        .iter()
        .find(|u| u.kind == "load-balancer")
        .unwrap();
    assert_eq!((balancers.used, balancers.limit), (2, Some(2)));
    let held = credits
        .list_reservations(with_token(AccountRequest::default(), &tenant))
        .await
        .unwrap()
        .into_inner()
        .reservations;
    assert_eq!(held.len(), 2);
    assert!(held.iter().any(|r| r.id == "lb-1" && r.committed));
    let other = credits
        .get_account(with_token(
            AccountRequest {
                tenant: "globex".into(),
            },
            &tenant,
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let reserve = credits
        .reserve(with_token(
            ReserveRequest {
                tenant: "acme".into(),
                id: "mine".into(),
                kind: "bucket".into(),
                units: 1,
                credits: 0,
            },
            &tenant,
        ))
        .await
        .unwrap_err();
    assert_eq!(reserve.code(), Code::PermissionDenied);

    // The census is read every 5 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let metrics = loop {
        let (code, metrics) = e2e::http_get(&url, "/metrics").await;
        assert_eq!(code, 200);
        if metrics.contains("creditservice_reservations 2") {
            break metrics;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(metrics.contains("creditservice_accounts 1"), "{metrics}");
    assert!(
        metrics.contains("creditservice_requests_total{operation=\"creditservice.v1.Credits/Reserve\",code=\"ResourceExhausted\"} 1"),
        "{metrics}"
    );
    assert!(
        !deployment.log().contains(TOKEN),
        "the admin token is never logged"
    );
}

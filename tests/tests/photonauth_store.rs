//! photonauth's state in a real chainfire (`photonauth::store`): tenants,
//! users, keys in the shared key format, policies with deny winning, and
//! tenant boundaries kept by the store's transactions.

use std::sync::Arc;

use e2e::Loopback;
use photonauth::policy::{Decision, Policy};
use photonauth::store::{AuthError, AuthStore};

async fn store(net: &Loopback, dir: &std::path::Path) -> (e2e::Running, AuthStore) {
    let chainfire = e2e::etcd::chainfire_server(net, 1, dir).await;
    let client = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    (chainfire, AuthStore::new(client, "c1"))
}

fn policy(text: &str) -> Policy {
    Policy::parse(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_grants_what_its_users_policies_allow_and_nothing_across_tenants() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let (_chainfire, auth) = store(&net, dir.path()).await;

    for tenant in ["acme", "globex"] {
        auth.create_tenant(tenant).await.unwrap();
        auth.create_user(tenant, "alice").await.unwrap();
    }
    assert_eq!(auth.tenants().await.unwrap(), ["acme", "globex"]);
    assert!(matches!(
        auth.create_tenant("acme").await,
        Err(AuthError::Exists(_))
    ));
    assert!(matches!(
        auth.create_user("acme", "alice").await,
        Err(AuthError::Exists(_))
    ));
    assert!(
        matches!(auth.create_user("initech", "bob").await, Err(AuthError::Missing(what)) if what == "tenant initech")
    );
    assert!(matches!(
        auth.create_key("acme", "bob", "x").await,
        Err(AuthError::Missing(_))
    ));

    auth.put_policy(
        "acme",
        "photos-read",
        &policy(r#"{"statements":[{"effect":"allow","actions":["s3:Get*","s3:List*"],"resources":["photos","photos/*"]}]}"#),
    )
    .await
    .unwrap();
    auth.put_policy(
        "acme",
        "no-secrets",
        &policy(
            r#"{"statements":[{"effect":"deny","actions":["*"],"resources":["photos/secret/*"]}]}"#,
        ),
    )
    .await
    .unwrap();
    auth.attach("acme", "alice", "photos-read").await.unwrap();
    auth.attach("acme", "alice", "no-secrets").await.unwrap();
    // globex's alice cannot be given acme's policy: names are per tenant.
    assert!(matches!(
        auth.attach("globex", "alice", "photos-read").await,
        Err(AuthError::Missing(what)) if what == "policy photos-read of globex"
    ));

    let (id, record) = auth.create_key("acme", "alice", "laptop").await.unwrap();
    assert!(id.starts_with("PK") && id.len() == 20, "{id}");
    assert_eq!(record.secret.len(), 40);
    let grant = auth.lookup(&id).await.unwrap().expect("the key is there");
    assert_eq!(
        (grant.key.tenant.as_str(), grant.key.user.as_str()),
        ("acme", "alice")
    );
    assert_eq!(grant.key.secret, record.secret);
    assert_eq!(
        grant.decide("s3:GetObject", "photos/a.jpg"),
        Decision::Allowed
    );
    assert_eq!(
        grant.decide("s3:GetObject", "photos/secret/b.jpg"),
        Decision::Denied("no-secrets".into()),
        "deny wins"
    );
    assert_eq!(
        grant.decide("s3:PutObject", "photos/a.jpg"),
        Decision::NotAllowed
    );

    // globex's alice has no policy: her key allows nothing.
    let (other, _) = auth.create_key("globex", "alice", "").await.unwrap();
    let globex = auth.lookup(&other).await.unwrap().unwrap();
    assert_eq!(
        globex.decide("s3:GetObject", "photos/a.jpg"),
        Decision::NotAllowed
    );
    assert_eq!(auth.keys_of("globex").await.unwrap().len(), 1);

    // Detached, the deny goes; revoked, the key is gone.
    assert!(auth.detach("acme", "alice", "no-secrets").await.unwrap());
    let grant = auth.lookup(&id).await.unwrap().unwrap();
    assert_eq!(
        grant.decide("s3:GetObject", "photos/secret/b.jpg"),
        Decision::Allowed
    );
    assert!(auth.revoke_key(&id).await.unwrap());
    assert!(!auth.revoke_key(&id).await.unwrap());
    assert_eq!(auth.lookup(&id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creators_of_one_tenant_get_one_tenant_and_bad_names_are_refused() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let (_chainfire, auth) = store(&net, dir.path()).await;
    let auth = Arc::new(auth);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.create_tenant("contested").await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(AuthError::Exists(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    for bad in ["", "Acme", "-acme", "a/b", "a b", &"a".repeat(65)] {
        assert!(
            matches!(
                auth.create_tenant(bad).await,
                Err(AuthError::BadName { .. })
            ),
            "{bad:?} was taken as a tenant name"
        );
    }
    assert!(matches!(
        auth.put_policy("contested", "../x", &policy(r#"{"statements":[]}"#))
            .await,
        Err(AuthError::BadName { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_gives_its_policies_to_every_user_who_has_it() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let (_chainfire, auth) = store(&net, dir.path()).await;
    auth.create_tenant("acme").await.unwrap();
    auth.create_tenant("globex").await.unwrap();
    for user in ["alice", "bob"] {
        auth.create_user("acme", user).await.unwrap();
    }
    auth.create_user("globex", "gina").await.unwrap();
    auth.put_policy(
        "acme",
        "read",
        &policy(
            r#"{"statements":[{"effect":"allow","actions":["s3:Get*"],"resources":["photos/*"]}]}"#,
        ),
    )
    .await
    .unwrap();
    auth.put_policy(
        "acme",
        "no-private",
        &policy(r#"{"statements":[{"effect":"deny","actions":["*"],"resources":["photos/private/*"]}]}"#),
    )
    .await
    .unwrap();
    auth.create_role("acme", "readers").await.unwrap();
    assert!(matches!(
        auth.create_role("acme", "readers").await,
        Err(AuthError::Exists(_))
    ));
    assert!(matches!(
        auth.create_role("initech", "readers").await,
        Err(AuthError::Missing(what)) if what == "tenant initech"
    ));
    assert!(matches!(
        auth.create_role("acme", "Readers!").await,
        Err(AuthError::BadName { .. })
    ));
    auth.attach_to_role("acme", "readers", "read")
        .await
        .unwrap();
    auth.attach_to_role("acme", "readers", "no-private")
        .await
        .unwrap();
    assert!(matches!(
        auth.attach_to_role("acme", "readers", "missing").await,
        Err(AuthError::Missing(what)) if what == "policy missing of acme"
    ));
    // Another tenant's role or user cannot be named: names are per tenant.
    assert!(matches!(
        auth.grant_role("globex", "gina", "readers").await,
        Err(AuthError::Missing(what)) if what == "role readers of globex"
    ));
    assert_eq!(auth.roles("acme").await.unwrap(), ["readers"]);
    assert!(auth.roles("globex").await.unwrap().is_empty());

    let (alice, _) = auth.create_key("acme", "alice", "").await.unwrap();
    let (bob, _) = auth.create_key("acme", "bob", "").await.unwrap();
    let decide =
        |grant: &photonauth::store::Grant, resource: &str| grant.decide("s3:GetObject", resource);
    auth.grant_role("acme", "alice", "readers").await.unwrap();
    let grant = auth.lookup(&alice).await.unwrap().unwrap();
    assert_eq!(decide(&grant, "photos/a.jpg"), Decision::Allowed);
    assert_eq!(
        decide(&grant, "photos/private/b.jpg"),
        Decision::Denied("readers/no-private".into())
    );
    let bobs = auth.lookup(&bob).await.unwrap().unwrap();
    assert_eq!(decide(&bobs, "photos/a.jpg"), Decision::NotAllowed);

    // Changing the role changes every holder; taking it back takes it all.
    assert!(
        auth.detach_from_role("acme", "readers", "no-private")
            .await
            .unwrap()
    );
    assert!(
        !auth
            .detach_from_role("acme", "readers", "no-private")
            .await
            .unwrap()
    );
    let grant = auth.lookup(&alice).await.unwrap().unwrap();
    assert_eq!(decide(&grant, "photos/private/b.jpg"), Decision::Allowed);
    assert!(auth.revoke_role("acme", "alice", "readers").await.unwrap());
    assert!(!auth.revoke_role("acme", "alice", "readers").await.unwrap());
    let grant = auth.lookup(&alice).await.unwrap().unwrap();
    assert_eq!(decide(&grant, "photos/a.jpg"), Decision::NotAllowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_elsewhere_is_imported_unchanged_once() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let (_chainfire, auth) = store(&net, dir.path()).await;
    auth.create_tenant("acme").await.unwrap();
    auth.create_user("acme", "legacy").await.unwrap();
    let (id, secret) = (
        "LK0123456789ABCDEF01",
        "an-old-lightningstor-secret-0123456789ab",
    );
    assert!(
        auth.import_key("acme", "legacy", id, secret, "old")
            .await
            .unwrap()
    );
    assert!(
        !auth
            .import_key("acme", "legacy", id, secret, "old")
            .await
            .unwrap(),
        "the same key again is no change"
    );
    let grant = auth.lookup(id).await.unwrap().unwrap();
    assert_eq!(
        (
            grant.key.tenant.as_str(),
            grant.key.user.as_str(),
            grant.key.secret.as_str()
        ),
        ("acme", "legacy", secret)
    );
    // Another key under the id, a malformed id or secret, a missing user:
    // refused, the secret never echoed.
    let other = auth
        .import_key("acme", "legacy", id, "a-different-secret-0123456789", "")
        .await
        .unwrap_err();
    assert!(matches!(other, AuthError::Exists(_)), "{other}");
    let bad_id = auth
        .import_key("acme", "legacy", "lk-lower", secret, "")
        .await
        .unwrap_err();
    assert!(matches!(bad_id, AuthError::BadName { .. }), "{bad_id}");
    let short = auth
        .import_key("acme", "legacy", "LK0000000000000000AA", "short", "")
        .await
        .unwrap_err();
    assert!(!short.to_string().contains("short"), "{short}");
    assert!(matches!(
        auth.import_key("acme", "nobody", "LK0000000000000000BB", secret, "").await,
        Err(AuthError::Missing(what)) if what == "user nobody of acme"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_asking_at_once_share_one_token_signing_key() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let (_chainfire, auth) = store(&net, dir.path()).await;
    let auth = Arc::new(auth);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.signing_key().await.unwrap() })
        })
        .collect();
    let mut keys = Vec::new();
    for task in tasks {
        keys.push(task.await.unwrap());
    }
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "one key for every replica"
    );
    let signer = photonauth::token::Signer::from_pkcs8(&keys[0]).unwrap();
    assert_eq!(signer.public_key().len(), 32);
    assert_eq!(auth.signing_key().await.unwrap(), keys[0], "and it stays");

    // The service secret is made the same way, and is another value.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.service_secret().await.unwrap() })
        })
        .collect();
    let mut secrets = Vec::new();
    for task in tasks {
        secrets.push(task.await.unwrap());
    }
    assert!(secrets.windows(2).all(|w| w[0] == w[1]), "{secrets:?}");
    assert!(secrets[0].len() >= 40, "{}", secrets[0]);
}

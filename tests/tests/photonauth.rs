//! `deploy-photonauth`: photonauth's gRPC API in front of its chainfire,
//! driven with a tonic client as `photonctl auth` and integrated services
//! will: tenants, users, keys, policies, `Authorize` with deny winning; the
//! admin token required; bad input answered with the gRPC code a client
//! expects; no secret in the log.

use std::time::Duration;

use e2e::auth::with_token;
use e2e::{Loopback, Running};
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonauth::api::proto::*;
use tonic::Code;

const TOKEN: &str = "admin-token-0123456789abcdef";

fn op<T>(message: T) -> tonic::Request<T> {
    with_token(message, TOKEN)
}

/// `deploy-photonauth up` on `net` (chainfire on `.1`, photonauth on
/// `.2`), its state in a fresh directory, the admin token [`TOKEN`].
fn up(net: &Loopback) -> (Running, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let env = [("PHOTONAUTH_ADMIN_TOKEN", TOKEN)];
    let deployment = Running::up(
        "photonauth",
        net,
        state.path(),
        &env,
        Duration::from_secs(60),
    );
    (deployment, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_manages_tenants_and_authorize_answers_with_deny_winning() {
    let net = Loopback::block();
    let (mut deployment, _state) = up(&net);
    let mut auth = PhotonAuthClient::connect(net.url(2, 50051)).await.unwrap();

    // `/health` and `/metrics` share the gRPC port, as etcd's do.
    let (code, health) = e2e::http_get(&net.url(2, 50051), "/health").await;
    assert_eq!(code, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["component"], "photonauth");
    assert_eq!(health["mode"], "integrated");
    assert_eq!(health["checks"]["state"], "ok: 0 tenants in chainfire");
    let (code, metrics) = e2e::http_get(&net.url(2, 50051), "/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.contains("photonauth_tenants 0"), "{metrics}");

    // Who may call.
    let err = auth.list_tenants(ListTenantsRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = auth
        .list_tenants(with_token(ListTenantsRequest {}, "wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    for tenant in ["acme", "globex"] {
        auth.create_tenant(op(CreateTenantRequest {
            tenant: tenant.into(),
        }))
        .await
        .unwrap();
        auth.create_user(op(CreateUserRequest {
            tenant: tenant.into(),
            user: "alice".into(),
        }))
        .await
        .unwrap();
    }
    let err = auth
        .create_tenant(op(CreateTenantRequest {
            tenant: "acme".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = auth
        .create_user(op(CreateUserRequest {
            tenant: "initech".into(),
            user: "bob".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::NotFound, "tenant initech does not exist")
    );
    let err = auth
        .create_tenant(op(CreateTenantRequest {
            tenant: "Bad Name".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = auth
        .put_policy(op(PutPolicyRequest {
            tenant: "acme".into(),
            name: "broken".into(),
            document:
                r#"{"statements":[{"effect":"allow","actions":["GetObject"],"resources":["*"]}]}"#
                    .into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("policy broken: statement 0: action `GetObject`"),
        "{}",
        err.message()
    );

    for (name, document) in [
        (
            "photos-read",
            r#"{"statements":[{"effect":"allow","actions":["s3:Get*"],"resources":["photos/*"]}]}"#,
        ),
        (
            "no-secrets",
            r#"{"statements":[{"effect":"deny","actions":["*"],"resources":["photos/secret/*"]}]}"#,
        ),
    ] {
        auth.put_policy(op(PutPolicyRequest {
            tenant: "acme".into(),
            name: name.into(),
            document: document.into(),
        }))
        .await
        .unwrap();
        auth.attach_policy(op(AttachPolicyRequest {
            tenant: "acme".into(),
            user: "alice".into(),
            policy: name.into(),
        }))
        .await
        .unwrap();
    }
    let key = auth
        .create_access_key(op(CreateAccessKeyRequest {
            tenant: "acme".into(),
            user: "alice".into(),
            description: "laptop".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let ask = |action: &str, resource: &str| {
        op(AuthorizeRequest {
            access_key_id: key.access_key_id.clone(),
            action: action.into(),
            resource: resource.into(),
        })
    };
    let allowed = auth
        .authorize(ask("s3:GetObject", "photos/a.jpg"))
        .await
        .unwrap()
        .into_inner();
    assert!(allowed.allowed);
    assert_eq!(
        (allowed.tenant.as_str(), allowed.user.as_str()),
        ("acme", "alice")
    );
    let denied = auth
        .authorize(ask("s3:GetObject", "photos/secret/b.jpg"))
        .await
        .unwrap()
        .into_inner();
    assert!(!denied.allowed);
    assert_eq!(denied.reason, "denied by policy no-secrets");
    let silent = auth
        .authorize(ask("s3:PutObject", "photos/a.jpg"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (silent.allowed, silent.reason.as_str()),
        (false, "no policy allows it")
    );

    // Another tenant's user of the same name has none of it.
    let theirs = auth
        .create_access_key(op(CreateAccessKeyRequest {
            tenant: "globex".into(),
            user: "alice".into(),
            description: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let across = auth
        .authorize(op(AuthorizeRequest {
            access_key_id: theirs.access_key_id.clone(),
            action: "s3:GetObject".into(),
            resource: "photos/a.jpg".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((across.allowed, across.tenant.as_str()), (false, "globex"));
    let listed = auth
        .list_access_keys(op(ListAccessKeysRequest {
            tenant: "acme".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.keys.len(), 1);
    assert_eq!(listed.keys[0].access_key_id, key.access_key_id);

    // A service token: issued with the admin token, verified offline with
    // the public key (which needs no token to fetch).
    let issued = auth
        .issue_token(op(IssueTokenRequest {
            subject: "lightningstor".into(),
            audience: "photonnet".into(),
            ttl_seconds: 60,
        }))
        .await
        .unwrap()
        .into_inner();
    let public = auth
        .public_key(PublicKeyRequest {})
        .await
        .unwrap()
        .into_inner()
        .ed25519;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = photonauth::token::verify(&public, &issued.token, "photonnet", now).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.exp),
        ("lightningstor", issued.expires_at)
    );
    assert!(photonauth::token::verify(&public, &issued.token, "flashdns", now).is_err());
    assert!(
        photonauth::token::verify(&public, &issued.token, "photonnet", issued.expires_at).is_err()
    );
    let err = auth
        .issue_token(op(IssueTokenRequest {
            subject: "lightningstor".into(),
            audience: "photonnet".into(),
            ttl_seconds: 86_400,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Only an integrated service, holding the cluster's service secret from
    // chainfire, learns a key's secret: not the admin token, not nobody.
    let resolve = |bearer: Option<&str>| {
        let mut request = tonic::Request::new(ResolveKeyRequest {
            access_key_id: key.access_key_id.clone(),
        });
        if let Some(bearer) = bearer {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {bearer}").parse().unwrap());
        }
        request
    };
    let err = auth.resolve_key(resolve(None)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = auth.resolve_key(resolve(Some(TOKEN))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let chainfire = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let service_secret = photonauth::store::AuthStore::new(chainfire, "photonauth")
        .service_secret()
        .await
        .unwrap();
    let resolved = auth
        .resolve_key(resolve(Some(&service_secret)))
        .await
        .unwrap()
        .into_inner();
    assert!(resolved.found);
    assert_eq!(
        (resolved.tenant.as_str(), resolved.user.as_str()),
        ("acme", "alice")
    );
    assert_eq!(resolved.secret_access_key, key.secret_access_key);
    let mut names: Vec<&str> = resolved.policies.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["no-secrets", "photos-read"]);

    // Revoked: gone.
    auth.revoke_access_key(op(RevokeAccessKeyRequest {
        access_key_id: key.access_key_id.clone(),
    }))
    .await
    .unwrap();
    let err = auth
        .authorize(ask("s3:GetObject", "photos/a.jpg"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    deployment.signal("TERM");
    assert!(
        deployment.wait(Duration::from_secs(30)).0.success(),
        "{}",
        deployment.log()
    );
    let log = deployment.log();
    assert!(
        log.contains(&key.access_key_id),
        "key ids are logged: {log}"
    );
    for secret in [
        TOKEN,
        &key.secret_access_key,
        &theirs.secret_access_key,
        &issued.token,
        &service_secret,
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photonctl_auth_administers_it_from_the_command_line() {
    let net = Loopback::block();
    let (_deployment, state) = up(&net);
    let token = state.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let policy = state.path().join("read.json");
    std::fs::write(
        &policy,
        r#"{"statements":[{"effect":"allow","actions":["s3:Get*"],"resources":["photos/*"]}]}"#,
    )
    .unwrap();
    let endpoint = net.url(2, 50051);
    let ctl = |args: &[&str]| {
        let all = [
            &[
                "auth",
                "--endpoint",
                endpoint.as_str(),
                "--token-file",
                token.to_str().unwrap(),
            ][..],
            args,
        ]
        .concat();
        let out = e2e::tool_output("photonctl", &all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(
        ctl(&["tenant", "create", "acme"]).1,
        "tenant acme created\n"
    );
    assert_eq!(
        ctl(&["user", "create", "--tenant", "acme", "alice"]).1,
        "user alice of acme created\n"
    );
    assert_eq!(
        ctl(&[
            "policy",
            "put",
            "--tenant",
            "acme",
            "--name",
            "read",
            "--file",
            policy.to_str().unwrap()
        ])
        .1,
        "policy read of acme stored\n"
    );
    assert_eq!(
        ctl(&[
            "policy", "attach", "--tenant", "acme", "--user", "alice", "--policy", "read"
        ])
        .1,
        "policy read attached to alice of acme\n"
    );
    let (code, created, _) = ctl(&[
        "key",
        "create",
        "--tenant",
        "acme",
        "--user",
        "alice",
        "--description",
        "laptop",
    ]);
    assert_eq!(code, Some(0));
    let id = created
        .lines()
        .find_map(|l| l.strip_prefix("access_key_id = "))
        .unwrap()
        .to_owned();
    let secret = created
        .lines()
        .find_map(|l| l.strip_prefix("secret_access_key = "))
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 40);
    let (code, listed, _) = ctl(&["key", "list", "--tenant", "acme"]);
    assert_eq!(
        (code, listed.as_str()),
        (Some(0), format!("{id}  alice  laptop\n").as_str())
    );
    assert!(!listed.contains(&secret), "a listing shows no secret");

    let (code, out, _) = ctl(&[
        "authorize",
        "--key",
        &id,
        "--action",
        "s3:GetObject",
        "--resource",
        "photos/a.jpg",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (
            Some(0),
            "allowed s3:GetObject on photos/a.jpg for alice of acme: allowed\n"
        )
    );
    let (code, out, _) = ctl(&[
        "authorize",
        "--key",
        &id,
        "--action",
        "s3:PutObject",
        "--resource",
        "photos/a.jpg",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (
            Some(1),
            "denied  s3:PutObject on photos/a.jpg for alice of acme: no policy allows it\n"
        )
    );

    let (code, _, err) = ctl(&["tenant", "create", "Bad"]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("photonctl: InvalidArgument: tenant `Bad`: must start with"),
        "{err}"
    );
    let out = e2e::tool_output(
        "photonctl",
        &["auth", "--endpoint", &endpoint, "tenant", "list"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PHOTONAUTH_ADMIN_TOKEN or --token-file"),
        "{out:?}"
    );
    assert_eq!(
        ctl(&["key", "revoke", &id]).1,
        format!("access key {id} revoked\n")
    );
}

/// `photonauth-server --config <file>` with `text` as the file, the admin
/// token in its environment.
fn photonauth_server(dir: &std::path::Path, text: &str) -> Running {
    let config = dir.join("photonauth.toml");
    std::fs::write(&config, text).unwrap();
    let state = dir.join("state");
    Running::start_server(
        "photonauth",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[("PHOTONAUTH_ADMIN_TOKEN", TOKEN)],
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photonauth_server_runs_from_the_toml_a_deployment_exports() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;

    // What deploy-photonauth would run on its `auth` node, as TOML.
    let exported = e2e::export_config(
        "photonauth",
        "auth",
        "photonauth",
        &net.base(),
        dir.path().join("exported").to_str().unwrap(),
    );
    assert!(exported.contains("mode = \"integrated\""), "{exported}");
    assert!(
        exported.contains(&format!(
            "chainfire_endpoints = [\"http://{}\"]",
            net.addr(1, 2379)
        )),
        "{exported}"
    );
    assert!(
        exported.contains("admin_token_env = \"PHOTONAUTH_ADMIN_TOKEN\""),
        "{exported}"
    );
    assert!(
        exported.contains(&format!("grpc_addr = \"{}\"", net.addr(2, 50051))),
        "{exported}"
    );

    let mut server = photonauth_server(dir.path(), &exported);
    server.wait_for("all services started", Duration::from_secs(30));
    let mut auth = PhotonAuthClient::connect(net.url(2, 50051)).await.unwrap();
    auth.create_tenant(op(CreateTenantRequest {
        tenant: "acme".into(),
    }))
    .await
    .unwrap();
    // Its state is the cluster's (`photonauth`, the deployment's name).
    let mut etcd = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let tenant = etcd
        .get("/photon/clusters/photonauth/photonauth/t/acme", None)
        .await
        .unwrap();
    assert_eq!(tenant.count(), 1);
    let (code, health) = e2e::http_get(&net.url(2, 50051), "/health").await;
    assert_eq!(code, 200, "{health}");
    server.signal("TERM");
    assert!(
        server.wait(Duration::from_secs(30)).0.success(),
        "{}",
        server.log()
    );
}

#[test]
fn a_photonauth_server_that_could_not_keep_its_state_is_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        e2e::last_words(
            "photonauth",
            &["--config", config.to_str().unwrap(), "--print-config"],
            &[],
        )
    };
    let (code, last) =
        check("[photon]\nmode = \"standalone\"\n[standalone.auth]\nadmin_token_env = \"T\"\n");
    assert_eq!(code, Some(2), "{last}");
    assert!(
        last.contains("`photon.mode`")
            && last.contains("keeps tenants, users and keys in chainfire"),
        "{last}"
    );
    let (code, last) = check(
        "[photon]\nmode = \"integrated\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\nfallback_to_standalone = true\n[standalone.auth]\nadmin_token_env = \"T\"\n",
    );
    assert_eq!(code, Some(2), "{last}");
    assert!(last.contains("cannot fall back to standalone"), "{last}");
    let (code, last) = check(
        "[photon]\nmode = \"integrated\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\n",
    );
    assert_eq!(code, Some(2), "{last}");
    assert!(
        last.contains("`standalone.auth`") && last.contains("required: the admin token"),
        "{last}"
    );
    let (code, last) = check(
        "[photon]\nmode = \"integrated\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\n[standalone.auth]\nadmin_token = \"x\"\nadmin_token_env = \"T\"\n",
    );
    assert_eq!(code, Some(2), "{last}");
    assert!(last.contains("give the admin token one way only"), "{last}");
    assert!(!last.contains("\"x\""), "the value is not echoed: {last}");
}

//! `deploy-lightningstor-photonauth`: lightningstor integrated with
//! photonauth, driven with the AWS SDK holding two tenants' keys made
//! through photonauth's API. Every S3 operation lightningstor serves is
//! tried by one tenant on the other's bucket and refused, with nothing
//! changed; policies (direct and through a role, deny winning) decide what
//! a tenant's own key may do; a revoked key stops working within
//! photonauth's cache time; unsigned, badly signed, expired and unknown
//! requests get the errors S3 clients expect; no secret reaches the log.
//! `deploy-lightningstor-hybrid` does the same with lightningstor's
//! metadata kept local (hybrid mode), from its compiled spec and from the
//! TOML it exports.

use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use e2e::auth::ALLOW_ALL;
use e2e::s3::{client_with, code, raw, raw_with_a_pause};
use e2e::{Loopback, Running};
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonauth::api::proto::*;
use tonic::transport::Channel;

const ADMIN_TOKEN: &str = "tenants-admin-token-0123456789";
const OPERATOR_SECRET: &str = "tenants-operator-secret-0123456789";

fn op<T>(message: T) -> tonic::Request<T> {
    e2e::auth::with_token(message, ADMIN_TOKEN)
}

/// The deployment on `net`: chainfire `.1`, photonauth `.2`, lightningstor
/// `.3`.
struct Stack {
    deployment: Running,
    state: tempfile::TempDir,
    auth: PhotonAuthClient<Channel>,
    s3: String,
}

async fn up(net: &Loopback) -> Stack {
    up_as("lightningstor-photonauth", net).await
}

/// [`up`] of deployment `name` (the same three nodes).
async fn up_as(name: &str, net: &Loopback) -> Stack {
    let state = tempfile::tempdir().unwrap();
    let env = [
        ("PHOTONAUTH_ADMIN_TOKEN", ADMIN_TOKEN),
        ("LIGHTNINGSTOR_SECRET_KEY", OPERATOR_SECRET),
    ];
    let deployment = Running::up(name, net, state.path(), &env, Duration::from_secs(90));
    let auth = PhotonAuthClient::connect(net.url(2, 50051)).await.unwrap();
    Stack {
        deployment,
        state,
        auth,
        s3: net.url(3, 9000),
    }
}

impl Stack {
    /// A tenant with user `user` holding policy `document`: the user's key.
    async fn tenant(&mut self, tenant: &str, user: &str, document: &str) -> (String, String) {
        e2e::auth::user_with_key(&mut self.auth, ADMIN_TOKEN, tenant, user, document).await
    }

    async fn key(&mut self, tenant: &str, user: &str) -> (String, String) {
        e2e::auth::new_key(&mut self.auth, ADMIN_TOKEN, tenant, user).await
    }

    fn client(&self, key: &(String, String)) -> Client {
        client_with(&self.s3, &key.0, &key.1)
    }
}

/// The HTTP status and S3 code of a refused SDK call.
fn refusal<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    result: Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> (u16, String) {
    let err = match result {
        Ok(answer) => panic!("{what} was allowed: {answer:?}"),
        Err(e) => e,
    };
    let status = err
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|| panic!("{what}: no response: {err:?}"));
    let code = err
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("<none>")
        .to_owned();
    (status, code)
}

/// Refused as another tenant's bucket is: 403 AccessDenied (HEAD answers
/// carry no body, hence no code).
fn denied<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    result: Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) {
    let (status, said) = refusal(what, result);
    assert_eq!(status, 403, "{what}: {said}");
    assert!(
        said == "AccessDenied" || (said == "<none>" && what.starts_with("head")),
        "{what}: {said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_can_neither_see_nor_touch_another_tenants_buckets() {
    let net = Loopback::block();
    let mut stack = up(&net).await;
    let acme_key = stack.tenant("acme", "alice", ALLOW_ALL).await;
    let globex_key = stack.tenant("globex", "gina", ALLOW_ALL).await;
    let (acme, globex) = (stack.client(&acme_key), stack.client(&globex_key));
    let operator = client_with(&stack.s3, "PHOTONADMIN", OPERATOR_SECRET);

    acme.create_bucket()
        .bucket("acme-data")
        .send()
        .await
        .unwrap();
    acme.put_object()
        .bucket("acme-data")
        .key("doc.txt")
        .body(ByteStream::from_static(b"acme's secret plans"))
        .send()
        .await
        .unwrap();
    acme.put_object_tagging()
        .bucket("acme-data")
        .key("doc.txt")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("team")
                        .value("red")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let acme_upload = acme
        .create_multipart_upload()
        .bucket("acme-data")
        .key("big")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    globex
        .create_bucket()
        .bucket("globex-data")
        .send()
        .await
        .unwrap();
    globex
        .put_object()
        .bucket("globex-data")
        .key("g")
        .body(ByteStream::from_static(b"globex"))
        .send()
        .await
        .unwrap();

    // Each tenant lists its own buckets; the operator lists all.
    let names = |out: aws_sdk_s3::operation::list_buckets::ListBucketsOutput| -> Vec<String> {
        out.buckets()
            .iter()
            .map(|b| b.name().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(acme.list_buckets().send().await.unwrap()),
        ["acme-data"]
    );
    assert_eq!(
        names(globex.list_buckets().send().await.unwrap()),
        ["globex-data"]
    );
    assert_eq!(
        names(operator.list_buckets().send().await.unwrap()),
        ["acme-data", "globex-data"]
    );

    // globex tries every operation on acme's bucket.
    let (b, k) = ("acme-data", "doc.txt");
    denied("head_bucket", globex.head_bucket().bucket(b).send().await);
    denied(
        "get_bucket_location",
        globex.get_bucket_location().bucket(b).send().await,
    );
    denied(
        "list_objects_v2",
        globex.list_objects_v2().bucket(b).send().await,
    );
    denied("list_objects", globex.list_objects().bucket(b).send().await);
    denied(
        "get_object",
        globex.get_object().bucket(b).key(k).send().await,
    );
    denied(
        "head_object",
        globex.head_object().bucket(b).key(k).send().await,
    );
    for key in [k, "new"] {
        denied(
            "put_object",
            globex
                .put_object()
                .bucket(b)
                .key(key)
                .body(ByteStream::from_static(b"overwritten"))
                .send()
                .await,
        );
    }
    denied(
        "delete_object",
        globex.delete_object().bucket(b).key(k).send().await,
    );
    denied(
        "delete_objects",
        globex
            .delete_objects()
            .bucket(b)
            .delete(
                Delete::builder()
                    .objects(ObjectIdentifier::builder().key(k).build().unwrap())
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
    );
    denied(
        "copy_object into acme's bucket",
        globex
            .copy_object()
            .bucket(b)
            .key("planted")
            .copy_source("globex-data/g")
            .send()
            .await,
    );
    denied(
        "copy_object out of acme's bucket",
        globex
            .copy_object()
            .bucket("globex-data")
            .key("stolen")
            .copy_source(format!("{b}/{k}"))
            .send()
            .await,
    );
    denied(
        "create_multipart_upload",
        globex
            .create_multipart_upload()
            .bucket(b)
            .key("mp")
            .send()
            .await,
    );
    denied(
        "upload_part",
        globex
            .upload_part()
            .bucket(b)
            .key("big")
            .upload_id(&acme_upload)
            .part_number(1)
            .body(ByteStream::from_static(b"part"))
            .send()
            .await,
    );
    denied(
        "list_parts",
        globex
            .list_parts()
            .bucket(b)
            .key("big")
            .upload_id(&acme_upload)
            .send()
            .await,
    );
    denied(
        "complete_multipart_upload",
        globex
            .complete_multipart_upload()
            .bucket(b)
            .key("big")
            .upload_id(&acme_upload)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag("x").build())
                    .build(),
            )
            .send()
            .await,
    );
    denied(
        "abort_multipart_upload",
        globex
            .abort_multipart_upload()
            .bucket(b)
            .key("big")
            .upload_id(&acme_upload)
            .send()
            .await,
    );
    denied(
        "list_multipart_uploads",
        globex.list_multipart_uploads().bucket(b).send().await,
    );
    let own_upload = globex
        .create_multipart_upload()
        .bucket("globex-data")
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    denied(
        "upload_part_copy out of acme's bucket",
        globex
            .upload_part_copy()
            .bucket("globex-data")
            .key("mp")
            .upload_id(&own_upload)
            .part_number(1)
            .copy_source(format!("{b}/{k}"))
            .send()
            .await,
    );
    denied(
        "get_object_tagging",
        globex.get_object_tagging().bucket(b).key(k).send().await,
    );
    denied(
        "put_object_tagging",
        globex
            .put_object_tagging()
            .bucket(b)
            .key(k)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .set_tag_set(Some(Vec::new()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
    );
    denied(
        "delete_object_tagging",
        globex.delete_object_tagging().bucket(b).key(k).send().await,
    );
    denied(
        "delete_bucket",
        globex.delete_bucket().bucket(b).send().await,
    );
    let (status, said) = refusal(
        "create_bucket over acme's",
        globex.create_bucket().bucket(b).send().await,
    );
    assert_eq!((status, said.as_str()), (409, "BucketAlreadyExists"));
    let (status, said) = refusal(
        "create_bucket again",
        acme.create_bucket().bucket(b).send().await,
    );
    assert_eq!((status, said.as_str()), (409, "BucketAlreadyOwnedByYou"));
    // A URL globex presigns for acme's object opens nothing.
    let presigned = globex
        .get_object()
        .bucket(b)
        .key(k)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let (status, body) = raw(presigned.uri(), "GET", b"").await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("<Code>AccessDenied</Code>"));

    // Nothing of acme's changed.
    assert_eq!(
        e2e::s3::get_bytes(&acme, b, k).await,
        b"acme's secret plans"
    );
    let listed = acme.list_objects_v2().bucket(b).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [k]);
    let tags = acme
        .get_object_tagging()
        .bucket(b)
        .key(k)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    let uploads = acme
        .list_multipart_uploads()
        .bucket(b)
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert!(
        globex
            .head_object()
            .bucket("globex-data")
            .key("stolen")
            .send()
            .await
            .is_err()
    );
    // The operator's key reaches every tenant's bucket.
    assert_eq!(
        e2e::s3::get_bytes(&operator, b, k).await,
        b"acme's secret plans"
    );

    // A request is let in by its access check, and its bucket may change
    // hands before it writes: a PUT whose body is still coming when acme's
    // bucket is deleted and made again by globex is refused when it lands,
    // and globex's bucket holds nothing of it.
    acme.create_bucket()
        .bucket("handed-over")
        .send()
        .await
        .unwrap();
    let late = acme
        .put_object()
        .bucket("handed-over")
        .key("late.bin")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let body = e2e::s3::pattern(256 * 1024, 7);
    let (status, answer) = raw_with_a_pause(late.uri(), "PUT", &body, async {
        // Time for the request to pass its check and start on the body.
        tokio::time::sleep(Duration::from_millis(500)).await;
        acme.delete_bucket()
            .bucket("handed-over")
            .send()
            .await
            .unwrap();
        globex
            .create_bucket()
            .bucket("handed-over")
            .send()
            .await
            .unwrap();
    })
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
    let listed = globex
        .list_objects_v2()
        .bucket("handed-over")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0), "{listed:?}");

    // /health: nothing of lightningstor is left local but its bytes.
    let (status, health) = e2e::http_get(&stack.s3, "/health").await;
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["checks"]["mode"], "ok", "{health}");

    // No secret in the log: not the tenants', the operator's, the admin
    // token, nor the service secret lightningstor and photonauth share.
    let chainfire = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let service_secret = photonauth::store::AuthStore::new(chainfire, "lightningstor-photonauth")
        .service_secret()
        .await
        .unwrap();
    stack.deployment.signal("INT");
    stack.deployment.wait(Duration::from_secs(30));
    let log = stack.deployment.log();
    assert!(log.contains("keys_checked_by"), "{log}");
    for secret in [
        acme_key.1.as_str(),
        globex_key.1.as_str(),
        OPERATOR_SECRET,
        ADMIN_TOKEN,
        &service_secret,
    ] {
        assert!(!log.contains(secret), "a secret is in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_roles_decide_what_a_tenants_key_may_do_and_revocation_ends_it() {
    let net = Loopback::block();
    let mut stack = up(&net).await;
    let owner_key = stack.tenant("acme", "alice", ALLOW_ALL).await;
    let owner = stack.client(&owner_key);
    owner.create_bucket().bucket("photos").send().await.unwrap();
    owner
        .put_object()
        .bucket("photos")
        .key("a.jpg")
        .body(ByteStream::from_static(b"jpeg"))
        .send()
        .await
        .unwrap();

    // bob reads through a role; a deny on one object wins over it.
    let read = r#"{"statements": [{"effect": "allow", "actions": ["s3:Get*", "s3:List*", "s3:HeadObject"], "resources": ["photos", "photos/*"]}]}"#;
    let no_secret = r#"{"statements": [{"effect": "deny", "actions": ["s3:*"], "resources": ["photos/private/*"]}]}"#;
    let auth = &mut stack.auth;
    auth.create_user(op(CreateUserRequest {
        tenant: "acme".into(),
        user: "bob".into(),
    }))
    .await
    .unwrap();
    for (name, document) in [("read", read), ("no-private", no_secret)] {
        auth.put_policy(op(PutPolicyRequest {
            tenant: "acme".into(),
            name: name.into(),
            document: document.into(),
        }))
        .await
        .unwrap();
    }
    auth.create_role(op(CreateRoleRequest {
        tenant: "acme".into(),
        role: "readers".into(),
    }))
    .await
    .unwrap();
    auth.attach_role_policy(op(AttachRolePolicyRequest {
        tenant: "acme".into(),
        role: "readers".into(),
        policy: "read".into(),
    }))
    .await
    .unwrap();
    auth.grant_role(op(GrantRoleRequest {
        tenant: "acme".into(),
        user: "bob".into(),
        role: "readers".into(),
    }))
    .await
    .unwrap();
    auth.attach_policy(op(AttachPolicyRequest {
        tenant: "acme".into(),
        user: "bob".into(),
        policy: "no-private".into(),
    }))
    .await
    .unwrap();
    let bob_key = stack.key("acme", "bob").await;
    let bob = stack.client(&bob_key);
    owner
        .put_object()
        .bucket("photos")
        .key("private/x.jpg")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();

    assert_eq!(e2e::s3::get_bytes(&bob, "photos", "a.jpg").await, b"jpeg");
    let listed = bob.list_objects_v2().bucket("photos").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2));
    let (status, said) = refusal(
        "bob's put",
        bob.put_object()
            .bucket("photos")
            .key("b.jpg")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
    );
    assert_eq!((status, said.as_str()), (403, "AccessDenied"));
    let (status, said) = refusal(
        "bob's read of a private photo",
        bob.get_object()
            .bucket("photos")
            .key("private/x.jpg")
            .send()
            .await,
    );
    assert_eq!((status, said.as_str()), (403, "AccessDenied"));
    let err = bob
        .delete_object()
        .bucket("photos")
        .key("a.jpg")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .and_then(|e| e.message())
            .is_some_and(|m| m.contains("s3:DeleteObject on photos/a.jpg")
                && m.contains("no policy allows it")),
        "{err:?}"
    );

    // A batch delete is judged key by key: refused keys are listed as
    // errors and kept, allowed ones deleted.
    owner
        .put_object()
        .bucket("photos")
        .key("tmp.jpg")
        .body(ByteStream::from_static(b"scratch"))
        .send()
        .await
        .unwrap();
    let batch = |keys: &[&str]| {
        Delete::builder()
            .set_objects(Some(
                keys.iter()
                    .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    let answer = bob
        .delete_objects()
        .bucket("photos")
        .delete(batch(&["a.jpg"]))
        .send()
        .await
        .unwrap();
    assert!(answer.deleted().is_empty(), "{answer:?}");
    assert_eq!(answer.errors().len(), 1);
    assert_eq!(answer.errors()[0].code(), Some("AccessDenied"));
    assert_eq!(e2e::s3::get_bytes(&bob, "photos", "a.jpg").await, b"jpeg");
    let answer = owner
        .delete_objects()
        .bucket("photos")
        .delete(batch(&["tmp.jpg"]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.deleted().len(), 1, "{answer:?}");
    assert!(answer.errors().is_empty());

    // Requests S3 clients get wrong, each with the error they expect.
    let (status, body) = raw(&format!("{}/photos/a.jpg", stack.s3), "GET", b"").await;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    let (status, body) = e2e::s3::raw_with(
        &format!("{}/photos/a.jpg", stack.s3),
        "GET",
        &[("authorization", "AWS4-HMAC-SHA256 Credential=garbage")],
        b"",
    )
    .await;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidRequest</Code>"), "{body}");
    assert!(body.contains("authorization"), "{body}");
    let wrong = client_with(
        &stack.s3,
        &bob_key.0,
        "not-bobs-secret-0123456789abcdef01234567",
    );
    let err = wrong
        .get_object()
        .bucket("photos")
        .key("a.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err.into_service_error()), "SignatureDoesNotMatch");
    // A request signed 20 minutes ago (captured and replayed) is refused:
    // SigV4 is good for 15 minutes. (Without retries: the SDK would correct
    // its clock from the answer and sign anew.)
    let replayed = aws_sdk_s3::Client::from_conf(
        client_with(&stack.s3, &bob_key.0, &bob_key.1)
            .config()
            .to_builder()
            .time_source(aws_smithy_async::time::StaticTimeSource::new(
                std::time::SystemTime::now() - Duration::from_secs(20 * 60),
            ))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    );
    let (status, said) = refusal(
        "a replayed request",
        replayed
            .get_object()
            .bucket("photos")
            .key("a.jpg")
            .send()
            .await,
    );
    assert_eq!((status, said.as_str()), (403, "RequestTimeTooSkewed"));
    let unknown = client_with(&stack.s3, "PK000000000000000000", "whatever-secret");
    let err = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&err.into_service_error()), "InvalidAccessKeyId");
    let expired = bob
        .get_object()
        .bucket("photos")
        .key("a.jpg")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(1)).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = raw(expired.uri(), "GET", b"").await;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("expired"), "{body}");

    // Taking the role away, then revoking the key, each reach lightningstor
    // within photonauth's cache time (5 s).
    stack
        .auth
        .revoke_role(op(RevokeRoleRequest {
            tenant: "acme".into(),
            user: "bob".into(),
            role: "readers".into(),
        }))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        match bob.get_object().bucket("photos").key("a.jpg").send().await {
            Ok(_) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "role still works"
            ),
            Err(e) => {
                assert_eq!(code(&e.into_service_error()), "AccessDenied");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack
        .auth
        .revoke_access_key(op(RevokeAccessKeyRequest {
            access_key_id: owner_key.0.clone(),
        }))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        match owner.list_buckets().send().await {
            Ok(_) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "key still works"
            ),
            Err(e) => {
                assert_eq!(code(&e.into_service_error()), "InvalidAccessKeyId");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_keeps_metadata_local_while_photonauth_owns_the_keys() {
    let net = Loopback::block();
    let mut stack = up_as("lightningstor-hybrid", &net).await;
    let acme_key = stack.tenant("acme", "alice", ALLOW_ALL).await;
    let globex_key = stack.tenant("globex", "gina", ALLOW_ALL).await;
    let (acme, globex) = (stack.client(&acme_key), stack.client(&globex_key));
    acme.create_bucket()
        .bucket("acme-data")
        .send()
        .await
        .unwrap();
    acme.put_object()
        .bucket("acme-data")
        .key("doc.txt")
        .body(ByteStream::from_static(b"kept on the node"))
        .send()
        .await
        .unwrap();
    denied(
        "get_object across tenants",
        globex
            .get_object()
            .bucket("acme-data")
            .key("doc.txt")
            .send()
            .await,
    );
    assert!(
        globex
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .is_empty()
    );

    let (status, health) = e2e::http_get(&stack.s3, "/health").await;
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["mode"], "hybrid", "{health}");
    assert_eq!(
        health["checks"]["mode"],
        "hybrid: metadata local; requests checked by photonauth"
    );
    assert!(
        health["checks"]["metadata"]
            .as_str()
            .unwrap()
            .contains("rocksdb"),
        "{health}"
    );
    // Registered in chainfire, with none of its metadata there.
    let mut chainfire = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let cluster = "/photon/clusters/lightningstor-hybrid";
    let registered = chainfire
        .get(format!("{cluster}/components/lightningstor/storage"), None)
        .await
        .unwrap();
    assert_eq!(registered.kvs().len(), 1);
    let metadata = chainfire
        .get(
            format!("{cluster}/lightningstor/"),
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_count_only(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(metadata.count(), 0);

    // The same from TOML: the node's exported configuration says hybrid,
    // and lightningstor-server run from it serves the same objects to the
    // same tenants.
    let state = stack.state.path().to_str().unwrap().to_owned();
    let toml = e2e::export_config(
        "lightningstor-hybrid",
        "storage",
        "lightningstor",
        &net.base(),
        &state,
    );
    for line in [
        "mode = \"hybrid\"",
        "auth_backend = \"integrated\"",
        "metadata_backend = \"local\"",
        &format!("auth_endpoint = \"{}\"", net.url(2, 50051)),
    ] {
        assert!(toml.contains(line), "{line} missing from:\n{toml}");
    }
    stack.deployment.signal("INT");
    stack.deployment.wait(Duration::from_secs(30));
    let mut platform: Vec<Running> = ["kv", "auth"]
        .iter()
        .map(|node| {
            e2e::etcd::run_node_with_env(
                "lightningstor-hybrid",
                node,
                &net.to_string(),
                stack.state.path(),
                &[("PHOTONAUTH_ADMIN_TOKEN", ADMIN_TOKEN)],
            )
        })
        .collect();
    for node in &mut platform {
        node.wait_for("all services started", Duration::from_secs(60));
    }
    let config = stack.state.path().join("lightningstor.toml");
    std::fs::write(&config, &toml).unwrap();
    let mut server = Running::start_server(
        "lightningstor",
        &["--config", config.to_str().unwrap()],
        &[("LIGHTNINGSTOR_SECRET_KEY", OPERATOR_SECRET)],
        None,
    );
    server.wait_for("lightningstor listening", Duration::from_secs(60));
    assert_eq!(
        e2e::s3::get_bytes(&acme, "acme-data", "doc.txt").await,
        b"kept on the node"
    );
    denied(
        "get_object across tenants, from TOML",
        globex
            .get_object()
            .bucket("acme-data")
            .key("doc.txt")
            .send()
            .await,
    );
    let (_, health) = e2e::http_get(&stack.s3, "/health").await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["mode"], "hybrid", "{health}");
}

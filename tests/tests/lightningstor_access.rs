//! Who may use lightningstor: STS temporary credentials (through the AWS
//! SDK's own STS client) and the independent `s3s-e2e` suite run in full.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sts::config::{Credentials, Region};
use aws_sdk_sts::error::ProvideErrorMetadata as _;
use e2e::Loopback;
use e2e::s3::{
    KEY_ID, SECRET, client, client_with, client_with_token, code, raw, raw_with, start, up,
};

fn sts_client(endpoint: &str, id: &str, secret: &str, token: Option<&str>) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            id,
            secret,
            token.map(str::to_owned),
            None,
            "e2e",
        ))
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// An S3 client with temporary credentials (and the token, if given).
fn session_client(
    endpoint: &str,
    creds: &aws_sdk_sts::types::Credentials,
    token: Option<&str>,
) -> aws_sdk_s3::Client {
    client_with_token(
        endpoint,
        creds.access_key_id(),
        creds.secret_access_key(),
        token,
    )
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_credentials_work_with_their_token_only_and_survive_a_restart() {
    let net = Loopback::block();
    let store = up(&net).await;
    let s3 = client(&store);
    s3.create_bucket().bucket("team").send().await.unwrap();

    let sts = sts_client(&store.endpoint, KEY_ID, SECRET, None);
    let assumed = sts
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/uploader")
        .role_session_name("ci-run-1")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let creds = assumed.credentials().unwrap().clone();
    assert_ne!(creds.access_key_id(), KEY_ID);
    assert!(creds.secret_access_key().len() >= 40);
    assert!(creds.session_token().len() >= 40);
    let lifetime = creds.expiration().secs() - now_secs();
    assert!((850..=960).contains(&lifetime), "expires in {lifetime} s");
    let user = assumed.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::lightningstor:assumed-role/uploader/ci-run-1"
    );

    // With the token: full use of the S3 API.
    let session = session_client(&store.endpoint, &creds, Some(creds.session_token()));
    session
        .put_object()
        .bucket("team")
        .key("report.txt")
        .body(ByteStream::from_static(b"made with a session"))
        .send()
        .await
        .unwrap();
    let back = session
        .get_object()
        .bucket("team")
        .key("report.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.body.collect().await.unwrap().into_bytes().as_ref(),
        b"made with a session"
    );

    // Without it, or with another, nothing.
    let no_token = session_client(&store.endpoint, &creds, None);
    let err = no_token.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&err.into_service_error()), "InvalidToken");
    let wrong_token = session_client(&store.endpoint, &creds, Some("not-the-token"));
    let err = wrong_token
        .get_object()
        .bucket("team")
        .key("report.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err.into_service_error()), "InvalidToken");

    // A presigned URL made with temporary credentials carries the token.
    let presigned = session
        .get_object()
        .bucket("team")
        .key("report.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    assert!(presigned.uri().contains("X-Amz-Security-Token="));
    let (status, body) = raw(presigned.uri(), "GET", b"").await;
    assert_eq!(status, 200);
    assert_eq!(body, b"made with a session");
    let stripped: String = presigned
        .uri()
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-Security-Token="))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _) = raw(&stripped, "GET", b"").await;
    assert_eq!(status, 403, "a presigned URL without its token");

    // A session may ask for another; it ends no later than its own.
    let chained = sts_client(
        &store.endpoint,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
    .assume_role()
    .role_arn("arn:aws:iam::000000000000:role/reader")
    .role_session_name("chained")
    .duration_seconds(3600)
    .send()
    .await
    .unwrap();
    let chained = chained.credentials().unwrap().clone();
    assert!(chained.expiration().secs() <= creds.expiration().secs());
    session_client(&store.endpoint, &chained, Some(chained.session_token()))
        .head_object()
        .bucket("team")
        .key("report.txt")
        .send()
        .await
        .unwrap();

    // STS errors come back in STS's shape, which the SDK reads.
    let err = sts
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/uploader")
        .role_session_name("too-short")
        .duration_seconds(60)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));
    assert!(err.message().unwrap_or("").contains("DurationSeconds"));
    let err = sts_client(&store.endpoint, KEY_ID, "wrong-secret", None)
        .assume_role()
        .role_arn("r")
        .role_session_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.raw_response()
            .is_some_and(|r| r.status().as_u16() == 403)
    );
    let (status, body) = raw_with(
        &format!("{}/", store.endpoint),
        "POST",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"Action=AssumeRole&Version=2011-06-15&RoleArn=r&RoleSessionName=anon",
    )
    .await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 403, "unsigned AssumeRole: {body}");
    assert!(!body.contains("SecretAccessKey"), "{body}");

    // Sessions are stored: a restart keeps them working.
    let e2e::s3::Store { running, state, .. } = store;
    drop(running);
    let store = start(&net, state).await;
    let session = session_client(&store.endpoint, &creds, Some(creds.session_token()));
    let listed = session
        .list_objects_v2()
        .bucket("team")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_e2e_suite_passes_in_full() {
    let net = Loopback::block();
    let suite = e2e::installed_tool("s3s-e2e");
    let listed = tokio::process::Command::new(&suite)
        .arg("--list")
        .output()
        .await
        .expect("s3s-e2e runs");
    let cases: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|line| line.split('/').count() == 3)
        .map(str::to_owned)
        .collect();
    assert!(cases.len() >= 18, "s3s-e2e lists only {cases:?}");

    let store = up(&net).await;
    let out = tokio::process::Command::new(&suite)
        .arg("--run-ignored")
        .env("AWS_ENDPOINT_URL", &store.endpoint)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("s3s-e2e runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "s3s-e2e failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // Every listed case ran and passed (none skipped).
    for case in &cases {
        let line = format!("[{case}]");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("PASSED") && l.ends_with(&line)),
            "{case} did not pass:\n{stdout}"
        );
    }
}

type AdminClient =
    lightningstor::admin::proto::admin_client::AdminClient<tonic::transport::Channel>;

/// A request to the admin API with these credentials.
fn admin_request<T>(message: T, id: &str, secret: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(lightningstor::admin::ACCESS_KEY_HEADER, id.parse().unwrap());
    metadata.insert("authorization", format!("Bearer {secret}").parse().unwrap());
    request
}

/// A request to the admin API with the operator's credentials.
fn op<T>(message: T) -> tonic::Request<T> {
    admin_request(message, KEY_ID, SECRET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_reports_buckets_and_makes_and_revokes_keys_for_the_operator_only() {
    let net = Loopback::block();
    use lightningstor::admin::proto::*;
    let store = up(&net).await;
    let s3 = client(&store);
    let mut admin = AdminClient::connect(net.url(1, 9001)).await.unwrap();

    // Who may call it.
    let err = admin.list_buckets(ListBucketsRequest {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = admin
        .list_buckets(admin_request(ListBucketsRequest {}, KEY_ID, "wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // Bucket statistics.
    s3.create_bucket().bucket("logs").send().await.unwrap();
    s3.create_bucket().bucket("empty").send().await.unwrap();
    for (key, len) in [("a", 10usize), ("b/c", 2000), ("d", 0)] {
        s3.put_object()
            .bucket("logs")
            .key(key)
            .body(ByteStream::from(vec![7u8; len]))
            .send()
            .await
            .unwrap();
    }
    s3.create_multipart_upload()
        .bucket("logs")
        .key("big")
        .send()
        .await
        .unwrap();
    let listed = admin
        .list_buckets(op(ListBucketsRequest {}))
        .await
        .unwrap()
        .into_inner();
    let stats: Vec<_> = listed
        .buckets
        .iter()
        .map(|b| (b.name.as_str(), b.objects, b.bytes, b.open_uploads))
        .collect();
    assert_eq!(stats, [("empty", 0, 0, 0), ("logs", 3, 2010, 1)]);
    let one = admin
        .get_bucket_stats(op(GetBucketStatsRequest {
            bucket: "logs".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((one.objects, one.bytes), (3, 2010));
    assert!(one.created_ms > 0);
    let err = admin
        .get_bucket_stats(op(GetBucketStatsRequest {
            bucket: "nope".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // A new key works against S3 at once, but not against the admin API.
    let made = admin
        .create_access_key(op(CreateAccessKeyRequest {
            description: "nightly backups".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let backups = client_with(
        &store.endpoint,
        &made.access_key_id,
        &made.secret_access_key,
    );
    backups
        .put_object()
        .bucket("logs")
        .key("from-backups")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let err = admin
        .list_buckets(admin_request(
            ListBucketsRequest {},
            &made.access_key_id,
            &made.secret_access_key,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // Its sessions are listed with it, and revoking it ends them too.
    let session = sts_client(
        &store.endpoint,
        &made.access_key_id,
        &made.secret_access_key,
        None,
    )
    .assume_role()
    .role_arn("arn:aws:iam::000000000000:role/backup")
    .role_session_name("restore")
    .send()
    .await
    .unwrap();
    let session = session.credentials().unwrap().clone();
    let keys = admin
        .list_access_keys(op(ListAccessKeysRequest {}))
        .await
        .unwrap()
        .into_inner()
        .keys;
    let permanent = keys
        .iter()
        .find(|k| k.access_key_id == made.access_key_id)
        .unwrap();
    assert_eq!(permanent.description, "nightly backups");
    assert_eq!(permanent.expires_ms, None);
    let temporary = keys
        .iter()
        .find(|k| k.access_key_id == session.access_key_id())
        .unwrap();
    assert_eq!(temporary.parent, made.access_key_id);
    assert!(temporary.expires_ms.is_some());
    assert!(
        keys.iter().all(|k| k.access_key_id != KEY_ID),
        "the operator's key is configuration, not a managed key"
    );

    admin
        .revoke_access_key(op(RevokeAccessKeyRequest {
            access_key_id: made.access_key_id.clone(),
        }))
        .await
        .unwrap();
    let err = backups.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&err.into_service_error()), "InvalidAccessKeyId");
    let err = session_client(&store.endpoint, &session, Some(session.session_token()))
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err.into_service_error()), "InvalidAccessKeyId");
    let err = admin
        .revoke_access_key(op(RevokeAccessKeyRequest {
            access_key_id: made.access_key_id.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = admin
        .revoke_access_key(op(RevokeAccessKeyRequest {
            access_key_id: KEY_ID.into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    s3.list_buckets().send().await.unwrap();
}

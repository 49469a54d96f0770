//! lightningstor driven by the AWS Rust SDK (`aws-sdk-s3`, a real S3
//! client): path-style, SigV4, presigned URLs, multipart, ranges, listing.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use e2e::Loopback;
use e2e::s3::{KEY_ID, SECRET, client, client_with, code, md5_hex, pattern, raw, up};
use md5::{Digest as _, Md5};
use tokio::io::AsyncReadExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_objects_metadata_ranges_conditions_copy_and_errors() {
    let net = Loopback::block();
    let store = up(&net).await;
    let s3 = client(&store);

    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.head_bucket().bucket("photos").send().await.unwrap();
    let again = s3
        .create_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again.into_service_error()), "BucketAlreadyOwnedByYou");
    let listed = s3.list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["photos"]);
    let reserved = s3
        .create_bucket()
        .bucket("health")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&reserved.into_service_error()), "InvalidBucketName");

    // Put with metadata and a content type; get it all back.
    let body = pattern(100_000, 1);
    let put = s3
        .put_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .content_type("image/jpeg")
        .metadata("camera", "x100")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&body));
    assert_eq!(put.e_tag(), Some(etag.as_str()));
    let got = s3
        .get_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("image/jpeg"));
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(
        got.metadata().unwrap().get("camera").map(String::as_str),
        Some("x100")
    );
    assert_eq!(got.content_length(), Some(100_000));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), body);

    // Ranges: a middle, a suffix, and one past the end.
    let part = s3
        .get_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 10-19/100000"));
    assert_eq!(
        part.body.collect().await.unwrap().into_bytes(),
        &body[10..20]
    );
    let tail = s3
        .get_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .range("bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tail.body.collect().await.unwrap().into_bytes(),
        &body[body.len() - 5..]
    );
    let past = s3
        .get_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .range("bytes=200000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&past.into_service_error()), "InvalidRange");

    // Conditions.
    let unchanged = s3
        .get_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        unchanged.raw_response().map(|r| r.status().as_u16()),
        Some(304)
    );
    let mismatch = s3
        .get_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .if_match("\"0000\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        mismatch.raw_response().map(|r| r.status().as_u16()),
        Some(412)
    );
    let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let not_modified = s3
        .get_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .if_modified_since(future)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        not_modified.raw_response().map(|r| r.status().as_u16()),
        Some(304)
    );
    let head = s3
        .head_object()
        .bucket("photos")
        .key("2026/cat.jpg")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(100_000));

    // Content-MD5 that does not match is refused and stores nothing.
    let wrong_md5 = s3
        .put_object()
        .bucket("photos")
        .key("bad-md5")
        .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_md5.into_service_error()), "BadDigest");
    let missing = s3
        .head_object()
        .bucket("photos")
        .key("bad-md5")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_not_found());

    // Copy keeps the data and metadata; REPLACE swaps the metadata.
    s3.copy_object()
        .bucket("photos")
        .key("copy.jpg")
        .copy_source("photos/2026/cat.jpg")
        .send()
        .await
        .unwrap();
    let copy = s3
        .head_object()
        .bucket("photos")
        .key("copy.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(copy.e_tag(), Some(etag.as_str()));
    assert_eq!(
        copy.metadata().unwrap().get("camera").map(String::as_str),
        Some("x100")
    );
    s3.copy_object()
        .bucket("photos")
        .key("copy.jpg")
        .copy_source("photos/copy.jpg")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("camera", "film")
        .send()
        .await
        .unwrap();
    let copy = s3
        .get_object()
        .bucket("photos")
        .key("copy.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copy.metadata().unwrap().get("camera").map(String::as_str),
        Some("film")
    );
    assert_eq!(copy.body.collect().await.unwrap().into_bytes(), body);

    // Keys are data: path tricks round-trip and stay inside the data dir.
    let tricky = [
        "../../etc/passwd",
        "a//b",
        "/leading",
        "dots/./../x",
        "ünïcode ☃",
        "%2e%2e/x",
    ];
    for key in tricky {
        s3.put_object()
            .bucket("photos")
            .key(key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    for key in tricky {
        let got = s3
            .get_object()
            .bucket("photos")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes(),
            key.as_bytes(),
            "{key:?}"
        );
    }
    let outside: Vec<_> = e2e::s3::files_under(store.state.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "passwd" || n == "x"))
        .collect();
    assert!(outside.is_empty(), "a key became a path: {outside:?}");
    // NUL cannot travel in a listing's XML, so such a key is refused.
    let nul = s3
        .put_object()
        .bucket("photos")
        .key("nul\0byte")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&nul.into_service_error()), "InvalidArgument");
    let too_long = s3
        .put_object()
        .bucket("photos")
        .key("k".repeat(1025))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&too_long.into_service_error()), "KeyTooLongError");

    // Errors with S3's codes.
    let no_key = s3
        .get_object()
        .bucket("photos")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_key.into_service_error()), "NoSuchKey");
    let no_bucket = s3
        .get_object()
        .bucket("nobucket")
        .key("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_bucket.into_service_error()), "NoSuchBucket");
    let not_empty = s3
        .delete_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&not_empty.into_service_error()), "BucketNotEmpty");
    let bad_secret = client_with(&store.endpoint, KEY_ID, "not-the-secret")
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&bad_secret.into_service_error()),
        "SignatureDoesNotMatch"
    );
    let bad_id = client_with(&store.endpoint, "NOBODY", SECRET)
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_id.into_service_error()), "InvalidAccessKeyId");

    // An unsigned request gets an S3 error document, never the data.
    let (status, answer) = raw(
        &format!("{}/photos/2026/cat.jpg", store.endpoint),
        "GET",
        b"",
    )
    .await;
    assert_eq!(status, 403);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");

    // Batch delete, then the bucket can go.
    let mut keys: Vec<String> = tricky.iter().map(|k| k.to_string()).collect();
    keys.extend([
        "2026/cat.jpg".into(),
        "copy.jpg".into(),
        "never-existed".into(),
    ]);
    let delete = Delete::builder()
        .set_objects(Some(
            keys.iter()
                .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
                .collect(),
        ))
        .build()
        .unwrap();
    let deleted = s3
        .delete_objects()
        .bucket("photos")
        .delete(delete)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted().len(), keys.len());
    assert!(deleted.errors().is_empty());
    s3.delete_bucket().bucket("photos").send().await.unwrap();
    let gone = s3.head_bucket().bucket("photos").send().await.unwrap_err();
    assert!(gone.into_service_error().is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_1100_keys_with_delimiters_and_continuation() {
    let net = Loopback::block();
    let store = up(&net).await;
    let s3 = client(&store);
    s3.create_bucket().bucket("logs").send().await.unwrap();
    let mut expected = Vec::new();
    for day in 0..11 {
        for n in 0..100 {
            expected.push(format!("day{day:02}/{n:03}.log"));
        }
    }
    expected.push("top.txt".into());
    let puts = expected.iter().map(|key| {
        let s3 = s3.clone();
        let key = key.clone();
        async move {
            s3.put_object()
                .bucket("logs")
                .key(&key)
                .body(ByteStream::from(key.clone().into_bytes()))
                .send()
                .await
                .unwrap();
        }
    });
    futures_join(puts).await;
    expected.sort();

    // Every key, 1000 per page, through continuation tokens.
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("logs")
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if !page.is_truncated().unwrap() {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, expected);

    // The delimiter rolls days up; max-keys pages through the prefixes.
    let mut prefixes = Vec::new();
    let mut files = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("logs")
            .delimiter("/")
            .max_keys(4)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        prefixes.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_owned()),
        );
        files.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        assert!(page.key_count().unwrap() <= 4);
        if !page.is_truncated().unwrap() {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    let days: Vec<String> = (0..11).map(|d| format!("day{d:02}/")).collect();
    assert_eq!(prefixes, days);
    assert_eq!(files, ["top.txt"]);

    // Prefix plus start-after.
    let page = s3
        .list_objects_v2()
        .bucket("logs")
        .prefix("day03/")
        .start_after("day03/097.log")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["day03/098.log", "day03/099.log"]);

    // Version 1 with a marker.
    let v1 = s3
        .list_objects()
        .bucket("logs")
        .prefix("day10/")
        .marker("day10/050.log")
        .max_keys(10)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.contents().len(), 10);
    assert_eq!(v1.contents()[0].key(), Some("day10/051.log"));
    assert!(v1.is_truncated().unwrap());
}

async fn futures_join<F: std::future::Future<Output = ()> + Send + 'static>(
    tasks: impl Iterator<Item = F>,
) {
    let tasks: Vec<_> = tasks.collect();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut handles = Vec::new();
    for task in tasks {
        let permit = limit.clone().acquire_owned().await.unwrap();
        handles.push(tokio::spawn(async move {
            task.await;
            drop(permit);
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
}

/// Part `number` of upload `id` of `key` in bucket `big`: its entry for
/// CompleteMultipartUpload.
async fn upload_part(
    s3: &Client,
    key: &str,
    id: &str,
    number: i32,
    bytes: Vec<u8>,
) -> CompletedPart {
    let part = s3
        .upload_part()
        .bucket("big")
        .key(key)
        .upload_id(id)
        .part_number(number)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(number)
        .e_tag(part.e_tag().unwrap())
        .build()
}

/// CompleteMultipartUpload of `key` in bucket `big` with `parts`.
async fn complete(
    s3: &Client,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
) -> Result<
    aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError,
    >,
> {
    s3.complete_multipart_upload()
        .bucket("big")
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_of_100_mib_in_5_mib_parts_and_its_errors() {
    let net = Loopback::block();
    let store = up(&net).await;
    let s3 = client(&store);
    s3.create_bucket().bucket("big").send().await.unwrap();
    const PART: usize = 5 * 1024 * 1024;
    const PARTS: usize = 20;

    let upload = s3
        .create_multipart_upload()
        .bucket("big")
        .key("disk.img")
        .content_type("application/octet-stream")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap().to_owned();
    let mut whole = Md5::new();
    let mut part_md5s = Vec::new();
    let mut completed = Vec::new();
    for n in 1..=PARTS {
        let bytes = pattern(PART, n as u8);
        whole.update(&bytes);
        part_md5s.extend(Md5::digest(&bytes));
        completed.push(upload_part(&s3, "disk.img", &id, n as i32, bytes).await);
    }
    let parts = s3
        .list_parts()
        .bucket("big")
        .key("disk.img")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), PARTS);
    let uploads = s3
        .list_multipart_uploads()
        .bucket("big")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);

    // Out of order and unknown parts are refused.
    let mut shuffled = completed.clone();
    shuffled.swap(0, 1);
    let wrong_order = complete(&s3, "disk.img", &id, shuffled).await.unwrap_err();
    assert_eq!(code(&wrong_order.into_service_error()), "InvalidPartOrder");
    let mut unknown = completed.clone();
    unknown.push(
        CompletedPart::builder()
            .part_number(99)
            .e_tag("\"00\"")
            .build(),
    );
    let unknown = complete(&s3, "disk.img", &id, unknown).await.unwrap_err();
    assert_eq!(code(&unknown.into_service_error()), "InvalidPart");

    let done = complete(&s3, "disk.img", &id, completed).await.unwrap();
    let expected_etag = format!("\"{}-{PARTS}\"", md5_hex(&part_md5s));
    assert_eq!(done.e_tag(), Some(expected_etag.as_str()));

    // Read back streaming, compared by digest; a range across a part edge.
    let got = s3
        .get_object()
        .bucket("big")
        .key("disk.img")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some((PART * PARTS) as i64));
    assert_eq!(got.e_tag(), Some(expected_etag.as_str()));
    let mut body = got.body.into_async_read();
    let mut digest = Md5::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = body.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
    }
    assert_eq!(digest.finalize(), whole.finalize());
    let edge = s3
        .get_object()
        .bucket("big")
        .key("disk.img")
        .range(format!("bytes={}-{}", PART - 3, PART + 2))
        .send()
        .await
        .unwrap();
    let edge = edge.body.collect().await.unwrap().into_bytes();
    let mut expected = pattern(PART, 1)[PART - 3..].to_vec();
    expected.extend_from_slice(&pattern(PART, 2)[..3]);
    assert_eq!(edge, expected);
    assert!(
        s3.list_multipart_uploads()
            .bucket("big")
            .send()
            .await
            .unwrap()
            .uploads()
            .is_empty()
    );

    // A small part that is not the last is refused; abort removes the upload.
    let small = s3
        .create_multipart_upload()
        .bucket("big")
        .key("small")
        .send()
        .await
        .unwrap();
    let small_id = small.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let part = s3
            .upload_part()
            .bucket("big")
            .key("small")
            .upload_id(&small_id)
            .part_number(n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    let too_small = complete(&s3, "small", &small_id, parts).await.unwrap_err();
    assert_eq!(code(&too_small.into_service_error()), "EntityTooSmall");
    s3.abort_multipart_upload()
        .bucket("big")
        .key("small")
        .upload_id(&small_id)
        .send()
        .await
        .unwrap();
    let aborted = s3
        .list_parts()
        .bucket("big")
        .key("small")
        .upload_id(&small_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&aborted.into_service_error()), "NoSuchUpload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_and_put_work_and_a_tampered_one_does_not() {
    let net = Loopback::block();
    let store = up(&net).await;
    let s3 = client(&store);
    s3.create_bucket().bucket("share").send().await.unwrap();
    let presigning = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();

    let put = s3
        .put_object()
        .bucket("share")
        .key("note.txt")
        .presigned(presigning.clone())
        .await
        .unwrap();
    let (status, _) = raw(put.uri(), "PUT", b"presigned hello").await;
    assert_eq!(status, 200);

    let get = s3
        .get_object()
        .bucket("share")
        .key("note.txt")
        .presigned(presigning.clone())
        .await
        .unwrap();
    let (status, body) = raw(get.uri(), "GET", b"").await;
    assert_eq!(status, 200);
    assert_eq!(body, b"presigned hello");

    let tampered = get.uri().replace("note.txt", "other.txt");
    let (status, body) = raw(&tampered, "GET", b"").await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awscli_and_s3cmd_interop_script_passes() {
    let net = Loopback::block();
    let store = up(&net).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/s3.sh");
    let out = tokio::process::Command::new("bash")
        .args([script, &store.endpoint, KEY_ID, SECRET])
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "interop script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all interop checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_hosted_style_under_the_base_domain_and_path_style_everywhere() {
    let net = Loopback::block();
    let store = up(&net).await;
    let addr = &format!("{net}.1:9000");
    let s3 = client(&store);
    s3.create_bucket().bucket("photos").send().await.unwrap();
    // The deployment's base domain is `s3.localhost`: the SDK, told so,
    // puts the bucket in the host name.
    let vhost = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .endpoint_url("http://s3.localhost:9000")
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                KEY_ID, SECRET, None, None, "e2e",
            ))
            .build(),
    );
    let presigning = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();

    let put = vhost
        .put_object()
        .bucket("photos")
        .key("cat.jpg")
        .presigned(presigning.clone())
        .await
        .unwrap();
    assert!(
        put.uri()
            .starts_with("http://photos.s3.localhost:9000/cat.jpg")
    );
    let (status, _) = e2e::s3::raw_via(addr, put.uri(), "PUT", &[], b"meow").await;
    assert_eq!(status, 200);
    let back = s3
        .get_object()
        .bucket("photos")
        .key("cat.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.body.collect().await.unwrap().into_bytes().as_ref(),
        b"meow"
    );

    // Under a bucket's host, `/health` is an object key like any other.
    s3.put_object()
        .bucket("photos")
        .key("health")
        .body(ByteStream::from_static(b"an object called health"))
        .send()
        .await
        .unwrap();
    let get = vhost
        .get_object()
        .bucket("photos")
        .key("health")
        .presigned(presigning.clone())
        .await
        .unwrap();
    let (status, body) = e2e::s3::raw_via(addr, get.uri(), "GET", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(body, b"an object called health");

    // Path-style with the base domain, or any other name, still works.
    for endpoint in ["http://s3.localhost:9000", "http://localhost:9000"] {
        let path_style = client_with(endpoint, KEY_ID, SECRET);
        let get = path_style
            .get_object()
            .bucket("photos")
            .key("cat.jpg")
            .presigned(presigning.clone())
            .await
            .unwrap();
        assert!(get.uri().contains(":9000/photos/cat.jpg"), "{}", get.uri());
        let (status, body) = e2e::s3::raw_via(addr, get.uri(), "GET", &[], b"").await;
        assert_eq!((status, body.as_slice()), (200, b"meow".as_slice()));
    }
    // A bucket host under another domain is not ours to interpret.
    let (status, body) = e2e::s3::raw_via(
        addr,
        "http://photos.elsewhere.example:9000/cat.jpg",
        "GET",
        &[],
        b"",
    )
    .await;
    assert_ne!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// The HTTP status of an SDK error (HEAD errors have no body to name them).
fn http_status<E>(e: &aws_sdk_s3::error::SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_head_by_part_number_and_the_type_of_an_untyped_object() {
    let net = Loopback::block();
    let store = up(&net).await;
    let s3 = client(&store);
    s3.create_bucket().bucket("big").send().await.unwrap();
    const PART: usize = 5 * 1024 * 1024;
    let sizes = [PART, PART, 1024];
    let upload = s3
        .create_multipart_upload()
        .bucket("big")
        .key("three")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap().to_owned();
    let mut completed = Vec::new();
    let mut bodies = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        let n = i as i32 + 1;
        let bytes = pattern(size, n as u8);
        completed.push(upload_part(&s3, "three", &id, n, bytes.clone()).await);
        bodies.push(bytes);
    }
    complete(&s3, "three", &id, completed).await.unwrap();
    let total: usize = sizes.iter().sum();

    // Each part alone, with where it lies in the object and how many there are.
    let mut start = 0;
    for (i, body) in bodies.iter().enumerate() {
        let n = i as i32 + 1;
        let got = s3
            .get_object()
            .bucket("big")
            .key("three")
            .part_number(n)
            .send()
            .await
            .unwrap();
        let range = format!("bytes {start}-{}/{total}", start + body.len() - 1);
        assert_eq!(got.content_length(), Some(body.len() as i64), "part {n}");
        assert_eq!(got.content_range(), Some(range.as_str()), "part {n}");
        assert_eq!(got.parts_count(), Some(3), "part {n}");
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert!(bytes == body[..], "part {n}'s bytes");
        let head = s3
            .head_object()
            .bucket("big")
            .key("three")
            .part_number(n)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(body.len() as i64), "part {n}");
        assert_eq!(head.content_range(), Some(range.as_str()), "part {n}");
        assert_eq!(head.parts_count(), Some(3), "part {n}");
        start += body.len();
    }
    let beyond = s3
        .get_object()
        .bucket("big")
        .key("three")
        .part_number(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&beyond), "InvalidPartNumber");
    assert_eq!(http_status(&beyond), Some(416));
    let beyond = s3
        .head_object()
        .bucket("big")
        .key("three")
        .part_number(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(http_status(&beyond), Some(416));
    let both = s3
        .get_object()
        .bucket("big")
        .key("three")
        .part_number(1)
        .range("bytes=0-9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&both), "InvalidRequest");

    // An object stored without a type (a presigned PUT with no
    // Content-Type: the SDK itself would send one) is served as S3 serves
    // it, and is one part: the whole object.
    let put = s3
        .put_object()
        .bucket("big")
        .key("untyped")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let (status, body) = raw(put.uri(), "PUT", b"twelve bytes").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let got = s3
        .get_object()
        .bucket("big")
        .key("untyped")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("binary/octet-stream"));
    let whole = s3
        .get_object()
        .bucket("big")
        .key("untyped")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.content_length(), Some(12));
    assert_eq!(whole.parts_count(), None);
    assert_eq!(
        &whole.body.collect().await.unwrap().into_bytes()[..],
        b"twelve bytes"
    );
    let second = s3
        .get_object()
        .bucket("big")
        .key("untyped")
        .part_number(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&second), "InvalidPartNumber");
}

/// SigV4's signature of `string_to_sign` with `secret` (the date and region
/// read from its scope line).
fn sigv4_signature(secret: &str, string_to_sign: &str) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let mac = |key: &[u8], data: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    let scope: Vec<&str> = string_to_sign.lines().nth(2).unwrap().split('/').collect();
    let key = [scope[0], scope[1], scope[2], scope[3]]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
            mac(&key, part)
        });
    hex::encode(mac(&key, string_to_sign))
}

/// The text of XML element `tag` in `xml`, unescaped.
fn element(xml: &str, tag: &str) -> String {
    let start = xml
        .find(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + tag.len()
        + 2;
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap();
    xml[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_told_what_was_signed_and_not_logged_as_an_error() {
    let net = Loopback::block();
    let store = up(&net).await;
    client(&store)
        .create_bucket()
        .bucket("signed")
        .send()
        .await
        .unwrap();
    let wrong = "not-the-secret";
    let refused = client_with(&store.endpoint, KEY_ID, wrong)
        .list_objects_v2()
        .bucket("signed")
        .prefix("a/b c")
        .send()
        .await
        .unwrap_err();
    let body = String::from_utf8(
        refused
            .raw_response()
            .unwrap()
            .body()
            .bytes()
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let service = refused.into_service_error();
    assert_eq!(code(&service), "SignatureDoesNotMatch");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&service),
        Some(
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        )
    );
    assert_eq!(element(&body, "AWSAccessKeyId"), KEY_ID);
    // What we say was signed is what the client signed: its signature over
    // our string to sign, with its (wrong) secret, is the one it sent.
    let string_to_sign = element(&body, "StringToSign");
    assert_eq!(
        sigv4_signature(wrong, &string_to_sign),
        element(&body, "SignatureProvided"),
        "{body}"
    );
    let canonical = element(&body, "CanonicalRequest");
    let lines: Vec<&str> = canonical.lines().collect();
    assert_eq!(lines[0], "GET", "{canonical}");
    assert!(lines[1].starts_with("/signed"), "{canonical}");
    assert!(
        lines[2].contains("list-type=2") && lines[2].contains("prefix=a%2Fb%20c"),
        "{canonical}"
    );
    let log = store.running.log();
    assert!(
        !log.contains("ERROR"),
        "a client's mistake is not a server error:\n{log}"
    );
}

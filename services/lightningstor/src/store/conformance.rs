//! The [`MetaStore`] conformance suite: what every metadata backend must
//! do, run against each (`LocalMeta` in lightningstor's tests,
//! `ChainfireMeta` against chainfire, etcd and a chainfire cluster losing
//! its leader in the end-to-end tests). It panics, naming the promise, at
//! the first one broken.
//!
//! Each case works in buckets of its own named after `suffix` (lower-case
//! letters and digits), so the suite can run in a store that holds other
//! buckets (or an earlier run's).

use std::collections::HashSet;
use std::sync::Arc;

use super::meta::{BucketRef, MetaStore};
use super::{
    AccessKeyRecord, BucketRecord, Checksums, ContentHeaders, ObjectRecord, PartRecord, Segment,
    SessionRecord, StoreError, UploadRecord,
};

/// Runs every case against `meta`.
pub async fn run(meta: Arc<dyn MetaStore>, suffix: &str) {
    run_with(meta, suffix, |_| {}).await;
}

/// As [`run`], calling `between` with each case's name once it passed:
/// where a test kills a chainfire member mid-suite.
pub async fn run_with(meta: Arc<dyn MetaStore>, suffix: &str, mut between: impl FnMut(&str)) {
    buckets_are_created_once(meta.clone(), suffix).await;
    between("buckets");
    writes_tell_what_they_replaced(&*meta, suffix).await;
    between("objects");
    listings_are_in_key_order(&*meta, suffix).await;
    between("listing");
    concurrent_writers_lose_nothing(meta.clone(), suffix).await;
    between("concurrent");
    concurrent_replacements_are_each_told_once(meta.clone(), suffix).await;
    between("replacements");
    only_empty_buckets_are_deleted(&*meta, suffix).await;
    between("delete-bucket");
    no_object_outlives_its_bucket(meta.clone(), suffix).await;
    between("bucket-race");
    tenants_reach_only_their_own_buckets(&*meta, suffix).await;
    between("tenancy");
    uploads_complete_all_or_nothing(&*meta, suffix).await;
    between("multipart");
    access_keys_and_their_sessions(&*meta, suffix).await;
    between("access-keys");
}

fn bucket(case: &str, suffix: &str) -> String {
    format!("{case}-{suffix}")
}

/// Bucket `name`, whoever owns it.
fn any(name: &str) -> BucketRef<'_> {
    BucketRef::any(name)
}

fn created() -> BucketRecord {
    BucketRecord {
        created_ms: 1,
        owner: None,
    }
}

/// An object made of blobs `blobs`, with `etag` to tell records apart.
fn object(blobs: &[&str], etag: &str) -> ObjectRecord {
    ObjectRecord {
        segments: blobs
            .iter()
            .map(|b| Segment {
                blob: (*b).to_owned(),
                size: 1,
            })
            .collect(),
        size: blobs.len() as u64,
        etag: etag.to_owned(),
        modified_ms: 2,
        headers: ContentHeaders {
            content_type: Some("text/plain".into()),
            ..ContentHeaders::default()
        },
        metadata: vec![("owner".into(), "conformance".into())],
        checksums: Checksums::default(),
        tags: Vec::new(),
        parts: None,
    }
}

fn part(blob: &str) -> PartRecord {
    PartRecord {
        blob: blob.to_owned(),
        size: 1,
        etag: format!("etag-{blob}"),
        modified_ms: 3,
        checksums: Checksums::default(),
    }
}

fn upload(key: &str) -> UploadRecord {
    UploadRecord {
        key: key.to_owned(),
        initiated_ms: 4,
        headers: ContentHeaders::default(),
        metadata: Vec::new(),
        tags: Vec::new(),
        checksum_algorithm: None,
    }
}

async fn buckets_are_created_once(meta: Arc<dyn MetaStore>, suffix: &str) {
    let name = bucket("create", suffix);
    meta.create_bucket(&name, &created())
        .await
        .expect("a new bucket is created");
    assert!(
        matches!(
            meta.create_bucket(&name, &created()).await,
            Err(StoreError::BucketExists)
        ),
        "a second create of one bucket is refused"
    );
    assert_eq!(meta.bucket(&name).await.unwrap(), Some(created()));
    assert!(
        meta.buckets()
            .await
            .unwrap()
            .iter()
            .any(|(n, _)| *n == name),
        "a created bucket is listed"
    );

    // Eight creators of one new bucket: exactly one wins.
    let racing = bucket("create-race", suffix);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (meta, racing) = (meta.clone(), racing.clone());
            tokio::spawn(async move { meta.create_bucket(&racing, &created()).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::BucketExists) => {}
            Err(e) => panic!("a racing create failed otherwise: {e}"),
        }
    }
    assert_eq!(won, 1, "exactly one of eight racing creates succeeds");

    // A bucket changes hands whole: its record kept, its owner replaced.
    meta.set_bucket_owner(&name, Some("acme")).await.unwrap();
    assert_eq!(
        meta.bucket(&name).await.unwrap(),
        Some(BucketRecord {
            owner: Some("acme".into()),
            ..created()
        })
    );
    meta.set_bucket_owner(&name, None).await.unwrap();
    assert_eq!(meta.bucket(&name).await.unwrap(), Some(created()));
    assert!(matches!(
        meta.set_bucket_owner(&bucket("never-made", suffix), Some("acme"))
            .await,
        Err(StoreError::NoSuchBucket)
    ));
}

async fn writes_tell_what_they_replaced(meta: &dyn MetaStore, suffix: &str) {
    let name = bucket("objects", suffix);
    meta.create_bucket(&name, &created()).await.unwrap();
    let first = object(&["o-1"], "first");
    let second = object(&["o-2a", "o-2b"], "second");
    assert_eq!(
        meta.put_object(any(&name), "k", &first).await.unwrap(),
        None
    );
    assert_eq!(
        meta.put_object(any(&name), "k", &second).await.unwrap(),
        Some(first),
        "an overwrite returns the record it replaced"
    );
    assert_eq!(
        meta.object(any(&name), "k").await.unwrap(),
        Some(second.clone())
    );

    let tagged = meta
        .update_object(any(&name), "k", &|r| {
            r.tags = vec![("colour".into(), "blue".into())]
        })
        .await
        .unwrap()
        .expect("an existing object is updated");
    assert_eq!(
        tagged.segments, second.segments,
        "an update keeps the blobs"
    );
    assert_eq!(
        meta.object(any(&name), "k").await.unwrap(),
        Some(tagged.clone())
    );
    assert_eq!(
        meta.update_object(any(&name), "missing", &|r| r.tags.clear())
            .await
            .unwrap(),
        None,
        "updating no object changes nothing"
    );

    let gone = bucket("never-made", suffix);
    assert!(
        matches!(
            meta.put_object(any(&gone), "k", &object(&["x"], "x")).await,
            Err(StoreError::NoSuchBucket)
        ),
        "no object is written into a missing bucket"
    );
    assert!(matches!(
        meta.delete_object(any(&gone), "k").await,
        Err(StoreError::NoSuchBucket)
    ));
    assert!(matches!(
        meta.update_object(any(&gone), "k", &|_| {}).await,
        Err(StoreError::NoSuchBucket)
    ));

    assert_eq!(
        meta.delete_object(any(&name), "k").await.unwrap(),
        Some(tagged),
        "a delete returns the record removed"
    );
    assert_eq!(meta.delete_object(any(&name), "k").await.unwrap(), None);
    assert_eq!(meta.object(any(&name), "k").await.unwrap(), None);
}

async fn listings_are_in_key_order(meta: &dyn MetaStore, suffix: &str) {
    // A bucket whose name is a prefix of another's: neither lists the other's.
    let name = bucket("list", suffix);
    let longer = format!("{name}x");
    for b in [&name, &longer] {
        meta.create_bucket(b, &created()).await.unwrap();
    }
    let keys = ["x/1", "x/10", "x/2", "y", "z z", "é", "x"];
    for key in keys {
        meta.put_object(any(&name), key, &object(&[key], key))
            .await
            .unwrap();
    }
    meta.put_object(any(&longer), "x/3", &object(&["other"], "other"))
        .await
        .unwrap();
    let listed = |found: Vec<super::Listed>| found.into_iter().map(|l| l.key).collect::<Vec<_>>();

    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(
        listed(
            meta.list_objects(any(&name), "", None, usize::MAX)
                .await
                .unwrap()
        ),
        sorted,
        "a listing is in the byte order of the keys"
    );
    assert_eq!(
        listed(
            meta.list_objects(any(&name), "x/", None, 100)
                .await
                .unwrap()
        ),
        ["x/1", "x/10", "x/2"],
        "a prefix lists only its keys"
    );
    assert_eq!(
        listed(
            meta.list_objects(any(&name), "", Some(b"x/10"), 100)
                .await
                .unwrap()
        ),
        ["x/2", "y", "z z", "é"],
        "a listing resumes after the cursor"
    );
    assert_eq!(
        listed(
            meta.list_objects(any(&name), "x/", Some(b"x/\xff"), 100)
                .await
                .unwrap()
        ),
        Vec::<String>::new(),
        "a cursor past the prefix lists nothing"
    );
    assert_eq!(
        listed(
            meta.list_objects(any(&name), "", Some(b"a"), 2)
                .await
                .unwrap()
        ),
        ["x", "x/1"],
        "a limit caps the listing"
    );
    assert!(
        meta.list_objects(any(&name), "", None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let record = &meta.list_objects(any(&name), "y", None, 1).await.unwrap()[0].record;
    assert_eq!(
        record,
        &object(&["y"], "y"),
        "a listing carries the records"
    );
}

async fn concurrent_writers_lose_nothing(meta: Arc<dyn MetaStore>, suffix: &str) {
    // More objects than one page of a chainfire range read.
    const OBJECTS: usize = 1005;
    let name = bucket("concurrent", suffix);
    meta.create_bucket(&name, &created()).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|writer| {
            let (meta, name) = (meta.clone(), name.clone());
            tokio::spawn(async move {
                for i in (writer..OBJECTS).step_by(16) {
                    let key = format!("obj-{i:05}");
                    meta.put_object(any(&name), &key, &object(&[&key], &key))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let listed = meta
        .list_objects(any(&name), "", None, usize::MAX)
        .await
        .unwrap();
    let keys: Vec<String> = listed.iter().map(|l| l.key.clone()).collect();
    let expected: Vec<String> = (0..OBJECTS).map(|i| format!("obj-{i:05}")).collect();
    assert_eq!(keys, expected, "every concurrent write is listed, in order");
    assert_eq!(
        meta.bucket_usage(&name).await.unwrap(),
        (OBJECTS as u64, OBJECTS as u64),
        "usage counts every object and byte"
    );
    let used = meta.blobs_in_use().await.unwrap();
    assert!(
        expected.iter().all(|key| used.contains(key)),
        "every object's blob is in use"
    );
}

async fn concurrent_replacements_are_each_told_once(meta: Arc<dyn MetaStore>, suffix: &str) {
    let name = bucket("replace", suffix);
    meta.create_bucket(&name, &created()).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|writer| {
            let (meta, name) = (meta.clone(), name.clone());
            tokio::spawn(async move {
                let etag = format!("writer-{writer}");
                let replaced = meta
                    .put_object(any(&name), "contested", &object(&[&etag], &etag))
                    .await
                    .unwrap();
                replaced.map(|r| r.etag)
            })
        })
        .collect();
    let mut told = Vec::new();
    for task in tasks {
        told.push(task.await.unwrap());
    }
    let last = meta
        .object(any(&name), "contested")
        .await
        .unwrap()
        .unwrap()
        .etag;
    assert_eq!(
        told.iter().filter(|t| t.is_none()).count(),
        1,
        "exactly one writer found no object: {told:?}"
    );
    let mut replaced: Vec<String> = told.into_iter().flatten().collect();
    replaced.push(last);
    replaced.sort();
    let all: Vec<String> = (0..8).map(|w| format!("writer-{w}")).collect();
    assert_eq!(
        replaced, all,
        "each record is replaced once or is the last: no blob freed twice, none leaked"
    );
}

/// Fails unless `result` is [`StoreError::NotYours`].
fn not_yours<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotYours)),
        "{what} on another tenant's bucket fails with NotYours, not {result:?}"
    );
}

/// Every call a tenant makes reaches its own bucket and no other, checked
/// as the call takes effect: a bucket deleted and made again by another
/// tenant between a request's access check and its write neither takes
/// the write nor answers the read.
async fn tenants_reach_only_their_own_buckets(meta: &dyn MetaStore, suffix: &str) {
    let name = bucket("tenancy", suffix);
    let owned_by = |tenant: &str| BucketRecord {
        created_ms: 5,
        owner: Some(tenant.to_owned()),
    };
    let acme = BucketRef::of(&name, Some("acme"));
    let rival = BucketRef::of(&name, Some("rival"));
    assert!(
        matches!(
            meta.put_object(acme, "k", &object(&["none"], "none")).await,
            Err(StoreError::NoSuchBucket)
        ),
        "a tenant's write into no bucket fails with NoSuchBucket"
    );
    meta.create_bucket(&name, &owned_by("acme")).await.unwrap();
    let mine = object(&["acme-1"], "acme");
    assert_eq!(meta.put_object(acme, "k", &mine).await.unwrap(), None);
    assert_eq!(meta.object(acme, "k").await.unwrap(), Some(mine.clone()));
    assert_eq!(
        meta.list_objects(acme, "", None, 10).await.unwrap().len(),
        1
    );
    meta.create_upload(acme, "up-a", &upload("k"))
        .await
        .unwrap();
    meta.put_part(acme, "up-a", 1, &part("acme-p1"))
        .await
        .unwrap();
    assert_eq!(meta.uploads(acme).await.unwrap().len(), 1);
    assert_eq!(meta.parts(acme, "up-a").await.unwrap().len(), 1);

    // Another tenant is refused every read and write, and changes nothing.
    not_yours(
        "put_object",
        meta.put_object(rival, "k", &object(&["rival-1"], "rival"))
            .await,
    );
    not_yours("object", meta.object(rival, "k").await);
    not_yours(
        "update_object",
        meta.update_object(rival, "k", &|r| r.tags = vec![("x".into(), "y".into())])
            .await,
    );
    not_yours("delete_object", meta.delete_object(rival, "k").await);
    not_yours("list_objects", meta.list_objects(rival, "", None, 10).await);
    not_yours(
        "create_upload",
        meta.create_upload(rival, "up-r", &upload("k")).await,
    );
    not_yours("upload", meta.upload(rival, "up-a").await);
    not_yours("uploads", meta.uploads(rival).await);
    not_yours(
        "put_part",
        meta.put_part(rival, "up-a", 2, &part("rival-p2")).await,
    );
    not_yours("parts", meta.parts(rival, "up-a").await);
    not_yours(
        "finish_upload",
        meta.finish_upload(rival, "up-a", Some(("k", &object(&["acme-p1"], "r"))))
            .await,
    );
    not_yours("delete_bucket", meta.delete_bucket(rival).await);
    assert_eq!(
        meta.object(any(&name), "k").await.unwrap(),
        Some(mine.clone()),
        "another tenant's calls changed nothing"
    );
    assert_eq!(meta.parts(any(&name), "up-a").await.unwrap().len(), 1);
    assert_eq!(meta.uploads(any(&name)).await.unwrap().len(), 1);

    // The race the check alone would lose: acme empties and deletes its
    // bucket, rival makes one of the same name, and acme's requests let
    // in before that land now.
    meta.finish_upload(acme, "up-a", None).await.unwrap();
    meta.delete_object(acme, "k").await.unwrap();
    meta.delete_bucket(acme).await.unwrap();
    meta.create_bucket(&name, &owned_by("rival")).await.unwrap();
    not_yours(
        "a late put_object",
        meta.put_object(acme, "late", &object(&["acme-late"], "late"))
            .await,
    );
    not_yours(
        "a late create_upload",
        meta.create_upload(acme, "up-late", &upload("late")).await,
    );
    not_yours("a late object read", meta.object(acme, "late").await);
    not_yours("a late delete_bucket", meta.delete_bucket(acme).await);
    assert!(
        meta.list_objects(any(&name), "", None, 10)
            .await
            .unwrap()
            .is_empty()
            && meta.uploads(any(&name)).await.unwrap().is_empty(),
        "the bucket made again holds nothing of the tenant that had the name"
    );
    assert_eq!(meta.bucket(&name).await.unwrap(), Some(owned_by("rival")));

    // A bucket given to the operator is no tenant's; the operator's reach
    // (no tenant) is every bucket.
    meta.set_bucket_owner(&name, None).await.unwrap();
    not_yours(
        "a write into the operator's bucket",
        meta.put_object(rival, "k", &object(&["rival-2"], "rival"))
            .await,
    );
    meta.put_object(any(&name), "k", &object(&["op"], "op"))
        .await
        .unwrap();
    meta.delete_object(any(&name), "k").await.unwrap();
    meta.delete_bucket(any(&name)).await.unwrap();
}

async fn only_empty_buckets_are_deleted(meta: &dyn MetaStore, suffix: &str) {
    let name = bucket("delete", suffix);
    meta.create_bucket(&name, &created()).await.unwrap();
    meta.put_object(any(&name), "k", &object(&["d"], "d"))
        .await
        .unwrap();
    assert!(
        matches!(
            meta.delete_bucket(any(&name)).await,
            Err(StoreError::BucketNotEmpty)
        ),
        "a bucket with an object is not deleted"
    );
    meta.delete_object(any(&name), "k").await.unwrap();
    meta.create_upload(any(&name), "up-1", &upload("k"))
        .await
        .unwrap();
    assert!(
        matches!(
            meta.delete_bucket(any(&name)).await,
            Err(StoreError::BucketNotEmpty)
        ),
        "a bucket with an upload is not deleted"
    );
    meta.finish_upload(any(&name), "up-1", None).await.unwrap();
    meta.delete_bucket(any(&name))
        .await
        .expect("an empty bucket is deleted");
    assert_eq!(meta.bucket(&name).await.unwrap(), None);
    assert!(matches!(
        meta.delete_bucket(any(&name)).await,
        Err(StoreError::NoSuchBucket)
    ));
}

async fn no_object_outlives_its_bucket(meta: Arc<dyn MetaStore>, suffix: &str) {
    for round in 0..10 {
        let name = bucket(&format!("race{round}"), suffix);
        meta.create_bucket(&name, &created()).await.unwrap();
        let put = {
            let (meta, name) = (meta.clone(), name.clone());
            tokio::spawn(
                async move { meta.put_object(any(&name), "k", &object(&["r"], "r")).await },
            )
        };
        let delete = {
            let (meta, name) = (meta.clone(), name.clone());
            tokio::spawn(async move { meta.delete_bucket(any(&name)).await })
        };
        let (put, delete) = (put.await.unwrap(), delete.await.unwrap());
        match (&put, &delete) {
            (Ok(_), Err(StoreError::BucketNotEmpty)) => {
                assert!(meta.bucket(&name).await.unwrap().is_some());
                assert!(meta.object(any(&name), "k").await.unwrap().is_some());
            }
            (Err(StoreError::NoSuchBucket), Ok(())) => {
                assert!(meta.bucket(&name).await.unwrap().is_none());
                assert_eq!(meta.object(any(&name), "k").await.unwrap(), None);
            }
            _ => panic!("a put racing a bucket delete: put {put:?}, delete {delete:?}"),
        }
    }
}

async fn uploads_complete_all_or_nothing(meta: &dyn MetaStore, suffix: &str) {
    let name = bucket("multipart", suffix);
    assert!(matches!(
        meta.create_upload(any(&name), "u", &upload("k")).await,
        Err(StoreError::NoSuchBucket)
    ));
    meta.create_bucket(&name, &created()).await.unwrap();
    assert!(matches!(
        meta.upload(any(&name), "u").await,
        Err(StoreError::NoSuchUpload)
    ));
    assert!(matches!(
        meta.put_part(any(&name), "u", 1, &part("p1")).await,
        Err(StoreError::NoSuchUpload)
    ));
    meta.create_upload(any(&name), "u", &upload("big"))
        .await
        .unwrap();
    assert_eq!(meta.upload(any(&name), "u").await.unwrap(), upload("big"));
    for (number, blob) in [(256, "p256"), (1, "p1"), (10, "p10"), (2, "p2-old")] {
        assert_eq!(
            meta.put_part(any(&name), "u", number, &part(blob))
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        meta.put_part(any(&name), "u", 2, &part("p2"))
            .await
            .unwrap(),
        Some(part("p2-old")),
        "a part uploaded again returns the one it replaced"
    );
    let numbers: Vec<u32> = meta
        .parts(any(&name), "u")
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(numbers, [1, 2, 10, 256], "parts are listed by number");
    assert_eq!(meta.uploads(any(&name)).await.unwrap().len(), 1);
    let used = meta.blobs_in_use().await.unwrap();
    assert!(
        ["p1", "p2", "p10", "p256"]
            .iter()
            .all(|b| used.contains(*b)),
        "parts' blobs are in use"
    );

    // Completing over an existing object: parts left out and the old
    // object's blobs are freed, the rest is the new object's.
    meta.put_object(any(&name), "big", &object(&["old-big"], "old"))
        .await
        .unwrap();
    let assembled = object(&["p1", "p2", "p10"], "assembled");
    let mut freed = meta
        .finish_upload(any(&name), "u", Some(("big", &assembled)))
        .await
        .unwrap();
    freed.sort();
    assert_eq!(
        freed,
        ["old-big", "p256"],
        "completion frees exactly what no record uses"
    );
    assert_eq!(
        meta.object(any(&name), "big").await.unwrap(),
        Some(assembled)
    );
    assert!(matches!(
        meta.upload(any(&name), "u").await,
        Err(StoreError::NoSuchUpload)
    ));
    assert!(
        meta.parts(any(&name), "u").await.unwrap().is_empty(),
        "a completed upload has no parts"
    );
    assert!(matches!(
        meta.put_part(any(&name), "u", 3, &part("late")).await,
        Err(StoreError::NoSuchUpload)
    ));
    assert!(matches!(
        meta.finish_upload(any(&name), "u", None).await,
        Err(StoreError::NoSuchUpload)
    ));

    meta.create_upload(any(&name), "v", &upload("aborted"))
        .await
        .unwrap();
    meta.put_part(any(&name), "v", 1, &part("v1"))
        .await
        .unwrap();
    assert_eq!(
        meta.finish_upload(any(&name), "v", None).await.unwrap(),
        ["v1"]
    );
    assert_eq!(meta.object(any(&name), "aborted").await.unwrap(), None);
    assert!(meta.uploads(any(&name)).await.unwrap().is_empty());
    let used: HashSet<String> = meta.blobs_in_use().await.unwrap();
    assert!(
        !used.contains("v1") && !used.contains("p256"),
        "freed blobs are not in use"
    );
}

async fn access_keys_and_their_sessions(meta: &dyn MetaStore, suffix: &str) {
    let key = |description: &str, session: Option<SessionRecord>| AccessKeyRecord {
        secret: format!("secret-of-{description}"),
        created_ms: 5,
        description: description.to_owned(),
        session,
    };
    let parent = format!("PARENT{}", suffix.to_uppercase());
    let session = |token: &str, expires_ms: i64| SessionRecord {
        token: token.to_owned(),
        expires_ms,
        parent: parent.clone(),
        role_arn: "arn:aws:iam::000000000000:role/conformance".into(),
    };
    assert!(
        meta.insert_access_key(&parent, &key("parent", None))
            .await
            .unwrap()
    );
    assert!(
        !meta
            .insert_access_key(&parent, &key("again", None))
            .await
            .unwrap(),
        "a taken id is refused"
    );
    assert_eq!(
        meta.access_key(&parent).await.unwrap(),
        Some(key("parent", None))
    );
    let live = format!("LIVE{}", suffix.to_uppercase());
    let stale = format!("STALE{}", suffix.to_uppercase());
    meta.insert_access_key(&live, &key("live", Some(session("t1", i64::MAX))))
        .await
        .unwrap();
    meta.insert_access_key(&stale, &key("stale", Some(session("t2", 10))))
        .await
        .unwrap();
    let ids: Vec<String> = meta
        .access_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!([&parent, &live, &stale].iter().all(|id| ids.contains(id)));

    assert!(
        meta.purge_expired_keys(11).await.unwrap() >= 1,
        "an expired session is purged"
    );
    assert_eq!(meta.access_key(&stale).await.unwrap(), None);
    assert!(
        meta.access_key(&live).await.unwrap().is_some(),
        "a live session stays"
    );

    assert!(meta.delete_access_key(&parent).await.unwrap());
    assert_eq!(meta.access_key(&parent).await.unwrap(), None);
    assert_eq!(
        meta.access_key(&live).await.unwrap(),
        None,
        "a deleted key's sessions go with it"
    );
    assert!(!meta.delete_access_key(&parent).await.unwrap());
}

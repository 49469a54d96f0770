//! The store's crash guarantees, without a server: what a crash at each
//! step of a write leaves, and what the next open makes of it.

use super::*;

async fn open(root: &Path) -> Store {
    Store::open(&root.join("meta"), &root.join("data"))
        .await
        .unwrap()
}

fn record(blob: &WrittenBlob) -> ObjectRecord {
    ObjectRecord {
        segments: vec![Segment {
            blob: blob.id.clone(),
            size: blob.size,
        }],
        size: blob.size,
        etag: hex::encode(blob.md5),
        modified_ms: 0,
        headers: ContentHeaders::default(),
        metadata: Vec::new(),
        checksums: Checksums::default(),
        tags: Vec::new(),
        parts: None,
    }
}

async fn blob(store: &Store, bytes: &[u8]) -> WrittenBlob {
    let mut writer = store.new_blob(Digests::default()).await.unwrap();
    writer.write(bytes).await.unwrap();
    writer.finish().await.unwrap()
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() { files_under(&path) } else { 1 }
        })
        .sum()
}

#[tokio::test]
async fn a_crash_before_commit_leaves_nothing_visible_and_no_garbage() {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path()).await;
    store
        .create_bucket("b", &BucketRecord::default())
        .await
        .unwrap();
    let kept = blob(&store, b"kept").await;
    store
        .put_object(BucketRef::any("b"), "kept", &record(&kept))
        .await
        .unwrap();

    // Crash 1: a write still in tmp/. Crash 2: renamed into blobs/ but the
    // index never heard of it.
    let mut unfinished = store.new_blob(Digests::default()).await.unwrap();
    unfinished.write(b"half").await.unwrap();
    std::mem::forget(unfinished);
    let orphan = blob(&store, b"orphan").await;
    assert!(store.blob_path(&orphan.id).exists());
    drop(store);

    let store = open(root.path()).await;
    assert!(!store.blob_path(&orphan.id).exists(), "orphan collected");
    assert_eq!(files_under(&root.path().join("data/tmp")), 0);
    assert_eq!(files_under(&root.path().join("data/blobs")), 1);
    let listed = store
        .list_objects(BucketRef::any("b"), "", None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "kept");
    assert_eq!(
        std::fs::read(store.blob_path(&kept.id)).unwrap(),
        b"kept".to_vec()
    );
}

#[tokio::test]
async fn overwrites_free_the_old_blob_and_updates_keep_theirs() {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path()).await;
    store
        .create_bucket("b", &BucketRecord::default())
        .await
        .unwrap();
    let first = blob(&store, b"one").await;
    store
        .put_object(BucketRef::any("b"), "k", &record(&first))
        .await
        .unwrap();
    let second = blob(&store, b"two").await;
    store
        .put_object(BucketRef::any("b"), "k", &record(&second))
        .await
        .unwrap();
    assert!(!store.blob_path(&first.id).exists());
    store
        .update_object(BucketRef::any("b"), "k", &|r| {
            r.tags = vec![("a".into(), "1".into())]
        })
        .await
        .unwrap()
        .unwrap();
    assert!(store.blob_path(&second.id).exists());
    assert_eq!(
        store
            .object(BucketRef::any("b"), "k")
            .await
            .unwrap()
            .unwrap()
            .tags
            .len(),
        1
    );
    assert!(matches!(
        store.delete_bucket(BucketRef::any("b")).await,
        Err(StoreError::BucketNotEmpty)
    ));
    assert!(store.delete_object(BucketRef::any("b"), "k").await.unwrap());
    assert!(!store.blob_path(&second.id).exists());
    store.delete_bucket(BucketRef::any("b")).await.unwrap();
}

#[tokio::test]
async fn listing_pages_by_raw_cursor_and_prefix() {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path()).await;
    for bucket in ["a", "ab"] {
        store
            .create_bucket(bucket, &BucketRecord::default())
            .await
            .unwrap();
    }
    for key in ["x/1", "x/2", "y"] {
        let b = blob(&store, key.as_bytes()).await;
        store
            .put_object(BucketRef::any("a"), key, &record(&b))
            .await
            .unwrap();
    }
    let b = blob(&store, b"other bucket").await;
    store
        .put_object(BucketRef::any("ab"), "x/3", &record(&b))
        .await
        .unwrap();
    let keys = |listed: Vec<Listed>| listed.into_iter().map(|l| l.key).collect::<Vec<_>>();
    assert_eq!(
        keys(
            store
                .list_objects(BucketRef::any("a"), "x/", None, 10)
                .await
                .unwrap()
        ),
        ["x/1", "x/2"]
    );
    assert_eq!(
        keys(
            store
                .list_objects(BucketRef::any("a"), "", Some(b"x/1"), 10)
                .await
                .unwrap()
        ),
        ["x/2", "y"]
    );
    assert_eq!(
        keys(
            store
                .list_objects(BucketRef::any("a"), "", Some(b"x/\xff"), 10)
                .await
                .unwrap()
        ),
        ["y"]
    );
    assert_eq!(
        keys(
            store
                .list_objects(BucketRef::any("a"), "", None, 2)
                .await
                .unwrap()
        ),
        ["x/1", "x/2"]
    );
}

#[tokio::test]
async fn the_local_backend_passes_the_conformance_suite() {
    let root = tempfile::tempdir().unwrap();
    let meta = local::LocalMeta::open(&root.path().join("meta"), None).unwrap();
    conformance::run(Arc::new(meta), "local").await;
}

#[tokio::test]
async fn blobs_are_never_collected_against_another_stores_metadata() {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path()).await;
    store
        .create_bucket("b", &BucketRecord::default())
        .await
        .unwrap();
    let kept = blob(&store, b"kept").await;
    store
        .put_object(BucketRef::any("b"), "kept", &record(&kept))
        .await
        .unwrap();
    drop(store);

    // Handed over to chainfire, the data directory refuses a RocksDB
    // start (which would collect every blob as garbage) and keeps them.
    let chainfire_name = "chainfire /photon/clusters/c/lightningstor/n/";
    blobs::BlobDir::reassign(&root.path().join("data"), chainfire_name).unwrap();
    let refused = Store::open(&root.path().join("meta"), &root.path().join("data")).await;
    let Err(StoreError::OtherOwner { owner, this, .. }) = refused else {
        panic!("a store handed to chainfire opened as a local one: {refused:?}");
    };
    assert_eq!((owner.as_str(), this.as_str()), (chainfire_name, "rocksdb"));
    assert!(
        std::fs::read(
            root.path()
                .join("data/blobs")
                .join(&kept.id[..2])
                .join(&kept.id)
        )
        .is_ok()
    );
}

/// Bytes that differ at every offset (a misplaced chunk shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[tokio::test]
async fn a_large_blob_streams_through_the_hashing_and_writing_threads_intact() {
    use md5::Digest as _;
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path()).await;
    // Past the in-memory limit, in pieces that straddle every batch.
    let data = pattern((5 << 20) + 123);
    let mut writer = store.new_blob(Digests::default()).await.unwrap();
    for piece in data.chunks(100_003) {
        writer.write(piece).await.unwrap();
    }
    let written = writer.finish().await.unwrap();
    assert_eq!(written.size, data.len() as u64);
    assert_eq!(written.md5, <[u8; 16]>::from(md5::Md5::digest(&data)));
    assert_eq!(std::fs::read(store.blob_path(&written.id)).unwrap(), data);
    assert_eq!(files_under(&root.path().join("data/tmp")), 0);
    // A small one is gathered and written whole, hashed the same way.
    let small = blob(&store, b"small").await;
    assert_eq!(small.md5, <[u8; 16]>::from(md5::Md5::digest(b"small")));
    assert_eq!(std::fs::read(store.blob_path(&small.id)).unwrap(), b"small");
}

#[tokio::test]
async fn a_large_blob_abandoned_mid_stream_leaves_no_file() {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path()).await;
    let mut writer = store.new_blob(Digests::default()).await.unwrap();
    for piece in pattern(3 << 20).chunks(65_536) {
        writer.write(piece).await.unwrap();
    }
    // The client went away: the upload is dropped unfinished.
    drop(writer);
    let tmp = root.path().join("data/tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while files_under(&tmp) != 0 {
        assert!(std::time::Instant::now() < deadline, "tmp file left behind");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(files_under(&root.path().join("data/blobs")), 0);
}

//! lightningstor killed with SIGKILL in the middle of uploads: after a
//! restart every acknowledged object reads back byte-identical, nothing
//! half-written is listed, and no orphaned blob is left on disk; with its
//! metadata in RocksDB, and in chainfire (killed with it).
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use e2e::Loopback;
use e2e::s3::{Deployment, client, md5_hex, pattern, start_deployment};

/// What a key may hold after the crash: the last acknowledged version, or
/// one whose write was cut off (it may or may not have been committed).
#[derive(Debug, Default)]
struct KeyState {
    acked: Option<String>,
    in_flight: HashSet<String>,
}

type Ledger = Arc<Mutex<HashMap<String, KeyState>>>;

fn begin(ledger: &Ledger, key: &str, md5: &str) {
    let mut ledger = ledger.lock().unwrap();
    let state = ledger.entry(key.to_owned()).or_default();
    state.in_flight.insert(md5.to_owned());
}

fn acknowledge(ledger: &Ledger, key: &str, md5: &str) {
    let mut ledger = ledger.lock().unwrap();
    let state = ledger.get_mut(key).unwrap();
    state.in_flight.remove(md5);
    state.acked = Some(md5.to_owned());
}

/// Simple PUTs of varied sizes, overwriting a small set of keys.
async fn put_writer(s3: Client, ledger: Ledger, writer: u8) {
    for n in 0u32.. {
        let key = format!("put/{writer}/{}", n % 6);
        let size = [4 << 10, 300 << 10, 2 << 20][n as usize % 3];
        let body = pattern(size, writer.wrapping_mul(31).wrapping_add(n as u8));
        let md5 = md5_hex(&body);
        begin(&ledger, &key, &md5);
        let sent = s3
            .put_object()
            .bucket("crash")
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await;
        if sent.is_err() {
            return; // the server is gone
        }
        acknowledge(&ledger, &key, &md5);
    }
}

/// Multipart uploads of two 5 MiB parts and a tail.
async fn multipart_writer(s3: Client, ledger: Ledger) {
    for n in 0u32.. {
        let key = format!("multipart/{}", n % 2);
        let object = pattern((10 << 20) + 1234, 200u8.wrapping_add(n as u8));
        let md5 = md5_hex(&object);
        begin(&ledger, &key, &md5);
        let Ok(created) = s3
            .create_multipart_upload()
            .bucket("crash")
            .key(&key)
            .send()
            .await
        else {
            return;
        };
        let upload_id = created.upload_id().unwrap().to_owned();
        let mut parts = Vec::new();
        for (i, chunk) in object.chunks(5 << 20).enumerate() {
            let number = i as i32 + 1;
            let Ok(part) = s3
                .upload_part()
                .bucket("crash")
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await
            else {
                return;
            };
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(part.e_tag().unwrap())
                    .build(),
            );
        }
        let completed = s3
            .complete_multipart_upload()
            .bucket("crash")
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        if completed.is_err() {
            return;
        }
        acknowledge(&ledger, &key, &md5);
    }
}

fn acked_count(ledger: &Ledger) -> usize {
    ledger
        .lock()
        .unwrap()
        .values()
        .filter(|s| s.acked.is_some())
        .count()
}

/// Total size of the files under `dir`, and how many there are.
fn files_under(dir: &std::path::Path) -> (u64, usize) {
    let files = e2e::s3::files_under(dir);
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    (bytes, files.len())
}

/// The service's data directory (`.../data`) under the state directory.
fn data_dir(state: &std::path::Path) -> std::path::PathBuf {
    let mut stack = vec![state.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "data") && path.join("blobs").is_dir() {
                    return path;
                }
                stack.push(path);
            }
        }
    }
    panic!("no data directory under {}", state.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_objects_survive_sigkill_mid_upload_and_nothing_partial_is_listed() {
    survives_sigkill(Deployment::SINGLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_metadata_in_chainfire_they_survive_it_too() {
    survives_sigkill(Deployment::INTEGRATED).await;
}

async fn survives_sigkill(deployment: Deployment) {
    let net = Loopback::block();
    let store = start_deployment(&net, deployment, tempfile::tempdir().unwrap()).await;
    let s3 = client(&store);
    s3.create_bucket().bucket("crash").send().await.unwrap();

    let ledger: Ledger = Arc::default();
    let mut writers = Vec::new();
    for writer in 0..6 {
        writers.push(tokio::spawn(put_writer(s3.clone(), ledger.clone(), writer)));
    }
    writers.push(tokio::spawn(multipart_writer(s3.clone(), ledger.clone())));

    // Let enough be acknowledged (including a multipart object), then kill
    // the server while writes are in flight.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let multipart_done = ledger
            .lock()
            .unwrap()
            .iter()
            .any(|(k, s)| k.starts_with("multipart/") && s.acked.is_some());
        if acked_count(&ledger) >= 30 && multipart_done {
            break;
        }
        assert!(Instant::now() < deadline, "writes too slow to test a crash");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e2e::s3::Store {
        mut running, state, ..
    } = store;
    running.signal("KILL");
    let (status, _) = running.wait(Duration::from_secs(10));
    assert!(!status.success(), "the server was killed, not stopped");
    for writer in writers {
        writer.await.unwrap();
    }
    let ledger = Arc::try_unwrap(ledger).unwrap().into_inner().unwrap();
    let in_flight: usize = ledger.values().map(|s| s.in_flight.len()).sum();
    assert!(in_flight > 0, "the kill should cut some writes off");

    let store = start_deployment(&net, deployment, state).await;
    let s3 = client(&store);

    // Every acknowledged object reads back as acknowledged (or as a newer
    // write that was cut off after its commit).
    for (key, state) in &ledger {
        let Some(acked) = &state.acked else {
            continue;
        };
        let got = s3
            .get_object()
            .bucket("crash")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged {key} is gone: {e:?}"));
        let bytes = got.body.collect().await.unwrap().into_bytes();
        let md5 = md5_hex(&bytes);
        assert!(
            &md5 == acked || state.in_flight.contains(&md5),
            "{key} reads back as neither its acknowledged version nor one in flight"
        );
    }

    // Everything listed is a whole version that was written.
    let mut listed_bytes = 0u64;
    let listed = s3.list_objects_v2().bucket("crash").send().await.unwrap();
    for object in listed.contents() {
        let key = object.key().unwrap();
        let state = ledger
            .get(key)
            .unwrap_or_else(|| panic!("{key} was never written"));
        let bytes = s3
            .get_object()
            .bucket("crash")
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(bytes.len() as i64, object.size().unwrap());
        let md5 = md5_hex(&bytes);
        assert!(
            state.acked.as_ref() == Some(&md5) || state.in_flight.contains(&md5),
            "{key} is listed with content nobody wrote (a partial object)"
        );
        listed_bytes += bytes.len() as u64;
    }
    for (key, state) in &ledger {
        if state.acked.is_some() {
            assert!(
                listed.contents().iter().any(|o| o.key() == Some(key)),
                "acknowledged {key} is not listed"
            );
        }
    }

    // Parts of uploads the crash interrupted are still there to complete
    // or abort; beyond those, no blob is left over and nothing is in tmp.
    let mut part_bytes = 0u64;
    let uploads = s3
        .list_multipart_uploads()
        .bucket("crash")
        .send()
        .await
        .unwrap();
    for upload in uploads.uploads() {
        let parts = s3
            .list_parts()
            .bucket("crash")
            .key(upload.key().unwrap())
            .upload_id(upload.upload_id().unwrap())
            .send()
            .await
            .unwrap();
        part_bytes += parts
            .parts()
            .iter()
            .map(|p| p.size().unwrap() as u64)
            .sum::<u64>();
    }
    let data = data_dir(store.state.path());
    let (blob_bytes, _) = files_under(&data.join("blobs"));
    assert_eq!(
        blob_bytes,
        listed_bytes + part_bytes,
        "blob files hold exactly the listed objects and open parts"
    );
    assert_eq!(files_under(&data.join("tmp")).1, 0, "tmp/ is emptied");
}

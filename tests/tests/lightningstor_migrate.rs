//! `photonctl migrate --from standalone --to integrated`: a standalone
//! lightningstor's buckets, object records, uploads and access keys moved
//! into chainfire; a migration killed midway finishes when run again with
//! nothing lost or doubled; the node restarted integrated (with an empty
//! metadata directory) serves every object byte for byte, and the data
//! directory refuses the store it no longer belongs to. Then the next step,
//! `--to photonauth`: its own keys to a photonauth tenant, its buckets too.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use e2e::s3::{client_with, md5_hex, pattern};
use e2e::{Loopback, Running};

const SECRET: &str = "migrate-secret-0123456789abcdef0123456789";

/// lightningstor-server's TOML: component `ls-1` of cluster `c1` at
/// `net.ip(2)`, its data in `dir/data`, metadata in `meta`; integrated
/// with the chainfire at `net.ip(1)` when `integrated`.
fn config(net: &Loopback, dir: &Path, meta: &str, integrated: bool) -> String {
    let ip = net.ip(2);
    let photon = if integrated {
        format!(
            "[photon]\nmode = \"integrated\"\ncomponent_id = \"ls-1\"\ncluster_id = \"c1\"\n\
             [photon.integrated]\nchainfire_endpoints = [\"{}\"]\n",
            net.url(1, 2379)
        )
    } else {
        "[photon]\nmode = \"standalone\"\ncomponent_id = \"ls-1\"\ncluster_id = \"c1\"\n".to_owned()
    };
    let path = dir.join(if integrated {
        "integrated.toml"
    } else {
        "standalone.toml"
    });
    std::fs::write(
        &path,
        format!(
            "{photon}[standalone.server]\ns3_addr = \"{ip}:9000\"\ngrpc_addr = \"{ip}:9001\"\n\
             [standalone.storage]\ndata_dir = \"{}\"\n\
             [standalone.metadata]\npath = \"{}\"\n\
             [standalone.auth]\ntype = \"access_key\"\naccess_key = \"PHOTONADMIN\"\nsecret_key = \"{SECRET}\"\n",
            dir.join("data").display(),
            dir.join(meta).display()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn server(config: &str, dir: &Path) -> Running {
    let state = dir.join("state");
    let mut running = Running::start_server(
        "lightningstor",
        &["--config", config, "--state-dir", state.to_str().unwrap()],
        &[],
        None,
    );
    running.wait_for("all services started", Duration::from_secs(30));
    running
}

/// `photonctl migrate` of `config`'s lightningstor into the chainfire at
/// `endpoint`.
fn migrate_args<'a>(config: &'a str, endpoint: &'a str) -> Vec<&'a str> {
    vec![
        "migrate",
        "--from",
        "standalone",
        "--to",
        "integrated",
        "--component",
        "lightningstor",
        "--config",
        config,
        "--endpoint",
        endpoint,
    ]
}

fn migrate(config: &str, endpoint: &str, extra: &[&str]) -> std::process::Output {
    let args = [&migrate_args(config, endpoint)[..], extra].concat();
    e2e::tool_output("photonctl", &args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_store_moves_into_chainfire_and_an_interrupted_migration_finishes_when_run_again()
 {
    use lightningstor::admin::proto::{CreateAccessKeyRequest, admin_client::AdminClient};

    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let standalone = config(&net, dir.path(), "meta", false);

    // A standalone store with objects, an upload in progress and a key.
    let mut store = server(&standalone, dir.path());
    let s3 = client_with(&net.url(2, 9000), "PHOTONADMIN", SECRET);
    let mut written: BTreeMap<(String, String), String> = BTreeMap::new();
    for bucket in ["photos", "logs"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    for i in 0..360usize {
        let bucket = if i % 36 == 0 { "logs" } else { "photos" };
        let size = if i == 7 { 3 << 20 } else { 1 + (i * 37) % 4096 };
        let body = pattern(size, i as u8);
        let key = format!("k/{i:04}");
        written.insert((bucket.to_owned(), key.clone()), md5_hex(&body));
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let upload = s3
        .create_multipart_upload()
        .bucket("photos")
        .key("pending")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_owned();
    s3.upload_part()
        .bucket("photos")
        .key("pending")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(pattern(5 << 20, 9)))
        .send()
        .await
        .unwrap();
    let mut admin = AdminClient::connect(net.url(2, 9001)).await.unwrap();
    let mut request = tonic::Request::new(CreateAccessKeyRequest {
        description: "backups".into(),
    });
    request.metadata_mut().insert(
        lightningstor::admin::ACCESS_KEY_HEADER,
        "PHOTONADMIN".parse().unwrap(),
    );
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {SECRET}").parse().unwrap());
    let key = admin.create_access_key(request).await.unwrap().into_inner();
    store.signal("TERM");
    assert!(store.wait(Duration::from_secs(30)).0.success());

    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let endpoint = net.url(1, 2379);
    let mut etcd = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let prefix = "/photon/clusters/c1/lightningstor/ls-1/";
    let stored = |etcd: &mut etcd_client::Client| {
        let mut etcd = etcd.clone();
        async move {
            etcd.get(
                prefix,
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_count_only(),
                ),
            )
            .await
            .unwrap()
            .count()
        }
    };

    // Integrated before the migration: refused, nothing collected.
    let integrated = config(&net, dir.path(), "meta-integrated", true);
    let state = dir.path().join("state");
    let (code, last) = e2e::last_words(
        "lightningstor",
        &[
            "--config",
            &integrated,
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{last}");
    assert!(
        last.contains("holds the objects of the metadata rocksdb, not of chainfire /photon/clusters/c1/lightningstor/ls-1/"),
        "{last}"
    );

    // A dry run counts and writes nothing.
    let dry = migrate(&standalone, &endpoint, &["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).starts_with(
            "2 buckets, 360 objects (3841024 bytes), 1 uploads, 1 parts, 1 access keys would be copied; 0 already there"
        ),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(stored(&mut etcd).await, 0, "a dry run writes nothing");

    // Killed midway: the data directory is not handed over yet.
    let mut cut = Running::start_tool("photonctl", &migrate_args(&standalone, &endpoint));
    cut.wait_for("copied 100 objects", Duration::from_secs(60));
    cut.signal("KILL");
    cut.wait(Duration::from_secs(10));
    let copied = stored(&mut etcd).await;
    assert!(copied > 0, "the cut migration copied something");
    let owner = std::fs::read_to_string(dir.path().join("data/owner")).unwrap_or_default();
    assert!(
        !owner.contains("chainfire"),
        "handed over before it finished: {owner}"
    );

    // Run again: finishes, copying only what was missing.
    let done = migrate(&standalone, &endpoint, &[]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    let out = text(&done.stdout);
    assert!(out.starts_with("ok      "), "{out}");
    assert!(out.contains("360 objects verified"), "{out}");
    assert!(
        !out.contains("; 0 already there"),
        "the second run found the first's records: {out}"
    );
    assert!(
        text(&done.stderr).contains("handed"),
        "{}",
        text(&done.stderr)
    );
    // And again: nothing left to copy, nothing doubled.
    let again = migrate(&standalone, &endpoint, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).starts_with(
            "ok      0 buckets, 0 objects (0 bytes), 0 uploads, 0 parts, 0 access keys copied"
        ),
        "{}",
        text(&again.stdout)
    );
    // 2 buckets, 360 objects, 1 upload, 1 part, 1 key.
    assert_eq!(stored(&mut etcd).await, 365);

    // Integrated, over a fresh metadata directory: everything is there.
    let mut store = server(&integrated, dir.path());
    let mut listed = Vec::new();
    for bucket in ["photos", "logs"] {
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page.unwrap().contents() {
                listed.push((bucket.to_owned(), object.key().unwrap().to_owned()));
            }
        }
    }
    let expected: Vec<(String, String)> = written.keys().cloned().collect();
    listed.sort();
    assert_eq!(listed, expected, "every object listed once");
    for ((bucket, key), md5) in &written {
        let bytes = e2e::s3::get_bytes(&s3, bucket, key).await;
        assert_eq!(&md5_hex(&bytes), md5, "{bucket}/{key}");
    }
    let uploads = s3
        .list_multipart_uploads()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(upload_id.as_str()));
    let with_key = client_with(
        &net.url(2, 9000),
        &key.access_key_id,
        &key.secret_access_key,
    );
    assert_eq!(
        e2e::s3::get_bytes(&with_key, "logs", "k/0000").await.len(),
        1,
        "the migrated access key signs"
    );
    store.signal("TERM");
    assert!(store.wait(Duration::from_secs(30)).0.success());

    // The old store is a backup now: starting on it is refused.
    let (code, last) = e2e::last_words(
        "lightningstor",
        &[
            "--config",
            &standalone,
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{last}");
    assert!(
        last.contains("holds the objects of the metadata chainfire"),
        "{last}"
    );
}

/// `photonctl migrate --from standalone --to photonauth`: a stopped
/// lightningstor's own key goes to a photonauth tenant's user unchanged and
/// its buckets to the tenant; run again it changes nothing; the same node,
/// restarted hybrid (metadata local, keys photonauth's), serves the key's
/// holder as before and no other tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_stores_keys_and_buckets_move_to_a_photonauth_tenant() {
    use lightningstor::admin::proto::admin_client::AdminClient;
    use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
    use photonauth::api::proto::*;

    const ADMIN_TOKEN: &str = "migrate-admin-token-0123456789";
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let standalone = config(&net, dir.path(), "meta", false);
    let mut store = server(&standalone, dir.path());
    let s3 = client_with(&net.url(2, 9000), "PHOTONADMIN", SECRET);
    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.put_object()
        .bucket("photos")
        .key("a.jpg")
        .body(ByteStream::from_static(b"before photonauth"))
        .send()
        .await
        .unwrap();
    let mut admin = AdminClient::connect(net.url(2, 9001)).await.unwrap();
    let mut request = tonic::Request::new(lightningstor::admin::proto::CreateAccessKeyRequest {
        description: "the old key".into(),
    });
    request.metadata_mut().insert(
        lightningstor::admin::ACCESS_KEY_HEADER,
        "PHOTONADMIN".parse().unwrap(),
    );
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {SECRET}").parse().unwrap());
    let key = admin.create_access_key(request).await.unwrap().into_inner();
    store.signal("TERM");
    assert!(store.wait(Duration::from_secs(30)).0.success());

    // photonauth (deploy-photonauth: chainfire .1, photonauth .2 of a second
    // block, so the store keeps .2 of this one) with the tenant to move to.
    let platform_net = Loopback::block();
    let platform_state = tempfile::tempdir().unwrap();
    let mut platform = Running::start_with_env(
        "photonauth",
        &[
            "up",
            "--loopback-base",
            &platform_net.base(),
            "--state-dir",
            platform_state.path().to_str().unwrap(),
        ],
        &[("PHOTONAUTH_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    platform.wait_for("all services started", Duration::from_secs(60));
    fn op<T>(message: T) -> tonic::Request<T> {
        e2e::auth::with_token(message, ADMIN_TOKEN)
    }
    let mut auth = PhotonAuthClient::connect(platform_net.url(2, 50051))
        .await
        .unwrap();
    for tenant in ["acme", "globex"] {
        auth.create_tenant(op(CreateTenantRequest {
            tenant: tenant.into(),
        }))
        .await
        .unwrap();
    }
    auth.create_user(op(CreateUserRequest {
        tenant: "acme".into(),
        user: "legacy".into(),
    }))
    .await
    .unwrap();

    let meta = dir.path().join("meta");
    let auth_url = platform_net.url(2, 50051);
    let token = dir.path().join("admin.token");
    std::fs::write(&token, ADMIN_TOKEN).unwrap();
    let to_photonauth = |extra: &[&str]| {
        let args = [
            &[
                "migrate",
                "--from",
                "standalone",
                "--to",
                "photonauth",
                "--component",
                "lightningstor",
                "--meta-dir",
                meta.to_str().unwrap(),
                "--auth-endpoint",
                &auth_url,
                "--tenant",
                "acme",
                "--user",
                "legacy",
                "--token-file",
                token.to_str().unwrap(),
            ][..],
            extra,
        ]
        .concat();
        let out = e2e::tool_output("photonctl", &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(
        to_photonauth(&["--dry-run"]),
        "1 access keys would be imported to legacy of acme (0 already there), 1 buckets would be given to acme (0 already its); legacy would get policy lightningstor-keys (s3:* in acme), as the keys could do anything\n"
    );
    assert_eq!(
        to_photonauth(&[]),
        "ok      1 access keys imported to legacy of acme (0 already there), 1 buckets given to acme (0 already its); legacy has policy lightningstor-keys (s3:* in acme), as the keys could do anything\n"
    );
    assert_eq!(
        to_photonauth(&[]),
        "ok      0 access keys imported to legacy of acme (1 already there), 0 buckets given to acme (1 already its); legacy has policy lightningstor-keys (s3:* in acme), as the keys could do anything\n",
        "a second run changes nothing"
    );

    // The node restarted hybrid: its metadata where it was, keys checked by
    // photonauth.
    let hybrid = dir.path().join("hybrid.toml");
    std::fs::write(
        &hybrid,
        std::fs::read_to_string(&standalone).unwrap().replace(
            "[photon]\nmode = \"standalone\"\ncomponent_id = \"ls-1\"\ncluster_id = \"c1\"\n",
            &format!(
                "[photon]\nmode = \"hybrid\"\ncomponent_id = \"ls-1\"\ncluster_id = \"photonauth\"\n\
                 [photon.integrated]\nchainfire_endpoints = [\"{}\"]\n\
                 [photon.hybrid]\nauth_backend = \"integrated\"\nauth_endpoint = \"{auth_url}\"\nmetadata_backend = \"local\"\n",
                platform_net.url(1, 2379)
            ),
        ),
    )
    .unwrap();
    let _hybrid = server(hybrid.to_str().unwrap(), dir.path());
    let old_key = client_with(
        &net.url(2, 9000),
        &key.access_key_id,
        &key.secret_access_key,
    );
    assert_eq!(
        e2e::s3::get_bytes(&old_key, "photos", "a.jpg").await,
        b"before photonauth"
    );
    let listed = old_key.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().len(), 1);
    let theirs = e2e::auth::user_with_key(
        &mut auth,
        ADMIN_TOKEN,
        "globex",
        "gina",
        e2e::auth::ALLOW_ALL,
    )
    .await;
    let globex = client_with(&net.url(2, 9000), &theirs.0, &theirs.1);
    let err = globex
        .get_object()
        .bucket("photos")
        .key("a.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e2e::s3::code(&err.into_service_error()), "AccessDenied");
}

//! `lightningstor-server`, the standalone binary: started from the design's
//! TOML (docs/design.md §2.1, paths and addresses adjusted) and used with the AWS
//! SDK, refusing what it cannot do by key, and reading a deployment's
//! `export-config` so the same data is served either way.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use e2e::Loopback;
use e2e::Running;
use e2e::s3::{KEY_ID, SECRET, client_with, get_bytes};

const DESIGN: &str = include_str!("../standalone/design/lightningstor-2.1.toml");
const DESIGN_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const DESIGN_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn design_config(dir: &std::path::Path) -> String {
    let config = DESIGN.replace("/var/lib/lightningstor", dir.to_str().unwrap());
    let path = dir.join("standalone.toml");
    std::fs::write(&path, config).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_design_example_to_the_aws_sdk() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let config = design_config(dir.path());
    let mut server = Running::start_server(
        "lightningstor",
        &["--config", &config],
        &[
            (
                "PHOTON__STANDALONE__SERVER__S3_ADDR",
                &format!("{net}.1:9001"),
            ),
            (
                "PHOTON__STANDALONE__SERVER__GRPC_ADDR",
                &format!("{net}.1:9000"),
            ),
        ],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    let listening = server.lines_with("lightningstor listening").join("");
    assert!(
        listening.contains("secret=written in `standalone.auth.secret_key` (")
            && !listening.contains(DESIGN_SECRET),
        "the secret is named, never shown: {listening}"
    );
    let s3 = client_with(&format!("http://{net}.1:9001"), DESIGN_ID, DESIGN_SECRET);
    s3.create_bucket().bucket("site").send().await.unwrap();
    s3.put_object()
        .bucket("site")
        .key("index.html")
        .body(ByteStream::from_static(b"<h1>hello</h1>"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        get_bytes(&s3, "site", "index.html").await,
        b"<h1>hello</h1>"
    );
    // The configured directories hold the data.
    assert!(dir.path().join("meta").join("CURRENT").exists());
    assert!(!e2e::s3::files_under(&dir.path().join("data")).is_empty());
    let wrong = client_with(&format!("http://{net}.1:9001"), DESIGN_ID, "not-the-secret");
    assert!(wrong.list_buckets().send().await.is_err());
    assert!(
        !server.log().contains(DESIGN_SECRET),
        "the log never holds the secret"
    );
}

#[test]
fn what_it_cannot_do_is_refused_by_key_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = design_config(dir.path());
    let d = dir.path().display();
    for (set, expected) in [
        (
            "standalone.features.versioning=true",
            "lightningstor-server: configuration error: flag --set standalone.features.versioning: `standalone.features.versioning`: versioning is not available in lightningstor yet; set it to false".to_owned(),
        ),
        (
            "standalone.auth.credentials_file=etc/credentials",
            format!(
                "lightningstor-server: configuration error: {d}/standalone.toml:24: `standalone.auth`: give the secret key one way only: `secret_key`, `credentials_file` or `secret_key_env`"
            ),
        ),
        (
            "photon.standalone.metadata_backend=chainfire",
            "lightningstor-server: configuration error: flag --set photon.standalone.metadata_backend: `photon.standalone.metadata_backend`: metadata in chainfire needs `mode = \"integrated\"` and `[photon.integrated] chainfire_endpoints`; standalone keeps it in \"rocksdb\"".to_owned(),
        ),
        (
            "standalone.auth.access_key=AK/1",
            "lightningstor-server: configuration error: flag --set standalone.auth.access_key: `standalone.auth.access_key`: `access_key.id` must be 3 to 128 ASCII letters or digits (it is sent in every request; the secret part goes in `access_key.secret`)".to_owned(),
        ),
        (
            "standalone.server.base_domain=s3.example.net:9000",
            "lightningstor-server: configuration error: flag --set standalone.server.base_domain: `standalone.server.base_domain`: host name `s3.example.net:9000` is not valid: character `:` at byte 14 is not allowed (grammar: dot-separated labels of [A-Za-z0-9-], at most 253 bytes)".to_owned(),
        ),
    ] {
        let out = e2e::server_output("lightningstor", &["--config", &config, "--set", set], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{set}: {stderr}");
        assert_eq!(stderr.lines().last().unwrap_or_default(), expected, "{set}");
    }
    // No [standalone.auth] at all: the key is required.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "[photon]\nmode = \"standalone\"\n").unwrap();
    let out = e2e::server_output("lightningstor", &["--config", bare.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).ends_with(
            "`standalone.auth`: required: the operator's access key (`type = \"access_key\"`, `access_key`, and `secret_key`, `credentials_file` or `secret_key_env`)\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_exported_configuration_serves_the_same_data() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_owned();
    let mut deployment = Running::start_with_env(
        "lightningstor-single",
        &[
            "up",
            "--loopback-base",
            &format!("{net}.8"),
            "--state-dir",
            &state_dir,
        ],
        &[("LIGHTNINGSTOR_SECRET_KEY", SECRET)],
    );
    deployment.wait_for("all services started", Duration::from_secs(30));
    let s3 = client_with(&format!("http://{net}.9:9000"), KEY_ID, SECRET);
    s3.create_bucket().bucket("kept").send().await.unwrap();
    s3.put_object()
        .bucket("kept")
        .key("a")
        .body(ByteStream::from_static(b"written by the deployment"))
        .send()
        .await
        .unwrap();
    deployment.signal("TERM");
    deployment.wait(Duration::from_secs(10));

    let exported = e2e::output(
        "lightningstor-single",
        &[
            "export-config",
            "--node",
            "storage",
            "--service",
            "lightningstor",
            "--loopback-base",
            &format!("{net}.8"),
            "--state-dir",
            &state_dir,
        ],
    );
    let toml = String::from_utf8_lossy(&exported.stdout).into_owned();
    assert_eq!(
        exported.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(
        toml.contains("secret_key_env = \"LIGHTNINGSTOR_SECRET_KEY\""),
        "{toml}"
    );
    let config = state.path().join("exported.toml");
    std::fs::write(&config, &toml).unwrap();

    let mut server = Running::start_server(
        "lightningstor",
        &["--config", config.to_str().unwrap()],
        &[("LIGHTNINGSTOR_SECRET_KEY", SECRET)],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    assert_eq!(
        get_bytes(&s3, "kept", "a").await,
        b"written by the deployment"
    );
}

#[test]
fn print_config_shows_the_secret_by_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = design_config(dir.path());
    let out = e2e::server_output(
        "lightningstor",
        &["--config", &config, "--print-config"],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(DESIGN_SECRET), "{text}");
    assert!(
        text.contains(&format!("secret_key = \"(secret, written in {config}:")),
        "{text}"
    );
    assert!(
        text.contains(&format!("access_key = \"{DESIGN_ID}\"")),
        "{text}"
    );
}

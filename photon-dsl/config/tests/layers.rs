//! Layering, every named environment variable, mode detection and each
//! class of error with its exact message, on a small component schema.

use std::path::{Path, PathBuf};

use photon_config::schema::{LogLevel, OperationMode};
use photon_config::{ConfigError, Document, ListenAddr, Origin, Sources, detect, load};
use serde::{Deserialize, Serialize};

/// `[photon.standalone]` of the test component.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Backends {
    #[serde(default)]
    storage_backend: Option<String>,
}

/// `[standalone]` of the test component: one required key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Own {
    #[serde(default)]
    server: Server,
    #[serde(default)]
    auth: Option<Auth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Server {
    #[serde(default = "addr")]
    s3_addr: ListenAddr,
    #[serde(default)]
    cache_size_mb: u32,
}

fn addr() -> ListenAddr {
    "0.0.0.0:9001".parse().unwrap()
}

impl Default for Server {
    fn default() -> Self {
        Server {
            s3_addr: addr(),
            cache_size_mb: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    access_key: String,
    secret_key: String,
}

type Doc = Document<Backends, Own>;

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn sources(file: Option<PathBuf>, env: &[(&str, &str)], flags: &[(&str, &str)]) -> Sources {
    Sources {
        file,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        flags: flags
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    toml::Value::String((*v).to_owned()),
                    format!("--{k}"),
                )
            })
            .collect(),
    }
}

fn error(file: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), file);
    let err: ConfigError = load::<Doc>(&sources(Some(path), env, &[])).unwrap_err();
    err.to_string()
        .replace(&dir.path().display().to_string(), "DIR")
}

#[test]
fn flags_beat_the_environment_which_beats_the_file_which_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "[photon]\nmode = \"integrated\"\ncomponent_id = \"from-file\"\n[photon.logging]\nlevel = \"warn\"\n",
    );
    let (doc, _) = load::<Doc>(&sources(Some(path.clone()), &[], &[])).unwrap();
    assert_eq!(doc.photon.mode, Some(OperationMode::Integrated));
    assert_eq!(doc.photon.logging.level, LogLevel::Warn);
    assert_eq!(doc.standalone.server.s3_addr, addr(), "the default");

    let env = [
        ("PHOTON_MODE", "standalone"),
        ("PHOTON_COMPONENT_ID", "from-env"),
    ];
    let (doc, layers) = load::<Doc>(&sources(Some(path.clone()), &env, &[])).unwrap();
    assert_eq!(doc.photon.mode, Some(OperationMode::Standalone));
    assert_eq!(doc.photon.component_id.as_deref(), Some("from-env"));
    assert_eq!(doc.photon.logging.level, LogLevel::Warn, "the file still");
    assert_eq!(
        layers.origin("photon.mode"),
        Origin::Env("PHOTON_MODE".into())
    );

    let flags = [("photon.component_id", "from-flag")];
    let (doc, layers) = load::<Doc>(&sources(Some(path), &env, &flags)).unwrap();
    assert_eq!(doc.photon.component_id.as_deref(), Some("from-flag"));
    assert_eq!(
        layers.origin("photon.component_id"),
        Origin::Flag("--photon.component_id".into())
    );
}

#[test]
fn every_named_variable_and_the_double_underscore_form() {
    let env = [
        ("PHOTON_MODE", "integrated"),
        ("PHOTON_COMPONENT_ID", "ls-01"),
        ("PHOTON_CLUSTER_ID", "tokyo"),
        ("PHOTON_LOG_LEVEL", "debug"),
        ("PHOTON_CONTROL_PLANE_ENDPOINT", "http://cp:8080"),
        (
            "PHOTON_CHAINFIRE_ENDPOINTS",
            "http://cf1:2379, http://cf2:2379,http://cf3:2379",
        ),
        ("PHOTON_AUTH_ENDPOINT", "http://photonauth:50051"),
        ("PHOTON__STANDALONE__SERVER__S3_ADDR", "127.0.0.1:9100"),
        ("PHOTON__STANDALONE__SERVER__CACHE_SIZE_MB", "256"),
        ("PHOTON__PHOTON__STANDALONE__STORAGE_BACKEND", "filesystem"),
        ("PHOTON__PHOTON__CONFIG_VERSION", "1.0"),
        ("PHOTON_STATE_DIR", "/var/lib/photon"),
        ("HOME", "/root"),
    ];
    let (doc, _) = load::<Doc>(&sources(None, &env, &[])).unwrap();
    let p = &doc.photon;
    assert_eq!(p.mode, Some(OperationMode::Integrated));
    assert_eq!(p.component_id.as_deref(), Some("ls-01"));
    assert_eq!(p.cluster_id.as_deref(), Some("tokyo"));
    assert_eq!(p.logging.level, LogLevel::Debug);
    assert_eq!(
        p.integrated.control_plane_endpoint.as_deref(),
        Some("http://cp:8080")
    );
    assert_eq!(
        p.integrated.chainfire_endpoints,
        ["http://cf1:2379", "http://cf2:2379", "http://cf3:2379"]
    );
    assert_eq!(
        p.integrated.auth_service_endpoint.as_deref(),
        Some("http://photonauth:50051")
    );
    assert_eq!(doc.standalone.server.s3_addr.port, 9100);
    assert_eq!(doc.standalone.server.cache_size_mb, 256, "read as a number");
    assert_eq!(p.standalone.storage_backend.as_deref(), Some("filesystem"));
    assert_eq!(p.config_version.as_deref(), Some("1.0"), "kept as text");
}

#[test]
fn an_unknown_key_names_its_line_and_the_nearest_key() {
    assert_eq!(
        error(
            "[photon]\nmode = \"standalone\"\n\n[standalone.server]\ns3_adr = \"0.0.0.0:9001\"\n",
            &[]
        ),
        "DIR/c.toml:5: `standalone.server.s3_adr`: unknown key `s3_adr`; did you mean `s3_addr`? (expected one of: s3_addr, cache_size_mb)"
    );
    assert_eq!(
        error("", &[("PHOTON__STANDALONE__SERVR__S3_ADDR", "0.0.0.0:1")]),
        "environment variable PHOTON__STANDALONE__SERVR__S3_ADDR: `standalone.servr`: unknown key `servr`; did you mean `server`? (expected one of: server, auth)"
    );
    assert_eq!(
        error("", &[("PHOTON_MOED", "standalone")]),
        "environment variable PHOTON_MOED: not a PhotonCloud variable; did you mean PHOTON_MODE? (PHOTON__SECTION__KEY sets any key)"
    );
    assert_eq!(
        error("[photon]\nmode = \"intgrated\"\n", &[]),
        "DIR/c.toml:2: `photon.mode`: unknown value `intgrated`; did you mean `integrated`? (expected one of: standalone, integrated, hybrid)"
    );
}

#[test]
fn a_wrong_type_an_out_of_range_port_and_a_missing_value() {
    assert_eq!(
        error("[standalone.server]\ncache_size_mb = \"big\"\n", &[]),
        "DIR/c.toml:2: `standalone.server.cache_size_mb`: invalid type: string \"big\", expected u32"
    );
    assert_eq!(
        error("[standalone.server]\ns3_addr = \"0.0.0.0:70000\"\n", &[]),
        "DIR/c.toml:2: `standalone.server.s3_addr`: port 70000 in `0.0.0.0:70000` is out of range: a port is 1 to 65535"
    );
    assert_eq!(
        error("", &[("PHOTON__STANDALONE__SERVER__S3_ADDR", "0.0.0.0:0")]),
        "environment variable PHOTON__STANDALONE__SERVER__S3_ADDR: `standalone.server.s3_addr`: port 0 in `0.0.0.0:0` is out of range: a port is 1 to 65535"
    );
    assert_eq!(
        error(
            "[standalone.auth]\naccess_key = \"AKIAIOSFODNN7EXAMPLE\"\n",
            &[]
        ),
        "DIR/c.toml:1: `standalone.auth.secret_key`: required, and not given (in the file, the environment or a flag)"
    );
    assert_eq!(
        error("[photon]\nmode = standalone\n", &[]),
        "DIR/c.toml:2: not valid TOML: string values must be quoted, expected literal string"
    );
}

#[test]
fn mode_comes_from_configuration_else_from_the_control_plane_probe() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "[photon]\nmode = \"integrated\"\n");
    let (doc, layers) = load::<Doc>(&sources(Some(path), &[], &[])).unwrap();
    let never = |_: &str| -> bool { panic!("no probe when the mode is configured") };
    let d = detect(doc.photon.mode, &layers, Some("http://cp:8080"), never);
    assert_eq!(d.mode, OperationMode::Integrated);
    assert!(d.reason.ends_with("c.toml:2"), "{}", d.reason);

    let (doc, layers) = load::<Doc>(&sources(None, &[], &[])).unwrap();
    let mut asked = String::new();
    let d = detect(doc.photon.mode, &layers, Some("http://cp:8080/"), |url| {
        asked = url.to_owned();
        true
    });
    assert_eq!(asked, "http://cp:8080/health");
    assert_eq!(d.mode, OperationMode::Integrated);
    let d = detect(doc.photon.mode, &layers, Some("http://cp:8080"), |_| false);
    assert_eq!(d.mode, OperationMode::Standalone);
    assert_eq!(
        d.reason,
        "no mode configured, and the control plane did not answer http://cp:8080/health"
    );
    let d = detect(doc.photon.mode, &layers, None, |_| true);
    assert_eq!(d.mode, OperationMode::Standalone);
}

#[test]
fn a_secret_prints_as_where_it_is_written_and_nothing_else_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "[photon]\ncomponent_id = \"store\"\n[standalone.server]\nsecret = \"hunter2-value\"\n",
    );
    let mut layers = photon_config::Layers::new();
    layers.file(&path).unwrap();
    let shown = layers.to_toml_hiding(&["standalone.server.secret", "standalone.absent.key"]);
    assert!(!shown.contains("hunter2-value"), "{shown}");
    assert!(
        shown.contains(&format!(
            "secret = \"(secret, written in {}:4)\"",
            path.display()
        )),
        "{shown}"
    );
    assert!(shown.contains("component_id = \"store\""), "{shown}");
    assert!(
        layers.to_toml().contains("hunter2-value"),
        "the layers keep it"
    );
}

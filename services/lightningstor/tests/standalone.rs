//! lightningstor's standalone schema: the design's examples load as
//! written, and any standalone spec a deployment can write, exported and
//! loaded back through `lightningstor-server`'s layers and checks, is the
//! same spec (storage paths made explicit).

use std::net::IpAddr;
use std::path::PathBuf;

use lightningstor::standalone::{LightningStorSchema, MetadataBackend};
use lightningstor::{AccessKey, LightningStor, Storage};
use photon_config::schema::{LogLevel, OperationMode as TextMode};
use photon_config::{ComponentDocument, Layers, Sources, load};
use photon_dsl::{HostName, Mode, Node as _, NodeAddress, NodeName, Port, Secret};
use photon_runtime::standalone::StandaloneServer as _;
use photon_runtime::standalone::leak;
use photon_runtime::standalone::round_trip::{context, round_trip};
use proptest::prelude::*;

fn example(name: &str) -> (ComponentDocument<LightningStorSchema>, Layers) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/standalone/design")
        .join(name);
    load::<ComponentDocument<LightningStorSchema>>(&Sources {
        file: Some(file),
        ..Sources::default()
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_design_example_for_lightningstor_loads_as_written() {
    let (doc, layers) = example("lightningstor-2.1.toml");
    assert_eq!(doc.photon.mode, Some(TextMode::Standalone));
    assert_eq!(
        doc.photon.standalone.metadata_backend,
        Some(MetadataBackend::Rocksdb)
    );
    assert_eq!(doc.standalone.server.log_level, Some(LogLevel::Info));
    assert_eq!(doc.standalone.metadata.cache_size_mb, Some(256));
    let built = LightningStorSchema::build(&doc, &layers).unwrap();
    assert_eq!(built.spec.s3_port.get(), 9001);
    assert_eq!(built.spec.admin_port.get(), 9000);
    assert_eq!(built.spec.access_key.id, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(
        built.spec.storage.data_dir,
        Some("/var/lib/lightningstor/data")
    );
    assert_eq!(built.spec.storage.cache_size_mb, Some(256));
    for common in [
        "common-5.1.toml",
        "integrated-3.2.toml",
        "hybrid-6.4.toml",
        "versioning-7.2.toml",
        "fallback-7.2.toml",
    ] {
        example(common);
    }
}

photon_dsl::nodes! {
    /// The deployment's node.
    pub Store = "store";
}

fn secret() -> impl Strategy<Value = Secret> {
    prop_oneof![
        "[A-Z][A-Z0-9_]{0,20}".prop_map(|n| Secret::try_env(leak(&n)).unwrap()),
        "/etc/[a-z]{1,8}/[a-z]{1,8}\\.key".prop_map(|p| Secret::try_file(leak(&p)).unwrap()),
        "[ -~]{1,40}".prop_map(|v| Secret::written_in("a test", leak(&v))),
    ]
}

/// Standalone, or integrated with up to three state-store members and,
/// perhaps, photonauth.
fn dep<P: photon_dsl::Protocol>(node: &'static str) -> impl Strategy<Value = photon_dsl::Dep<P>> {
    (1u16..=65535).prop_map(move |port| {
        photon_dsl::Dep::from_text(
            photon_dsl::NodeName::parse(node).unwrap(),
            Port::try_from(port).unwrap(),
            None,
        )
    })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Standalone),
        (dep("kv-1"), proptest::option::of(dep("auth"))).prop_map(|(kv, auth)| {
            Mode::Hybrid(photon_dsl::Hybrid {
                state_store: Box::leak(vec![kv].into_boxed_slice()),
                metadata: photon_dsl::Kept::Local,
                auth: match auth {
                    Some(dep) => photon_dsl::Auth::PhotonAuth(dep),
                    None => photon_dsl::Auth::Local,
                },
            })
        }),
        (
            (dep("kv-1"), dep("kv-2"), dep("kv-3"), 1usize..=3),
            proptest::option::of(dep("auth")),
        )
            .prop_map(|((a, b, c, n), auth)| {
                Mode::Integrated(photon_dsl::Integration {
                    state_store: Box::leak(vec![a, b, c][..n].to_vec().into_boxed_slice()),
                    auth: match auth {
                        Some(dep) => photon_dsl::Auth::PhotonAuth(dep),
                        None => photon_dsl::Auth::Local,
                    },
                })
            }),
    ]
}

/// Where the test's nodes are reached: `<node>.example`.
fn addresses() -> Vec<(NodeName, NodeAddress)> {
    ["kv-1", "kv-2", "kv-3", "auth"]
        .into_iter()
        .map(|node| {
            let node = NodeName::parse(node).unwrap();
            (node, NodeAddress::Host(format!("{node}.example")))
        })
        .collect()
}

fn spec() -> impl Strategy<Value = LightningStor<Store>> {
    (
        mode(),
        (1u16..=65535, 1u16..=65535),
        "[A-Za-z0-9]{3,40}",
        secret(),
        proptest::option::of("[a-z]{1,10}(\\.[a-z]{1,10}){1,2}"),
        (
            proptest::option::of("/srv/[a-z]{1,8}"),
            proptest::option::of("/srv/[a-z]{1,8}/meta"),
            proptest::option::of(1u32..=65536),
        ),
    )
        .prop_filter("two listeners on one port", |(_, (s3, admin), ..)| {
            s3 != admin
        })
        .prop_map(
            |(mode, (s3, admin), id, secret, domain, (data, meta, cache))| LightningStor {
                node: Store,
                s3_port: Port::try_from(s3).unwrap(),
                admin_port: Port::try_from(admin).unwrap(),
                access_key: AccessKey {
                    id: leak(&id),
                    secret,
                },
                base_domain: domain.map(|domain| HostName::parse(&domain).unwrap()),
                mode,
                storage: Storage {
                    data_dir: data.as_deref().map(leak),
                    meta_dir: meta.as_deref().map(leak),
                    cache_size_mb: cache,
                },
            },
        )
}

/// Whether photonauth checks requests in `mode`.
fn by_photonauth(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Integrated(photon_dsl::Integration {
            auth: photon_dsl::Auth::PhotonAuth(_),
            ..
        }) | Mode::Hybrid(photon_dsl::Hybrid {
            auth: photon_dsl::Auth::PhotonAuth(_),
            ..
        })
    )
}

/// Builds the spec of `text`, a whole configuration file.
fn build(text: &str) -> Result<LightningStor<photon_runtime::standalone::Local>, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lightningstor.toml");
    std::fs::write(&file, text).unwrap();
    let (doc, layers) = load::<ComponentDocument<LightningStorSchema>>(&Sources {
        file: Some(file),
        ..Sources::default()
    })
    .map_err(|e| e.to_string())?;
    LightningStorSchema::build(&doc, &layers)
        .map(|built| built.spec)
        .map_err(|e| format!("{}: {}", e.key, e.problem))
}

#[test]
fn hybrid_mode_integrates_auth_keeps_metadata_local_and_refuses_the_rest() {
    let server = "[standalone.auth]\ntype = \"access_key\"\naccess_key = \"OPERATOR\"\nsecret_key_env = \"S3_SECRET\"\n";
    let with = |photon: &str| {
        format!("[photon]\nmode = \"hybrid\"\ncluster_id = \"c1\"\n{photon}\n{server}")
    };
    let endpoints = "[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\n";

    let spec = build(&with(&format!(
        "{endpoints}[photon.hybrid]\nauth_backend = \"integrated\"\nauth_endpoint = \"http://auth:50051\"\nmetadata_backend = \"local\"\n"
    )))
    .unwrap();
    assert_eq!(spec.mode.as_str(), "hybrid");
    assert!(by_photonauth(spec.mode));
    let spec = build(&with(endpoints)).unwrap();
    assert_eq!(spec.mode.as_str(), "hybrid");
    assert!(!by_photonauth(spec.mode));

    for (photon, key, says) in [
        (
            "[photon.hybrid]\nauth_backend = \"integrated\"\nauth_endpoint = \"http://auth:50051\"\n".to_owned(),
            "photon.integrated.chainfire_endpoints",
            "registers the component in chainfire",
        ),
        (
            format!("{endpoints}[photon.hybrid]\nmetadata_backend = \"integrated\"\n"),
            "photon.hybrid.metadata_backend",
            "`mode = \"integrated\"`",
        ),
        (
            format!("{endpoints}[photon.hybrid]\nevents_backend = \"integrated\"\nevent_bus_endpoint = \"http://events:4222\"\n"),
            "photon.hybrid.events_backend",
            "no event bus",
        ),
        (
            format!("{endpoints}[photon.hybrid]\nauth_backend = \"integrated\"\n"),
            "photon.hybrid.auth_endpoint",
            "give its endpoint",
        ),
        (
            format!("{endpoints}[photon.hybrid]\nauth_endpoint = \"http://auth:50051\"\n"),
            "photon.hybrid.auth_endpoint",
            "only with auth_backend",
        ),
    ] {
        let error = build(&with(&photon)).unwrap_err();
        assert!(error.starts_with(&format!("{key}: ")), "{error}");
        assert!(error.contains(says), "{error}");
    }
}

proptest! {
    #[test]
    fn an_exported_spec_loads_back_as_the_same_spec(spec in spec(), bind in any::<IpAddr>()) {
        let ctx = context(Store::NAME, bind, addresses());
        let back = round_trip::<LightningStorSchema>(&spec, &ctx).unwrap().spec;
        prop_assert_eq!(back.mode.as_str(), spec.mode.as_str());
        prop_assert_eq!(by_photonauth(back.mode), by_photonauth(spec.mode));
        prop_assert_eq!(back.access_key.id, spec.access_key.id);
        prop_assert_eq!(back.base_domain, spec.base_domain);
        prop_assert_eq!(back.storage.cache_size_mb, spec.storage.cache_size_mb);
        // Paths the deployment left to the state directory are written out.
        let written = |path: Option<&str>, default: &str| {
            Some(path.map_or_else(|| ctx.state_dir.join(default), PathBuf::from))
        };
        prop_assert_eq!(back.storage.data_dir.map(PathBuf::from), written(spec.storage.data_dir, "data"));
        prop_assert_eq!(back.storage.meta_dir.map(PathBuf::from), written(spec.storage.meta_dir, "meta"));
    }
}

//! lightningstor's standalone schema: the design's examples load as
//! written, and any standalone spec a deployment can write, exported and
//! loaded back through `lightningstor-server`'s layers and checks, is the
//! same spec (storage paths made explicit).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use lightningstor::standalone::{LightningStorServer, MetadataBackend, export};
use lightningstor::{AccessKey, LightningStor, Storage};
use photon_config::schema::{LogLevel, Mode as TextMode};
use photon_config::{ComponentDocument, Layers, Sources, load};
use photon_dsl::{Mode, Port, Secret, SecretSource};
use photon_runtime::standalone::StandaloneServer as _;
use proptest::prelude::*;

fn example(name: &str) -> (ComponentDocument<LightningStorServer>, Layers) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/standalone/design")
        .join(name);
    load::<ComponentDocument<LightningStorServer>>(&Sources {
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
    let built = LightningStorServer::build(&doc, &layers).unwrap();
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

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
    ]
}

fn secret() -> impl Strategy<Value = Secret> {
    prop_oneof![
        "[A-Z][A-Z0-9_]{0,20}".prop_map(|n| Secret::try_env(leak(n)).unwrap()),
        "/etc/[a-z]{1,8}/[a-z]{1,8}\\.key".prop_map(|p| Secret::try_file(leak(p)).unwrap()),
        "[ -~]{1,40}".prop_map(|v| Secret::written_in("a test", leak(v))),
    ]
}

fn spec() -> impl Strategy<Value = LightningStor<Store>> {
    (
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
        .prop_filter("two listeners on one port", |((s3, admin), ..)| s3 != admin)
        .prop_map(
            |((s3, admin), id, secret, domain, (data, meta, cache))| LightningStor {
                node: Store,
                s3_port: Port::try_from(s3).unwrap(),
                admin_port: Port::try_from(admin).unwrap(),
                access_key: AccessKey {
                    id: leak(id),
                    secret,
                },
                base_domain: domain.map(leak),
                mode: Mode::Standalone,
                storage: Storage {
                    data_dir: data.map(leak),
                    meta_dir: meta.map(leak),
                    cache_size_mb: cache,
                },
            },
        )
}

proptest! {
    #[test]
    fn an_exported_spec_loads_back_as_the_same_spec(spec in spec(), bind in ip()) {
        let state = Path::new("/var/lib/photoncloud/d/store/lightningstor");
        let doc = export(&spec, bind, "store-lightningstor", state).unwrap();
        let text = photon_config::to_toml(&doc).unwrap();
        let mut layers = Layers::new();
        layers.text(Path::new("exported.toml"), &text).unwrap();
        let loaded: ComponentDocument<LightningStorServer> = layers.extract().unwrap();
        prop_assert_eq!(&loaded, &doc);
        let back = LightningStorServer::build(&loaded, &layers).unwrap();
        let b = back.spec;
        prop_assert_eq!(b.s3_port, spec.s3_port);
        prop_assert_eq!(b.admin_port, spec.admin_port);
        prop_assert_eq!(b.access_key.id, spec.access_key.id);
        prop_assert_eq!(b.base_domain, spec.base_domain);
        prop_assert_eq!(b.storage.cache_size_mb, spec.storage.cache_size_mb);
        // Paths the deployment left to the state directory are written out.
        let data = state.join("data");
        let meta = state.join("meta");
        prop_assert_eq!(
            b.storage.data_dir,
            Some(spec.storage.data_dir.unwrap_or(data.to_str().unwrap()))
        );
        prop_assert_eq!(
            b.storage.meta_dir,
            Some(spec.storage.meta_dir.unwrap_or(meta.to_str().unwrap()))
        );
        // The secret comes from the same place (a written one keeps its value).
        match (spec.access_key.secret.source(), b.access_key.secret.source()) {
            (SecretSource::Written(a), SecretSource::Written(b)) => {
                prop_assert_eq!(a.value, b.value)
            }
            (a, b) => prop_assert_eq!(a, b),
        }
        prop_assert_eq!(back.listen, vec![("s3", bind), ("admin", bind)]);
    }
}

#[test]
fn an_integrated_spec_has_no_standalone_form() {
    let spec = LightningStor {
        node: Store,
        s3_port: Port::try_from(9000).unwrap(),
        admin_port: Port::try_from(9001).unwrap(),
        access_key: AccessKey {
            id: "PHOTONADMIN",
            secret: Secret::env("S3_SECRET"),
        },
        base_domain: None,
        mode: Mode::Integrated(photon_dsl::Integration {
            state_store: &[],
            auth: photon_dsl::Auth::Local,
        }),
        storage: Storage::DEFAULT,
    };
    let error = export(
        &spec,
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "x",
        Path::new("/s"),
    )
    .unwrap_err();
    assert!(error.starts_with("it runs integrated"), "{error}");
}

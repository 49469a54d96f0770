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

/// Where the test's nodes are reached: `<node>.example:<port>`.
fn reach(node: photon_dsl::NodeName, port: Port) -> Result<String, String> {
    Ok(format!("{node}.example:{port}"))
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
                    id: leak(id),
                    secret,
                },
                base_domain: domain.map(leak),
                mode,
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
        let doc = export(&spec, bind, "store-lightningstor", state, "the-cluster", &reach).unwrap();
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
        // Integrated, the same mode: the state store's ports in order, and
        // photonauth's, each a remote stand-in at the address it had.
        let deps = |mode: Mode| match mode {
            Mode::Standalone => None,
            Mode::Integrated(i) => Some((
                i.state_store.iter().map(|d| (d.port(), reach(d.node(), d.port()).unwrap())).collect::<Vec<_>>(),
                match i.auth {
                    photon_dsl::Auth::Local => None,
                    photon_dsl::Auth::PhotonAuth(d) => Some(d.port()),
                },
            )),
        };
        let remotes: Vec<String> = back
            .remotes
            .iter()
            .map(|r| r.address().with_port(0).trim_end_matches(":0").to_owned())
            .collect();
        match (deps(spec.mode), deps(b.mode)) {
            (None, None) => prop_assert!(remotes.is_empty()),
            (Some((want, want_auth)), Some((got, got_auth))) => {
                prop_assert_eq!(
                    got.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
                    want.iter().map(|(p, _)| *p).collect::<Vec<_>>()
                );
                prop_assert_eq!(got_auth, want_auth);
                let hosts: Vec<String> = want
                    .iter()
                    .map(|(_, at)| at.rsplit_once(':').unwrap().0.to_owned())
                    .collect();
                prop_assert_eq!(&remotes[..hosts.len()], &hosts[..]);
            }
            (want, got) => prop_assert!(false, "mode {:?} came back as {:?}", want, got),
        }
    }
}

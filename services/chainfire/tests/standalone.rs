//! chainfire's standalone schema: any single-member spec, exported and
//! loaded back through `chainfire-server`'s layers and checks, is the same
//! spec with its data in the same directory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use chainfire::Chainfire;
use chainfire::standalone::{ChainfireServer, export};
use photon_config::{ComponentDocument, Layers};
use photon_dsl::Port;
use photon_runtime::standalone::StandaloneServer as _;
use proptest::prelude::*;

photon_dsl::nodes! {
    /// The deployment's node.
    pub Kv = "kv";
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
    ]
}

proptest! {
    #[test]
    fn an_exported_member_loads_back_as_the_same_spec(
        client in 1u16..=65535,
        peer in 1u16..=65535,
        bind in ip(),
        dir in "/var/lib/[a-z]{1,12}(/[a-z0-9]{1,8}){0,3}",
    ) {
        prop_assume!(client != peer);
        let spec = Chainfire {
            node: Kv,
            client_port: Port::try_from(client).unwrap(),
            peer_port: Port::try_from(peer).unwrap(),
        };
        let doc = export(&spec, 1, bind, "kv", Path::new(&dir)).unwrap();
        let text = photon_config::to_toml(&doc).unwrap();
        let mut layers = Layers::new();
        layers.text(Path::new("exported.toml"), &text).unwrap();
        let loaded: ComponentDocument<ChainfireServer> = layers.extract().unwrap();
        prop_assert_eq!(&loaded, &doc);
        let built = ChainfireServer::build(&loaded, &layers).unwrap();
        prop_assert_eq!(built.spec.client_port, spec.client_port);
        prop_assert_eq!(built.spec.peer_port, spec.peer_port);
        prop_assert_eq!(built.state_dir, Some(PathBuf::from(&dir)));
        prop_assert_eq!(built.listen, vec![("client", bind), ("peer", bind)]);
    }
}

#[test]
fn a_member_of_a_larger_cluster_is_refused() {
    let spec = Chainfire {
        node: Kv,
        client_port: Port::try_from(2379).unwrap(),
        peer_port: Port::try_from(2380).unwrap(),
    };
    let error = export(
        &spec,
        3,
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "kv",
        Path::new("/d"),
    )
    .unwrap_err();
    assert_eq!(
        error,
        "it is one of 3 cluster members; the standalone schema runs a single-member cluster"
    );
}

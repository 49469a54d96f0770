//! chainfire's standalone schema: any member, alone or with fellow
//! members, exported and loaded back through `chainfire-server`'s layers
//! and checks, is the same spec with its data in the same directory and
//! the same members.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chainfire::standalone::ChainfireSchema;
use chainfire::{Chainfire, Limits};
use photon_config::{ComponentDocument, Layers};
use photon_dsl::{Node as _, Port};
use photon_runtime::Peer;
use photon_runtime::standalone::StandaloneServer as _;
use photon_runtime::standalone::round_trip::{context, round_trip};
use proptest::prelude::*;

photon_dsl::nodes! {
    /// The deployment's node.
    pub Kv = "kv";
}

/// `host:port` for a member: a host name or an address.
fn host_port() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,6})?".prop_map(|h| h),
            any::<IpAddr>().prop_map(|ip| match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            }),
        ],
        1u16..=65535,
    )
        .prop_map(|(host, port)| format!("{host}:{port}"))
}

/// Up to four other members, named apart from `kv` and each other.
fn peers() -> impl Strategy<Value = Vec<Peer>> {
    proptest::collection::btree_map("m[a-z0-9]{1,8}", (host_port(), host_port()), 0..4).prop_map(
        |members| {
            members
                .into_iter()
                .map(|(name, (client, peer))| Peer {
                    name,
                    addrs: vec![("client".to_owned(), client), ("peer".to_owned(), peer)],
                })
                .collect()
        },
    )
}

proptest! {
    #[test]
    fn an_exported_member_loads_back_as_the_same_spec(
        client in 1u16..=65535,
        peer in 1u16..=65535,
        bind in any::<IpAddr>(),
        dir in "/var/lib/[a-z]{1,12}(/[a-z0-9]{1,8}){0,3}",
        others in peers(),
        max_txn_ops in 1u32..=u32::MAX,
        snapshot_count in 1u32..=u32::MAX,
    ) {
        prop_assume!(client != peer);
        let spec = Chainfire {
            node: Kv,
            client_port: Port::try_from(client).unwrap(),
            peer_port: Port::try_from(peer).unwrap(),
            limits: Limits { max_txn_ops, snapshot_count },
        };
        let mut ctx = context(Kv::NAME, bind, Vec::new());
        ctx.state_dir = PathBuf::from(&dir);
        ctx.peers = others;
        let built = round_trip::<ChainfireSchema>(&spec, &ctx).unwrap();
        prop_assert_eq!(built.state_dir, Some(PathBuf::from(&dir)));
        prop_assert_eq!(built.spec.limits, spec.limits);
    }
}

/// A document with `members` as its `[[standalone.cluster.member]]`s.
fn build_error(members: &str) -> String {
    let text = format!("[photon]\ncomponent_id = \"kv\"\n\n{members}");
    let mut layers = Layers::new();
    layers.text(Path::new("c.toml"), &text).unwrap();
    let doc: ComponentDocument<ChainfireSchema> = layers.extract().unwrap();
    ChainfireSchema::build(&doc, &layers)
        .unwrap_err()
        .to_string()
}

#[test]
fn members_are_checked_by_key() {
    let member = |name: &str, client: &str| {
        format!(
            "[[standalone.cluster.member]]\nname = \"{name}\"\nclient_addr = \"{client}\"\npeer_addr = \"b:2380\"\n"
        )
    };
    assert_eq!(
        build_error(&member("kv", "a:2379")),
        "c.toml:5: `standalone.cluster.member[0].name`: `kv` is this member's own name (photon.component_id); list only the other members"
    );
    assert_eq!(
        build_error(&(member("m1", "a:2379") + &member("m1", "c:2379"))),
        "c.toml:9: `standalone.cluster.member[1].name`: member `m1` is listed twice"
    );
    assert_eq!(
        build_error(&member("m1", "a")),
        "c.toml:6: `standalone.cluster.member[0].client_addr`: `a` has no port: write `host:port`, such as `node-2:2380` or `10.0.0.2:2380`"
    );
    assert_eq!(
        build_error(&member("m1", "a:0")),
        "c.toml:6: `standalone.cluster.member[0].client_addr`: `0` in `a:0` is not a port: a port is 1 to 65535"
    );
    assert_eq!(
        build_error(&member("m1", "::1:2379")),
        "c.toml:6: `standalone.cluster.member[0].client_addr`: `::1:2379` has no host: write `host:port`, such as `node-2:2380` or `10.0.0.2:2380` (IPv6 in brackets)"
    );
}

#[test]
fn a_transaction_limit_of_zero_is_refused_by_key() {
    assert_eq!(
        build_error("[standalone.limits]\nmax_txn_ops = 0\n"),
        "c.toml:5: `standalone.limits.max_txn_ops`: `limits.max_txn_ops` must be at least 1 (etcd's default is 128: `Limits::DEFAULT`)"
    );
}

#[test]
fn a_snapshot_count_of_zero_is_refused_by_key() {
    assert_eq!(
        build_error("[standalone.limits]\nsnapshot_count = 0\n"),
        "c.toml:5: `standalone.limits.snapshot_count`: `limits.snapshot_count` must be at least 1 (etcd's default is 100000: `Limits::DEFAULT`)"
    );
}

//! flaredb's standalone schema: any node of a deployment, exported and
//! loaded back through `flaredb-server`'s layers and checks, is the same
//! spec, reached at the same address, with its data in the same directory
//! and the same other nodes; what a document gets wrong is named by key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flaredb::FlareDb;
use flaredb::standalone::FlareDbSchema;
use photon_config::{ComponentDocument, Layers};
use photon_dsl::{Dep, Node as _, NodeAddress, Port, Secret};
use photon_runtime::Peer;
use photon_runtime::standalone::StandaloneServer as _;
use photon_runtime::standalone::round_trip::{context, round_trip};
use proptest::prelude::*;

photon_dsl::nodes! {
    /// The deployment's flaredb node.
    pub Db = "db-1";
    /// Its chainfire.
    pub Kv = "kv";
}

/// Up to three other nodes, named apart from `db-1` and each other.
fn others() -> impl Strategy<Value = Vec<Peer>> {
    proptest::collection::btree_map("db-[a-z0-9]{2,6}", (any::<[u8; 4]>(), 1u16..=65535), 0..3)
        .prop_map(|nodes| {
            nodes
                .into_iter()
                .map(|(name, (ip, port))| Peer {
                    name,
                    addrs: vec![(
                        "grpc".to_owned(),
                        format!("{}:{port}", std::net::Ipv4Addr::from(ip)),
                    )],
                })
                .collect()
        })
}

proptest! {
    #[test]
    fn an_exported_node_loads_back_as_the_same_spec(
        port in 1u16..=65535,
        kv_port in 1u16..=65535,
        bind in any::<[u8; 4]>(),
        shards in 1u16..=4096,
        dir in "/var/lib/[a-z]{1,12}(/[a-z0-9]{1,8}){0,2}",
        peers in others(),
    ) {
        let kv: &'static [Dep<photon_dsl::protocol::EtcdV3>] = Box::leak(Box::new([Dep::from_text(
            Kv::NAME,
            Port::try_from(kv_port).unwrap(),
            None,
        )]));
        let spec = FlareDb {
            node: Db,
            port: Port::try_from(port).unwrap(),
            state_store: kv,
            shards,
            admin_token: Secret::env("FLAREDB_TOKEN"),
        };
        let bind = IpAddr::from(bind);
        let mut ctx = context(
            Db::NAME,
            bind,
            vec![(Kv::NAME, NodeAddress::Ip("10.0.0.1".parse().unwrap()))],
        );
        ctx.state_dir = PathBuf::from(&dir);
        ctx.peers = peers;
        let built = round_trip::<FlareDbSchema>(&spec, &ctx).unwrap();
        prop_assert_eq!(built.state_dir, Some(PathBuf::from(&dir)));
        prop_assert_eq!(built.spec.db.shards, shards);
        prop_assert_eq!(built.spec.advertise, format!("{bind}:{port}"));
    }
}

/// What `flaredb-server` says of an integrated document ending in `rest`.
fn build_error(rest: &str) -> String {
    build_error_of("", rest)
}

/// ... with `integrated` added to `[photon.integrated]`.
fn build_error_of(integrated: &str, rest: &str) -> String {
    let text = format!(
        "[photon]\nmode = \"integrated\"\ncomponent_id = \"db-1\"\ncluster_id = \"c\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\n{integrated}[standalone.auth]\nadmin_token_env = \"T\"\n{rest}"
    );
    let mut layers = Layers::new();
    layers.text(Path::new("c.toml"), &text).unwrap();
    let doc: ComponentDocument<FlareDbSchema> = layers.extract().unwrap();
    match FlareDbSchema::build(&doc, &layers) {
        Ok(_) => "built".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_node_binding_every_address_must_say_where_it_is_reached() {
    assert_eq!(
        build_error(""),
        "c.toml:7: `standalone.server.advertise_addr`: required when grpc_addr (0.0.0.0:50060) binds every address: the shard map tells clients and the other nodes where this node is, such as advertise_addr = \"10.0.0.14:50060\""
    );
    assert_eq!(
        build_error("[standalone.server]\nadvertise_addr = \"db-1\"\n"),
        "c.toml:10: `standalone.server.advertise_addr`: `db-1` has no port: write `host:port`, such as `node-2:2380` or `10.0.0.2:2380`"
    );
    assert_eq!(
        build_error("[standalone.server]\nadvertise_addr = \"db-1.example:50060\"\n"),
        "built"
    );
    assert_eq!(
        build_error("[standalone.server]\ngrpc_addr = \"10.0.0.14:50060\"\n"),
        "built"
    );
}

#[test]
fn other_nodes_shards_and_photonauth_are_checked_by_key() {
    let reached = "[standalone.server]\ngrpc_addr = \"10.0.0.14:50060\"\n";
    let node = |name: &str, addr: &str| {
        format!("[[standalone.cluster.node]]\nname = \"{name}\"\naddr = \"{addr}\"\n")
    };
    assert_eq!(
        build_error(&format!("{reached}{}", node("db-1", "b:1"))),
        "c.toml:12: `standalone.cluster.node[0].name`: `db-1` is this node's own name (photon.component_id); list only the other nodes"
    );
    assert_eq!(
        build_error(&format!(
            "{reached}{}{}",
            node("db-2", "b:1"),
            node("db-2", "c:1")
        )),
        "c.toml:15: `standalone.cluster.node[1].name`: node `db-2` is listed twice"
    );
    assert_eq!(
        build_error(&format!("{reached}{}", node("db-2", "b:0"))),
        "c.toml:13: `standalone.cluster.node[0].addr`: `0` in `b:0` is not a port: a port is 1 to 65535"
    );
    assert_eq!(
        build_error(&format!("{reached}[standalone.shards]\ncount = 0\n")),
        "c.toml:12: `standalone.shards.count`: `shards` must be 1 to 4096 (up to 4096)"
    );
    let photonauth = build_error_of("auth_service_endpoint = \"http://auth:50051\"\n", reached);
    assert!(
        photonauth.contains("flaredb is called with its admin token"),
        "{photonauth}"
    );
}

#[test]
fn flaredb_exists_only_integrated() {
    let mut layers = Layers::new();
    layers
        .text(
            Path::new("c.toml"),
            "[standalone.server]\ngrpc_addr = \"10.0.0.14:50060\"\n[standalone.auth]\nadmin_token_env = \"T\"\n",
        )
        .unwrap();
    let doc: ComponentDocument<FlareDbSchema> = layers.extract().unwrap();
    let error = FlareDbSchema::build(&doc, &layers).unwrap_err().to_string();
    assert!(
        error.contains("`photon.mode`")
            && error.contains("flaredb keeps its shard map in chainfire"),
        "{error}"
    );
}

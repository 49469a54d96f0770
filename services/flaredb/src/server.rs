//! A flaredb node as a service of a deployment: always joined to
//! chainfire (the shard map is there), its data in RocksDB under its
//! state directory, its gRPC API on its port with `/health` and
//! `/metrics` beside it.

use std::collections::BTreeMap;
use std::sync::Arc;

use photon_runtime::admin::{Checks, Metrics, Report};
use photon_runtime::operations::Operations;
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};

use crate::api::Node;
use crate::shard::{MapStore, ShardMap};
use crate::spec::{ApiListener, FlareDb};
use crate::store::NodeStore;

/// What `/health` and `/metrics` say.
struct Reported {
    node: Arc<Node>,
    operations: Arc<Operations>,
}

impl Report for Reported {
    fn health(&self, checks: &mut Checks) {
        let map = self.node.map();
        checks.ok(
            "shards",
            format!(
                "ok: holds {} of {} shards (map epoch {})",
                self.node.held().len(),
                map.shards(),
                map.epoch
            ),
        );
    }

    fn metrics(&self, out: &mut Metrics) {
        self.operations.write(
            out,
            (
                "flaredb_requests_total",
                "gRPC calls answered, by method and code.",
            ),
            (
                "flaredb_request_duration_seconds",
                "How long gRPC calls took, by method.",
            ),
        );
        out.gauge("flaredb_shards_held", "Shards this node holds.")
            .value(self.node.held().len() as u64);
        out.gauge(
            "flaredb_map_epoch",
            "The shard map's epoch as this node read it.",
        )
        .value(self.node.map().epoch);
    }
}

/// The map in chainfire, written first by whichever node starts first:
/// `shards` dealt to the flaredb nodes the topology places.
async fn map_of(
    maps: &MapStore,
    shards: u16,
    nodes: BTreeMap<String, String>,
) -> Result<ShardMap, ServiceError> {
    for _ in 0..10 {
        if let Some((map, _)) = maps.read().await.map_err(|e| e.to_string())? {
            if map.shards() != shards {
                return Err(format!(
                    "the shard map in chainfire has {} shards, this node's spec {shards}: every flaredb node of a database says the same, and a database keeps its count",
                    map.shards()
                )
                .into());
            }
            return Ok(map);
        }
        let map = ShardMap::dealt(shards, nodes.clone());
        if maps.write(&map, None).await.map_err(|e| e.to_string())? {
            tracing::info!(shards, nodes = ?map.nodes.keys().collect::<Vec<_>>(), "shard map written");
            return Ok(map);
        }
    }
    Err("the shard map could not be read or written".into())
}

impl<N: photon_dsl::Node> Service for FlareDb<N> {
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let token = photon_runtime::read_secret(&spec.admin_token)?;
            let (client, cluster) = ctx.state_store_only("flaredb").await?;
            let maps = MapStore::new(client, &cluster);
            let mut nodes = BTreeMap::new();
            for placement in ctx.placements_of("flaredb") {
                let Some(api) = placement.port::<ApiListener>() else {
                    continue;
                };
                let addr = ctx.address_of(placement.node, api).await?;
                nodes.insert(placement.node.to_string(), addr.to_string());
            }
            let map = map_of(&maps, spec.shards, nodes).await?;
            let me = ctx.node.to_string();
            if !map.nodes.contains_key(&me) {
                return Err(format!(
                    "node `{me}` is not in flaredb's shard map (nodes: {}): nodes are added when the map is first written",
                    map.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
                )
                .into());
            }
            let dir = ctx.state_dir.join("data");
            std::fs::create_dir_all(&dir)?;
            let store = NodeStore::open(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let node = Node::new(me, store, maps, map, token);
            node.drop_strays()
                .await
                .map_err(|e| format!("dropping shards this node no longer holds: {e}"))?;
            let listener = ctx.tcp(ApiListener, &spec)?;
            tracing::info!(
                grpc = %listener.local_addr()?,
                data = %dir.display(),
                shards = ?node.held(),
                "flaredb node listening"
            );
            let reported = Reported {
                node: node.clone(),
                operations: Arc::new(Operations::grpc()),
            };
            let operations = reported.operations.clone();
            let admin = ctx.admin(env!("CARGO_PKG_VERSION"), reported);
            Ok(photon_runtime::grpc::serve_api(
                &ctx,
                listener,
                admin,
                operations,
                |routes| routes.add_service(Node::server(node)),
                "flaredb",
            ))
        })
    }
}

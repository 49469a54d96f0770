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

/// Who this node is in the map and the nodes a first map is dealt to.
pub(crate) struct Identity {
    /// Its name in the map.
    pub me: String,
    /// Where clients and the other nodes reach it (`host:port`).
    pub addr: String,
    /// Every node a first map deals shards to, this one included: name
    /// and address.
    pub first: BTreeMap<String, String>,
}

/// The map in chainfire, with this node in it: written first by whichever
/// node starts first (`shards` dealt to `who.first`); a node the map does
/// not name joins holding no shard, and one at a new address is
/// readdressed (each a guarded write, read again on a race).
async fn map_of(maps: &MapStore, shards: u16, who: &Identity) -> Result<ShardMap, ServiceError> {
    for _ in 0..10 {
        let Some((map, revision)) = maps.read().await.map_err(|e| e.to_string())? else {
            let map = ShardMap::dealt(shards, who.first.clone());
            if maps.write(&map, None).await.map_err(|e| e.to_string())? {
                tracing::info!(shards, nodes = ?map.nodes.keys().collect::<Vec<_>>(), "shard map written");
            }
            continue;
        };
        if map.shards() != shards {
            return Err(format!(
                "the shard map in chainfire has {} shards, this node's spec {shards}: every flaredb node of a database says the same, and a database keeps its count",
                map.shards()
            )
            .into());
        }
        let Some(changed) = map.with_node(&who.me, &who.addr) else {
            return Ok(map);
        };
        if maps
            .write(&changed, Some(revision))
            .await
            .map_err(|e| e.to_string())?
        {
            match map.nodes.get(&who.me) {
                None => tracing::info!(
                    node = %who.me,
                    addr = %who.addr,
                    epoch = changed.epoch,
                    "joined the shard map holding no shard: move shards here to use it"
                ),
                Some(was) => tracing::info!(
                    node = %who.me,
                    was = %was,
                    now = %who.addr,
                    epoch = changed.epoch,
                    "this node's address in the shard map changed"
                ),
            }
            return Ok(changed);
        }
    }
    Err("the shard map could not be read or written (ten guarded writes lost a race)".into())
}

impl<N: photon_dsl::Node> Service for FlareDb<N> {
    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc = crate::standalone::export(self, ctx)?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            // In a deployment every flaredb node is in the topology, named
            // after its node.
            let mut first = BTreeMap::new();
            for placement in ctx.placements_of("flaredb") {
                let Some(api) = placement.port::<ApiListener>() else {
                    continue;
                };
                let addr = ctx.address_of(placement.node, api).await?;
                first.insert(placement.node.to_string(), addr.to_string());
            }
            let me = ctx.node.to_string();
            let addr = first
                .get(&me)
                .cloned()
                .ok_or_else(|| format!("node `{me}` runs no flaredb listener in the topology"))?;
            serve(spec, ctx, Identity { me, addr, first }).await
        })
    }
}

/// Starts node `who` of `spec`'s database.
pub(crate) async fn serve<N: photon_dsl::Node>(
    spec: FlareDb<N>,
    ctx: StartContext,
    who: Identity,
) -> Result<Running, ServiceError> {
    let token = photon_runtime::read_secret(&spec.admin_token)?;
    let (client, cluster) = ctx.state_store_only("flaredb").await?;
    let maps = MapStore::new(client, &cluster);
    let map = map_of(&maps, spec.shards, &who).await?;
    let dir = ctx.state_dir.join("data");
    std::fs::create_dir_all(&dir)?;
    let store = NodeStore::open(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let node = Node::new(who.me, store, maps, map, token);
    node.drop_strays()
        .await
        .map_err(|e| format!("dropping shards this node no longer holds: {e}"))?;
    let listener = ctx.tcp(ApiListener, &spec)?;
    tracing::info!(
        grpc = %listener.local_addr()?,
        reached_at = %who.addr,
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
}

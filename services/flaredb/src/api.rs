//! A flaredb node's gRPC API: puts, gets and deletes for the shards it
//! holds, the shard map, and shard moves.
//!
//! Each shard has a gate: reads and writes pass it shared, a move holds
//! it alone from before its copy starts until the map names the new
//! owner, so no write lands after the copy was taken. A call for a shard
//! this node does not hold reads the map again (it may just have been
//! given the shard) before it refuses, naming the owner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use photon_runtime::ExposeSecret as _;
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::flare_db_client::FlareDbClient;
use crate::proto::flare_db_server::{FlareDb, FlareDbServer};
use crate::proto::*;
use crate::shard::{MapError, MapStore, ShardMap, shard_of};
use crate::store::{NodeStore, StoreError};

/// One node.
pub struct Node {
    me: String,
    store: NodeStore,
    maps: MapStore,
    map: RwLock<ShardMap>,
    gates: Vec<tokio::sync::RwLock<()>>,
    token: photon_runtime::SecretString,
    peers: Mutex<HashMap<String, FlareDbClient<Channel>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

fn stored(e: StoreError) -> Status {
    tracing::error!(error = %e, "flaredb's store failed");
    Status::internal(format!("this node's store failed: {e}"))
}

fn unmapped(e: MapError) -> Status {
    Status::unavailable(format!("the shard map: {e}"))
}

impl Node {
    /// Node `me`, its data in `store`, the map in `maps` (read as `map`),
    /// taking calls that carry `token`.
    pub fn new(
        me: String,
        store: NodeStore,
        maps: MapStore,
        map: ShardMap,
        token: photon_runtime::SecretString,
    ) -> Arc<Node> {
        let gates = (0..map.shards())
            .map(|_| tokio::sync::RwLock::new(()))
            .collect();
        Arc::new(Node {
            me,
            store,
            maps,
            map: RwLock::new(map),
            gates,
            token,
            peers: Mutex::default(),
        })
    }

    /// The map as last read.
    pub fn map(&self) -> ShardMap {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The shards this node holds.
    pub fn held(&self) -> Vec<u16> {
        let map = self.map();
        (0..map.shards())
            .filter(|s| map.owner(*s) == Some(self.me.as_str()))
            .collect()
    }

    /// Reads the map from chainfire again; it and its revision.
    async fn refresh(&self) -> Result<(ShardMap, i64), Status> {
        let (map, revision) = self
            .maps
            .read()
            .await
            .map_err(unmapped)?
            .ok_or_else(|| Status::unavailable("the shard map is not in chainfire"))?;
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = map.clone();
        Ok((map, revision))
    }

    fn authorized<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let sent = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match sent {
            Some(token) if photon_runtime::same_secret(token, self.token.expose_secret()) => Ok(()),
            Some(_) => Err(Status::unauthenticated("the token is not flaredb's")),
            None => Err(Status::unauthenticated(
                "send `authorization: Bearer <flaredb's admin token>`",
            )),
        }
    }

    /// `key`'s shard, if it is in range.
    fn shard(&self, key: &[u8]) -> Result<u16, Status> {
        if key.is_empty() {
            return Err(Status::invalid_argument("a key has at least one byte"));
        }
        Ok(shard_of(
            key,
            u16::try_from(self.gates.len()).unwrap_or(u16::MAX),
        ))
    }

    /// Nothing if this node holds `shard` (reading the map again when
    /// its copy says otherwise); else the refusal naming the owner.
    async fn hold(&self, shard: u16) -> Result<(), Status> {
        let mine = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .owner(shard)
            == Some(self.me.as_str());
        if mine {
            return Ok(());
        }
        let (map, _) = self.refresh().await?;
        match map.owner(shard) {
            Some(owner) if owner == self.me => Ok(()),
            Some(owner) => Err(Status::failed_precondition(format!(
                "shard {shard} is on node `{owner}` ({}), map epoch {}",
                map.nodes.get(owner).map_or("?", String::as_str),
                map.epoch
            ))),
            None => Err(Status::internal(format!("shard {shard} is in no map"))),
        }
    }

    /// The shard of `key` once this node may read and write it: its gate
    /// passed (held shared until the guard drops, so no move starts
    /// meanwhile) and the shard found to be this node's.
    async fn enter(
        &self,
        key: &[u8],
    ) -> Result<(u16, tokio::sync::RwLockReadGuard<'_, ()>), Status> {
        let shard = self.shard(key)?;
        let gate = self.gates[usize::from(shard)].read().await;
        self.hold(shard).await?;
        Ok((shard, gate))
    }

    /// A client of node `node` at its address in `map` (kept by address:
    /// a node that moved is called where it is now).
    fn peer(&self, node: &str, map: &ShardMap) -> Result<FlareDbClient<Channel>, Status> {
        let addr = map.nodes.get(node).ok_or_else(|| {
            Status::invalid_argument(format!("no flaredb node `{node}` in the map"))
        })?;
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(peer) = peers.get(addr) {
            return Ok(peer.clone());
        }
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Status::internal(e.to_string()))?
            .connect_lazy();
        let peer = FlareDbClient::new(channel);
        peers.insert(addr.clone(), peer.clone());
        Ok(peer)
    }

    fn to_peer<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.token.expose_secret()).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// Drops the data of every shard this node does not hold (left by a
    /// move it made, or a copy never used).
    pub async fn drop_strays(&self) -> Result<(), StoreError> {
        let map = self.map();
        for shard in 0..map.shards() {
            if map.owner(shard) != Some(self.me.as_str()) {
                self.store.clear(shard).await?;
            }
        }
        Ok(())
    }

    /// The tonic service.
    pub fn server(node: Arc<Node>) -> FlareDbServer<Api> {
        FlareDbServer::new(Api(node))
    }
}

/// The tonic service over a [`Node`].
#[derive(Debug, Clone)]
pub struct Api(Arc<Node>);

#[tonic::async_trait]
impl FlareDb for Api {
    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let node = &self.0;
        node.authorized(&request)?;
        let r = request.into_inner();
        let (shard, _gate) = node.enter(&r.key).await?;
        node.store
            .put(shard, &r.key, r.value)
            .await
            .map_err(stored)?;
        Ok(Response::new(PutResponse {
            shard: u32::from(shard),
        }))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let node = &self.0;
        node.authorized(&request)?;
        let r = request.into_inner();
        let (shard, _gate) = node.enter(&r.key).await?;
        let value = node.store.get(shard, &r.key).await.map_err(stored)?;
        Ok(Response::new(GetResponse {
            found: value.is_some(),
            value: value.unwrap_or_default(),
        }))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let node = &self.0;
        node.authorized(&request)?;
        let r = request.into_inner();
        let (shard, _gate) = node.enter(&r.key).await?;
        let existed = node.store.delete(shard, &r.key).await.map_err(stored)?;
        Ok(Response::new(DeleteResponse { existed }))
    }

    async fn shard_map(
        &self,
        request: Request<ShardMapRequest>,
    ) -> Result<Response<ShardMapResponse>, Status> {
        self.0.authorized(&request)?;
        let (map, _) = self.0.refresh().await?;
        Ok(Response::new(ShardMapResponse {
            epoch: map.epoch,
            owners: map.owners,
            nodes: map.nodes.into_iter().collect(),
        }))
    }

    async fn move_shard(
        &self,
        request: Request<MoveShardRequest>,
    ) -> Result<Response<MoveShardResponse>, Status> {
        let node = &self.0;
        node.authorized(&request)?;
        let r = request.into_inner();
        let shard = u16::try_from(r.shard)
            .ok()
            .filter(|s| usize::from(*s) < node.gates.len())
            .ok_or_else(|| Status::invalid_argument(format!("there is no shard {}", r.shard)))?;
        let (map, _) = node.refresh().await?;
        if !map.nodes.contains_key(&r.to) {
            return Err(Status::invalid_argument(format!(
                "no flaredb node `{}` (nodes: {})",
                r.to,
                map.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let owner = map.owner(shard).unwrap_or_default().to_owned();
        if owner == r.to {
            return Ok(Response::new(MoveShardResponse {
                epoch: map.epoch,
                keys: 0,
            }));
        }
        if owner != node.me {
            // The owner moves it.
            let mut peer = node.peer(&owner, &map)?;
            return peer.move_shard(node.to_peer(r)).await;
        }
        // No read or write of the shard from here until the map names
        // its new owner.
        let _gate = node.gates[usize::from(shard)].write().await;
        let (map, revision) = node.refresh().await?;
        if map.owner(shard) != Some(node.me.as_str()) {
            return Err(Status::aborted(format!(
                "shard {shard} moved meanwhile; ask again"
            )));
        }
        let epoch = map.epoch + 1;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let exporting = {
            let store = node.store.clone();
            tokio::spawn(async move { store.export(shard, tx).await })
        };
        let header = ImportChunk {
            shard: u32::from(shard),
            epoch,
            pairs: Vec::new(),
        };
        let chunks = tokio_stream::iter([header]).chain(
            tokio_stream::wrappers::ReceiverStream::new(rx).map(move |pairs| ImportChunk {
                shard: u32::from(shard),
                epoch,
                pairs,
            }),
        );
        let mut peer = node.peer(&r.to, &map)?;
        let imported = peer
            .import_shard(node.to_peer(chunks))
            .await
            .map_err(|e| {
                Status::unavailable(format!(
                    "node `{}` did not take shard {shard}: {}; it stays here",
                    r.to,
                    e.message()
                ))
            })?
            .into_inner()
            .keys;
        let exported = exporting
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(stored)?;
        if exported != imported {
            return Err(Status::internal(format!(
                "shard {shard}: {exported} keys sent, {imported} taken; it stays here"
            )));
        }
        let mut moved = map.clone();
        moved.owners[usize::from(shard)] = r.to.clone();
        moved.epoch = epoch;
        if !node
            .maps
            .write(&moved, Some(revision))
            .await
            .map_err(unmapped)?
        {
            return Err(Status::aborted(
                "the shard map changed meanwhile; the shard stays here: ask again",
            ));
        }
        *node.map.write().unwrap_or_else(|e| e.into_inner()) = moved;
        tracing::info!(shard, to = %r.to, keys = exported, epoch, "shard moved");
        let store = node.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.clear(shard).await {
                tracing::warn!(shard, error = %e, "a moved shard's data stays here until the next start");
            }
        });
        Ok(Response::new(MoveShardResponse {
            epoch,
            keys: exported,
        }))
    }

    async fn import_shard(
        &self,
        request: Request<Streaming<ImportChunk>>,
    ) -> Result<Response<ImportShardResponse>, Status> {
        let node = &self.0;
        node.authorized(&request)?;
        let mut chunks = request.into_inner();
        let Some(first) = chunks.message().await? else {
            return Err(Status::invalid_argument("an import names its shard first"));
        };
        let shard = u16::try_from(first.shard)
            .ok()
            .filter(|s| usize::from(*s) < node.gates.len())
            .ok_or_else(|| {
                Status::invalid_argument(format!("there is no shard {}", first.shard))
            })?;
        let (map, _) = node.refresh().await?;
        if map.owner(shard) == Some(node.me.as_str()) {
            return Err(Status::failed_precondition(format!(
                "this node holds shard {shard}: it takes no copy over it"
            )));
        }
        // Whatever an earlier, unfinished copy left.
        node.store.clear(shard).await.map_err(stored)?;
        let mut keys = first.pairs.len() as u64;
        node.store
            .import(shard, first.pairs)
            .await
            .map_err(stored)?;
        while let Some(chunk) = chunks.message().await? {
            keys += chunk.pairs.len() as u64;
            node.store
                .import(shard, chunk.pairs)
                .await
                .map_err(stored)?;
        }
        tracing::info!(shard, keys, epoch = first.epoch, "shard copy taken");
        Ok(Response::new(ImportShardResponse { keys }))
    }
}

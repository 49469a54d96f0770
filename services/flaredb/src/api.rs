//! A flaredb node's gRPC API: puts, gets and deletes for the shards it
//! holds, the shard map, and shard moves.
//!
//! Each shard has a gate: reads and writes pass it shared. A move copies
//! the shard while it serves, noting the keys written meanwhile; then it
//! holds the gate alone while it sends those keys' current state and
//! writes the new owner into the map, so no write lands after the last
//! of it was sent, and calls wait only for that catch-up. A call for a
//! shard this node does not hold reads the map again (it may just have
//! been given the shard) before it refuses, naming the owner.

use std::collections::{HashMap, HashSet};
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
    /// Per shard, while it is being moved away: the keys written since
    /// its copy started.
    noted: Vec<Mutex<Option<HashSet<Vec<u8>>>>>,
    /// Per shard, the copy this node took whole (by the move's number),
    /// which a catch-up may complete.
    copies: Mutex<HashMap<u16, u64>>,
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

fn not_taken(to: &str, shard: u16, e: &Status) -> Status {
    Status::unavailable(format!(
        "node `{to}` did not take shard {shard}: {}; it stays here",
        e.message()
    ))
}

/// A shard's writes being noted for its move; noting stops when this is
/// dropped (the move done, or given up).
struct Tracking<'a> {
    node: &'a Node,
    shard: u16,
}

impl<'a> Tracking<'a> {
    /// Starts noting `shard`'s writes; refused if a move of it is under
    /// way already.
    fn start(node: &'a Node, shard: u16) -> Result<Tracking<'a>, Status> {
        let mut noted = node.noted[usize::from(shard)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if noted.is_some() {
            return Err(Status::aborted(format!(
                "shard {shard} is being moved already"
            )));
        }
        *noted = Some(HashSet::new());
        Ok(Tracking { node, shard })
    }

    /// The keys noted so far (noting goes on until the drop).
    fn take(&self) -> HashSet<Vec<u8>> {
        self.node.noted[usize::from(self.shard)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

impl Drop for Tracking<'_> {
    fn drop(&mut self) {
        *self.node.noted[usize::from(self.shard)]
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }
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
        let noted = (0..map.shards()).map(|_| Mutex::new(None)).collect();
        Arc::new(Node {
            me,
            store,
            maps,
            map: RwLock::new(map),
            gates,
            noted,
            copies: Mutex::default(),
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

    /// Notes a write of `key` to `shard` if the shard is being moved.
    fn note(&self, shard: u16, key: &[u8]) {
        let mut noted = self.noted[usize::from(shard)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = noted.as_mut() {
            keys.insert(key.to_vec());
        }
    }

    /// Streams `shard` (from one snapshot, while it serves) to node `to`
    /// as copy `copy`: the keys sent, once `to` has them all durably.
    async fn copy_out(
        &self,
        shard: u16,
        copy: u64,
        to: &str,
        peer: &mut FlareDbClient<Channel>,
    ) -> Result<u64, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let exporting = {
            let store = self.store.clone();
            tokio::spawn(async move { store.export(shard, tx).await })
        };
        let chunk = move |pairs| ImportChunk {
            shard: u32::from(shard),
            epoch: copy,
            pairs,
            catch_up: false,
            deleted: Vec::new(),
        };
        let chunks = tokio_stream::iter([chunk(Vec::new())])
            .chain(tokio_stream::wrappers::ReceiverStream::new(rx).map(chunk));
        let imported = peer
            .import_shard(self.to_peer(chunks))
            .await
            .map_err(|e| not_taken(to, shard, &e))?
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
        Ok(exported)
    }

    /// Sends node `to` the current state of the `noted` keys of `shard`
    /// (a value, or its absence) over its whole copy `copy`: the keys
    /// sent, once applied there.
    async fn catch_up(
        &self,
        shard: u16,
        copy: u64,
        to: &str,
        peer: &mut FlareDbClient<Channel>,
        noted: HashSet<Vec<u8>>,
    ) -> Result<u64, Status> {
        let current = self
            .store
            .current(shard, noted.into_iter().collect())
            .await
            .map_err(stored)?;
        let sent = current.len() as u64;
        let mut chunks = Vec::new();
        let mut chunk = ImportChunk {
            shard: u32::from(shard),
            epoch: copy,
            pairs: Vec::new(),
            catch_up: true,
            deleted: Vec::new(),
        };
        let mut bytes = 0;
        for (key, value) in current {
            bytes += key.len() + value.as_ref().map_or(0, Vec::len);
            match value {
                Some(value) => chunk.pairs.push(Pair { key, value }),
                None => chunk.deleted.push(key),
            }
            if bytes >= crate::store::CHUNK_BYTES {
                let next = ImportChunk {
                    pairs: Vec::new(),
                    deleted: Vec::new(),
                    ..chunk.clone()
                };
                chunks.push(std::mem::replace(&mut chunk, next));
                bytes = 0;
            }
        }
        chunks.push(chunk);
        let applied = peer
            .import_shard(self.to_peer(tokio_stream::iter(chunks)))
            .await
            .map_err(|e| not_taken(to, shard, &e))?
            .into_inner()
            .keys;
        if applied != sent {
            return Err(Status::internal(format!(
                "shard {shard}: {sent} writes sent to catch up, {applied} applied; it stays here"
            )));
        }
        Ok(sent)
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
        node.note(shard, &r.key);
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
        node.note(shard, &r.key);
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
                caught_up: 0,
            }));
        }
        if owner != node.me {
            // The owner moves it.
            let mut peer = node.peer(&owner, &map)?;
            return peer.move_shard(node.to_peer(r)).await;
        }
        // 1. Writes to the shard are noted from here on (switched on with
        // the gate closed, so no write in flight is missed).
        let tracking = {
            let _gate = node.gates[usize::from(shard)].write().await;
            let (map, _) = node.refresh().await?;
            if map.owner(shard) != Some(node.me.as_str()) {
                return Err(Status::aborted(format!(
                    "shard {shard} moved meanwhile; ask again"
                )));
            }
            Tracking::start(node, shard)?
        };
        // 2. The shard's data copied while it serves.
        let copy = map.epoch + 1;
        let mut peer = node.peer(&r.to, &map)?;
        let copied = node.copy_out(shard, copy, &r.to, &mut peer).await?;
        // 3. No read or write of the shard from here until the map names
        // its new owner: the writes made during the copy are sent.
        let _gate = node.gates[usize::from(shard)].write().await;
        let (map, revision) = node.refresh().await?;
        if map.owner(shard) != Some(node.me.as_str()) {
            return Err(Status::aborted(format!(
                "shard {shard} moved meanwhile; ask again"
            )));
        }
        let noted = tracking.take();
        let caught_up = node.catch_up(shard, copy, &r.to, &mut peer, noted).await?;
        // 4. The new owner named; the gate opens on it.
        let epoch = map.epoch + 1;
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
        drop(tracking);
        tracing::info!(
            shard,
            to = %r.to,
            copied,
            caught_up,
            epoch,
            "shard moved (copied while serving, then the writes made meanwhile)"
        );
        let store = node.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.clear(shard).await {
                tracing::warn!(shard, error = %e, "a moved shard's data stays here until the next start");
            }
        });
        Ok(Response::new(MoveShardResponse {
            epoch,
            keys: copied,
            caught_up,
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
        let copy = first.epoch;
        if first.catch_up {
            // Only over the copy this node took, whole, since it started.
            let taken = node
                .copies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&shard)
                .copied();
            if taken != Some(copy) {
                return Err(Status::failed_precondition(format!(
                    "this node holds no whole copy {copy} of shard {shard} to catch up"
                )));
            }
            let mut applied = 0;
            let mut chunk = Some(first);
            while let Some(c) = chunk {
                applied += (c.pairs.len() + c.deleted.len()) as u64;
                node.store
                    .apply(shard, c.pairs, c.deleted)
                    .await
                    .map_err(stored)?;
                chunk = chunks.message().await?;
            }
            node.copies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&shard);
            tracing::info!(shard, applied, copy, "shard copy caught up");
            return Ok(Response::new(ImportShardResponse { keys: applied }));
        }
        // Whatever an earlier, unfinished copy left.
        node.copies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&shard);
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
        node.copies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shard, copy);
        tracing::info!(shard, keys, copy, "shard copy taken");
        Ok(Response::new(ImportShardResponse { keys }))
    }
}

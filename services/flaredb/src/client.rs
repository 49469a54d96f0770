//! The routing client: it reads the shard map from any node, sends each
//! key's call to its shard's node, and follows the map when a shard has
//! moved (a refusal naming the owner: the map is read again) or is moving
//! (the call waits at the owner, or finds the node away: asked again).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::proto::flare_db_client::FlareDbClient;
use crate::proto::*;
use crate::shard::{ShardMap, shard_of};

/// How long a call keeps following moves and waiting out an away node.
const PERSIST: Duration = Duration::from_secs(30);

/// A client of one flaredb.
#[derive(Debug)]
pub struct Client {
    token: MetadataValue<Ascii>,
    map: RwLock<ShardMap>,
    /// A client per node address.
    nodes: Mutex<HashMap<String, FlareDbClient<Channel>>>,
}

fn channel(addr: &str) -> Result<FlareDbClient<Channel>, Status> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| Status::invalid_argument(format!("`{addr}`: {e}")))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(15))
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(FlareDbClient::new(channel))
}

/// What one routed call does.
enum Call {
    Put(Vec<u8>, Vec<u8>),
    Get(Vec<u8>),
    Delete(Vec<u8>),
}

/// What it answered.
enum Answer {
    Put,
    Get(Option<Vec<u8>>),
    Delete(bool),
}

impl Client {
    /// A client of the flaredb a node of which answers at `addr`
    /// (`host:port`), calling with `token`.
    pub async fn connect(addr: &str, token: &str) -> Result<Client, Status> {
        let token: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::invalid_argument("the token is not header text"))?;
        let mut first = channel(addr)?;
        let map = fetch(&mut first, &token).await?;
        Ok(Client {
            token,
            map: RwLock::new(map),
            nodes: Mutex::default(),
        })
    }

    /// The map as last read.
    pub fn map(&self) -> ShardMap {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.token.clone());
        request
    }

    /// The node holding `key`'s shard, and its client.
    fn owner_of(&self, key: &[u8]) -> Result<(String, FlareDbClient<Channel>), Status> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let shard = shard_of(key, map.shards());
        let owner = map
            .owner(shard)
            .ok_or_else(|| Status::internal(format!("shard {shard} is in no map")))?;
        Ok((owner.to_owned(), self.node(owner, &map)?))
    }

    /// The client of node `node`, at its address in `map` (kept by
    /// address: a node that moved is called where it is now).
    fn node(&self, node: &str, map: &ShardMap) -> Result<FlareDbClient<Channel>, Status> {
        let addr = map.nodes.get(node).ok_or_else(|| {
            Status::internal(format!("the map names node `{node}` with no address"))
        })?;
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = nodes.get(addr) {
            return Ok(client.clone());
        }
        let client = channel(addr)?;
        nodes.insert(addr.clone(), client.clone());
        Ok(client)
    }

    /// Reads the map again, from `node` or else any other.
    async fn refresh(&self, node: &str) -> Result<(), Status> {
        let map = self.map();
        let mut order: Vec<&String> = map.nodes.keys().collect();
        order.sort_by_key(|n| n.as_str() != node);
        let mut last = Status::unavailable("no flaredb node answers");
        for name in order {
            let mut client = self.node(name, &map)?;
            match fetch(&mut client, &self.token).await {
                Ok(fresh) => {
                    *self.map.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn route(&self, call: Call) -> Result<Answer, Status> {
        let deadline = tokio::time::Instant::now() + PERSIST;
        let key = match &call {
            Call::Put(key, _) | Call::Get(key) | Call::Delete(key) => key.clone(),
        };
        loop {
            let (owner, mut client) = self.owner_of(&key)?;
            let answered = match &call {
                Call::Put(key, value) => client
                    .put(self.request(PutRequest {
                        key: key.clone(),
                        value: value.clone(),
                    }))
                    .await
                    .map(|_| Answer::Put),
                Call::Get(key) => client
                    .get(self.request(GetRequest { key: key.clone() }))
                    .await
                    .map(|r| {
                        let r = r.into_inner();
                        Answer::Get(r.found.then_some(r.value))
                    }),
                Call::Delete(key) => client
                    .delete(self.request(DeleteRequest { key: key.clone() }))
                    .await
                    .map(|r| Answer::Delete(r.into_inner().existed)),
            };
            let refused = match answered {
                Ok(answer) => return Ok(answer),
                Err(refused) => refused,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(refused);
            }
            match refused.code() {
                // Moved: the map says where now.
                Code::FailedPrecondition | Code::Aborted => {
                    if self.refresh(&owner).await.is_err() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                // Away, or busy moving: a moment, and the map again.
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = self.refresh(&owner).await;
                }
                _ => return Err(refused),
            }
        }
    }

    /// Stores `value` under `key`: durable on its shard's node once this
    /// returns.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Status> {
        self.route(Call::Put(key.to_vec(), value.to_vec()))
            .await
            .map(|_| ())
    }

    /// The value under `key`.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Status> {
        match self.route(Call::Get(key.to_vec())).await? {
            Answer::Get(value) => Ok(value),
            _ => unreachable!("a get answers a get"),
        }
    }

    /// Deletes `key`; whether it was there.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, Status> {
        match self.route(Call::Delete(key.to_vec())).await? {
            Answer::Delete(existed) => Ok(existed),
            _ => unreachable!("a delete answers a delete"),
        }
    }

    /// Moves `shard` to node `to` (asked of its owner): the new map's
    /// epoch, the keys copied, the writes caught up.
    pub async fn move_shard(&self, shard: u16, to: &str) -> Result<MoveShardResponse, Status> {
        let map = self.map();
        let owner = map
            .owner(shard)
            .ok_or_else(|| Status::invalid_argument(format!("there is no shard {shard}")))?
            .to_owned();
        let mut client = self.node(&owner, &map)?;
        let moved = client
            .move_shard(self.request(MoveShardRequest {
                shard: u32::from(shard),
                to: to.to_owned(),
            }))
            .await?
            .into_inner();
        self.refresh(to).await?;
        Ok(moved)
    }
}

async fn fetch(
    client: &mut FlareDbClient<Channel>,
    token: &MetadataValue<Ascii>,
) -> Result<ShardMap, Status> {
    let mut request = Request::new(ShardMapRequest {});
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    let answer = client.shard_map(request).await?.into_inner();
    Ok(ShardMap {
        epoch: answer.epoch,
        owners: answer.owners,
        nodes: answer.nodes.into_iter().collect(),
    })
}

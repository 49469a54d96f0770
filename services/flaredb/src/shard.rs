//! Which shard a key is in, and the shard map in chainfire.

use std::collections::BTreeMap;

use etcd_client::{Client, TxnOp};
use photon_integration::state::{StateKv, absent, unchanged};
use serde::{Deserialize, Serialize};

/// The shard of `key` among `shards`: FNV-1a (64 bits) of its bytes,
/// modulo the count. Fixed for good: changing it would put stored keys in
/// the wrong shards.
pub fn shard_of(key: &[u8], shards: u16) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    u16::try_from(hash % u64::from(shards.max(1))).expect("below a u16 count")
}

/// Which node holds which shard, and where each node answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMap {
    /// One more each time a shard changes owner.
    pub epoch: u64,
    /// `owners[i]` holds shard `i`.
    pub owners: Vec<String>,
    /// Each node's API address (`host:port`).
    pub nodes: BTreeMap<String, String>,
}

impl ShardMap {
    /// A first map: `shards` shards dealt to `nodes` in turn.
    pub fn dealt(shards: u16, nodes: BTreeMap<String, String>) -> ShardMap {
        let names: Vec<&String> = nodes.keys().collect();
        let owners = (0..usize::from(shards))
            .map(|i| names[i % names.len()].clone())
            .collect();
        ShardMap {
            epoch: 1,
            owners,
            nodes,
        }
    }

    /// This map with node `name` answering at `addr`: a node not in it
    /// joins holding no shard (shards are moved to it afterwards), a node
    /// at another address is readdressed; a new epoch either way. `None`
    /// when the map already says so.
    pub fn with_node(&self, name: &str, addr: &str) -> Option<ShardMap> {
        if self.nodes.get(name).map(String::as_str) == Some(addr) {
            return None;
        }
        let mut map = self.clone();
        map.nodes.insert(name.to_owned(), addr.to_owned());
        map.epoch += 1;
        Some(map)
    }

    /// The node holding `shard`.
    pub fn owner(&self, shard: u16) -> Option<&str> {
        self.owners.get(usize::from(shard)).map(String::as_str)
    }

    /// How many shards there are.
    pub fn shards(&self) -> u16 {
        u16::try_from(self.owners.len()).unwrap_or(u16::MAX)
    }
}

/// Why the map could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// chainfire did not answer.
    #[error("chainfire: {0}")]
    Unavailable(#[from] etcd_client::Error),
    /// What is there is not a map.
    #[error("the shard map at {key} is not one: {why}")]
    Corrupt {
        /// Its key.
        key: String,
        /// What is wrong.
        why: String,
    },
}

/// The shard map of one cluster's flaredb in chainfire, read and written
/// in transactions guarded by its mod revision.
#[derive(Debug, Clone)]
pub struct MapStore {
    kv: StateKv,
    key: String,
}

impl MapStore {
    /// The map of cluster `cluster`.
    pub fn new(client: Client, cluster: &str) -> MapStore {
        MapStore {
            kv: StateKv::new(client),
            key: format!("/photon/clusters/{cluster}/flaredb/map"),
        }
    }

    /// The map and its mod revision, if written.
    pub async fn read(&self) -> Result<Option<(ShardMap, i64)>, MapError> {
        let Some(kv) = self.kv.get(&self.key).await? else {
            return Ok(None);
        };
        let map = serde_json::from_slice(kv.value()).map_err(|e| MapError::Corrupt {
            key: self.key.clone(),
            why: e.to_string(),
        })?;
        Ok(Some((map, kv.mod_revision())))
    }

    /// Writes `map` if the stored one is still at `revision` (`None`: if
    /// none is stored); whether it was written.
    pub async fn write(&self, map: &ShardMap, revision: Option<i64>) -> Result<bool, MapError> {
        let guard = match revision {
            Some(revision) => unchanged(&self.key, revision),
            None => absent(&self.key),
        };
        let value = serde_json::to_string(map).expect("maps serialise");
        Ok(self
            .kv
            .txn(
                vec![guard],
                vec![TxnOp::put(self.key.as_str(), value, None)],
            )
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_every_shard_and_stay_where_they_are() {
        // FNV-1a's published values (of "", "a" and "foobar": ...2325,
        // ...ec8c, ...67e8), modulo 16: a change of hash would strand
        // stored keys in the wrong shards.
        assert_eq!(shard_of(b"", 16), 5);
        assert_eq!(shard_of(b"a", 16), 12);
        assert_eq!(shard_of(b"foobar", 16), 8);
        assert_eq!(shard_of(b"a", 1), 0);
        let mut seen = [0u32; 16];
        for i in 0..16_000 {
            seen[usize::from(shard_of(format!("key-{i}").as_bytes(), 16))] += 1;
        }
        assert!(seen.iter().all(|n| (700..1300).contains(n)), "{seen:?}");
    }

    #[test]
    fn a_first_map_deals_shards_to_the_nodes_in_turn() {
        let nodes: BTreeMap<String, String> = [("a", "1:1"), ("b", "2:2")]
            .into_iter()
            .map(|(n, a)| (n.to_owned(), a.to_owned()))
            .collect();
        let map = ShardMap::dealt(5, nodes);
        assert_eq!(map.owners, ["a", "b", "a", "b", "a"]);
        assert_eq!(map.owner(4), Some("a"));
        assert_eq!(map.owner(5), None);
        assert_eq!(map.shards(), 5);
    }

    #[test]
    fn a_node_joins_holding_nothing_and_a_moved_node_is_readdressed() {
        let first = ShardMap::dealt(4, [("a".to_owned(), "1:1".to_owned())].into());
        assert_eq!(first.with_node("a", "1:1"), None);
        let joined = first.with_node("b", "2:2").unwrap();
        assert_eq!(joined.owners, first.owners);
        assert_eq!(joined.nodes.len(), 2);
        assert_eq!(joined.epoch, first.epoch + 1);
        let moved = joined.with_node("a", "3:3").unwrap();
        assert_eq!(moved.nodes["a"], "3:3");
        assert_eq!(moved.owners, first.owners);
        assert_eq!(moved.epoch, joined.epoch + 1);
    }
}

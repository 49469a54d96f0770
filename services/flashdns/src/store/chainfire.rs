//! The integrated backend: zones in chainfire (or any etcd v3 store), so
//! every flashdns watching the same prefix serves the same records.
//!
//! Layout under `<prefix>` (`/photon/clusters/<cluster>/flashdns/zones/`
//! by default), one key per record, values in zone-file syntax so
//! `etcdctl get --prefix` reads as a zone file:
//!
//! - `<prefix><origin>/soa`: the SOA;
//! - `<prefix><origin>/rr/<hash>`: every other record, the hash of its
//!   [`identity`](super::identity) (so adding a record twice keeps one).
//!
//! An apply is one transaction that succeeds only if the SOA has not
//! changed since it was read (its `mod_revision`); otherwise it is read and
//! tried again, so concurrent writers serialize on the SOA and none is
//! lost. A read is one range at one revision; `changed` is a watch from
//! the revision after the one read.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, TxnOp, WatchOptions};
use hickory_proto::rr::{Name, Record, RecordType};

use super::{Change, Snapshot, StoreError, ZoneStore, build, changed_records, identity};
use crate::zone;

/// How many times an apply is tried against writers changing the same
/// zone before it gives up.
const MAX_TRIES: usize = 64;

/// Zones in chainfire under one prefix.
#[derive(Clone)]
pub struct ChainfireStore {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for ChainfireStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainfireStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The prefix zones of cluster `cluster` are kept under.
pub fn cluster_prefix(cluster: &str) -> String {
    format!("/photon/clusters/{cluster}/flashdns/zones/")
}

fn unavailable(e: etcd_client::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// `request` until it succeeds, fails for good, or chainfire's election
/// time passes ([`photon_integration::retry`]).
///
/// A transaction whose answer was lost may have been applied: an apply
/// tried again then finds the SOA changed, reads the zone again and
/// applies its (idempotent) changes once more, so nothing is lost or
/// doubled, though the serial may step twice.
async fn retried<T, F, Fut>(request: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    photon_integration::retry::retried(request)
        .await
        .map_err(unavailable)
}

impl ChainfireStore {
    /// Zones under `prefix`, through `client`.
    pub fn new(client: Client, prefix: impl Into<String>) -> ChainfireStore {
        ChainfireStore {
            client,
            prefix: prefix.into(),
        }
    }

    /// The prefix of zone `origin`'s keys.
    pub fn zone_prefix(&self, origin: &Name) -> String {
        format!("{}{}/", self.prefix, origin.to_lowercase())
    }

    fn soa_key(&self, origin: &Name) -> String {
        format!("{}soa", self.zone_prefix(origin))
    }

    fn record_key(&self, origin: &Name, record: &Record) -> String {
        // FNV-1a of the identity: stable across versions and processes.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in identity(record).bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{}rr/{hash:016x}", self.zone_prefix(origin))
    }

    /// The zone's records (none without an SOA), the SOA's `mod_revision`
    /// and the revision read at.
    async fn load(&self, origin: &Name) -> Result<(Vec<Record>, i64, i64), StoreError> {
        let prefix = self.zone_prefix(origin);
        let answer = retried(|| {
            let (mut kv, prefix) = (self.client.kv_client(), prefix.clone());
            async move { kv.get(prefix, Some(GetOptions::new().with_prefix())).await }
        })
        .await?;
        let revision = answer.header().map_or(0, |h| h.revision());
        let soa_key = self.soa_key(origin);
        let Some(soa) = answer
            .kvs()
            .iter()
            .find(|kv| kv.key() == soa_key.as_bytes())
        else {
            return Ok((Vec::new(), 0, revision));
        };
        let soa_revision = soa.mod_revision();
        // The SOA first, as a zone file has it.
        let mut text = String::new();
        for kv in std::iter::once(soa).chain(
            answer
                .kvs()
                .iter()
                .filter(|kv| kv.key() != soa_key.as_bytes()),
        ) {
            let line = kv.value_str().map_err(unavailable)?;
            text.push_str(line);
            text.push('\n');
        }
        let zone = zone::file::parse(&text, &self.zone_prefix(origin), origin).map_err(|e| {
            StoreError::Invalid {
                origin: origin.to_string(),
                problem: format!("as stored: {e}"),
            }
        })?;
        Ok((zone.records().cloned().collect(), soa_revision, revision))
    }
}

impl ChainfireStore {
    /// Makes zone `origin` if chainfire does not hold it yet, for a
    /// component that publishes names into it (photonnet, fiberlb): an SOA
    /// (`ttl` also its negative-caching time), and `ns.<origin>` at
    /// `name_server` (the flashdns serving it) as its one name server.
    /// Whether it was made now; a zone already there is left as it is.
    pub async fn ensure_zone(
        &self,
        origin: &Name,
        name_server: std::net::IpAddr,
        ttl: u32,
    ) -> Result<bool, StoreError> {
        let glue = match name_server {
            std::net::IpAddr::V4(ip) => format!("ns IN A {ip}"),
            std::net::IpAddr::V6(ip) => format!("ns IN AAAA {ip}"),
        };
        let text = format!(
            "$ORIGIN {origin}\n$TTL {ttl}\n@ IN SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 {ttl}\n@ IN NS ns.{origin}\n{glue}\n"
        );
        let zone = zone::file::parse(&text, "a published zone", origin).map_err(|e| {
            StoreError::Invalid {
                origin: origin.to_string(),
                problem: e.to_string(),
            }
        })?;
        let records: Vec<Record> = zone.records().cloned().collect();
        self.create(origin, &records).await
    }

    /// One try at [`ZoneStore::apply`] in a transaction that also needs
    /// `when` to hold and also does `also`: how another component
    /// (photonnet publishing an address's name) changes its own state and
    /// the zone in one atomic step. `None`, and nothing written, when the
    /// zone changed since it was read or a compare of `when` failed: read
    /// and try again.
    pub async fn apply_with(
        &self,
        origin: &Name,
        changes: &[Change],
        when: Vec<Compare>,
        also: Vec<TxnOp>,
    ) -> Result<Option<u32>, StoreError> {
        let (records, soa_revision, _) = self.load(origin).await?;
        if records.is_empty() {
            return Err(StoreError::NoZone(origin.to_string()));
        }
        let (next, serial) = changed_records(origin, &records, changes)?;
        // Each record a change touched ends present (put) or absent
        // (delete); one operation per key, as a transaction requires.
        let mut ops: BTreeMap<String, Option<String>> = BTreeMap::new();
        for change in changes {
            let (Change::Add(record) | Change::Remove(record)) = change;
            let id = identity(record);
            let now = next.iter().find(|r| identity(r) == id);
            ops.insert(self.record_key(origin, record), now.map(zone::record_text));
        }
        let soa = next
            .iter()
            .find(|r| r.record_type() == RecordType::SOA)
            .map(zone::record_text)
            .unwrap_or_default();
        let soa_key = self.soa_key(origin);
        let mut then: Vec<TxnOp> = ops
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => TxnOp::put(key, value, None),
                None => TxnOp::delete(key, None),
            })
            .collect();
        then.push(TxnOp::put(soa_key.clone(), soa, None));
        then.extend(also);
        let mut guards = vec![Compare::mod_revision(
            soa_key,
            CompareOp::Equal,
            soa_revision,
        )];
        guards.extend(when);
        let txn = etcd_client::Txn::new().when(guards).and_then(then);
        let done = retried(|| {
            let (mut kv, txn) = (self.client.kv_client(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await?;
        Ok(done.succeeded().then_some(serial))
    }
}

#[async_trait::async_trait]
impl ZoneStore for ChainfireStore {
    async fn create(&self, origin: &Name, records: &[Record]) -> Result<bool, StoreError> {
        build(origin, records, "the new zone")?;
        let soa_key = self.soa_key(origin);
        let mut ops = Vec::new();
        for record in records {
            let key = if record.record_type() == RecordType::SOA {
                soa_key.clone()
            } else {
                self.record_key(origin, record)
            };
            ops.push((key, zone::record_text(record)));
        }
        // One key per record: a record given twice is written once.
        let ops: BTreeMap<String, String> = ops.into_iter().collect();
        let txn = etcd_client::Txn::new()
            .when([Compare::create_revision(soa_key, CompareOp::Equal, 0)])
            .and_then(
                ops.into_iter()
                    .map(|(key, value)| TxnOp::put(key, value, None))
                    .collect::<Vec<_>>(),
            );
        let done = retried(|| {
            let (mut kv, txn) = (self.client.kv_client(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await?;
        Ok(done.succeeded())
    }

    async fn apply(&self, origin: &Name, changes: &[Change]) -> Result<u32, StoreError> {
        for _ in 0..MAX_TRIES {
            if let Some(serial) = self
                .apply_with(origin, changes, Vec::new(), Vec::new())
                .await?
            {
                return Ok(serial);
            }
            // Another writer changed the zone meanwhile: again, from what
            // it left.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err(StoreError::Unavailable(format!(
            "zone {origin}: changed by other writers {MAX_TRIES} times in a row; try again"
        )))
    }

    async fn read(&self, origin: &Name) -> Result<Snapshot, StoreError> {
        let (records, _, revision) = self.load(origin).await?;
        Ok(Snapshot {
            records,
            version: u64::try_from(revision).unwrap_or(0),
        })
    }

    async fn changed(&self, origin: &Name, version: u64) -> Result<u64, StoreError> {
        let start = i64::try_from(version).unwrap_or(i64::MAX).saturating_add(1);
        let prefix = self.zone_prefix(origin);
        let mut stream = retried(|| {
            let (mut watch, prefix) = (self.client.watch_client(), prefix.clone());
            async move {
                watch
                    .watch(
                        prefix,
                        Some(WatchOptions::new().with_prefix().with_start_revision(start)),
                    )
                    .await
            }
        })
        .await?;
        loop {
            let Some(answer) = stream.message().await.map_err(unavailable)? else {
                return Err(StoreError::Unavailable("the watch ended".into()));
            };
            if answer.canceled() {
                return Err(StoreError::Unavailable(format!(
                    "the watch was cancelled: {}",
                    answer.cancel_reason()
                )));
            }
            if let Some(newest) = answer
                .events()
                .iter()
                .filter_map(|e| e.kv())
                .map(|kv| kv.mod_revision())
                .max()
            {
                let _ = stream.cancel(answer.watch_id()).await;
                return Ok(u64::try_from(newest).unwrap_or(0));
            }
        }
    }
}

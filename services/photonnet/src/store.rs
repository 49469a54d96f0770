//! photonnet's state in chainfire: tenants' VPCs, their subnets and the
//! addresses allocated in them.
//!
//! Layout under `/photon/clusters/<cluster>/photonnet/` (JSON values):
//!
//! - `v/<tenant>/<vpc>`: a VPC (its IPv4 range);
//! - `s/<tenant>/<vpc>/<subnet>`: a subnet of it;
//! - `a/<tenant>/<vpc>/<subnet>/<address, 8 hex digits>`: an allocated
//!   address (keys sort as the addresses do);
//! - `n/<tenant>/<vpc>/<name>`: an address's name, unique in its VPC.
//!
//! Every write is one transaction whose compares keep the state whole,
//! whoever else writes, from any number of photonnet processes: an address
//! is allocated only while its key is absent and its subnet unchanged, so
//! two allocators never get the same one (the loser reads again and picks
//! another); a subnet is made only if no subnet of its VPC changed since
//! the ones it was checked against were read; a VPC or subnet is deleted
//! only while nothing is in it. With VPC DNS on, an allocation's name is
//! written into flashdns's zone in the same transaction
//! ([`flashdns::store::chainfire::ChainfireStore::apply_with`]), so a name
//! resolves exactly while its address is allocated.
//!
//! Names (tenants', VPCs', subnets', addresses') are DNS labels, as they
//! become parts of DNS names and keys.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, KeyValue, TxnOp};
use flashdns::store::Change;
use flashdns::store::chainfire::ChainfireStore;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use ipnet::Ipv4Net;
use photon_integration::retry::prefix_end;
use photon_integration::state::{StateKv, absent, empty, exists, unchanged};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How many times a write is tried against other writers changing what it
/// read before it gives up.
const MAX_TRIES: usize = 100;

/// An allocator picks at random among this many of the lowest free
/// addresses, so concurrent allocators seldom pick the same one.
const SPREAD: usize = 64;

/// The TTL of an address's A record: a released address's name stops
/// resolving in resolvers' caches within it.
const NAME_TTL: u32 = 30;

/// What the store refuses, or why it could not answer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A name that cannot be one.
    #[error("{what} name `{name}`: {why}")]
    BadName {
        /// Tenant, VPC, subnet or address name.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A range or address that cannot be used.
    #[error("`{given}`: {why}")]
    BadAddress {
        /// What was given.
        given: String,
        /// What is wrong with it.
        why: String,
    },
    /// It exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// It does not exist.
    #[error("{0} does not exist")]
    Missing(String),
    /// It still holds something, so it is not deleted.
    #[error("{0}")]
    NotEmpty(String),
    /// A new subnet would share addresses with another.
    #[error("subnet {cidr} overlaps subnet `{other}` ({other_cidr}) of the same VPC")]
    Overlaps {
        /// The new subnet's range.
        cidr: String,
        /// The subnet it overlaps.
        other: String,
        /// That subnet's range.
        other_cidr: String,
    },
    /// Every address of the subnet is allocated.
    #[error("subnet {0} has no free address left")]
    Exhausted(String),
    /// The address asked for is allocated already.
    #[error("{0} is allocated already")]
    Taken(String),
    /// The address is not allocated (a release of a free address).
    #[error("{0} is not allocated")]
    NotAllocated(String),
    /// Other writers kept changing what a write read.
    #[error("{0}: changed by other writers {MAX_TRIES} times in a row; try again")]
    Busy(String),
    /// chainfire could not be reached or refused.
    #[error("photonnet's state in chainfire: {0}")]
    Unavailable(String),
    /// A stored value does not decode.
    #[error("corrupt record {0}")]
    Corrupt(String),
    /// The VPC zone could not be made or changed.
    #[error("the VPC zone: {0}")]
    Dns(#[from] flashdns::store::StoreError),
}

fn unavailable(e: etcd_client::Error) -> NetError {
    NetError::Unavailable(e.to_string())
}

/// A VPC: a tenant's private IPv4 range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcRecord {
    /// Its range, e.g. `10.0.0.0/16`.
    pub cidr: Ipv4Net,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// A subnet of a VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRecord {
    /// Its range, inside the VPC's.
    pub cidr: Ipv4Net,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

impl SubnetRecord {
    /// The gateway's address: the first host, never allocated.
    pub fn gateway(&self) -> Ipv4Addr {
        self.cidr.hosts().next().unwrap_or(self.cidr.network())
    }

    /// The addresses that can be allocated: every host but the gateway.
    pub fn usable(&self) -> impl Iterator<Item = Ipv4Addr> {
        self.cidr.hosts().skip(1)
    }

    /// How many addresses can be allocated in all.
    pub fn capacity(&self) -> u64 {
        // Hosts (the network and broadcast addresses left out below /31),
        // less the gateway.
        let size = 1u64 << (32 - u32::from(self.cidr.prefix_len()));
        size.saturating_sub(3)
    }
}

/// An allocated address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationRecord {
    /// The address.
    pub address: Ipv4Addr,
    /// Its name in the VPC, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The allocating request's id: a request whose answer was lost finds
    /// its own allocation when tried again, rather than taking another.
    pub request: String,
    /// When it was allocated, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// An address's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct NameRecord {
    subnet: String,
    address: Ipv4Addr,
}

/// Checks a DNS label used as a name: 1 to 63 of `a-z 0-9 -`, not
/// starting or ending with `-`.
pub fn check_label(what: &'static str, name: &str) -> Result<(), NetError> {
    match photon_integration::state::label_problem(name) {
        None => Ok(()),
        Some(why) => Err(NetError::BadName {
            what,
            name: name.to_owned(),
            why,
        }),
    }
}

/// An IPv4 network with a prefix length in `lengths`, given as its
/// network address (`10.0.0.0/16`, not `10.0.0.5/16`).
pub fn parse_network(
    text: &str,
    lengths: std::ops::RangeInclusive<u8>,
) -> Result<Ipv4Net, NetError> {
    let bad = |why: String| NetError::BadAddress {
        given: text.to_owned(),
        why,
    };
    let net: Ipv4Net = text
        .parse()
        .map_err(|_| bad("not an IPv4 network such as 10.0.0.0/16".to_owned()))?;
    if !lengths.contains(&net.prefix_len()) {
        return Err(bad(format!(
            "the prefix length must be /{} to /{}",
            lengths.start(),
            lengths.end()
        )));
    }
    if net.addr() != net.network() {
        return Err(bad(format!(
            "not a network address: did you mean {}?",
            net.trunc()
        )));
    }
    Ok(net)
}

/// The prefix lengths a VPC may have.
pub const VPC_PREFIXES: std::ops::RangeInclusive<u8> = 8..=28;
/// The prefix lengths a subnet may have (a /29 holds 5 allocations).
pub const SUBNET_PREFIXES: std::ops::RangeInclusive<u8> = 16..=29;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn request_id() -> Result<String, NetError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| NetError::Unavailable(format!("no randomness for a request id: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A number below `n` (> 0), from the system's randomness.
fn below(n: usize) -> usize {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0;
    }
    (u64::from_le_bytes(bytes) % n as u64) as usize
}

fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, NetError> {
    serde_json::from_slice(kv.value())
        .map_err(|e| NetError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(kv.key()))))
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

/// The zone the VPCs' names are published into.
#[derive(Clone, Debug)]
struct VpcZone {
    store: ChainfireStore,
    origin: Name,
}

/// photonnet's state under one cluster's prefix.
#[derive(Clone)]
pub struct NetStore {
    kv: StateKv,
    prefix: String,
    dns: Option<VpcZone>,
}

impl std::fmt::Debug for NetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetStore")
            .field("prefix", &self.prefix)
            .field("dns", &self.dns.as_ref().map(|z| z.origin.to_string()))
            .finish_non_exhaustive()
    }
}

impl NetStore {
    /// The state of cluster `cluster`, through `client`, with VPC DNS off.
    pub fn new(client: Client, cluster: &str) -> NetStore {
        NetStore {
            kv: StateKv::new(client),
            prefix: format!("/photon/clusters/{cluster}/photonnet/"),
            dns: None,
        }
    }

    /// The same, publishing names into zone `zone` of the cluster's
    /// flashdns, which is made if it is not in chainfire yet: its SOA, and
    /// `ns.<zone>` at `server` (the flashdns serving it) as its name server.
    pub async fn with_dns(
        mut self,
        cluster: &str,
        zone: &str,
        server: std::net::IpAddr,
    ) -> Result<NetStore, NetError> {
        let mut origin = Name::from_ascii(zone).map_err(|e| NetError::BadAddress {
            given: zone.to_owned(),
            why: format!("not a DNS name: {e}"),
        })?;
        origin.set_fqdn(true);
        let store = ChainfireStore::new(
            self.kv.client().clone(),
            flashdns::store::chainfire::cluster_prefix(cluster),
        );
        if store.ensure_zone(&origin, server, NAME_TTL).await? {
            tracing::info!(zone = %origin, "VPC zone made in chainfire");
        }
        self.dns = Some(VpcZone { store, origin });
        Ok(self)
    }

    /// The zone names are published into, if VPC DNS is on.
    pub fn zone(&self) -> Option<String> {
        self.dns.as_ref().map(|z| z.origin.to_string())
    }

    /// What the names of VPC `vpc`'s addresses end with (`None`: VPC DNS
    /// is off).
    pub fn dns_suffix(&self, tenant: &str, vpc: &str) -> Option<String> {
        self.dns
            .as_ref()
            .map(|z| format!("{vpc}.{tenant}.{}", z.origin))
    }

    fn key(&self, kind: &str, parts: &[&str]) -> String {
        format!("{}{kind}/{}", self.prefix, parts.join("/"))
    }

    /// The prefix of everything of `kind` under `parts`.
    fn under(&self, kind: &str, parts: &[&str]) -> String {
        format!("{}/", self.key(kind, parts))
    }

    async fn get_kv(&self, key: &str) -> Result<Option<KeyValue>, NetError> {
        self.kv.get(key).await.map_err(unavailable)
    }

    /// Every key-value under `prefix`, at one revision; that revision.
    async fn range(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), NetError> {
        self.kv.range(prefix).await.map_err(unavailable)
    }

    /// Each `(name after prefix, record)` under `prefix`.
    async fn records<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, NetError> {
        let (kvs, _) = self.range(prefix).await?;
        kvs.iter()
            .map(|kv| {
                let name = String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned();
                Ok((name, decode(kv)?))
            })
            .collect()
    }

    async fn txn(&self, when: Vec<Compare>, then: Vec<TxnOp>) -> Result<bool, NetError> {
        self.kv.txn(when, then).await.map_err(unavailable)
    }

    /// The transaction of `when` and `then`, with `dns` applied to the VPC
    /// zone in the same step when VPC DNS is on; whether it took effect.
    async fn commit(
        &self,
        when: Vec<Compare>,
        then: Vec<TxnOp>,
        dns: Option<Change>,
    ) -> Result<bool, NetError> {
        match (&self.dns, dns) {
            (Some(zone), Some(change)) => Ok(zone
                .store
                .apply_with(&zone.origin, &[change], when, then)
                .await?
                .is_some()),
            _ => self.txn(when, then).await,
        }
    }

    /// The A record naming `address` `name` in VPC `vpc`, if VPC DNS is on.
    fn a_record(
        &self,
        tenant: &str,
        vpc: &str,
        name: &str,
        address: Ipv4Addr,
    ) -> Result<Option<Record>, NetError> {
        let Some(suffix) = self.dns_suffix(tenant, vpc) else {
            return Ok(None);
        };
        let fqdn = format!("{name}.{suffix}");
        let owner = Name::from_ascii(&fqdn).map_err(|_| NetError::BadName {
            what: "address",
            name: fqdn.clone(),
            why: "the DNS name it makes is not one (at most 253 characters)",
        })?;
        Ok(Some(Record::from_rdata(
            owner,
            NAME_TTL,
            RData::A(A(address)),
        )))
    }

    async fn pause() {
        tokio::time::sleep(Duration::from_millis(1 + below(5) as u64)).await;
    }

    // ---- VPCs ----

    /// Makes VPC `name` of `tenant` over `cidr`.
    pub async fn create_vpc(
        &self,
        tenant: &str,
        name: &str,
        cidr: &str,
    ) -> Result<VpcRecord, NetError> {
        check_label("tenant", tenant)?;
        check_label("VPC", name)?;
        let record = VpcRecord {
            cidr: parse_network(cidr, VPC_PREFIXES)?,
            created_ms: now_ms(),
        };
        let key = self.key("v", &[tenant, name]);
        if self
            .txn(
                vec![absent(&key)],
                vec![TxnOp::put(key.clone(), encode(&record), None)],
            )
            .await?
        {
            tracing::info!(%tenant, vpc = %name, cidr = %record.cidr, "VPC made");
            Ok(record)
        } else {
            Err(NetError::Exists(format!(
                "VPC `{name}` of tenant `{tenant}`"
            )))
        }
    }

    /// The VPC, if there is one.
    pub async fn vpc(&self, tenant: &str, name: &str) -> Result<Option<VpcRecord>, NetError> {
        check_label("VPC", name)?;
        self.get_kv(&self.key("v", &[tenant, name]))
            .await?
            .map(|kv| decode(&kv))
            .transpose()
    }

    /// `tenant`'s VPCs, by name.
    pub async fn vpcs(&self, tenant: &str) -> Result<Vec<(String, VpcRecord)>, NetError> {
        check_label("tenant", tenant)?;
        self.records(&self.under("v", &[tenant])).await
    }

    /// Deletes a VPC with no subnets.
    pub async fn delete_vpc(&self, tenant: &str, name: &str) -> Result<(), NetError> {
        check_label("VPC", name)?;
        let key = self.key("v", &[tenant, name]);
        let subnets = self.under("s", &[tenant, name]);
        if self
            .txn(
                vec![exists(&key), empty(&subnets)],
                vec![TxnOp::delete(key.clone(), None)],
            )
            .await?
        {
            tracing::info!(%tenant, vpc = %name, "VPC deleted");
            return Ok(());
        }
        match self.get_kv(&key).await? {
            None => Err(NetError::Missing(format!(
                "VPC `{name}` of tenant `{tenant}`"
            ))),
            Some(_) => Err(NetError::NotEmpty(format!(
                "VPC `{name}` still has subnets: delete them first"
            ))),
        }
    }

    // ---- subnets ----

    /// Makes subnet `name` of VPC `vpc` over `cidr`: inside the VPC's
    /// range, overlapping none of its other subnets.
    pub async fn create_subnet(
        &self,
        tenant: &str,
        vpc: &str,
        name: &str,
        cidr: &str,
    ) -> Result<SubnetRecord, NetError> {
        check_label("VPC", vpc)?;
        check_label("subnet", name)?;
        let record = SubnetRecord {
            cidr: parse_network(cidr, SUBNET_PREFIXES)?,
            created_ms: now_ms(),
        };
        let vpc_key = self.key("v", &[tenant, vpc]);
        let siblings = self.under("s", &[tenant, vpc]);
        let key = self.key("s", &[tenant, vpc, name]);
        for _ in 0..MAX_TRIES {
            let Some(vpc_kv) = self.get_kv(&vpc_key).await? else {
                return Err(NetError::Missing(format!(
                    "VPC `{vpc}` of tenant `{tenant}`"
                )));
            };
            let vpc_record: VpcRecord = decode(&vpc_kv)?;
            if !vpc_record.cidr.contains(&record.cidr) {
                return Err(NetError::BadAddress {
                    given: record.cidr.to_string(),
                    why: format!("outside VPC `{vpc}`'s range {}", vpc_record.cidr),
                });
            }
            let (others, read_at) = self.range(&siblings).await?;
            for kv in &others {
                let other_name = String::from_utf8_lossy(&kv.key()[siblings.len()..]).into_owned();
                if other_name == name {
                    return Err(NetError::Exists(format!("subnet `{name}` of VPC `{vpc}`")));
                }
                let other: SubnetRecord = decode(kv)?;
                if other.cidr.contains(&record.cidr.network())
                    || record.cidr.contains(&other.cidr.network())
                {
                    return Err(NetError::Overlaps {
                        cidr: record.cidr.to_string(),
                        other: other_name,
                        other_cidr: other.cidr.to_string(),
                    });
                }
            }
            // The VPC as read, and no subnet of it made or changed since
            // the ones checked were read.
            let when = vec![
                unchanged(&vpc_key, vpc_kv.mod_revision()),
                Compare::mod_revision(siblings.as_str(), CompareOp::Less, read_at + 1)
                    .with_range(prefix_end(siblings.as_bytes())),
                absent(&key),
            ];
            if self
                .txn(when, vec![TxnOp::put(key.clone(), encode(&record), None)])
                .await?
            {
                tracing::info!(%tenant, %vpc, subnet = %name, cidr = %record.cidr, "subnet made");
                return Ok(record);
            }
            Self::pause().await;
        }
        Err(NetError::Busy(format!("making subnet `{name}`")))
    }

    /// VPC `vpc`'s subnets, by name, each with how many addresses are
    /// free.
    pub async fn subnets(
        &self,
        tenant: &str,
        vpc: &str,
    ) -> Result<Vec<(String, SubnetRecord, u64)>, NetError> {
        check_label("VPC", vpc)?;
        if self.get_kv(&self.key("v", &[tenant, vpc])).await?.is_none() {
            return Err(NetError::Missing(format!(
                "VPC `{vpc}` of tenant `{tenant}`"
            )));
        }
        let subnets: Vec<(String, SubnetRecord)> =
            self.records(&self.under("s", &[tenant, vpc])).await?;
        let allocated = self.under("a", &[tenant, vpc]);
        let (allocations, _) = self.range(&allocated).await?;
        Ok(subnets
            .into_iter()
            .map(|(name, record)| {
                let inside = format!("{allocated}{name}/");
                let used = allocations
                    .iter()
                    .filter(|kv| kv.key().starts_with(inside.as_bytes()))
                    .count() as u64;
                let free = record.capacity().saturating_sub(used);
                (name, record, free)
            })
            .collect())
    }

    /// Deletes a subnet with no allocations.
    pub async fn delete_subnet(&self, tenant: &str, vpc: &str, name: &str) -> Result<(), NetError> {
        check_label("VPC", vpc)?;
        check_label("subnet", name)?;
        let key = self.key("s", &[tenant, vpc, name]);
        let allocations = self.under("a", &[tenant, vpc, name]);
        if self
            .txn(
                vec![exists(&key), empty(&allocations)],
                vec![TxnOp::delete(key.clone(), None)],
            )
            .await?
        {
            tracing::info!(%tenant, %vpc, subnet = %name, "subnet deleted");
            return Ok(());
        }
        match self.get_kv(&key).await? {
            None => Err(NetError::Missing(format!("subnet `{name}` of VPC `{vpc}`"))),
            Some(_) => Err(NetError::NotEmpty(format!(
                "subnet `{name}` still has allocated addresses: release them first"
            ))),
        }
    }

    // ---- addresses ----

    fn address_key(&self, tenant: &str, vpc: &str, subnet: &str, address: Ipv4Addr) -> String {
        let hex = format!("{:08x}", u32::from(address));
        self.key("a", &[tenant, vpc, subnet, &hex])
    }

    /// Allocates an address of the subnet (`address`, or any free one):
    /// never one allocated already, whoever else allocates at the same
    /// time. With `name`, the address gets that name in the VPC, and in
    /// DNS when VPC DNS is on.
    pub async fn allocate(
        &self,
        tenant: &str,
        vpc: &str,
        subnet: &str,
        name: Option<&str>,
        address: Option<Ipv4Addr>,
    ) -> Result<AllocationRecord, NetError> {
        check_label("VPC", vpc)?;
        check_label("subnet", subnet)?;
        if let Some(name) = name {
            check_label("address", name)?;
            // Made now, so a name too long for DNS fails before anything.
            self.a_record(tenant, vpc, name, Ipv4Addr::UNSPECIFIED)?;
        }
        let request = request_id()?;
        let subnet_key = self.key("s", &[tenant, vpc, subnet]);
        let allocated = self.under("a", &[tenant, vpc, subnet]);
        let name_key = name.map(|name| self.key("n", &[tenant, vpc, name]));
        let whose = format!("subnet `{subnet}` of VPC `{vpc}`");
        for _ in 0..MAX_TRIES {
            let Some(subnet_kv) = self.get_kv(&subnet_key).await? else {
                return Err(NetError::Missing(whose));
            };
            let record: SubnetRecord = decode(&subnet_kv)?;
            let (kvs, _) = self.range(&allocated).await?;
            let mut taken = HashSet::with_capacity(kvs.len());
            for kv in &kvs {
                let allocation: AllocationRecord = decode(kv)?;
                if allocation.request == request {
                    // An earlier try took effect though its answer was lost.
                    return Ok(allocation);
                }
                taken.insert(allocation.address);
            }
            if let Some(name_key) = &name_key
                && let Some(kv) = self.get_kv(name_key).await?
            {
                let holder: NameRecord = decode(&kv)?;
                return Err(NetError::Taken(format!(
                    "the name `{}` in VPC `{vpc}` (held by {} in subnet `{}`)",
                    name.unwrap_or_default(),
                    holder.address,
                    holder.subnet
                )));
            }
            let chosen = match address {
                Some(wanted) => {
                    check_wanted(&record, wanted)?;
                    if taken.contains(&wanted) {
                        return Err(NetError::Taken(format!("address {wanted}")));
                    }
                    wanted
                }
                None => {
                    let free: Vec<Ipv4Addr> = record
                        .usable()
                        .filter(|a| !taken.contains(a))
                        .take(SPREAD)
                        .collect();
                    if free.is_empty() {
                        return Err(NetError::Exhausted(format!(
                            "`{subnet}` ({}) of VPC `{vpc}`",
                            record.cidr
                        )));
                    }
                    free[below(free.len())]
                }
            };
            let allocation = AllocationRecord {
                address: chosen,
                name: name.map(str::to_owned),
                request: request.clone(),
                created_ms: now_ms(),
            };
            let key = self.address_key(tenant, vpc, subnet, chosen);
            let mut when = vec![
                unchanged(&subnet_key, subnet_kv.mod_revision()),
                absent(&key),
            ];
            let mut then = vec![TxnOp::put(key, encode(&allocation), None)];
            let mut dns = None;
            if let (Some(name), Some(name_key)) = (name, &name_key) {
                when.push(absent(name_key));
                then.push(TxnOp::put(
                    name_key.clone(),
                    encode(&NameRecord {
                        subnet: subnet.to_owned(),
                        address: chosen,
                    }),
                    None,
                ));
                dns = self.a_record(tenant, vpc, name, chosen)?.map(Change::Add);
            }
            if self.commit(when, then, dns).await? {
                tracing::info!(%tenant, %vpc, %subnet, address = %chosen, name = name.unwrap_or(""), "address allocated");
                return Ok(allocation);
            }
            // Another allocator took it (or the zone changed): again.
            Self::pause().await;
        }
        Err(NetError::Busy(format!("allocating in {whose}")))
    }

    /// Releases an allocated address, and its name; releasing one that is
    /// not allocated is [`NetError::NotAllocated`].
    pub async fn release(
        &self,
        tenant: &str,
        vpc: &str,
        subnet: &str,
        address: Ipv4Addr,
    ) -> Result<(), NetError> {
        check_label("VPC", vpc)?;
        check_label("subnet", subnet)?;
        let key = self.address_key(tenant, vpc, subnet, address);
        let mut tried = false;
        for _ in 0..MAX_TRIES {
            let Some(kv) = self.get_kv(&key).await? else {
                if tried {
                    // Gone since this release read it: by an earlier try
                    // whose answer was lost, or a release racing this one;
                    // either way the address is free, as asked.
                    return Ok(());
                }
                if self
                    .get_kv(&self.key("s", &[tenant, vpc, subnet]))
                    .await?
                    .is_none()
                {
                    return Err(NetError::Missing(format!(
                        "subnet `{subnet}` of VPC `{vpc}`"
                    )));
                }
                return Err(NetError::NotAllocated(format!(
                    "address {address} of subnet `{subnet}` of VPC `{vpc}`"
                )));
            };
            let allocation: AllocationRecord = decode(&kv)?;
            let when = vec![unchanged(&key, kv.mod_revision())];
            let mut then = vec![TxnOp::delete(key.clone(), None)];
            let mut dns = None;
            if let Some(name) = &allocation.name {
                then.push(TxnOp::delete(self.key("n", &[tenant, vpc, name]), None));
                dns = self
                    .a_record(tenant, vpc, name, address)?
                    .map(Change::Remove);
            }
            if self.commit(when, then, dns).await? {
                tracing::info!(%tenant, %vpc, %subnet, %address, "address released");
                return Ok(());
            }
            tried = true;
            Self::pause().await;
        }
        Err(NetError::Busy(format!("releasing {address}")))
    }

    /// The subnet's allocations, by address.
    pub async fn allocations(
        &self,
        tenant: &str,
        vpc: &str,
        subnet: &str,
    ) -> Result<Vec<AllocationRecord>, NetError> {
        check_label("VPC", vpc)?;
        check_label("subnet", subnet)?;
        if self
            .get_kv(&self.key("s", &[tenant, vpc, subnet]))
            .await?
            .is_none()
        {
            return Err(NetError::Missing(format!(
                "subnet `{subnet}` of VPC `{vpc}`"
            )));
        }
        let found: Vec<(String, AllocationRecord)> = self
            .records(&self.under("a", &[tenant, vpc, subnet]))
            .await?;
        Ok(found.into_iter().map(|(_, record)| record).collect())
    }

    /// How many tenants have VPCs, and how many VPCs there are (for
    /// `/health` and `/metrics`).
    pub async fn census(&self) -> Result<(usize, usize), NetError> {
        let (kvs, _) = self.range(&format!("{}v/", self.prefix)).await?;
        let tenants: HashSet<&[u8]> = kvs
            .iter()
            .filter_map(|kv| {
                let rest = &kv.key()[self.prefix.len() + 2..];
                rest.split(|b| *b == b'/').next()
            })
            .collect();
        Ok((tenants.len(), kvs.len()))
    }
}

/// Whether `wanted` may be allocated in the subnet: inside it, and not its
/// network, broadcast or gateway address.
fn check_wanted(subnet: &SubnetRecord, wanted: Ipv4Addr) -> Result<(), NetError> {
    let bad = |why: String| NetError::BadAddress {
        given: wanted.to_string(),
        why,
    };
    if !subnet.cidr.contains(&wanted) {
        return Err(bad(format!("outside the subnet's range {}", subnet.cidr)));
    }
    if wanted == subnet.cidr.network() || wanted == subnet.cidr.broadcast() {
        return Err(bad("the subnet's network or broadcast address".to_owned()));
    }
    if wanted == subnet.gateway() {
        return Err(bad("the subnet's gateway address".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_checked_as_an_operator_would_write_them() {
        assert_eq!(
            parse_network("10.0.0.0/16", VPC_PREFIXES)
                .unwrap()
                .to_string(),
            "10.0.0.0/16"
        );
        let said = |text: &str, lengths| parse_network(text, lengths).unwrap_err().to_string();
        assert_eq!(
            said("10.0.0.5/16", VPC_PREFIXES),
            "`10.0.0.5/16`: not a network address: did you mean 10.0.0.0/16?"
        );
        assert_eq!(
            said("10.0.0.0/30", SUBNET_PREFIXES),
            "`10.0.0.0/30`: the prefix length must be /16 to /29"
        );
        assert_eq!(
            said("10.0.0/24", VPC_PREFIXES),
            "`10.0.0/24`: not an IPv4 network such as 10.0.0.0/16"
        );
        assert!(parse_network("fd00::/64", VPC_PREFIXES).is_err());
    }

    #[test]
    fn a_subnet_never_hands_out_its_network_gateway_or_broadcast() {
        let subnet = SubnetRecord {
            cidr: "10.0.1.0/29".parse().unwrap(),
            created_ms: 0,
        };
        let usable: Vec<String> = subnet.usable().map(|a| a.to_string()).collect();
        assert_eq!(
            usable,
            ["10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5", "10.0.1.6"]
        );
        assert_eq!(subnet.capacity(), 5);
        assert_eq!(subnet.gateway().to_string(), "10.0.1.1");
        for reserved in ["10.0.1.0", "10.0.1.1", "10.0.1.7", "10.0.2.2"] {
            assert!(
                check_wanted(&subnet, reserved.parse().unwrap()).is_err(),
                "{reserved}"
            );
        }
        assert!(check_wanted(&subnet, "10.0.1.4".parse().unwrap()).is_ok());
    }

    #[test]
    fn names_are_dns_labels() {
        for good in ["web", "web-1", "a", "0day"] {
            check_label("address", good).unwrap();
        }
        for bad in ["", "Web", "web_1", "-web", "web-", "a.b", &"x".repeat(64)] {
            assert!(check_label("address", bad).is_err(), "{bad}");
        }
    }
}

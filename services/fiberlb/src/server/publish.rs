//! The balancers' names in a stored zone ([`Publish::Dns`], integrated):
//! the design's "fiberlb tells flashdns of backend changes" (§4.4).
//!
//! For balancer `web` in zone `apps.internal`, fiberlb keeps two names
//! true in chainfire, where every integrated flashdns serving the zone
//! reads them:
//!
//! - `web.apps.internal`: this fiberlb's address while the balancer has a
//!   backend that may take traffic. Only its own record is touched, so
//!   several fiberlbs publishing `web` each add theirs and clients spread
//!   over them; one whose backends are all down, or that stops, leaves.
//! - `backends.web.apps.internal`: the address of each backend that may
//!   take traffic (healthy, not drained), as health checks and drains
//!   change them.
//!
//! The backends' state is read from memory five times a second; the zone
//! is written only when what would be published changes, in one
//! transaction for every balancer (flashdns's SOA-guarded apply, so
//! concurrent writers lose nothing), and read first each time, so a
//! record someone removed by hand comes back.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashdns::store::chainfire::ChainfireStore;
use flashdns::store::{Change, StoreError, ZoneStore};
use hickory_proto::rr::{Name, RData, Record, rdata};
use tokio_util::sync::CancellationToken;

use super::Front;

/// The TTL of what is published: short, so a backend taken out leaves
/// resolvers' caches within seconds.
pub const TTL: u32 = 10;
/// How often the backends' state is looked at.
const LOOK: Duration = Duration::from_millis(200);
/// How long to wait before trying a failed write again.
const RETRY: Duration = Duration::from_secs(1);
/// How long a stopping fiberlb tries to take its names out.
const WITHDRAW: Duration = Duration::from_secs(3);

/// What one balancer should have published.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    /// Whether this fiberlb's address is under the balancer's name.
    front: bool,
    /// The backends' addresses under `backends.<balancer>`.
    backends: BTreeSet<IpAddr>,
}

/// One balancer, named in the zone.
struct Named {
    front: Front,
    /// Where it listens: what its name points at.
    own: IpAddr,
    /// `<balancer>.<zone>`.
    name: Name,
    /// `backends.<balancer>.<zone>`.
    backends: Name,
}

impl Named {
    fn wanted(&self) -> Wanted {
        let up: Vec<_> = self
            .front
            .backends()
            .into_iter()
            .filter(|b| b.eligible())
            .map(|b| b.addr.ip())
            .collect();
        Wanted {
            front: !up.is_empty(),
            backends: up.into_iter().collect(),
        }
    }
}

/// Keeps the balancers' names in the zone.
pub struct Publisher {
    store: ChainfireStore,
    origin: Name,
    name_server: IpAddr,
    balancers: Vec<Named>,
    /// The last outcome, for `/health`.
    status: Arc<Mutex<Result<String, String>>>,
}

/// A DNS name, absolute.
fn absolute(text: &str) -> Result<Name, String> {
    let mut name =
        Name::from_ascii(text).map_err(|e| format!("`{text}` is not a DNS name: {e}"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// The A or AAAA record naming `ip` `name`.
fn address_record(name: &Name, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(ip) => RData::A(rdata::A(ip)),
        IpAddr::V6(ip) => RData::AAAA(rdata::AAAA(ip)),
    };
    Record::from_rdata(name.clone(), TTL, data)
}

/// The address a record holds, if it is an A or AAAA record.
fn address_of(record: &Record) -> Option<IpAddr> {
    match &record.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

impl Publisher {
    /// Publishes `balancers` (each with the address it listens on) into
    /// `zone` through `client` in cluster `cluster`, making the zone with
    /// `name_server` as its name server if chainfire does not hold it.
    pub fn new(
        client: etcd_client::Client,
        cluster: &str,
        zone: &str,
        name_server: IpAddr,
        balancers: Vec<(Front, IpAddr)>,
    ) -> Result<Publisher, String> {
        let origin = absolute(zone)?;
        let mut named = Vec::with_capacity(balancers.len());
        for (front, own) in balancers {
            let name = absolute(&format!("{}.{origin}", front.name()))?;
            let backends = absolute(&format!("backends.{}.{origin}", front.name()))?;
            named.push(Named {
                front,
                own,
                name,
                backends,
            });
        }
        Ok(Publisher {
            store: ChainfireStore::new(client, flashdns::store::chainfire::cluster_prefix(cluster)),
            origin,
            name_server,
            balancers: named,
            status: Arc::new(Mutex::new(Err("not published yet".to_owned()))),
        })
    }

    /// The zone, as `/health` names it.
    pub fn zone(&self) -> String {
        self.origin.to_string()
    }

    /// The last outcome: what is published, or why it could not be.
    pub fn status(&self) -> Arc<Mutex<Result<String, String>>> {
        self.status.clone()
    }

    fn wanted(&self) -> Vec<Wanted> {
        self.balancers.iter().map(Named::wanted).collect()
    }

    /// Makes the zone say `wanted`; how many records changed.
    async fn reconcile(&self, wanted: &[Wanted]) -> Result<usize, StoreError> {
        let mut snapshot = self.store.read(&self.origin).await?;
        if !snapshot.exists() {
            if self
                .store
                .ensure_zone(&self.origin, self.name_server, TTL)
                .await?
            {
                tracing::info!(zone = %self.origin, "zone made in chainfire to publish balancers into");
            }
            snapshot = self.store.read(&self.origin).await?;
        }
        let mut changes = Vec::new();
        for (balancer, wanted) in self.balancers.iter().zip(wanted) {
            let own = address_record(&balancer.name, balancer.own);
            let there = snapshot
                .records
                .iter()
                .any(|r| r.name == balancer.name && address_of(r) == Some(balancer.own));
            match (wanted.front, there) {
                (true, false) => changes.push(Change::Add(own)),
                (false, true) => changes.push(Change::Remove(own)),
                _ => {}
            }
            let published: BTreeSet<IpAddr> = snapshot
                .records
                .iter()
                .filter(|r| r.name == balancer.backends)
                .filter_map(address_of)
                .collect();
            for ip in wanted.backends.difference(&published) {
                changes.push(Change::Add(address_record(&balancer.backends, *ip)));
            }
            for ip in published.difference(&wanted.backends) {
                changes.push(Change::Remove(address_record(&balancer.backends, *ip)));
            }
        }
        if !changes.is_empty() {
            self.store.apply(&self.origin, &changes).await?;
        }
        Ok(changes.len())
    }

    fn report(&self, outcome: Result<String, String>) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = outcome;
    }

    /// What is published, for `/health` and the log.
    fn describe(&self, wanted: &[Wanted]) -> String {
        let each: Vec<String> = self
            .balancers
            .iter()
            .zip(wanted)
            .map(|(b, w)| {
                format!(
                    "{} {} ({} backends)",
                    b.name,
                    if w.front { "up" } else { "withdrawn" },
                    w.backends.len()
                )
            })
            .collect();
        format!("published: {}", each.join(", "))
    }

    /// The first publication, before fiberlb says it has started: a
    /// chainfire that cannot be written fails the start with why.
    pub async fn first(&self) -> Result<(), String> {
        let wanted = self.wanted();
        self.reconcile(&wanted)
            .await
            .map_err(|e| format!("publishing into zone {}: {e}", self.origin))?;
        self.report(Ok(self.describe(&wanted)));
        tracing::info!(zone = %self.origin, "{}", self.describe(&wanted));
        Ok(())
    }

    /// Follows the backends' state until `stop`, then takes this
    /// fiberlb's own names out (its backends' stay as last seen).
    pub async fn run(self, stop: CancellationToken) {
        let mut published = Some(self.wanted());
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(LOOK) => {}
            }
            let wanted = self.wanted();
            if published.as_ref() == Some(&wanted) {
                continue;
            }
            match self.reconcile(&wanted).await {
                Ok(changed) => {
                    let now = self.describe(&wanted);
                    if changed > 0 {
                        tracing::info!(zone = %self.origin, changed, "{now}");
                    }
                    self.report(Ok(now));
                    published = Some(wanted);
                }
                Err(e) => {
                    tracing::warn!(zone = %self.origin, error = %e, "cannot publish the balancers' names; trying again");
                    self.report(Err(format!("cannot publish into {}: {e}", self.origin)));
                    published = None;
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(RETRY) => {}
                    }
                }
            }
        }
        let withdrawn: Vec<Wanted> = self
            .wanted()
            .into_iter()
            .map(|w| Wanted { front: false, ..w })
            .collect();
        match tokio::time::timeout(WITHDRAW, self.reconcile(&withdrawn)).await {
            Ok(Ok(_)) => tracing::info!(zone = %self.origin, "balancers' names withdrawn"),
            Ok(Err(e)) => {
                tracing::warn!(zone = %self.origin, error = %e, "balancers' names not withdrawn")
            }
            Err(_) => {
                tracing::warn!(zone = %self.origin, "balancers' names not withdrawn in {WITHDRAW:?}")
            }
        }
    }
}

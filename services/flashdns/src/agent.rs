//! The DNS agent: tenants' `dns-record` resources made records of the
//! tenants' zone in chainfire, which every integrated flashdns keeping
//! that zone serves at once (it follows the zone's keys).
//!
//! A record resource owns its name (`<name>.<tenant>.<zone>`): ensuring
//! it makes the records at that name exactly the spec's (others removed),
//! removing it removes every record at that name. Both are idempotent, so
//! an agent stopped mid-change does the rest when it is back, and never
//! adds a record twice.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record};
use photon_dsl::Node;
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};
use resource_manager::agent::{Outputs, Reconciler};
use resource_manager::model::{DnsRecordSpec, Kind, RecordType};
use resource_manager::store::{Resource, ResourceStore};

use crate::spec::{AgentAdminListener, DnsAgent};
use crate::store::chainfire::{ChainfireStore, cluster_prefix};
use crate::store::{Change, ZoneStore};

/// The TTL of the zone's own records (SOA, NS) when the agent makes it.
const ZONE_TTL: u32 = 300;

/// Makes record resources records of `origin`.
struct Records {
    store: ChainfireStore,
    origin: Name,
}

impl Records {
    /// The name a resource owns.
    fn name(&self, resource: &Resource) -> Result<Name, String> {
        Name::from_ascii(format!("{}.{}", resource.key.name, resource.key.tenant))
            .and_then(|n| n.append_domain(&self.origin))
            .map_err(|e| format!("no DNS name for {}: {e}", resource.key))
    }

    /// The records the spec says, at `name`.
    fn wanted(name: &Name, spec: &DnsRecordSpec) -> Result<Vec<Record>, String> {
        spec.values
            .iter()
            .map(|value| {
                let bad = |e: &dyn std::fmt::Display| format!("`{value}`: {e}");
                let data = match spec.record_type {
                    RecordType::A => RData::A(A(value.parse::<Ipv4Addr>().map_err(|e| bad(&e))?)),
                    RecordType::AAAA => {
                        RData::AAAA(AAAA(value.parse::<Ipv6Addr>().map_err(|e| bad(&e))?))
                    }
                    RecordType::CNAME => {
                        let mut target = Name::from_ascii(value).map_err(|e| bad(&e))?;
                        target.set_fqdn(true);
                        RData::CNAME(CNAME(target))
                    }
                    RecordType::TXT => RData::TXT(TXT::new(vec![value.clone()])),
                };
                Ok(Record::from_rdata(name.clone(), spec.ttl, data))
            })
            .collect()
    }

    /// Applies `changes` (nothing when empty).
    async fn apply(&self, changes: &[Change]) -> Result<(), String> {
        if changes.is_empty() {
            return Ok(());
        }
        self.store
            .apply(&self.origin, changes)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The records at `name` now.
    async fn at(&self, name: &Name) -> Result<Vec<Record>, String> {
        let zone = self
            .store
            .read(&self.origin)
            .await
            .map_err(|e| e.to_string())?;
        if !zone.exists() {
            return Err(format!("zone {} is not in chainfire", self.origin));
        }
        Ok(zone
            .records
            .into_iter()
            .filter(|r| &r.name == name)
            .collect())
    }
}

impl Reconciler for Records {
    fn agent(&self) -> &'static str {
        Kind::DnsRecord.agent()
    }

    fn kinds(&self) -> &'static [Kind] {
        &[Kind::DnsRecord]
    }

    fn ensure<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<Outputs, String>> {
        Box::pin(async move {
            let spec: DnsRecordSpec = serde_json::from_value(resource.record.spec.clone())
                .map_err(|e| format!("the stored spec: {e}"))?;
            let name = self.name(resource)?;
            let wanted = Records::wanted(&name, &spec)?;
            let now = self.at(&name).await?;
            let same = |a: &Record, b: &Record| a.data == b.data && a.ttl == b.ttl;
            let mut changes: Vec<Change> = now
                .iter()
                .filter(|r| !wanted.iter().any(|w| same(w, r)))
                .cloned()
                .map(Change::Remove)
                .collect();
            changes.extend(
                wanted
                    .iter()
                    .filter(|w| !now.iter().any(|r| same(w, r)))
                    .cloned()
                    .map(Change::Add),
            );
            self.apply(&changes).await?;
            let mut outputs = Outputs::new();
            outputs.insert("fqdn".into(), name.to_string().into());
            Ok(outputs)
        })
    }

    fn remove<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let name = self.name(resource)?;
            let changes: Vec<Change> = self
                .at(&name)
                .await?
                .into_iter()
                .map(Change::Remove)
                .collect();
            self.apply(&changes).await
        })
    }
}

impl<N: Node> Service for DnsAgent<N> {
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &["async_nats"]
    }

    fn uses_event_bus(&self) -> bool {
        true
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let (client, cluster) = ctx.state_store_only("dns-agent").await?;
            let mut origin = Name::from_ascii(spec.zone)?;
            origin.set_fqdn(true);
            let zones = ChainfireStore::new(client.clone(), cluster_prefix(&cluster));
            let server = ctx
                .address_of(spec.server.node(), spec.server.port())
                .await?;
            if zones.ensure_zone(&origin, server.ip(), ZONE_TTL).await? {
                tracing::info!(zone = %origin, "tenants' zone made in chainfire");
            }
            let admin = ctx.tcp(AgentAdminListener, &spec)?;
            tracing::info!(zone = %origin, "records of dns-record resources go into the zone");
            resource_manager::agent::serve(
                ctx,
                Records {
                    store: zones,
                    origin,
                },
                ResourceStore::new(client, &cluster),
                spec.changes,
                spec.resync_seconds,
                admin,
            )
            .await
        })
    }
}

//! The network agent: tenants' `vpc`, `subnet` and `address` resources
//! made VPCs, subnets and allocations of photonnet, in photonnet's state
//! in chainfire (the store its API uses, so the API, `photonctl net` and
//! DNS see them at once).
//!
//! Each is idempotent, so an agent stopped mid-change finishes it when it
//! is back and never makes a thing twice: a VPC or subnet that exists with
//! the spec's range is left as it is; an address resource's allocation
//! carries the resource's name (unique in its VPC), so an allocation made
//! before a crash is found by it rather than a second one taken.

use photon_dsl::Node;
use photon_runtime::{BoxFuture, Running, Service, ServiceError, StartContext};
use resource_manager::agent::{Outputs, Reconciler};
use resource_manager::model::{AddressSpec, Kind, SubnetSpec, VpcSpec};
use resource_manager::store::{Resource, ResourceStore};

use crate::spec::{AgentAdminListener, NetAgent, VpcDns};
use crate::store::{NetError, NetStore};

/// Makes network resources photonnet's.
struct Network {
    store: NetStore,
}

fn spec<T: for<'de> serde::Deserialize<'de>>(resource: &Resource) -> Result<T, String> {
    serde_json::from_value(resource.record.spec.clone())
        .map_err(|e| format!("the stored spec: {e}"))
}

fn text(e: NetError) -> String {
    e.to_string()
}

impl Network {
    async fn ensure_vpc(&self, resource: &Resource) -> Result<Outputs, String> {
        let key = &resource.key;
        let spec: VpcSpec = spec(resource)?;
        let record = match self.store.vpc(&key.tenant, &key.name).await.map_err(text)? {
            Some(record) => record,
            None => match self
                .store
                .create_vpc(&key.tenant, &key.name, &spec.cidr)
                .await
            {
                Ok(record) => record,
                // made meanwhile (by a replica): read it below
                Err(NetError::Exists(_)) => self
                    .store
                    .vpc(&key.tenant, &key.name)
                    .await
                    .map_err(text)?
                    .ok_or("the VPC vanished while it was made")?,
                Err(e) => return Err(text(e)),
            },
        };
        if record.cidr.to_string() != spec.cidr {
            return Err(format!(
                "VPC `{}` exists over {}; a VPC's range does not change (delete it and apply again)",
                key.name, record.cidr
            ));
        }
        let mut outputs = Outputs::new();
        outputs.insert("cidr".into(), record.cidr.to_string().into());
        Ok(outputs)
    }

    async fn ensure_subnet(&self, resource: &Resource) -> Result<Outputs, String> {
        let key = &resource.key;
        let spec: SubnetSpec = spec(resource)?;
        let find = || async {
            Ok::<_, String>(
                self.store
                    .subnets(&key.tenant, &spec.vpc)
                    .await
                    .map_err(text)?
                    .into_iter()
                    .find(|(name, _, _)| *name == key.name),
            )
        };
        let (_, record, _) = match find().await? {
            Some(found) => found,
            None => {
                match self
                    .store
                    .create_subnet(&key.tenant, &spec.vpc, &key.name, &spec.cidr)
                    .await
                {
                    Ok(_) | Err(NetError::Exists(_)) => {}
                    Err(e) => return Err(text(e)),
                }
                find()
                    .await?
                    .ok_or("the subnet vanished while it was made")?
            }
        };
        if record.cidr.to_string() != spec.cidr {
            return Err(format!(
                "subnet `{}` exists over {}; a subnet's range does not change (delete it and apply again)",
                key.name, record.cidr
            ));
        }
        let mut outputs = Outputs::new();
        outputs.insert("cidr".into(), record.cidr.to_string().into());
        outputs.insert("gateway".into(), record.gateway().to_string().into());
        Ok(outputs)
    }

    /// The allocation named after `resource`, if there is one.
    async fn allocation(
        &self,
        resource: &Resource,
        spec: &AddressSpec,
    ) -> Result<Option<crate::store::AllocationRecord>, String> {
        let key = &resource.key;
        Ok(self
            .store
            .allocations(&key.tenant, &spec.vpc, &spec.subnet)
            .await
            .map_err(text)?
            .into_iter()
            .find(|a| a.name.as_deref() == Some(key.name.as_str())))
    }

    async fn ensure_address(&self, resource: &Resource) -> Result<Outputs, String> {
        let key = &resource.key;
        let spec: AddressSpec = spec(resource)?;
        let allocation = match self.allocation(resource, &spec).await? {
            Some(found) => found,
            None => match self
                .store
                .allocate(&key.tenant, &spec.vpc, &spec.subnet, Some(&key.name), None)
                .await
            {
                Ok(made) => made,
                Err(NetError::Exists(_)) => self.allocation(resource, &spec).await?.ok_or(
                    "the address's name is taken in its VPC by an address of another subnet",
                )?,
                Err(e) => return Err(text(e)),
            },
        };
        let mut outputs = Outputs::new();
        outputs.insert("address".into(), allocation.address.to_string().into());
        if let Some(suffix) = self.store.dns_suffix(&key.tenant, &spec.vpc) {
            outputs.insert("fqdn".into(), format!("{}.{suffix}", key.name).into());
        }
        Ok(outputs)
    }

    async fn remove_address(&self, resource: &Resource) -> Result<(), String> {
        let key = &resource.key;
        let spec: AddressSpec = spec(resource)?;
        let allocation = match self.allocation(resource, &spec).await {
            Ok(found) => found,
            // its subnet is gone, and the address with it
            Err(_)
                if self
                    .store
                    .vpc(&key.tenant, &spec.vpc)
                    .await
                    .map_err(text)?
                    .is_none() =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        match allocation {
            None => Ok(()),
            Some(a) => match self
                .store
                .release(&key.tenant, &spec.vpc, &spec.subnet, a.address)
                .await
            {
                Ok(()) | Err(NetError::NotAllocated(_)) | Err(NetError::Missing(_)) => Ok(()),
                Err(e) => Err(text(e)),
            },
        }
    }
}

impl Reconciler for Network {
    fn agent(&self) -> &'static str {
        Kind::Vpc.agent()
    }

    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Vpc, Kind::Subnet, Kind::Address]
    }

    fn ensure<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<Outputs, String>> {
        Box::pin(async move {
            match resource.key.kind {
                Kind::Vpc => self.ensure_vpc(resource).await,
                Kind::Subnet => self.ensure_subnet(resource).await,
                Kind::Address => self.ensure_address(resource).await,
                other => Err(format!("the network agent does not make {other}s")),
            }
        })
    }

    fn remove<'a>(&'a self, resource: &'a Resource) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let key = &resource.key;
            match key.kind {
                Kind::Vpc => match self.store.delete_vpc(&key.tenant, &key.name).await {
                    // NotEmpty: its subnets are deleted first; tried again
                    Ok(()) | Err(NetError::Missing(_)) => Ok(()),
                    Err(e) => Err(text(e)),
                },
                Kind::Subnet => {
                    let spec: SubnetSpec = spec(resource)?;
                    match self
                        .store
                        .delete_subnet(&key.tenant, &spec.vpc, &key.name)
                        .await
                    {
                        Ok(()) | Err(NetError::Missing(_)) => Ok(()),
                        Err(e) => Err(text(e)),
                    }
                }
                Kind::Address => self.remove_address(resource).await,
                other => Err(format!("the network agent does not remove {other}s")),
            }
        })
    }
}

impl<N: Node> Service for NetAgent<N> {
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        &["async_nats"]
    }

    fn uses_event_bus(&self) -> bool {
        true
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let (client, cluster) = ctx.state_store_only("net-agent").await?;
            let mut store = NetStore::new(client.clone(), &cluster);
            if let VpcDns::Zone { zone, server } = spec.dns {
                let server = ctx.address_of(server.node(), server.port()).await?;
                store = store.with_dns(&cluster, zone, server.ip()).await?;
            }
            let admin = ctx.tcp(AgentAdminListener, &spec)?;
            resource_manager::agent::serve(
                ctx,
                Network { store },
                ResourceStore::new(client, &cluster),
                spec.changes,
                spec.resync_seconds,
                admin,
            )
            .await
        })
    }
}

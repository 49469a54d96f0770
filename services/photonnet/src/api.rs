//! photonnet's gRPC API over its [`NetStore`].
//!
//! Who calls decides what it reaches: the operator's admin token reaches
//! every tenant (named in the request); a photonauth token for audience
//! `photonnet` (photonauth's `KeyToken`, signed with a tenant's access
//! key) reaches its own tenant only, checked here offline with
//! photonauth's public key. Tenants' state is kept under each tenant's own
//! keys, so one tenant cannot even name another's VPC.

use std::net::Ipv4Addr;

use photonauth::api::TenantGate;
use tonic::{Request, Response, Status};

use crate::store::{AllocationRecord, NetError, NetStore, SubnetRecord, VpcRecord};

/// The generated messages, server and client.
pub mod proto {
    tonic::include_proto!("photonnet.v1");
}

use proto::photon_net_server::{PhotonNet, PhotonNetServer};
use proto::*;

/// The audience photonauth tokens for photonnet name.
pub const AUDIENCE: &str = "photonnet";

/// The API over `store`.
#[derive(Clone)]
pub struct NetApi {
    store: NetStore,
    /// The operator's admin token, and photonauth's Ed25519 public key,
    /// which signs tenants' tokens.
    gate: TenantGate,
}

impl std::fmt::Debug for NetApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetApi")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn status(error: NetError) -> Status {
    let text = error.to_string();
    match error {
        NetError::BadName { .. } | NetError::BadAddress { .. } => Status::invalid_argument(text),
        NetError::Exists(_) | NetError::Taken(_) => Status::already_exists(text),
        NetError::Missing(_) => Status::not_found(text),
        NetError::NotEmpty(_) | NetError::Overlaps { .. } | NetError::NotAllocated(_) => {
            Status::failed_precondition(text)
        }
        NetError::Exhausted(_) => Status::resource_exhausted(text),
        NetError::Busy(_)
        | NetError::Unavailable(_)
        | NetError::Dns(flashdns::store::StoreError::Unavailable(_)) => Status::unavailable(text),
        NetError::Corrupt(_) | NetError::Dns(_) => {
            tracing::error!(error = %text, "photonnet failed");
            Status::internal("photonnet failed; see its log")
        }
    }
}

/// An address given in a request.
fn address(text: &str) -> Result<Ipv4Addr, Status> {
    text.parse().map_err(|_| {
        Status::invalid_argument(format!("`{text}` is not an IPv4 address such as 10.0.1.5"))
    })
}

fn optional(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

impl NetApi {
    /// The tonic service: administration with `admin_token`, tenants with
    /// tokens signed by photonauth's `auth_key`.
    pub fn server(
        store: NetStore,
        admin_token: &str,
        auth_key: Vec<u8>,
    ) -> PhotonNetServer<NetApi> {
        PhotonNetServer::new(NetApi {
            store,
            gate: TenantGate::new(admin_token, auth_key, AUDIENCE),
        })
    }

    /// The tenant a request acts for: the one it names, which a tenant's
    /// token must be (or leave empty).
    fn tenant<T>(&self, request: &Request<T>, named: &str) -> Result<String, Status> {
        self.gate.tenant(request, named, "VPCs")
    }

    fn vpc(&self, tenant: &str, name: &str, record: VpcRecord) -> Vpc {
        Vpc {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            cidr: record.cidr.to_string(),
            created_ms: record.created_ms,
            dns_suffix: self.store.dns_suffix(tenant, name).unwrap_or_default(),
        }
    }

    fn allocation(
        &self,
        tenant: &str,
        vpc: &str,
        subnet: &str,
        record: AllocationRecord,
    ) -> Allocation {
        let fqdn = match (&record.name, self.store.dns_suffix(tenant, vpc)) {
            (Some(name), Some(suffix)) => format!("{name}.{suffix}"),
            _ => String::new(),
        };
        Allocation {
            tenant: tenant.to_owned(),
            vpc: vpc.to_owned(),
            subnet: subnet.to_owned(),
            address: record.address.to_string(),
            name: record.name.unwrap_or_default(),
            fqdn,
            created_ms: record.created_ms,
        }
    }
}

fn subnet(tenant: &str, vpc: &str, name: &str, record: &SubnetRecord, free: u64) -> Subnet {
    Subnet {
        tenant: tenant.to_owned(),
        vpc: vpc.to_owned(),
        name: name.to_owned(),
        cidr: record.cidr.to_string(),
        gateway: record.gateway().to_string(),
        free,
        created_ms: record.created_ms,
    }
}

#[tonic::async_trait]
impl PhotonNet for NetApi {
    async fn create_vpc(
        &self,
        request: Request<CreateVpcRequest>,
    ) -> Result<Response<Vpc>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let CreateVpcRequest { name, cidr, .. } = request.into_inner();
        let record = self
            .store
            .create_vpc(&tenant, &name, &cidr)
            .await
            .map_err(status)?;
        Ok(Response::new(self.vpc(&tenant, &name, record)))
    }

    async fn list_vpcs(
        &self,
        request: Request<ListVpcsRequest>,
    ) -> Result<Response<ListVpcsResponse>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let vpcs = self.store.vpcs(&tenant).await.map_err(status)?;
        Ok(Response::new(ListVpcsResponse {
            vpcs: vpcs
                .into_iter()
                .map(|(name, record)| self.vpc(&tenant, &name, record))
                .collect(),
        }))
    }

    async fn delete_vpc(
        &self,
        request: Request<DeleteVpcRequest>,
    ) -> Result<Response<DeleteVpcResponse>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let name = request.into_inner().name;
        self.store
            .delete_vpc(&tenant, &name)
            .await
            .map_err(status)?;
        Ok(Response::new(DeleteVpcResponse {}))
    }

    async fn create_subnet(
        &self,
        request: Request<CreateSubnetRequest>,
    ) -> Result<Response<Subnet>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let CreateSubnetRequest {
            vpc, name, cidr, ..
        } = request.into_inner();
        let record = self
            .store
            .create_subnet(&tenant, &vpc, &name, &cidr)
            .await
            .map_err(status)?;
        let free = record.capacity();
        Ok(Response::new(subnet(&tenant, &vpc, &name, &record, free)))
    }

    async fn list_subnets(
        &self,
        request: Request<ListSubnetsRequest>,
    ) -> Result<Response<ListSubnetsResponse>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let vpc = request.into_inner().vpc;
        let found = self.store.subnets(&tenant, &vpc).await.map_err(status)?;
        Ok(Response::new(ListSubnetsResponse {
            subnets: found
                .iter()
                .map(|(name, record, free)| subnet(&tenant, &vpc, name, record, *free))
                .collect(),
        }))
    }

    async fn delete_subnet(
        &self,
        request: Request<DeleteSubnetRequest>,
    ) -> Result<Response<DeleteSubnetResponse>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let DeleteSubnetRequest { vpc, name, .. } = request.into_inner();
        self.store
            .delete_subnet(&tenant, &vpc, &name)
            .await
            .map_err(status)?;
        Ok(Response::new(DeleteSubnetResponse {}))
    }

    async fn allocate(
        &self,
        request: Request<AllocateRequest>,
    ) -> Result<Response<Allocation>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let AllocateRequest {
            vpc,
            subnet,
            name,
            address: wanted,
            ..
        } = request.into_inner();
        let wanted = optional(&wanted).map(address).transpose()?;
        let record = self
            .store
            .allocate(&tenant, &vpc, &subnet, optional(&name), wanted)
            .await
            .map_err(status)?;
        Ok(Response::new(
            self.allocation(&tenant, &vpc, &subnet, record),
        ))
    }

    async fn release(
        &self,
        request: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let ReleaseRequest {
            vpc,
            subnet,
            address: given,
            ..
        } = request.into_inner();
        let given = address(&given)?;
        self.store
            .release(&tenant, &vpc, &subnet, given)
            .await
            .map_err(status)?;
        Ok(Response::new(ReleaseResponse {}))
    }

    async fn list_allocations(
        &self,
        request: Request<ListAllocationsRequest>,
    ) -> Result<Response<ListAllocationsResponse>, Status> {
        let tenant = self.tenant(&request, &request.get_ref().tenant)?;
        let ListAllocationsRequest { vpc, subnet, .. } = request.into_inner();
        let found = self
            .store
            .allocations(&tenant, &vpc, &subnet)
            .await
            .map_err(status)?;
        Ok(Response::new(ListAllocationsResponse {
            allocations: found
                .into_iter()
                .map(|record| self.allocation(&tenant, &vpc, &subnet, record))
                .collect(),
        }))
    }
}

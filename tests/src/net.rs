//! A photonnet client sending a token (the operator's, or a tenant's from
//! photonauth), with one call per RPC the tests use.

use photonnet::api::proto::photon_net_client::PhotonNetClient;
use photonnet::api::proto::*;
use tonic::transport::Channel;

use crate::auth::with_token;

/// A client of photonnet at `url` sending `token`.
#[derive(Clone, Debug)]
pub struct Net {
    /// The gRPC client.
    pub client: PhotonNetClient<Channel>,
    /// Sent as `authorization: Bearer <token>`.
    pub token: String,
}

impl Net {
    /// Connects to photonnet at `url`; each call sends `token`.
    pub async fn connect(url: &str, token: &str) -> Net {
        Net {
            client: PhotonNetClient::connect(url.to_owned()).await.unwrap(),
            token: token.to_owned(),
        }
    }

    /// `message` with the token.
    pub fn req<T>(&self, message: T) -> tonic::Request<T> {
        with_token(message, &self.token)
    }

    /// Makes VPC `name` over `cidr` (the caller's tenant).
    pub async fn vpc(&mut self, name: &str, cidr: &str) -> Result<Vpc, tonic::Status> {
        let request = self.req(CreateVpcRequest {
            tenant: String::new(),
            name: name.into(),
            cidr: cidr.into(),
        });
        self.client
            .create_vpc(request)
            .await
            .map(|r| r.into_inner())
    }

    /// Makes subnet `name` of `vpc` over `cidr`.
    pub async fn subnet(
        &mut self,
        vpc: &str,
        name: &str,
        cidr: &str,
    ) -> Result<Subnet, tonic::Status> {
        let request = self.req(CreateSubnetRequest {
            tenant: String::new(),
            vpc: vpc.into(),
            name: name.into(),
            cidr: cidr.into(),
        });
        self.client
            .create_subnet(request)
            .await
            .map(|r| r.into_inner())
    }

    /// Allocates an address named `name` in `subnet` of `vpc`.
    pub async fn allocate(
        &mut self,
        vpc: &str,
        subnet: &str,
        name: &str,
    ) -> Result<Allocation, tonic::Status> {
        let request = self.req(AllocateRequest {
            tenant: String::new(),
            vpc: vpc.into(),
            subnet: subnet.into(),
            name: name.into(),
            address: String::new(),
        });
        self.client.allocate(request).await.map(|r| r.into_inner())
    }

    /// Releases `address` of `subnet` of `vpc`.
    pub async fn release(
        &mut self,
        vpc: &str,
        subnet: &str,
        address: &str,
    ) -> Result<(), tonic::Status> {
        let request = self.req(ReleaseRequest {
            tenant: String::new(),
            vpc: vpc.into(),
            subnet: subnet.into(),
            address: address.into(),
        });
        self.client.release(request).await.map(|_| ())
    }

    /// The allocations of `subnet` of `vpc`.
    pub async fn allocations(&mut self, vpc: &str, subnet: &str) -> Vec<Allocation> {
        let request = self.req(ListAllocationsRequest {
            tenant: String::new(),
            vpc: vpc.into(),
            subnet: subnet.into(),
        });
        self.client
            .list_allocations(request)
            .await
            .unwrap()
            .into_inner()
            .allocations
    }
}

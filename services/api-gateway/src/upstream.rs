//! The gateway's two upstreams, called with their admin tokens: the
//! resource manager (resources) and creditservice (quotas). Channels are
//! made lazily and reconnect by themselves, so an upstream that restarts
//! costs the calls made while it is away (503), nothing more.

use std::time::Duration;

use creditservice::api::proto as credits;
use creditservice::api::proto::credits_client::CreditsClient;
use resource_manager::api::proto as resources;
use resource_manager::api::proto::resources_client::ResourcesClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// How long an upstream call may take before the caller gets a 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A lazily connected channel to `url`.
fn channel(url: &str) -> Result<Channel, String> {
    Ok(Endpoint::from_shared(url.to_owned())
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(CALL_TIMEOUT)
        .tcp_nodelay(true)
        .connect_lazy())
}

/// `message` as a request carrying `token`.
fn authorized<T>(token: &MetadataValue<tonic::metadata::Ascii>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    request
}

fn bearer(token: &str, whose: &str) -> Result<MetadataValue<tonic::metadata::Ascii>, String> {
    MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| format!("{whose} is not printable ASCII"))
}

/// The resource manager and creditservice, as the gateway calls them.
#[derive(Debug, Clone)]
pub struct Upstreams {
    resources: ResourcesClient<Channel>,
    resources_token: MetadataValue<tonic::metadata::Ascii>,
    credits: CreditsClient<Channel>,
    credits_token: MetadataValue<tonic::metadata::Ascii>,
}

impl Upstreams {
    /// Clients of the resource manager at `resources_url` and
    /// creditservice at `credits_url` (`http://host:port`), with their
    /// admin tokens.
    pub fn new(
        resources_url: &str,
        resources_token: &str,
        credits_url: &str,
        credits_token: &str,
    ) -> Result<Upstreams, String> {
        Ok(Upstreams {
            resources: ResourcesClient::new(channel(resources_url)?),
            resources_token: bearer(resources_token, "the resource manager's token")?,
            credits: CreditsClient::new(channel(credits_url)?),
            credits_token: bearer(credits_token, "creditservice's token")?,
        })
    }

    /// Applies `spec_json` to the resource.
    pub async fn apply(
        &self,
        tenant: &str,
        kind: &str,
        name: &str,
        spec_json: String,
    ) -> Result<resources::ApplyResponse, Status> {
        let request = resources::ApplyRequest {
            tenant: tenant.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            spec_json,
        };
        let mut client = self.resources.clone();
        Ok(client
            .apply(authorized(&self.resources_token, request))
            .await?
            .into_inner())
    }

    /// The resource, with its status.
    pub async fn get(
        &self,
        tenant: &str,
        kind: &str,
        name: &str,
    ) -> Result<resources::Resource, Status> {
        let mut client = self.resources.clone();
        Ok(client
            .get(authorized(
                &self.resources_token,
                resource_ref(tenant, kind, name),
            ))
            .await?
            .into_inner())
    }

    /// The tenant's resources of `kind` (every kind when empty).
    pub async fn list(&self, tenant: &str, kind: &str) -> Result<Vec<resources::Resource>, Status> {
        let request = resources::ListRequest {
            tenant: tenant.to_owned(),
            kind: kind.to_owned(),
        };
        let mut client = self.resources.clone();
        Ok(client
            .list(authorized(&self.resources_token, request))
            .await?
            .into_inner()
            .resources)
    }

    /// Marks the resource for deletion.
    pub async fn delete(
        &self,
        tenant: &str,
        kind: &str,
        name: &str,
    ) -> Result<resources::Resource, Status> {
        let mut client = self.resources.clone();
        Ok(client
            .delete(authorized(
                &self.resources_token,
                resource_ref(tenant, kind, name),
            ))
            .await?
            .into_inner())
    }

    /// Reserves one unit of `kind` for `tenant` under `id`.
    pub async fn reserve(
        &self,
        tenant: &str,
        id: &str,
        kind: &str,
        credits: u64,
    ) -> Result<credits::Reservation, Status> {
        let request = credits::ReserveRequest {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
            kind: kind.to_owned(),
            units: 1,
            credits,
        };
        let mut client = self.credits.clone();
        Ok(client
            .reserve(authorized(&self.credits_token, request))
            .await?
            .into_inner())
    }

    /// Commits reservation `id`.
    pub async fn commit(&self, tenant: &str, id: &str) -> Result<credits::Reservation, Status> {
        let mut client = self.credits.clone();
        Ok(client
            .commit(authorized(&self.credits_token, reservation_ref(tenant, id)))
            .await?
            .into_inner())
    }

    /// Releases reservation `id`: whether this call released it.
    pub async fn release(&self, tenant: &str, id: &str) -> Result<bool, Status> {
        let mut client = self.credits.clone();
        Ok(client
            .release(authorized(&self.credits_token, reservation_ref(tenant, id)))
            .await?
            .into_inner()
            .released)
    }

    /// The tenant's balance, usage and limits.
    pub async fn account(&self, tenant: &str) -> Result<credits::Account, Status> {
        let request = credits::AccountRequest {
            tenant: tenant.to_owned(),
        };
        let mut client = self.credits.clone();
        Ok(client
            .get_account(authorized(&self.credits_token, request))
            .await?
            .into_inner())
    }
}

fn resource_ref(tenant: &str, kind: &str, name: &str) -> resources::ResourceRef {
    resources::ResourceRef {
        tenant: tenant.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
    }
}

fn reservation_ref(tenant: &str, id: &str) -> credits::ReservationRef {
    credits::ReservationRef {
        tenant: tenant.to_owned(),
        id: id.to_owned(),
    }
}

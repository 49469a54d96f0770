//! creditservice's gRPC API over its [`CreditStore`].
//!
//! The operator's admin token (which the API gateway holds) reaches every
//! call for every tenant; a photonauth token for audience `creditservice`
//! reads its own tenant's account and reservations, and nothing else.

use photonauth::api::TenantGate;
use tonic::{Request, Response, Status};

use crate::store::{CreditError, CreditStore, Reservation as Held};

/// The generated messages, server and client.
pub mod proto {
    tonic::include_proto!("creditservice.v1");
}

use proto::credits_server::{Credits, CreditsServer};
use proto::*;

/// The audience photonauth tokens for creditservice name.
pub const AUDIENCE: &str = "creditservice";

/// The API over `store`.
#[derive(Debug, Clone)]
pub struct CreditApi {
    store: CreditStore,
    gate: TenantGate,
}

fn status(error: CreditError) -> Status {
    let text = error.to_string();
    match error {
        CreditError::BadName { .. } | CreditError::BadAmount(_) => Status::invalid_argument(text),
        CreditError::QuotaExceeded { .. } => Status::resource_exhausted(text),
        CreditError::InsufficientCredits { .. } => Status::failed_precondition(text),
        CreditError::IdTaken { .. } => Status::already_exists(text),
        CreditError::Missing { .. } => Status::not_found(text),
        CreditError::Busy(_) => Status::aborted(text),
        CreditError::Unavailable(_) => Status::unavailable(text),
        CreditError::Corrupt(_) => {
            tracing::error!(error = %text, "creditservice failed");
            Status::internal("creditservice failed; see its log")
        }
    }
}

fn reservation(tenant: &str, id: &str, held: Held) -> Reservation {
    Reservation {
        tenant: tenant.to_owned(),
        id: id.to_owned(),
        kind: held.kind,
        units: held.units,
        credits: held.credits,
        committed: held.committed,
    }
}

impl CreditApi {
    /// The tonic service: everything with `admin_token`, tenants' own
    /// accounts with tokens signed by photonauth's `auth_key`.
    pub fn server(
        store: CreditStore,
        admin_token: &str,
        auth_key: Vec<u8>,
    ) -> CreditsServer<CreditApi> {
        CreditsServer::new(CreditApi {
            store,
            gate: TenantGate::new(admin_token, auth_key, AUDIENCE),
        })
    }

    /// The tenant named, for a call only the operator makes.
    fn operator<T>(
        &self,
        request: &Request<T>,
        tenant: &str,
        call: &str,
    ) -> Result<String, Status> {
        self.gate.operator(request, call)?;
        self.gate.tenant(request, tenant, "account")
    }

    async fn account(&self, tenant: String) -> Result<Account, Status> {
        let (balance, usage) = self.store.account(&tenant).await.map_err(status)?;
        Ok(Account {
            tenant,
            balance,
            usage: usage
                .into_iter()
                .map(|(kind, u)| Usage {
                    kind,
                    used: u.used,
                    limit: u.limit,
                })
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl Credits for CreditApi {
    async fn set_limit(
        &self,
        request: Request<SetLimitRequest>,
    ) -> Result<Response<Account>, Status> {
        let tenant = self.operator(&request, &request.get_ref().tenant, "SetLimit")?;
        let r = request.into_inner();
        self.store
            .set_limit(&tenant, &r.kind, r.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(self.account(tenant).await?))
    }

    async fn top_up(&self, request: Request<TopUpRequest>) -> Result<Response<Account>, Status> {
        let tenant = self.operator(&request, &request.get_ref().tenant, "TopUp")?;
        self.store
            .top_up(&tenant, request.get_ref().credits)
            .await
            .map_err(status)?;
        Ok(Response::new(self.account(tenant).await?))
    }

    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<Reservation>, Status> {
        let tenant = self.operator(&request, &request.get_ref().tenant, "Reserve")?;
        let r = request.into_inner();
        let held = self
            .store
            .reserve(&tenant, &r.id, &r.kind, r.units, r.credits)
            .await
            .map_err(status)?;
        Ok(Response::new(reservation(&tenant, &r.id, held)))
    }

    async fn commit(
        &self,
        request: Request<ReservationRef>,
    ) -> Result<Response<Reservation>, Status> {
        let tenant = self.operator(&request, &request.get_ref().tenant, "Commit")?;
        let id = &request.get_ref().id;
        let held = self.store.commit(&tenant, id).await.map_err(status)?;
        Ok(Response::new(reservation(&tenant, id, held)))
    }

    async fn release(
        &self,
        request: Request<ReservationRef>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        let tenant = self.operator(&request, &request.get_ref().tenant, "Release")?;
        let released = self
            .store
            .release(&tenant, &request.get_ref().id)
            .await
            .map_err(status)?;
        Ok(Response::new(ReleaseResponse { released }))
    }

    async fn get_account(
        &self,
        request: Request<AccountRequest>,
    ) -> Result<Response<Account>, Status> {
        let tenant = self
            .gate
            .tenant(&request, &request.get_ref().tenant, "account")?;
        Ok(Response::new(self.account(tenant).await?))
    }

    async fn list_reservations(
        &self,
        request: Request<AccountRequest>,
    ) -> Result<Response<ListReservationsResponse>, Status> {
        let tenant = self
            .gate
            .tenant(&request, &request.get_ref().tenant, "account")?;
        let reservations = self
            .store
            .reservations(&tenant)
            .await
            .map_err(status)?
            .into_iter()
            .map(|(id, held)| reservation(&tenant, &id, held))
            .collect();
        Ok(Response::new(ListReservationsResponse { reservations }))
    }
}

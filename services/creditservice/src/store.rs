//! Accounts and reservations in chainfire.
//!
//! Layout under `/photon/clusters/<cluster>/creditservice/` (JSON values):
//!
//! - `a/<tenant>`: the tenant's account: its credit balance, the limits
//!   set for it, and the units its reservations hold, per kind;
//! - `r/<tenant>/<reservation>`: a reservation: its kind, units and
//!   credits, and whether it was committed.
//!
//! A reservation and its account change in one transaction that holds only
//! if neither changed since they were read, so concurrent reservations
//! from any number of processes are serialised by chainfire: the loser
//! reads again and is checked against what the winner took. Reservation
//! ids are the caller's, so a caller that lost an answer asks again with
//! the same id and gets the same reservation, never a second one.

use std::collections::BTreeMap;

use etcd_client::{Client, Compare, KeyValue, TxnOp};
use photon_integration::state::{StateKv, absent, unchanged};
use serde::{Deserialize, Serialize};

/// How many times a change is tried against other writers changing what
/// it read before it gives up.
const MAX_TRIES: usize = 100;

/// What the store refuses, or why it could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// A tenant, kind or reservation id that cannot be one.
    #[error("{what} `{name}`: {why}")]
    BadName {
        /// Tenant, resource kind or reservation id.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An amount that cannot be one.
    #[error("{0}")]
    BadAmount(String),
    /// The reservation would take the tenant past its limit.
    #[error(
        "quota exceeded: tenant `{tenant}` asks for {asked} {kind}, holds {used} of its limit of {limit}"
    )]
    QuotaExceeded {
        /// The tenant.
        tenant: String,
        /// The resource kind.
        kind: String,
        /// Units held now.
        used: u64,
        /// The limit.
        limit: u64,
        /// Units asked for.
        asked: u64,
    },
    /// The reservation costs more credits than the tenant has.
    #[error("not enough credits: tenant `{tenant}` has {balance}, the reservation costs {asked}")]
    InsufficientCredits {
        /// The tenant.
        tenant: String,
        /// Its balance.
        balance: u64,
        /// The reservation's cost.
        asked: u64,
    },
    /// The reservation id is taken by a different reservation.
    #[error("reservation `{id}` of tenant `{tenant}` exists with other terms ({existing})")]
    IdTaken {
        /// The tenant.
        tenant: String,
        /// The id.
        id: String,
        /// What the existing one holds.
        existing: String,
    },
    /// No such reservation.
    #[error("tenant `{tenant}` has no reservation `{id}`")]
    Missing {
        /// The tenant.
        tenant: String,
        /// The id.
        id: String,
    },
    /// Other writers kept changing what a change read.
    #[error("{0}: changed by other writers {MAX_TRIES} times in a row; try again")]
    Busy(String),
    /// chainfire could not be reached or refused.
    #[error("creditservice's state in chainfire: {0}")]
    Unavailable(String),
    /// A stored value does not decode.
    #[error("corrupt record {0}")]
    Corrupt(String),
}

fn unavailable(e: etcd_client::Error) -> CreditError {
    CreditError::Unavailable(e.to_string())
}

/// A tenant's account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Credits left to spend.
    pub balance: u64,
    /// Limits set for this tenant, per kind (others take the default).
    pub limits: BTreeMap<String, u64>,
    /// Units its reservations hold, per kind.
    pub used: BTreeMap<String, u64>,
}

/// A reservation: units of one kind and credits, held for a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The resource kind, such as `bucket`.
    pub kind: String,
    /// Units of it held.
    pub units: u64,
    /// Credits charged.
    pub credits: u64,
    /// Whether the resource was made (its credits are spent for good).
    pub committed: bool,
}

impl Reservation {
    fn terms(&self) -> String {
        format!("{} {}, {} credits", self.units, self.kind, self.credits)
    }
}

/// One kind's standing in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Units held.
    pub used: u64,
    /// The limit that applies (`None`: unlimited).
    pub limit: Option<u64>,
}

/// The limits a tenant has when none is set for it: per kind, and for
/// kinds not named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// Per kind.
    pub limits: BTreeMap<String, u64>,
    /// Kinds not named (`None`: unlimited).
    pub other: Option<u64>,
}

/// Tenant names and resource kinds are DNS labels: they appear in keys and
/// in other services' names.
pub fn check_label(what: &'static str, name: &str) -> Result<(), CreditError> {
    match photon_integration::state::label_problem(name) {
        None => Ok(()),
        Some(why) => Err(CreditError::BadName {
            what,
            name: name.to_owned(),
            why,
        }),
    }
}

/// Reservation ids are the caller's: up to 128 letters, digits, `-`, `_`
/// and `.`.
pub fn check_id(id: &str) -> Result<(), CreditError> {
    let bad = |why| CreditError::BadName {
        what: "reservation id",
        name: id.to_owned(),
        why,
    };
    if id.is_empty() || id.len() > 128 {
        return Err(bad("1 to 128 characters"));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(bad("only letters, digits, `-`, `_` and `.`"));
    }
    Ok(())
}

fn decode<T: for<'de> Deserialize<'de>>(kv: &KeyValue) -> Result<T, CreditError> {
    serde_json::from_slice(kv.value())
        .map_err(|e| CreditError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(kv.key()))))
}

fn account_of(kv: Option<&KeyValue>) -> Result<(Account, i64), CreditError> {
    match kv {
        Some(kv) => Ok((decode(kv)?, kv.mod_revision())),
        None => Ok((Account::default(), 0)),
    }
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

/// creditservice's state under one cluster's prefix.
#[derive(Debug, Clone)]
pub struct CreditStore {
    kv: StateKv,
    prefix: String,
    defaults: Defaults,
}

impl CreditStore {
    /// The state of cluster `cluster`, through `client`; tenants without
    /// a limit of their own for a kind get `defaults`'.
    pub fn new(client: Client, cluster: &str, defaults: Defaults) -> CreditStore {
        CreditStore {
            kv: StateKv::new(client),
            prefix: format!("/photon/clusters/{cluster}/creditservice/"),
            defaults,
        }
    }

    fn account_key(&self, tenant: &str) -> String {
        format!("{}a/{tenant}", self.prefix)
    }

    fn reservation_key(&self, tenant: &str, id: &str) -> String {
        format!("{}r/{tenant}/{id}", self.prefix)
    }

    /// The limit on `kind` for `account`.
    fn limit(&self, account: &Account, kind: &str) -> Option<u64> {
        account
            .limits
            .get(kind)
            .or_else(|| self.defaults.limits.get(kind))
            .copied()
            .or(self.defaults.other)
    }

    /// The account (a tenant never written has an empty one) and its mod
    /// revision (0: not written yet).
    async fn read_account(&self, tenant: &str) -> Result<(Account, i64), CreditError> {
        let kv = self
            .kv
            .get(&self.account_key(tenant))
            .await
            .map_err(unavailable)?;
        account_of(kv.as_ref())
    }

    /// Reservation `id` (with its mod revision) and the account, as they
    /// were together.
    async fn read_both(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<(Option<(Reservation, i64)>, (Account, i64)), CreditError> {
        let (account_key, reservation_key) =
            (self.account_key(tenant), self.reservation_key(tenant, id));
        let read = self
            .kv
            .get_all(&[&reservation_key, &account_key])
            .await
            .map_err(unavailable)?;
        let reservation = match read.first().and_then(Option::as_ref) {
            Some(kv) => Some((decode(kv)?, kv.mod_revision())),
            None => None,
        };
        Ok((
            reservation,
            account_of(read.get(1).and_then(Option::as_ref))?,
        ))
    }

    async fn read_reservation(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(Reservation, i64)>, CreditError> {
        match self
            .kv
            .get(&self.reservation_key(tenant, id))
            .await
            .map_err(unavailable)?
        {
            Some(kv) => Ok(Some((decode(&kv)?, kv.mod_revision()))),
            None => Ok(None),
        }
    }

    async fn txn(&self, when: Vec<Compare>, then: Vec<TxnOp>) -> Result<bool, CreditError> {
        self.kv.txn(when, then).await.map_err(unavailable)
    }

    /// Changes `tenant`'s account with `change` (read, changed, written
    /// back unless someone else wrote it meanwhile, then again); the
    /// account as written.
    async fn change_account(
        &self,
        tenant: &str,
        what: &str,
        change: impl Fn(&mut Account) -> Result<(), CreditError>,
    ) -> Result<Account, CreditError> {
        check_label("tenant", tenant)?;
        let key = self.account_key(tenant);
        for _ in 0..MAX_TRIES {
            let (mut account, revision) = self.read_account(tenant).await?;
            change(&mut account)?;
            if self
                .txn(
                    vec![unchanged(&key, revision)],
                    vec![TxnOp::put(key.clone(), encode(&account), None)],
                )
                .await?
            {
                return Ok(account);
            }
        }
        Err(CreditError::Busy(format!("{what} of tenant `{tenant}`")))
    }

    /// Sets (or with `None`, unsets: back to the default) `tenant`'s limit
    /// on `kind`. A limit below what is held refuses new reservations of
    /// the kind until enough are released; nothing held is taken back.
    pub async fn set_limit(
        &self,
        tenant: &str,
        kind: &str,
        limit: Option<u64>,
    ) -> Result<Account, CreditError> {
        check_label("resource kind", kind)?;
        let account = self
            .change_account(tenant, "the limits", |account| {
                match limit {
                    Some(limit) => account.limits.insert(kind.to_owned(), limit),
                    None => account.limits.remove(kind),
                };
                Ok(())
            })
            .await?;
        tracing::info!(%tenant, %kind, ?limit, "limit set");
        Ok(account)
    }

    /// Adds `credits` to `tenant`'s balance; the account after it.
    pub async fn top_up(&self, tenant: &str, credits: u64) -> Result<Account, CreditError> {
        if credits == 0 {
            return Err(CreditError::BadAmount(
                "a top-up of 0 credits changes nothing".into(),
            ));
        }
        let account = self
            .change_account(tenant, "the balance", |account| {
                account.balance = account.balance.checked_add(credits).ok_or_else(|| {
                    CreditError::BadAmount(format!(
                        "a balance of {} plus {credits} credits does not fit in 64 bits",
                        account.balance
                    ))
                })?;
                Ok(())
            })
            .await?;
        tracing::info!(%tenant, credits, balance = account.balance, "credits added");
        Ok(account)
    }

    /// Reserves `units` of `kind` and `credits` for `tenant` under `id`,
    /// or refuses with what is left. Asked again with the same id and
    /// terms, it answers the same reservation (taken once).
    pub async fn reserve(
        &self,
        tenant: &str,
        id: &str,
        kind: &str,
        units: u64,
        credits: u64,
    ) -> Result<Reservation, CreditError> {
        check_label("tenant", tenant)?;
        check_id(id)?;
        check_label("resource kind", kind)?;
        if units == 0 && credits == 0 {
            return Err(CreditError::BadAmount(
                "a reservation holds at least one unit or one credit".into(),
            ));
        }
        let wanted = Reservation {
            kind: kind.to_owned(),
            units,
            credits,
            committed: false,
        };
        let account_key = self.account_key(tenant);
        let reservation_key = self.reservation_key(tenant, id);
        for _ in 0..MAX_TRIES {
            let (existing, (mut account, revision)) = self.read_both(tenant, id).await?;
            if let Some((existing, _)) = existing {
                let same = existing.kind == wanted.kind
                    && existing.units == wanted.units
                    && existing.credits == wanted.credits;
                return if same {
                    Ok(existing)
                } else {
                    Err(CreditError::IdTaken {
                        tenant: tenant.to_owned(),
                        id: id.to_owned(),
                        existing: existing.terms(),
                    })
                };
            }
            let used = account.used.get(kind).copied().unwrap_or(0);
            if let Some(limit) = self.limit(&account, kind)
                && used.saturating_add(units) > limit
            {
                return Err(CreditError::QuotaExceeded {
                    tenant: tenant.to_owned(),
                    kind: kind.to_owned(),
                    used,
                    limit,
                    asked: units,
                });
            }
            if account.balance < credits {
                return Err(CreditError::InsufficientCredits {
                    tenant: tenant.to_owned(),
                    balance: account.balance,
                    asked: credits,
                });
            }
            account.used.insert(kind.to_owned(), used + units);
            account.balance -= credits;
            if self
                .txn(
                    vec![unchanged(&account_key, revision), absent(&reservation_key)],
                    vec![
                        TxnOp::put(account_key.clone(), encode(&account), None),
                        TxnOp::put(reservation_key.clone(), encode(&wanted), None),
                    ],
                )
                .await?
            {
                tracing::debug!(%tenant, %id, %kind, units, credits, "reserved");
                return Ok(wanted);
            }
        }
        Err(CreditError::Busy(format!(
            "reservation `{id}` of tenant `{tenant}`"
        )))
    }

    /// Marks reservation `id` committed: its resource exists, its credits
    /// are spent for good. Committing it again changes nothing.
    pub async fn commit(&self, tenant: &str, id: &str) -> Result<Reservation, CreditError> {
        check_label("tenant", tenant)?;
        check_id(id)?;
        let key = self.reservation_key(tenant, id);
        for _ in 0..MAX_TRIES {
            let Some((mut reservation, revision)) = self.read_reservation(tenant, id).await? else {
                return Err(CreditError::Missing {
                    tenant: tenant.to_owned(),
                    id: id.to_owned(),
                });
            };
            if reservation.committed {
                return Ok(reservation);
            }
            reservation.committed = true;
            if self
                .txn(
                    vec![unchanged(&key, revision)],
                    vec![TxnOp::put(key.clone(), encode(&reservation), None)],
                )
                .await?
            {
                return Ok(reservation);
            }
        }
        Err(CreditError::Busy(format!(
            "reservation `{id}` of tenant `{tenant}`"
        )))
    }

    /// Releases reservation `id`: its units return to the quota, and its
    /// credits to the balance unless it was committed. Whether this call
    /// released it: `false` when it was not there (released already, or
    /// never made), so a release may be repeated safely.
    pub async fn release(&self, tenant: &str, id: &str) -> Result<bool, CreditError> {
        check_label("tenant", tenant)?;
        check_id(id)?;
        let account_key = self.account_key(tenant);
        let reservation_key = self.reservation_key(tenant, id);
        for _ in 0..MAX_TRIES {
            let (reservation, (mut account, revision)) = self.read_both(tenant, id).await?;
            let Some((reservation, reservation_revision)) = reservation else {
                return Ok(false);
            };
            let used = account.used.get(&reservation.kind).copied().unwrap_or(0);
            let left = used.checked_sub(reservation.units).ok_or_else(|| {
                CreditError::Corrupt(format!(
                    "{account_key}: holds {used} {}, less than reservation `{id}`'s {}",
                    reservation.kind, reservation.units
                ))
            })?;
            if left == 0 {
                account.used.remove(&reservation.kind);
            } else {
                account.used.insert(reservation.kind.clone(), left);
            }
            if !reservation.committed {
                account.balance = account.balance.saturating_add(reservation.credits);
            }
            if self
                .txn(
                    vec![
                        unchanged(&account_key, revision),
                        unchanged(&reservation_key, reservation_revision),
                    ],
                    vec![
                        TxnOp::put(account_key.clone(), encode(&account), None),
                        TxnOp::delete(reservation_key.clone(), None),
                    ],
                )
                .await?
            {
                tracing::debug!(%tenant, %id, "released");
                return Ok(true);
            }
        }
        Err(CreditError::Busy(format!(
            "reservation `{id}` of tenant `{tenant}`"
        )))
    }

    /// `tenant`'s balance, and its usage and limit for every kind it holds
    /// or has a limit for (its own or a default).
    pub async fn account(
        &self,
        tenant: &str,
    ) -> Result<(u64, BTreeMap<String, Usage>), CreditError> {
        check_label("tenant", tenant)?;
        let (account, _) = self.read_account(tenant).await?;
        let kinds = account
            .used
            .keys()
            .chain(account.limits.keys())
            .chain(self.defaults.limits.keys());
        let usage = kinds
            .map(|kind| {
                let usage = Usage {
                    used: account.used.get(kind).copied().unwrap_or(0),
                    limit: self.limit(&account, kind),
                };
                (kind.clone(), usage)
            })
            .collect();
        Ok((account.balance, usage))
    }

    /// How many accounts and reservations there are.
    pub async fn census(&self) -> Result<(i64, i64), CreditError> {
        let accounts = self
            .kv
            .count(&format!("{}a/", self.prefix))
            .await
            .map_err(unavailable)?;
        let reservations = self
            .kv
            .count(&format!("{}r/", self.prefix))
            .await
            .map_err(unavailable)?;
        Ok((accounts, reservations))
    }

    /// `tenant`'s reservations, by id.
    pub async fn reservations(
        &self,
        tenant: &str,
    ) -> Result<BTreeMap<String, Reservation>, CreditError> {
        check_label("tenant", tenant)?;
        let prefix = format!("{}r/{tenant}/", self.prefix);
        let (kvs, _) = self.kv.range(&prefix).await.map_err(unavailable)?;
        kvs.iter()
            .map(|kv| {
                let id = String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned();
                Ok((id, decode(kv)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_keys_and_dns_labels_need() {
        assert!(check_label("tenant", "acme-2").is_ok());
        assert!(check_id("req_01.A-b").is_ok());
        let said = |what, name: &str| check_label(what, name).unwrap_err().to_string();
        assert_eq!(
            said("tenant", "Acme"),
            "tenant `Acme`: only lower-case letters, digits and `-` (a DNS label)"
        );
        assert_eq!(
            said("resource kind", "-bucket"),
            "resource kind `-bucket`: must not start or end with `-`"
        );
        assert_eq!(
            check_id("a/b").unwrap_err().to_string(),
            "reservation id `a/b`: only letters, digits, `-`, `_` and `.`"
        );
        assert_eq!(said("tenant", ""), "tenant ``: 1 to 63 characters");
    }
}

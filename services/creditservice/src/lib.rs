//! creditservice: each tenant's quotas (how many of each kind of resource
//! it may hold) and credits (a prepaid balance resources are charged to),
//! kept in chainfire.
//!
//! A resource is made in two steps, as the API gateway makes them: a
//! reservation takes the units from the tenant's quota and the credits
//! from its balance at once, or is refused with what is left; it is then
//! committed (the resource exists: the credits are spent) or released (it
//! was not made, or is deleted: the units come back, and the credits too
//! if it was never committed). [`store`] keeps accounts and reservations
//! in chainfire, every change one guarded transaction, so any number of
//! gateways reserving at once never spend a unit or a credit twice;
//! [`api`] is the gRPC API over it (the operator's admin token for every
//! call, a tenant's photonauth token for its own account).
//!
//! The [`spec`] half is what deployments and ui-tests compile against; the
//! `server` feature adds the state half, the runtime's `Service` and
//! [`standalone`] (`creditservice-server` from TOML).

pub mod spec;
pub use spec::{CreditService, DefaultLimits};

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod store;

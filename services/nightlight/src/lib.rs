//! nightlight: the platform's metrics (docs/design.md §1.1, §2.4).
//!
//! The [`spec`] half is what deployments and ui-tests compile against: a
//! [`NightLight`] collects every `/metrics` the compiled topology serves,
//! with no target written by hand, and serves the Prometheus query API
//! (`PromQuery`) other services depend on by type. Alert rules are typed
//! values, their expressions checked as far as a build can check them.
//!
//! | feature | what it adds |
//! |---|---|
//! | `server` (default) | scraping ([`scrape`], [`exposition`]), the store ([`tsdb`]), PromQL ([`promql`]), the Prometheus HTTP API ([`api`]), alerting ([`rules`]), the dashboard, the TOML schema ([`standalone`]) |
//! | `standalone` (default) | the `nightlight-server` binary |

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
mod dashboard;
#[cfg(feature = "server")]
pub mod exposition;
#[cfg(feature = "server")]
pub mod labels;
#[cfg(feature = "server")]
pub mod promql;
#[cfg(feature = "server")]
pub mod remote_write;
#[cfg(feature = "server")]
pub mod rules;
#[cfg(feature = "server")]
pub mod scrape;
#[cfg(feature = "server")]
mod server;
pub mod spec;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod tsdb;
pub use spec::{AlertRule, Collection, NightLight, Outside, Retention, Webhook};

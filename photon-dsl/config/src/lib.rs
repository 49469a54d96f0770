//! The standalone configuration every PhotonCloud server binary reads
//! (`flashdns-server --config flashdns.toml`): the design's TOML schema
//! ([`schema`]), layered as file < `PHOTON_*` environment < flags
//! ([`layers`]), the mode detected ([`mode`]), and errors that name the
//! key, where its value came from and what is expected ([`error`]).
//!
//! A component names its own tables through [`Component`]; the typed
//! configuration is then checked by the same `declare()` the Rust DSL
//! uses, so text and code accept the same things.

pub mod addr;
pub mod error;
pub mod layers;
pub mod mode;
pub mod schema;
pub mod seconds;

pub use addr::{ListenAddr, ListenAddrError};
pub use error::{ConfigError, Origin};
pub use layers::{Layers, Sources, load};
pub use mode::{Detected, detect};
pub use schema::{Document, OperationMode, Photon};
pub use seconds::Seconds;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A component's part of the schema.
pub trait Component {
    /// Its name (`flashdns`): the default `component_id`, and `/health`'s
    /// `component`.
    const NAME: &'static str;
    /// `[photon.standalone]`: its backend choices.
    type PhotonStandalone: Serialize + DeserializeOwned + Default + std::fmt::Debug + PartialEq;
    /// `[standalone]`: its own settings.
    type Standalone: Serialize + DeserializeOwned + Default + std::fmt::Debug + PartialEq;
    /// The keys (dotted paths) that hold a secret's value, such as
    /// `standalone.auth.secret_key`: shown by where they are written, never
    /// by value.
    const SECRET_KEYS: &'static [&'static str] = &[];
}

/// The document a component reads.
pub type ComponentDocument<C> =
    Document<<C as Component>::PhotonStandalone, <C as Component>::Standalone>;

/// A document as TOML text, for `export-config`.
pub fn to_toml<T: Serialize>(document: &T) -> Result<String, WriteError> {
    Ok(toml::to_string_pretty(document)?)
}

/// A document that cannot be written as TOML.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the configuration as TOML: {0}")]
pub struct WriteError(#[from] toml::ser::Error);

//! [`ModeReport`]: the mode a service runs in, as `/health` reports it.

use std::fmt;
use std::sync::Arc;

/// A check another task keeps current: an integrated service's
/// registration, which its heartbeat renews.
pub trait LiveCheck: Send + Sync + 'static {
    /// What `/health` shows now.
    fn check(&self) -> String;
}

/// What `/health` says of the mode (the design's `"mode"` field).
#[derive(Clone)]
pub struct ModeReport {
    mode: &'static str,
    note: Option<String>,
    integration: Option<Arc<dyn LiveCheck>>,
}

impl fmt::Debug for ModeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModeReport")
            .field("mode", &self.mode)
            .field("note", &self.note)
            .field("integration", &self.integration_check())
            .finish()
    }
}

impl ModeReport {
    /// Standalone, as configured.
    pub fn standalone() -> ModeReport {
        ModeReport {
            mode: "standalone",
            note: None,
            integration: None,
        }
    }

    /// Standalone because `wanted` could not be had, and why.
    pub fn fell_back(wanted: &str, reason: &str) -> ModeReport {
        ModeReport {
            mode: "standalone",
            note: Some(format!("fell back from {wanted}: {reason}")),
            integration: None,
        }
    }

    /// A member of a cluster that is the platform's state store (chainfire
    /// with several members): integrated, with nothing to register in.
    pub fn clustered() -> ModeReport {
        ModeReport {
            mode: "integrated",
            note: None,
            integration: None,
        }
    }

    /// Integrated, its registration's status kept by `integration`, and
    /// `note` saying what is still local (logged once, here).
    pub fn integrated(note: Option<String>, integration: Arc<dyn LiveCheck>) -> ModeReport {
        if let Some(note) = &note {
            tracing::warn!(%note, "integrated mode, with parts still local");
        }
        ModeReport {
            mode: "integrated",
            note,
            integration: Some(integration),
        }
    }

    /// Hybrid: joined like an integrated service (`integration` keeps the
    /// registration's status), `note` saying which backends are local.
    pub fn hybrid(note: String, integration: Arc<dyn LiveCheck>) -> ModeReport {
        tracing::info!(%note, "hybrid mode");
        ModeReport {
            mode: "hybrid",
            note: Some(note),
            integration: Some(integration),
        }
    }

    /// `standalone`, `integrated` or `hybrid`: the mode it runs in.
    pub fn mode(&self) -> &'static str {
        self.mode
    }

    /// `/health`'s `checks.mode`: `ok`, or the fallback's reason, or what
    /// of the mode is not covered yet.
    pub fn check(&self) -> String {
        self.note.clone().unwrap_or_else(|| "ok".to_owned())
    }

    /// `/health`'s `checks.chainfire`: the registration, when integrated.
    pub fn integration_check(&self) -> Option<String> {
        self.integration.as_ref().map(|check| check.check())
    }
}

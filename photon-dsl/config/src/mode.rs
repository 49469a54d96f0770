//! Which mode a component runs in, and why: a flag, the environment or the
//! file when one says; else a control plane that answers `/health` means
//! integrated; else standalone.

use crate::error::Origin;
use crate::layers::Layers;
use crate::schema::OperationMode;

/// The mode chosen, and the reason, for the one log line at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The mode.
    pub mode: OperationMode,
    /// Why, in a phrase (`from environment variable PHOTON_MODE`).
    pub reason: String,
}

/// Decides the mode. `configured` is `photon.mode` after layering;
/// `probe(url)` asks the control plane's `/health` (with a short timeout)
/// and says whether it answered 2xx.
pub fn detect(
    configured: Option<OperationMode>,
    layers: &Layers,
    control_plane: Option<&str>,
    probe: impl FnOnce(&str) -> bool,
) -> Detected {
    if let Some(mode) = configured {
        let reason = match layers.origin("photon.mode") {
            Origin::Default => "the schema's default".to_owned(),
            origin => format!("from {origin}"),
        };
        return Detected { mode, reason };
    }
    match control_plane {
        Some(endpoint) => {
            let url = format!("{}/health", endpoint.trim_end_matches('/'));
            if probe(&url) {
                Detected {
                    mode: OperationMode::Integrated,
                    reason: format!("no mode configured, and the control plane answered {url}"),
                }
            } else {
                Detected {
                    mode: OperationMode::Standalone,
                    reason: format!(
                        "no mode configured, and the control plane did not answer {url}"
                    ),
                }
            }
        }
        None => Detected {
            mode: OperationMode::Standalone,
            reason: "no mode configured and no control plane endpoint".to_owned(),
        },
    }
}

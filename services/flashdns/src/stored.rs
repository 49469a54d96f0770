//! Zones kept in the zone store ([`crate::store`]), served as the store
//! has them: read at start, then read again each time the store says the
//! zone changed (a watch, not polling) and swapped in whole, so a query
//! sees one version or the next; secondaries are NOTIFYed of each.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use tokio_util::sync::CancellationToken;

use crate::notify::Notifier;
use crate::store::{StoreError, ZoneStore};
use crate::zones::Zones;

/// How long to wait before asking a store that failed again.
const RETRY: Duration = Duration::from_secs(1);

/// Serves zone `origin` as the store has it now; the version read.
pub async fn serve(
    store: &dyn ZoneStore,
    origin: &Name,
    zones: &Zones,
    notifier: &Notifier,
) -> Result<u64, StoreError> {
    let snapshot = store.read(origin).await?;
    if !snapshot.exists() {
        zones.stored_failed(
            origin,
            "not in the zone store yet: create it with `photonctl dns create`".to_owned(),
        );
        return Ok(snapshot.version);
    }
    let zone = Arc::new(snapshot.zone(origin, "the zone store")?);
    tracing::info!(
        zone = %origin,
        serial = zone.serial(),
        records = zone.record_count(),
        "zone read from the zone store"
    );
    zones.serve_stored(zone.clone());
    notifier.notify(&zone);
    Ok(snapshot.version)
}

/// Serves each new version of zone `origin` after `version` until
/// `shutdown`; a store that fails is asked again after a second (the
/// version served stays, and `/health` says why).
pub async fn follow(
    store: Arc<dyn ZoneStore>,
    origin: Name,
    mut version: u64,
    zones: Zones,
    notifier: Notifier,
    shutdown: CancellationToken,
) {
    loop {
        let changed = tokio::select! {
            changed = store.changed(&origin, version) => changed,
            () = shutdown.cancelled() => return,
        };
        let served = match changed {
            Ok(_) => serve(&*store, &origin, &zones, &notifier).await,
            Err(e) => Err(e),
        };
        match served {
            Ok(read) => version = read,
            Err(e) => {
                tracing::warn!(zone = %origin, error = %e, "the zone store failed; the zone keeps its last version");
                zones.stored_failed(&origin, e.to_string());
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

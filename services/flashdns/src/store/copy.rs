//! Copying zones from one [`ZoneStore`] to another: how a standalone
//! flashdns's stored zones (zone files) move into chainfire when it
//! becomes integrated (`photonctl migrate --component flashdns`).
//!
//! A zone the target lacks is created with the source's records (its
//! serial too, so secondaries see no step back); one it has with the same
//! records is left; one it has with other records stops the copy, since
//! somebody else's zone is never overwritten. Each copied zone is read back
//! and compared. Safe to run again after an interruption.

use std::collections::BTreeSet;

use hickory_proto::rr::Name;

use super::{StoreError, ZoneStore, identity};

/// What happened to one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// Created in the target with this many records (would be, dry).
    Created(usize),
    /// The target had it, with the same records.
    AlreadyThere,
}

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A store failed.
    #[error("{side}: {error}")]
    Store {
        /// `source` or `target`.
        side: &'static str,
        /// What failed.
        error: StoreError,
    },
    /// The target has the zone with other records.
    #[error("the target already has zone {0} with other records: nothing was overwritten")]
    Conflict(String),
    /// A copied zone did not read back as written.
    #[error("zone {0} reads back from the target otherwise than it was written")]
    Verify(String),
}

/// A zone's records as a set: identity and TTL of each.
fn contents(records: &[hickory_proto::rr::Record]) -> BTreeSet<(String, u32)> {
    records.iter().map(|r| (identity(r), r.ttl)).collect()
}

/// Copies `origins` from `from` to `to` (counting only, when `dry_run`).
pub async fn copy_zones(
    from: &dyn ZoneStore,
    to: &dyn ZoneStore,
    origins: &[Name],
    dry_run: bool,
) -> Result<Vec<(Name, Copied)>, CopyError> {
    let source = |error| CopyError::Store {
        side: "source",
        error,
    };
    let target = |error| CopyError::Store {
        side: "target",
        error,
    };
    let mut done = Vec::new();
    for origin in origins {
        let wanted = from.read(origin).await.map_err(source)?;
        if !wanted.exists() {
            continue;
        }
        let found = to.read(origin).await.map_err(target)?;
        if found.exists() {
            if contents(&found.records) != contents(&wanted.records) {
                return Err(CopyError::Conflict(origin.to_string()));
            }
            done.push((origin.clone(), Copied::AlreadyThere));
            continue;
        }
        if !dry_run {
            // Created meanwhile by another copy: compared below.
            to.create(origin, &wanted.records).await.map_err(target)?;
            let written = to.read(origin).await.map_err(target)?;
            if contents(&written.records) != contents(&wanted.records) {
                return Err(CopyError::Verify(origin.to_string()));
            }
        }
        done.push((origin.clone(), Copied::Created(wanted.records.len())));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Change;
    use crate::store::file::FileStore;

    #[tokio::test]
    async fn zones_are_copied_once_and_never_over_other_records() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, to) = (FileStore::new(a.path()), FileStore::new(b.path()));
        let text = "$TTL 300\n@ IN SOA ns.vpc.test. hostmaster.vpc.test. 41 7200 900 1209600 60\n\
                    @ IN NS ns\nns IN A 10.0.0.1\nweb IN A 10.0.0.5\n";
        let origin = Name::from_ascii("vpc.test.").unwrap();
        let zone = crate::zone::file::parse(text, "vpc.test.zone", &origin).unwrap();
        let records: Vec<_> = zone.records().cloned().collect();
        assert!(from.create(&origin, &records).await.unwrap());
        let origins = from.origins().unwrap();
        assert_eq!(origins, std::slice::from_ref(&origin));

        let dry = copy_zones(&from, &to, &origins, true).await.unwrap();
        assert_eq!(dry, [(origin.clone(), Copied::Created(4))]);
        assert!(
            !to.read(&origin).await.unwrap().exists(),
            "a dry run writes nothing"
        );

        let copied = copy_zones(&from, &to, &origins, false).await.unwrap();
        assert_eq!(copied, [(origin.clone(), Copied::Created(4))]);
        let there = to.read(&origin).await.unwrap();
        assert_eq!(there.serial(), Some(41), "the serial comes along");
        let again = copy_zones(&from, &to, &origins, false).await.unwrap();
        assert_eq!(again, [(origin.clone(), Copied::AlreadyThere)]);

        // The target's zone changed since: not overwritten.
        let extra =
            crate::zone::file::parse(&format!("{text}db IN A 10.0.0.6\n"), "x", &origin).unwrap();
        let db = extra
            .records()
            .find(|r| r.name.to_string().starts_with("db"))
            .cloned()
            .unwrap();
        to.apply(&origin, &[Change::Add(db)]).await.unwrap();
        assert!(matches!(
            copy_zones(&from, &to, &origins, false).await,
            Err(CopyError::Conflict(_))
        ));
    }
}

//! Where a zone's records live when they change at run time (the design's
//! adapter pattern, section 6.3): one seam, [`ZoneStore`], with a local
//! backend ([`file::FileStore`], a BIND zone file per zone) for a
//! standalone flashdns and a chainfire backend
//! ([`chainfire::ChainfireStore`], over the etcd v3 API) for integrated
//! ones, where every flashdns watching the same prefix serves the same
//! records. The same [`conformance`] suite runs against both.

use hickory_proto::rr::{Name, RData, Record, RecordType};

pub mod chainfire;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod copy;
pub mod file;

use crate::zone::{self, Zone};

/// One change to a zone's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The record is in the zone afterwards (with this TTL, when it was
    /// there with another).
    Add(Record),
    /// The record (its name, type and data; the TTL is not compared) is
    /// not in the zone afterwards.
    Remove(Record),
}

/// A zone as the store last had it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Every record, the SOA first; none when the zone is not there.
    pub records: Vec<Record>,
    /// Grows with every change the store makes to the zone (and, for
    /// chainfire, with changes to other keys too): a reader that has seen
    /// version `v` waits for what is newer with [`ZoneStore::changed`].
    pub version: u64,
}

impl Snapshot {
    /// Whether the zone is there (it has its SOA at least).
    pub fn exists(&self) -> bool {
        !self.records.is_empty()
    }

    /// The SOA serial.
    pub fn serial(&self) -> Option<u32> {
        self.records.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
    }

    /// The zone these records make, checked as a zone file would be.
    pub fn zone(&self, origin: &Name, source: &str) -> Result<Zone, StoreError> {
        build(origin, &self.records, source)
    }
}

/// Why the store did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The zone is not in the store.
    #[error("zone {0} is not in the store")]
    NoZone(String),
    /// The change would make a zone that is not one (a record outside it,
    /// a CNAME beside other data, the SOA itself changed, ...): nothing was
    /// written.
    #[error("zone {origin}: {problem}")]
    Invalid {
        /// The zone.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The store could not be read or written.
    #[error("zone store: {0}")]
    Unavailable(String),
}

/// Where zones live when they change at run time.
///
/// What every backend promises (the [`conformance`] suite checks each):
/// - **One change is atomic.** [`apply`](Self::apply) makes all of its
///   changes visible together with the SOA serial one higher, or none of
///   them: a reader never sees part of an apply, or records without the
///   serial that names them.
/// - **None is lost.** Concurrent applies to one zone, from any number of
///   writers (processes, for chainfire), are each kept: the result is as if
///   they ran one after another, each bumping the serial once.
/// - **Nothing invalid is written.** An apply that would break the zone's
///   rules (see [`StoreError::Invalid`]) writes nothing.
/// - **Readers learn of changes without polling.**
///   [`changed`](Self::changed) returns once the zone may differ from the
///   snapshot of the version given, promptly after the change (a watch),
///   and never misses one made after that version.
#[async_trait::async_trait]
pub trait ZoneStore: Send + Sync {
    /// Creates zone `origin` with `records` (its SOA among them) when the
    /// store has none of that name: `Ok(false)` when it had one, which is
    /// left as it is.
    async fn create(&self, origin: &Name, records: &[Record]) -> Result<bool, StoreError>;

    /// Applies `changes` as one, the serial bumped once; the new serial.
    async fn apply(&self, origin: &Name, changes: &[Change]) -> Result<u32, StoreError>;

    /// The zone as the last apply left it (no records when it is not
    /// there, with a version to wait for its creation from).
    async fn read(&self, origin: &Name) -> Result<Snapshot, StoreError>;

    /// Waits until the zone may have changed after `version`; a version at
    /// which to read again.
    async fn changed(&self, origin: &Name, version: u64) -> Result<u64, StoreError>;
}

/// Builds the zone `records` make, with the checks a zone file gets.
fn build(origin: &Name, records: &[Record], source: &str) -> Result<Zone, StoreError> {
    let text: String = records
        .iter()
        .map(|r| zone::record_text(r) + "\n")
        .collect();
    zone::file::parse(&text, source, origin).map_err(|e| StoreError::Invalid {
        origin: origin.to_string(),
        problem: e.to_string(),
    })
}

/// What identifies a record in a zone: its name (in lower case), class,
/// type and data, the TTL left out.
pub fn identity(record: &Record) -> String {
    let mut same = record.clone();
    same.name = record.name.to_lowercase();
    same.ttl = 0;
    zone::record_text(&same)
}

/// `records` with `changes` made and the serial bumped: the zone's next
/// version, checked.
fn changed_records(
    origin: &Name,
    records: &[Record],
    changes: &[Change],
) -> Result<(Vec<Record>, u32), StoreError> {
    let invalid = |problem: String| StoreError::Invalid {
        origin: origin.to_string(),
        problem,
    };
    let mut next: Vec<Record> = records.to_vec();
    for change in changes {
        let record = match change {
            Change::Add(r) | Change::Remove(r) => r,
        };
        if record.record_type() == RecordType::SOA {
            return Err(invalid(
                "the SOA is the store's to change (its serial goes up with every change)".into(),
            ));
        }
        if !origin.zone_of(&record.name) {
            return Err(invalid(format!("{} is not in the zone", record.name)));
        }
        let id = identity(record);
        next.retain(|r| identity(r) != id);
        if let Change::Add(record) = change {
            next.push(record.clone());
        }
    }
    let serial = bump_serial(&mut next).ok_or_else(|| invalid("the zone has no SOA".into()))?;
    build(origin, &next, "the changed zone")?;
    Ok((next, serial))
}

/// Raises the SOA serial by one (RFC 1982 arithmetic); the new serial.
fn bump_serial(records: &mut [Record]) -> Option<u32> {
    records.iter_mut().find_map(|r| match &mut r.data {
        RData::SOA(soa) => {
            soa.serial = soa.serial.wrapping_add(1);
            Some(soa.serial)
        }
        _ => None,
    })
}

//! The store: every series' labels, its recent samples and its older
//! samples in compressed chunks, in RocksDB under `data_dir`.
//!
//! RocksDB is the write-ahead log (each append is one write batch in its
//! log before it is acknowledged, so a kill -9 loses nothing appended),
//! the compaction and the checksums; what it does not do, nightlight
//! does: an append's samples are one [`record`] in the `wal` family and
//! are kept per series in memory until 120 of them (or a day's end, or an
//! hour without a new sample) make a chunk, which is encoded as Gorilla
//! does ([`chunk`]) and written under its day, so retention deletes whole
//! days with one range delete. A record is deleted once every sample in
//! it is in a chunk; at open, the records left are replayed.
//!
//! Families: `series` (id → labels), `wal` (sequence → record), `chunks`
//! (day, id, first time → last time, encoded samples), `last` (id → the
//! last flushed chunk's last time, so order is kept across restarts).

pub mod chunk;
pub mod record;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use promql_parser::label::{MatchOp, Matcher};
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::labels::{Labels, NAME};

/// The value Prometheus writes to mark a series stale (a NaN no
/// arithmetic produces).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is the staleness marker.
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// How many samples make a chunk.
const CHUNK_SAMPLES: usize = 120;
const DAY_MS: i64 = 86_400_000;
const FAMILIES: [&str; 4] = ["series", "wal", "chunks", "last"];
/// A series with no new sample for this long has its samples written as
/// a chunk, so its records can go.
const IDLE_MS: i64 = 3_600_000;
/// How often (in the samples' time) records are considered for deletion.
const TRUNCATE_EVERY_MS: i64 = 60_000;

/// Samples as `(ms, value)`, ascending.
pub type Samples = Vec<(i64, f64)>;

/// A series' number in this store.
pub type SeriesRef = u32;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// RocksDB failed.
    #[error("the store at {dir}: {source}")]
    Rocks {
        /// `data_dir`.
        dir: String,
        /// What RocksDB said.
        source: rocksdb::Error,
    },
    /// A stored record does not decode.
    #[error("the store at {dir} holds a damaged {what}")]
    Damaged {
        /// `data_dir`.
        dir: String,
        /// Which record.
        what: String,
    },
    /// A query would read more samples than it may.
    #[error(
        "query processing would load too many samples into memory (more than {limit}); select fewer series or a shorter range"
    )]
    TooManySamples {
        /// The limit.
        limit: usize,
    },
}

/// How an append went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Samples stored.
    pub stored: usize,
    /// Samples older than their series' newest, refused.
    pub out_of_order: usize,
    /// Samples at their series' newest time with another value, refused.
    pub duplicate: usize,
    /// Samples of a series the store no longer has (retention dropped it).
    pub unknown: usize,
}

#[derive(Debug)]
struct Series {
    labels: Labels,
    /// Samples not yet in a chunk, ascending.
    head: Vec<(i64, f64)>,
    /// The newest sample's time (`i64::MIN` before the first).
    last_t: i64,
    /// The newest chunked sample's time (`i64::MIN` before the first).
    flushed_t: i64,
}

impl Series {
    fn new(labels: Labels) -> Series {
        Series {
            labels,
            head: Vec::new(),
            last_t: i64::MIN,
            flushed_t: i64::MIN,
        }
    }
}

/// The records not yet deleted, and when to look again.
#[derive(Debug, Default)]
struct Wal {
    /// Each record's sequence number and newest sample time, in order.
    records: VecDeque<(u64, i64)>,
    next_seq: u64,
    /// The newest sample time appended: the store's clock.
    newest_t: i64,
    /// When (in that clock) records were last considered for deletion.
    checked_t: i64,
}

#[derive(Debug, Default)]
struct Index {
    series: Vec<Option<Series>>,
    wal: Wal,
    by_labels: crate::labels::LabelMap<SeriesRef>,
    /// label name → value → series, ascending.
    postings: HashMap<String, BTreeMap<String, Vec<SeriesRef>>>,
}

impl Index {
    fn insert(&mut self, id: SeriesRef, series: Series) {
        for (k, v) in series.labels.iter() {
            self.postings
                .entry(k.to_owned())
                .or_default()
                .entry(v.to_owned())
                .or_default()
                .push(id);
        }
        self.by_labels.insert(series.labels.clone(), id);
        let slot = id as usize;
        if self.series.len() <= slot {
            self.series.resize_with(slot + 1, || None);
        }
        self.series[slot] = Some(series);
    }

    fn remove(&mut self, id: SeriesRef) {
        let Some(series) = self.series.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.by_labels.remove(&series.labels);
        for (k, v) in series.labels.iter() {
            if let Some(values) = self.postings.get_mut(k) {
                if let Some(ids) = values.get_mut(v) {
                    ids.retain(|&i| i != id);
                    if ids.is_empty() {
                        values.remove(v);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(k);
                }
            }
        }
    }

    fn get(&self, id: SeriesRef) -> Option<&Series> {
        self.series.get(id as usize).and_then(Option::as_ref)
    }

    /// The series `matchers` select (Prometheus's rule: a matcher that
    /// matches the empty value also matches a series without the label).
    fn select(&self, matchers: &[&Matcher]) -> Vec<SeriesRef> {
        let narrowest = matchers
            .iter()
            .filter(|m| matches!(m.op, MatchOp::Equal) && !m.value.is_empty())
            .filter_map(|m| self.postings.get(&m.name).map(|v| v.get(&m.value)))
            .min_by_key(|ids| ids.map_or(0, Vec::len));
        let candidates: Vec<SeriesRef> = match narrowest {
            Some(None) => return Vec::new(),
            Some(Some(ids)) => ids.clone(),
            None => match matchers.iter().find(|m| m.name == NAME && !m.is_match("")) {
                Some(m) => {
                    let mut ids: Vec<SeriesRef> = self
                        .postings
                        .get(NAME)
                        .into_iter()
                        .flat_map(|values| values.iter())
                        .filter(|(v, _)| m.is_match(v))
                        .flat_map(|(_, ids)| ids.iter().copied())
                        .collect();
                    ids.sort_unstable();
                    ids
                }
                None => (0..self.series.len() as SeriesRef)
                    .filter(|&i| self.get(i).is_some())
                    .collect(),
            },
        };
        candidates
            .into_iter()
            .filter(|&id| {
                self.get(id).is_some_and(|s| {
                    matchers
                        .iter()
                        .all(|m| m.is_match(s.labels.get(&m.name).unwrap_or("")))
                })
            })
            .collect()
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Samples stored.
    pub samples_appended: AtomicU64,
    /// Samples refused as out of order or duplicate.
    pub samples_refused: AtomicU64,
    /// Chunks written.
    pub chunks_written: AtomicU64,
    /// Series dropped by retention.
    pub series_removed: AtomicU64,
}

/// The store (see the module's documentation).
#[derive(Debug)]
pub struct Db {
    rocks: DB,
    dir: String,
    index: RwLock<Index>,
    /// Counters for `/metrics`.
    pub stats: Stats,
}

fn flip(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn unflip(bytes: &[u8]) -> Option<i64> {
    Some((u64::from_be_bytes(bytes.try_into().ok()?) ^ (1 << 63)) as i64)
}

fn day_of(t: i64) -> u32 {
    t.div_euclid(DAY_MS).clamp(0, i64::from(u32::MAX)) as u32
}

fn chunk_key(day: u32, id: SeriesRef, mint: i64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&day.to_be_bytes());
    k[4..8].copy_from_slice(&id.to_be_bytes());
    k[8..].copy_from_slice(&flip(mint));
    k
}

impl Db {
    /// Opens (or makes) the store in `dir` and loads its index and recent
    /// samples.
    pub fn open(dir: &Path) -> Result<Db, DbError> {
        let shown = dir.display().to_string();
        let rocks_error = |source| DbError::Rocks {
            dir: shown.clone(),
            source,
        };
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // the families written rarely (series, last) would otherwise keep
        // old log files alive until the busy ones fill their memtables
        options.set_max_total_wal_size(128 << 20);
        let families = FAMILIES.iter().map(|name| {
            let mut o = Options::default();
            if *name == "chunks" {
                // chunks are compressed already
                o.set_compression_type(rocksdb::DBCompressionType::None);
            }
            ColumnFamilyDescriptor::new(*name, o)
        });
        let rocks = DB::open_cf_descriptors(&options, dir, families).map_err(rocks_error)?;
        let db = Db {
            rocks,
            dir: shown,
            index: RwLock::new(Index::default()),
            stats: Stats::default(),
        };
        db.load()?;
        Ok(db)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.rocks
            .cf_handle(name)
            .expect("the families are made at open")
    }

    fn rocks_error(&self, source: rocksdb::Error) -> DbError {
        DbError::Rocks {
            dir: self.dir.clone(),
            source,
        }
    }

    fn damaged(&self, what: impl Into<String>) -> DbError {
        DbError::Damaged {
            dir: self.dir.clone(),
            what: what.into(),
        }
    }

    fn load(&self) -> Result<(), DbError> {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        for item in self
            .rocks
            .iterator_cf(self.cf("series"), IteratorMode::Start)
        {
            let (k, v) = item.map_err(|e| self.rocks_error(e))?;
            let id = SeriesRef::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| self.damaged("series key"))?,
            );
            let labels = Labels::decode(&v).ok_or_else(|| self.damaged(format!("series {id}")))?;
            index.insert(id, Series::new(labels));
        }
        for item in self.rocks.iterator_cf(self.cf("last"), IteratorMode::Start) {
            let (k, v) = item.map_err(|e| self.rocks_error(e))?;
            let id = SeriesRef::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| self.damaged("last key"))?,
            );
            let t = unflip(&v).ok_or_else(|| self.damaged("last time"))?;
            if let Some(Some(s)) = index.series.get_mut(id as usize) {
                s.last_t = s.last_t.max(t);
                s.flushed_t = s.last_t;
            }
        }
        // the records left hold every sample not in a chunk, and maybe
        // some that are (older than their series' last chunk's end)
        for item in self.rocks.iterator_cf(self.cf("wal"), IteratorMode::Start) {
            let (k, v) = item.map_err(|e| self.rocks_error(e))?;
            let seq = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| self.damaged("record key"))?,
            );
            let samples =
                record::decode(&v).ok_or_else(|| self.damaged(format!("record {seq}")))?;
            let mut max_t = i64::MIN;
            for (id, t, value) in samples {
                max_t = max_t.max(t);
                if let Some(Some(s)) = index.series.get_mut(id as usize)
                    && t > s.last_t
                {
                    s.head.push((t, value));
                    s.last_t = t;
                }
            }
            index.wal.records.push_back((seq, max_t));
            index.wal.next_seq = seq + 1;
            index.wal.newest_t = index.wal.newest_t.max(max_t);
        }
        index.wal.checked_t = index.wal.newest_t;
        Ok(())
    }

    /// The numbers of the series `labels`, made for those the store does
    /// not have yet (written before this returns).
    pub fn refs(&self, labels: &[Labels]) -> Result<Vec<SeriesRef>, DbError> {
        {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            let known: Option<Vec<SeriesRef>> = labels
                .iter()
                .map(|l| index.by_labels.get(l).copied())
                .collect();
            if let Some(known) = known {
                return Ok(known);
            }
        }
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let mut batch = WriteBatch::default();
        let mut refs = Vec::with_capacity(labels.len());
        for l in labels {
            if let Some(&id) = index.by_labels.get(l) {
                refs.push(id);
                continue;
            }
            let id = index.series.len() as SeriesRef;
            batch.put_cf(self.cf("series"), id.to_be_bytes(), l.encode());
            index.insert(id, Series::new(l.clone()));
            refs.push(id);
        }
        if !batch.is_empty() {
            self.rocks.write(batch).map_err(|e| self.rocks_error(e))?;
        }
        Ok(refs)
    }

    /// Stores `samples` (series, time in ms, value) in one write; with
    /// `sync`, on disk (fsync) before it returns. Samples older than their
    /// series' newest are refused and counted, as Prometheus does.
    pub fn append(
        &self,
        samples: &[(SeriesRef, i64, f64)],
        sync: bool,
    ) -> Result<Appended, DbError> {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let mut batch = WriteBatch::default();
        let mut outcome = Appended::default();
        let mut stored = Vec::with_capacity(samples.len());
        let mut chunks = 0;
        for &(id, t, v) in samples {
            let Some(Some(series)) = index.series.get_mut(id as usize) else {
                outcome.unknown += 1;
                continue;
            };
            if t < series.last_t {
                outcome.out_of_order += 1;
                continue;
            }
            if t == series.last_t {
                let same = series
                    .head
                    .last()
                    .is_some_and(|&(_, old)| old.to_bits() == v.to_bits());
                if !same {
                    outcome.duplicate += 1;
                }
                continue;
            }
            let full = series.head.len() >= CHUNK_SAMPLES;
            let new_day = series
                .head
                .first()
                .is_some_and(|&(first, _)| day_of(first) != day_of(t));
            if full || new_day {
                self.cut(id, series, &mut batch);
                chunks += 1;
            }
            series.head.push((t, v));
            series.last_t = t;
            stored.push((id, t, v));
        }
        outcome.stored = stored.len();
        if let Some(max_t) = stored.iter().map(|&(_, t, _)| t).max() {
            let seq = index.wal.next_seq;
            batch.put_cf(self.cf("wal"), seq.to_be_bytes(), record::encode(&stored));
            index.wal.records.push_back((seq, max_t));
            index.wal.next_seq += 1;
            index.wal.newest_t = index.wal.newest_t.max(max_t);
        }
        if index.wal.newest_t - index.wal.checked_t >= TRUNCATE_EVERY_MS {
            chunks += self.truncate(&mut index, &mut batch);
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.rocks
            .write_opt(batch, &options)
            .map_err(|e| self.rocks_error(e))?;
        self.stats
            .samples_appended
            .fetch_add(outcome.stored as u64, Ordering::Relaxed);
        self.stats.samples_refused.fetch_add(
            (outcome.out_of_order + outcome.duplicate) as u64,
            Ordering::Relaxed,
        );
        self.stats
            .chunks_written
            .fetch_add(chunks, Ordering::Relaxed);
        Ok(outcome)
    }

    /// Writes `series`' head as a chunk into `batch`.
    fn cut(&self, id: SeriesRef, series: &mut Series, batch: &mut WriteBatch) {
        let (mint, maxt) = (series.head[0].0, series.head[series.head.len() - 1].0);
        let mut value = flip(maxt).to_vec();
        value.extend_from_slice(&chunk::encode(&series.head));
        batch.put_cf(self.cf("chunks"), chunk_key(day_of(mint), id, mint), value);
        batch.put_cf(self.cf("last"), id.to_be_bytes(), flip(maxt));
        series.head.clear();
        series.flushed_t = maxt;
    }

    /// Chunks the heads of series silent for [`IDLE_MS`] and deletes the
    /// records whose samples are all in chunks (every record up to the
    /// first holding a sample newer than some head's oldest); returns how
    /// many chunks it wrote.
    fn truncate(&self, index: &mut Index, batch: &mut WriteBatch) -> u64 {
        let now = index.wal.newest_t;
        index.wal.checked_t = now;
        let mut chunks = 0;
        let mut oldest_head = i64::MAX;
        for (id, slot) in index.series.iter_mut().enumerate() {
            let Some(series) = slot else { continue };
            let Some(&(first, _)) = series.head.first() else {
                continue;
            };
            if series.last_t < now.saturating_sub(IDLE_MS) {
                self.cut(id as SeriesRef, series, batch);
                chunks += 1;
            } else {
                oldest_head = oldest_head.min(first);
            }
        }
        let records = &mut index.wal.records;
        let mut until = None;
        while let Some(&(seq, max_t)) = records.front() {
            if max_t >= oldest_head {
                break;
            }
            until = Some(seq);
            records.pop_front();
        }
        if let Some(last) = until {
            batch.delete_range_cf(self.cf("wal"), 0u64.to_be_bytes(), (last + 1).to_be_bytes());
        }
        chunks
    }

    /// Appends by labels: [`refs`](Self::refs) then [`append`](Self::append).
    pub fn append_labelled(
        &self,
        samples: &[(Labels, i64, f64)],
        sync: bool,
    ) -> Result<Appended, DbError> {
        let labels: Vec<Labels> = samples.iter().map(|(l, _, _)| l.clone()).collect();
        let refs = self.refs(&labels)?;
        let with_refs: Vec<_> = refs
            .into_iter()
            .zip(samples)
            .map(|(id, &(_, t, v))| (id, t, v))
            .collect();
        self.append(&with_refs, sync)
    }

    /// Every series `matchers` select, with its samples in `[mint, maxt]`
    /// (staleness markers included); `budget` is how many samples may
    /// still be loaded, and is spent.
    pub fn select(
        &self,
        matchers: &[&Matcher],
        mint: i64,
        maxt: i64,
        budget: &mut usize,
        limit: usize,
    ) -> Result<Vec<(Labels, Samples)>, DbError> {
        let oldest_day = self.oldest_day()?;
        let picked: Vec<(SeriesRef, Labels, i64, Samples)> = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            index
                .select(matchers)
                .into_iter()
                .filter_map(|id| {
                    let s = index.get(id)?;
                    let head = s
                        .head
                        .iter()
                        .copied()
                        .filter(|&(t, _)| t >= mint && t <= maxt)
                        .collect();
                    Some((id, s.labels.clone(), s.flushed_t, head))
                })
                .collect()
        };
        // one iterator for every series: making one costs more than
        // reading a series' chunks
        let mut chunks = self.rocks.raw_iterator_cf(self.cf("chunks"));
        let mut out = Vec::with_capacity(picked.len());
        for (id, labels, flushed_t, head) in picked {
            let mut samples = Vec::new();
            // only the days the store and the series' chunks have
            let first_day = day_of(mint).max(oldest_day.unwrap_or(u32::MAX));
            let last_day = day_of(maxt.min(flushed_t));
            if mint <= maxt && mint <= flushed_t {
                for day in first_day..=last_day {
                    self.read_chunks(&mut chunks, day, id, mint, maxt, &mut samples)?;
                }
            }
            // a chunk written since the head was copied holds some of it
            let newest = samples.last().map_or(i64::MIN, |&(t, _)| t);
            samples.extend(head.into_iter().filter(|&(t, _)| t > newest));
            if samples.is_empty() {
                continue;
            }
            *budget = budget
                .checked_sub(samples.len())
                .ok_or(DbError::TooManySamples { limit })?;
            out.push((labels, samples));
        }
        Ok(out)
    }

    /// Appends the samples in `[mint, maxt]` of series `id`'s chunks of
    /// `day`. A series' chunks do not overlap, so the first that can hold
    /// `mint` is the last one starting at or before it.
    fn read_chunks(
        &self,
        chunks: &mut rocksdb::DBRawIterator<'_>,
        day: u32,
        id: SeriesRef,
        mint: i64,
        maxt: i64,
        samples: &mut Samples,
    ) -> Result<(), DbError> {
        let series = chunk_key(day, id, i64::MIN);
        chunks.seek_for_prev(chunk_key(day, id, mint));
        if !chunks.key().is_some_and(|k| k.starts_with(&series[..8])) {
            chunks.seek(series);
        }
        while let (Some(k), Some(v)) = (chunks.key(), chunks.value()) {
            if k.len() != 16 || k[..8] != series[..8] {
                break;
            }
            let chunk_min = unflip(&k[8..]).expect("8 bytes");
            if chunk_min > maxt {
                break;
            }
            let chunk_max = v
                .get(..8)
                .and_then(unflip)
                .ok_or_else(|| self.damaged("chunk"))?;
            if chunk_max >= mint {
                chunk::decode_into(&v[8..], mint, maxt, samples)
                    .ok_or_else(|| self.damaged(format!("chunk of series {id}")))?;
            }
            chunks.next();
        }
        chunks.status().map_err(|e| self.rocks_error(e))
    }

    /// The day of the oldest chunk, if there is one.
    fn oldest_day(&self) -> Result<Option<u32>, DbError> {
        let mut iter = self
            .rocks
            .iterator_cf(self.cf("chunks"), IteratorMode::Start);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (k, _) = item.map_err(|e| self.rocks_error(e))?;
                Ok(k.get(..4)
                    .map(|d| u32::from_be_bytes(d.try_into().expect("4 bytes"))))
            }
        }
    }

    /// The label sets of the series `matchers` select that had a sample
    /// at or after `since`.
    pub fn series(&self, matchers: &[&Matcher], since: i64) -> Vec<Labels> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        index
            .select(matchers)
            .into_iter()
            .filter_map(|id| index.get(id))
            .filter(|s| s.last_t >= since)
            .map(|s| s.labels.clone())
            .collect()
    }

    /// Every label name, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = index.postings.keys().cloned().collect();
        names.sort();
        names
    }

    /// Every value of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        index
            .postings
            .get(name)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// How many series it holds.
    pub fn series_count(&self) -> usize {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_labels
            .len()
    }

    /// Deletes what is older than `cutoff` (ms): every chunk of the days
    /// before its day, and every series with no sample since.
    pub fn enforce_retention(&self, cutoff: i64) -> Result<usize, DbError> {
        let day = day_of(cutoff);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.cf("chunks"),
            chunk_key(0, 0, i64::MIN).to_vec(),
            chunk_key(day, 0, i64::MIN).to_vec(),
        );
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<SeriesRef> = index
            .series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .filter(|s| s.last_t < cutoff)
                    .map(|_| i as SeriesRef)
            })
            .collect();
        for &id in &gone {
            batch.delete_cf(self.cf("series"), id.to_be_bytes());
            batch.delete_cf(self.cf("last"), id.to_be_bytes());
            index.remove(id);
        }
        self.rocks.write(batch).map_err(|e| self.rocks_error(e))?;
        drop(index);
        self.rocks.compact_range_cf(
            self.cf("chunks"),
            Some(chunk_key(0, 0, i64::MIN)),
            Some(chunk_key(day, 0, i64::MIN)),
        );
        self.stats
            .series_removed
            .fetch_add(gone.len() as u64, Ordering::Relaxed);
        Ok(gone.len())
    }

    /// Bytes on disk: SST files and the log.
    pub fn disk_bytes(&self) -> u64 {
        let sst: u64 = FAMILIES
            .iter()
            .filter_map(|name| {
                self.rocks
                    .property_int_value_cf(self.cf(name), "rocksdb.total-sst-files-size")
                    .ok()
                    .flatten()
            })
            .sum();
        sst + self.log_bytes()
    }

    /// Bytes of the write-ahead log: RocksDB's log and the records it
    /// has written out to files.
    pub fn wal_bytes(&self) -> u64 {
        let records = self
            .rocks
            .property_int_value_cf(self.cf("wal"), "rocksdb.total-sst-files-size")
            .ok()
            .flatten()
            .unwrap_or(0);
        self.log_bytes() + records
    }

    /// Bytes of RocksDB's log files.
    fn log_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Writes the memtables out (for a bench's bytes-per-sample figure).
    pub fn flush(&self) -> Result<(), DbError> {
        for name in FAMILIES {
            self.rocks
                .flush_cf(self.cf(name))
                .map_err(|e| self.rocks_error(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

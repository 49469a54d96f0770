//! Answers already encoded, keyed by the query's bytes after its ID.
//!
//! The handler's response is a function of the query message, the
//! transport (it sets the size limit) and the zones: of nothing else for
//! the queries cached here (transfers, which depend on the client's
//! address, are never cached; rate limiting is decided before the cache
//! is asked). So a query whose bytes after the ID equal an earlier one's
//! gets the earlier response with its own ID: byte for byte what the
//! handler would have built, without parsing, answering or encoding. Every
//! flag the response copies (RD, CD), the EDNS payload size and DO bit, and
//! the question's letter case are in those bytes.
//!
//! A zone reload bumps the catalog's generation; the cache forgets
//! everything when it sees a new one. Memory is bounded by
//! [`MAX_ENTRIES`] per transport: a flood of distinct questions empties the
//! cache rather than growing it.

use std::collections::HashMap;
use std::sync::Mutex;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::answer::SharedCatalog;
use crate::dns::Counters;

/// Entries kept per transport before the cache starts over.
pub const MAX_ENTRIES: usize = 16 * 1024;

/// Queries longer than this are answered but not cached (a question with
/// EDNS is well under 300 bytes; longer ones carry options that vary).
pub const MAX_KEY: usize = 512;

/// Which size limit an answer was fitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The client's EDNS payload size, at most ours.
    Udp,
    /// 65535 bytes.
    Tcp,
}

/// One cached response and what it counts as in `/metrics`.
#[derive(Debug)]
struct Entry {
    response: Box<[u8]>,
    qtype: Option<RecordType>,
    rcode: ResponseCode,
    truncated: bool,
}

#[derive(Debug, Default)]
struct Entries {
    /// The catalog generation the entries were answered from.
    generation: u64,
    udp: HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>,
    tcp: HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>,
}

impl Entries {
    fn of(
        &mut self,
        transport: Transport,
    ) -> &mut HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState> {
        match transport {
            Transport::Udp => &mut self.udp,
            Transport::Tcp => &mut self.tcp,
        }
    }
}

/// The cache one DNS listener's UDP and TCP front ends share.
#[derive(Debug)]
pub struct AnswerCache {
    catalog: SharedCatalog,
    entries: Mutex<Entries>,
}

/// What a cached answer counts as, for the caller's counters.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    /// The question's type.
    pub qtype: Option<RecordType>,
    /// The response's code.
    pub rcode: ResponseCode,
    /// Whether it was sent truncated for size.
    pub truncated: bool,
}

impl Counted {
    /// Adds this response to `counters`.
    pub fn add_to(self, counters: &Counters) {
        counters.count(self.qtype, self.rcode);
        if self.truncated {
            counters
                .truncated
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl AnswerCache {
    /// An empty cache of answers from `catalog`.
    pub fn new(catalog: SharedCatalog) -> Self {
        AnswerCache {
            catalog,
            entries: Mutex::default(),
        }
    }

    /// The catalog generation now: what [`insert`](Self::insert) is told
    /// an answer about to be computed was computed from.
    pub fn generation(&self) -> u64 {
        self.catalog.generation()
    }

    /// The cached response to `query` over `transport`, with `query`'s
    /// ID, written into `out`.
    pub fn get(&self, transport: Transport, query: &[u8], out: &mut Vec<u8>) -> Option<Counted> {
        let key = query.get(2..)?;
        let generation = self.catalog.generation();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.generation != generation {
            *entries = Entries {
                generation,
                ..Entries::default()
            };
            return None;
        }
        let entry = entries.of(transport).get(key)?;
        out.clear();
        out.extend_from_slice(&entry.response);
        out[..2].copy_from_slice(&query[..2]);
        Some(Counted {
            qtype: entry.qtype,
            rcode: entry.rcode,
            truncated: entry.truncated,
        })
    }

    /// Keeps `response` as the answer to `query` over `transport`, computed
    /// from the zones of `generation` (taken before the answer was).
    pub fn insert(
        &self,
        transport: Transport,
        generation: u64,
        query: &[u8],
        response: &[u8],
        counted: Counted,
    ) {
        if query.len() > MAX_KEY || query.len() < 12 || response.len() < 12 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.generation != generation {
            // The zones changed while it was answered (or the cache has
            // not caught up with a change yet): not kept.
            return;
        }
        let map = entries.of(transport);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            query[2..].into(),
            Entry {
                response: response.into(),
                qtype: counted.qtype,
                rcode: counted.rcode,
                truncated: counted.truncated,
            },
        );
    }

    /// How many answers are cached (both transports).
    pub fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.udp.len() + entries.tcp.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

//! A loaded zone: its records by owner name, in canonical order, checked as
//! `named-checkzone` checks them.
//!
//! Zones come from BIND zone files ([`file`]) or typed records in the
//! deployment ([`typed`]); both go through [`ZoneBuilder`], so the same
//! records give the same zone whichever way they were written.

pub mod file;
pub mod sign;
pub mod typed;

use std::collections::BTreeMap;
use std::fmt;

use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

/// Where a zone's problem is: the file (or `deployment`) and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The zone file's path, or a description of a typed zone.
    pub source: String,
    /// The line the record starts on, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// Why a zone was not loaded: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {}", excerpt(.problem))]
pub struct ZoneError {
    /// Where.
    pub location: Location,
    /// What, in the terms `named-checkzone` uses.
    pub problem: String,
}

/// DNAME data (RFC 6672) for `target`: hickory-proto has no DNAME type,
/// so it is kept as the type's wire form, the target uncompressed, in
/// lowercase (its canonical form, RFC 4034 section 6.2, as signed).
pub fn dname(target: &Name) -> RData {
    let mut wire = Vec::with_capacity(target.len() + 1);
    for label in target.to_lowercase().iter() {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    RData::Unknown {
        code: RecordType::DNAME,
        rdata: hickory_proto::rr::rdata::NULL::with(wire),
    }
}

/// The target of DNAME data made by [`dname`].
pub fn dname_target(data: &RData) -> Option<Name> {
    let RData::Unknown {
        code: RecordType::DNAME,
        rdata,
    } = data
    else {
        return None;
    };
    let mut labels = Vec::new();
    let mut rest = rdata.anything.as_slice();
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 {
            break;
        }
        let (label, tail) = tail.split_at_checked(len as usize)?;
        labels.push(label.to_vec());
        rest = tail;
    }
    let mut name = Name::from_labels(labels).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// `problem` as an error shows it: whole when short, else its start and
/// how long it was (a problem can quote a token, and a token can be a
/// whole file's worth of one line).
fn excerpt(problem: &str) -> String {
    const MOST: usize = 240;
    if problem.len() <= MOST {
        return problem.to_owned();
    }
    let mut end = MOST;
    while !problem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &problem[..end], problem.len())
}

/// One RRset: the records of one type at one name, sharing one TTL, and
/// in a signed zone the RRSIGs over them.
#[derive(Debug, Clone)]
pub struct RRset {
    /// The records, in the order they were written.
    pub records: Vec<Record>,
    /// Their RRSIG records (none in an unsigned zone, or where the zone
    /// does not sign: delegation NS and glue).
    pub sigs: Vec<Record>,
}

impl RRset {
    /// The record type.
    pub fn record_type(&self) -> RecordType {
        self.records[0].record_type()
    }
}

/// The RRsets at one owner name, sorted by type.
#[derive(Debug, Clone, Default)]
pub struct NodeData {
    rrsets: Vec<RRset>,
}

impl NodeData {
    /// The RRset of `rtype`, if any.
    pub fn get(&self, rtype: RecordType) -> Option<&RRset> {
        self.rrsets.iter().find(|s| s.record_type() == rtype)
    }

    /// Every RRset, by ascending type number.
    pub fn rrsets(&self) -> &[RRset] {
        &self.rrsets
    }

    /// Adds `set` in type order (there is none of its type yet).
    fn insert(&mut self, set: RRset) {
        let rtype = u16::from(set.record_type());
        let at = self
            .rrsets
            .partition_point(|s| u16::from(s.record_type()) < rtype);
        self.rrsets.insert(at, set);
    }
}

/// How a signed zone was signed, for the admin API and the re-signing
/// schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The key's tag.
    pub key_tag: u16,
    /// The key's algorithm, by its mnemonic (`ECDSAP256SHA256`).
    pub algorithm: &'static str,
    /// The DS record for the parent zone, as a zone-file line.
    pub ds: String,
    /// The signatures' inception (seconds since the epoch).
    pub inception: u32,
    /// Their expiration.
    pub expiration: u32,
}

/// A zone ready to answer from.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: LowerName,
    soa: Record,
    nodes: BTreeMap<LowerName, NodeData>,
    source: String,
    record_count: usize,
    warnings: Vec<String>,
    signed: Option<Signed>,
}

impl Zone {
    /// The apex.
    pub fn origin(&self) -> &LowerName {
        &self.origin
    }

    /// The SOA record.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        match &self.soa.data {
            RData::SOA(soa) => soa.serial,
            _ => unreachable!("the builder only stores an SOA record here"),
        }
    }

    /// The TTL of negative answers: the smaller of the SOA's own TTL and
    /// its minimum (RFC 2308 section 3); NSEC records carry it too
    /// (RFC 9077).
    pub fn negative_ttl(&self) -> u32 {
        match &self.soa.data {
            RData::SOA(data) => self.soa.ttl.min(data.minimum),
            _ => self.soa.ttl,
        }
    }

    /// The SOA as the authority section of a negative answer, at the
    /// negative TTL.
    pub fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        soa.ttl = self.negative_ttl();
        soa
    }

    /// The SOA's RRSIGs, at the negative TTL (empty in an unsigned zone).
    pub fn negative_soa_sigs(&self) -> Vec<Record> {
        let ttl = self.negative_ttl();
        self.node(&self.origin)
            .and_then(|apex| apex.get(RecordType::SOA))
            .map(|set| {
                set.sigs
                    .iter()
                    .map(|sig| {
                        let mut sig = sig.clone();
                        sig.ttl = ttl;
                        sig
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How the zone is signed, if it is.
    pub fn signed(&self) -> Option<&Signed> {
        self.signed.as_ref()
    }

    /// The NSEC RRset of the last name at or before `name` in canonical
    /// order that has one: the NSEC proving `name` does not exist when it
    /// does not (RFC 4035 section 3.1.3.2). `None` in an unsigned zone.
    pub fn nsec_covering(&self, name: &LowerName) -> Option<&RRset> {
        self.nodes
            .range::<LowerName, _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(name)))
            .rev()
            .find_map(|(_, node)| node.get(RecordType::NSEC))
    }

    /// The file it was read from, or `deployment` for a typed zone.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How many records it holds.
    pub fn record_count(&self) -> usize {
        self.record_count
    }

    /// What `named-checkzone` would warn about (loaded anyway).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The data at exactly `name`.
    pub fn node(&self, name: &LowerName) -> Option<&NodeData> {
        self.nodes.get(name)
    }

    /// Whether `name` exists in the zone: it owns records, or is an empty
    /// non-terminal (some name below it does).
    pub fn exists(&self, name: &LowerName) -> bool {
        if self.nodes.contains_key(name) {
            return true;
        }
        // In canonical order a name's descendants directly follow it.
        self.nodes
            .range::<LowerName, _>((std::ops::Bound::Excluded(name), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(next, _)| name.zone_of(next))
    }

    /// Every record in canonical order, SOA first (the body of an AXFR),
    /// each RRset followed by its RRSIGs.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        let soa_sigs = self
            .node(&self.origin)
            .and_then(|apex| apex.get(RecordType::SOA))
            .map(|set| &set.sigs[..])
            .unwrap_or_default();
        std::iter::once(&self.soa)
            .chain(soa_sigs)
            .chain(self.nodes.values().flat_map(|node| {
                node.rrsets
                    .iter()
                    .filter(|set| set.record_type() != RecordType::SOA)
                    .flat_map(|set| set.records.iter().chain(&set.sigs))
            }))
    }

    /// The zone in BIND format: one record a line, absolute names.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for record in self.records() {
            out.push_str(&record_text(record));
            out.push('\n');
        }
        out
    }
}

/// One record as a zone-file line. hickory's `Display` leaves TXT and
/// HINFO strings unquoted and CAA values unescaped, which no zone parser
/// reads back as they were, shows punycode labels (`xn--...`) as Unicode
/// and escapes bytes in octal, each another name; names are written here
/// as the zone-file rules read them ([`name_text`]).
pub fn record_text(record: &Record) -> String {
    let data = match &record.data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(" "),
        RData::HINFO(hinfo) => format!("{} {}", quote(&hinfo.cpu), quote(&hinfo.os)),
        RData::CAA(caa) => format!("{} {} {}", caa.flags(), caa.tag, quote(&caa.value)),
        RData::NAPTR(naptr) => format!(
            "{} {} {} {} {} {}",
            naptr.order,
            naptr.preference,
            quote(&naptr.flags),
            quote(&naptr.services),
            quote(&naptr.regexp),
            name_text(&naptr.replacement)
        ),
        RData::NS(ns) => name_text(&ns.0),
        RData::CNAME(cname) => name_text(&cname.0),
        RData::PTR(ptr) => name_text(&ptr.0),
        RData::MX(mx) => format!("{} {}", mx.preference, name_text(&mx.exchange)),
        RData::SRV(srv) => format!(
            "{} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            name_text(&srv.target)
        ),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            name_text(&soa.mname),
            name_text(&soa.rname),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        data => data.to_string(),
    };
    format!(
        "{} {} {} {} {data}",
        name_text(&record.name),
        record.ttl,
        record.dns_class,
        record.record_type()
    )
}

/// A domain name in zone-file form (RFC 1035 section 5.1): printable ASCII
/// as itself, the characters the syntax uses (`.` inside a label, `\`,
/// `"`, `;`, `(`, `)`, `@`, `$`) escaped, other bytes as decimal `\DDD`.
pub fn name_text(name: &Name) -> String {
    if name.is_root() {
        return ".".to_owned();
    }
    let mut out = String::new();
    for label in name.iter() {
        for &b in label {
            match b {
                b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x21..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
    }
    if !name.is_fqdn() {
        out.pop();
    }
    out
}

/// A character-string in zone-file form: quoted, `"` and `\` escaped,
/// bytes outside printable ASCII as `\DDD`.
fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// Collects a zone's records, then checks them into a [`Zone`].
#[derive(Debug)]
pub struct ZoneBuilder {
    origin: Name,
    source: String,
    records: Vec<(Record, Option<usize>)>,
    warnings: Vec<String>,
}

impl ZoneBuilder {
    /// An empty zone at `origin`, loaded from `source` (for messages).
    pub fn new(origin: Name, source: impl Into<String>) -> Self {
        let mut origin = origin;
        origin.set_fqdn(true);
        ZoneBuilder {
            origin,
            source: source.into(),
            records: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The apex.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    fn at(&self, line: Option<usize>) -> Location {
        Location {
            source: self.source.clone(),
            line,
        }
    }

    fn error(&self, line: Option<usize>, problem: impl Into<String>) -> ZoneError {
        ZoneError {
            location: self.at(line),
            problem: problem.into(),
        }
    }

    fn warn(&mut self, line: Option<usize>, warning: String) {
        let location = self.at(line);
        self.warnings.push(format!("{location}: {warning}"));
    }

    /// Adds a record read on `line`. Records outside the zone are ignored
    /// with a warning, as `named-checkzone` does.
    pub fn add(&mut self, record: Record, line: Option<usize>) -> Result<(), ZoneError> {
        if record.dns_class != DNSClass::IN {
            return Err(self.error(
                line,
                format!(
                    "class {} is not served; flashdns serves class IN",
                    record.dns_class
                ),
            ));
        }
        if !self.origin.zone_of(&record.name) {
            let name = record.name.to_string();
            self.warn(
                line,
                format!("ignoring out-of-zone data ({})", name.trim_end_matches('.')),
            );
            return Ok(());
        }
        let rtype = record.record_type();
        if rtype == RecordType::NS && record.name.is_wildcard() {
            return Err(self.error(
                line,
                format!("{}: invalid NS owner name (wildcard)", record.name),
            ));
        }
        if rtype == RecordType::SOA && record.name != self.origin {
            return Err(self.error(line, format!("{}: SOA not at top of zone", record.name)));
        }
        self.records.push((lowercase(record), line));
        Ok(())
    }

    /// Groups the records into RRsets and runs the zone-wide checks.
    pub fn finish(mut self) -> Result<Zone, ZoneError> {
        let mut nodes: BTreeMap<LowerName, NodeData> = BTreeMap::new();
        let mut record_count = 0;
        let records = std::mem::take(&mut self.records);
        let mut soa = None;
        for (record, line) in records {
            let rtype = record.record_type();
            let key = LowerName::new(&record.name);
            let node = nodes.entry(key).or_default();
            let has_cname = node.get(RecordType::CNAME).is_some();
            let has_other = node
                .rrsets
                .iter()
                .any(|s| s.record_type() != RecordType::CNAME);
            if (rtype == RecordType::CNAME && has_other)
                || (rtype != RecordType::CNAME && has_cname)
            {
                return Err(self.error(line, format!("{}: CNAME and other data", record.name)));
            }
            match node.rrsets.iter_mut().find(|s| s.record_type() == rtype) {
                Some(set) => {
                    if set.records.iter().any(|r| r.data == record.data) {
                        continue; // the same record twice is one record
                    }
                    if matches!(rtype, RecordType::CNAME | RecordType::SOA) {
                        return Err(self.error(
                            line,
                            format!("{}: multiple RRs of singleton type", record.name),
                        ));
                    }
                    let first_ttl = set.records[0].ttl;
                    let mut record = record;
                    if record.ttl != first_ttl {
                        let location = self.at(line);
                        self.warnings
                            .push(format!("{location}: TTL set to prior TTL ({first_ttl})"));
                        record.ttl = first_ttl;
                    }
                    set.records.push(record);
                }
                None => {
                    let at = node
                        .rrsets
                        .partition_point(|s| u16::from(s.record_type()) < u16::from(rtype));
                    if rtype == RecordType::SOA {
                        soa = Some(record.clone());
                    }
                    node.rrsets.insert(
                        at,
                        RRset {
                            records: vec![record],
                            sigs: Vec::new(),
                        },
                    );
                }
            }
            record_count += 1;
        }

        let origin = LowerName::new(&self.origin);
        let Some(soa) = soa else {
            return Err(self.error(None, format!("zone {}: has no SOA record", self.origin)));
        };
        let apex_ns = nodes
            .get(&origin)
            .and_then(|n| n.get(RecordType::NS))
            .map(|s| s.records.clone())
            .unwrap_or_default();
        if apex_ns.is_empty() {
            return Err(self.error(None, format!("zone {}: has no NS records", self.origin)));
        }
        let zone = Zone {
            origin,
            soa,
            nodes,
            source: self.source.clone(),
            record_count,
            warnings: Vec::new(),
            signed: None,
        };
        // NS targets inside the zone must have addresses, and must not be
        // aliases; MX and SRV targets only get warnings (as named-checkzone).
        for (name, node) in &zone.nodes {
            let Some(ns) = node.get(RecordType::NS) else {
                continue;
            };
            for record in &ns.records {
                let RData::NS(target) = &record.data else {
                    continue;
                };
                let target = LowerName::new(&target.0);
                if !zone.origin.zone_of(&target) {
                    continue;
                }
                match zone.node(&target) {
                    Some(t) if t.get(RecordType::CNAME).is_some() => {
                        return Err(self
                            .error(None, format!("NS '{}' is a CNAME (illegal)", trim(&target))));
                    }
                    Some(t)
                        if t.get(RecordType::A).is_some() || t.get(RecordType::AAAA).is_some() => {}
                    _ => {
                        return Err(self.error(
                            None,
                            format!(
                                "NS '{}' (for {}) has no address records (A or AAAA)",
                                trim(&target),
                                trim(name)
                            ),
                        ));
                    }
                }
            }
        }
        let mut warnings = std::mem::take(&mut self.warnings);
        for (name, node) in &zone.nodes {
            for set in node.rrsets() {
                for record in &set.records {
                    let target = match &record.data {
                        RData::MX(mx) => &mx.exchange,
                        RData::SRV(srv) => &srv.target,
                        _ => continue,
                    };
                    let target = LowerName::new(target);
                    if !zone.origin.zone_of(&target) || target.is_root() {
                        continue;
                    }
                    let kind = set.record_type();
                    match zone.node(&target) {
                        Some(t) if t.get(RecordType::CNAME).is_some() => warnings.push(format!(
                            "{}: {}/{kind} '{}' is a CNAME (illegal)",
                            self.source,
                            trim(name),
                            trim(&target)
                        )),
                        Some(t)
                            if t.get(RecordType::A).is_some()
                                || t.get(RecordType::AAAA).is_some() => {}
                        _ => warnings.push(format!(
                            "{}: {}/{kind} '{}' has no address records (A or AAAA)",
                            self.source,
                            trim(name),
                            trim(&target)
                        )),
                    }
                }
            }
        }
        Ok(Zone { warnings, ..zone })
    }
}

/// The record with every domain name in lowercase, as Knot stores names:
/// answers then carry the case the client asked with for the owner, and
/// lowercase elsewhere.
fn lowercase(mut record: Record) -> Record {
    record.name = record.name.to_lowercase();
    match &mut record.data {
        RData::NS(ns) => ns.0 = ns.0.to_lowercase(),
        RData::CNAME(cname) => cname.0 = cname.0.to_lowercase(),
        RData::PTR(ptr) => ptr.0 = ptr.0.to_lowercase(),
        RData::MX(mx) => mx.exchange = mx.exchange.to_lowercase(),
        RData::SRV(srv) => srv.target = srv.target.to_lowercase(),
        RData::NAPTR(naptr) => naptr.replacement = naptr.replacement.to_lowercase(),
        RData::SOA(soa) => {
            soa.mname = soa.mname.to_lowercase();
            soa.rname = soa.rname.to_lowercase();
        }
        _ => {}
    }
    record
}

fn trim(name: &LowerName) -> String {
    let text = name.to_string();
    text.strip_suffix('.').unwrap_or(&text).to_owned()
}

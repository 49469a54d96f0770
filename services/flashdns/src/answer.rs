//! The authoritative answer for one question (RFC 1034 section 4.3.2, with
//! RFC 4592 wildcards and RFC 2308 negative answers), shaped as Knot DNS
//! shapes it: minimal responses (no NS in the authority section of a
//! positive answer), addresses of MX, SRV and NS targets in the additional
//! section, CNAME chains followed within the zone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use crate::zone::{NodeData, RRset, Zone};

/// How many CNAMEs one answer follows before it stops (a loop guard).
const MAX_CNAME_CHAIN: usize = 16;

/// The zones being served; replaced whole on reload, so a query sees
/// either the old zone or the new one, never a mix.
#[derive(Debug, Clone, Default)]
pub struct SharedCatalog {
    current: Arc<RwLock<Arc<Catalog>>>,
    /// Bumped after every replacement: the answer cache
    /// ([`crate::front::cache`]) forgets what it holds when it sees a new
    /// value.
    generation: Arc<AtomicU64>,
}

impl SharedCatalog {
    /// A catalog to serve.
    pub fn new(catalog: Catalog) -> Self {
        SharedCatalog {
            current: Arc::new(RwLock::new(Arc::new(catalog))),
            generation: Arc::default(),
        }
    }

    /// The current zones.
    pub fn load(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `zone` from now on, in place of the zone at its apex.
    pub fn replace(&self, zone: Arc<Zone>) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = Arc::new(current.with(zone));
        // Bumped after the swap: an answer computed from the old zones is
        // stored under the old generation, and dropped on the next lookup.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many replacements there have been.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// The zones being served, by apex.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    zones: BTreeMap<LowerName, Arc<Zone>>,
}

impl Catalog {
    /// A catalog of these zones.
    pub fn new(zones: impl IntoIterator<Item = Arc<Zone>>) -> Self {
        Catalog {
            zones: zones
                .into_iter()
                .map(|zone| (zone.origin().clone(), zone))
                .collect(),
        }
    }

    /// The zone that holds `name`: the one with the longest matching apex.
    pub fn find(&self, name: &LowerName) -> Option<&Arc<Zone>> {
        let mut name = name.clone();
        loop {
            if let Some(zone) = self.zones.get(&name) {
                return Some(zone);
            }
            if name.is_root() {
                return None;
            }
            name = name.base_name();
        }
    }

    /// The zone whose apex is exactly `origin`.
    pub fn get(&self, origin: &LowerName) -> Option<&Arc<Zone>> {
        self.zones.get(origin)
    }

    /// Every zone, in canonical order of their apexes.
    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }

    /// The same catalog with `zone` added or replacing the one at its apex.
    pub fn with(&self, zone: Arc<Zone>) -> Catalog {
        let mut zones = self.zones.clone();
        zones.insert(zone.origin().clone(), zone);
        Catalog { zones }
    }
}

/// The sections and code of an authoritative response.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// NOERROR or NXDOMAIN.
    pub rcode: ResponseCode,
    /// Whether the AA bit is set: false for a referral.
    pub authoritative: bool,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section.
    pub authorities: Vec<Record>,
    /// The additional section (without the OPT record).
    pub additionals: Vec<Record>,
}

impl Answer {
    /// The answer with its names in the case Knot writes them: Knot
    /// compresses each owner name and each compressible name in the data
    /// (NS, CNAME, PTR, MX, SOA; RFC 3597 section 4) against the names
    /// written before it, starting with the question as the client wrote
    /// it, so a suffix it shares with an earlier name takes that name's
    /// case (`ns1.Example.COM.` after a question for `www.Example.COM`).
    /// Other names (SRV and NAPTR targets, RRSIG signers, NSEC next
    /// names) are written as they are and are not compressed against.
    pub fn in_written_case(mut self, question: &Name) -> Answer {
        let mut written = vec![question.clone()];
        let sections = [
            &mut self.answers,
            &mut self.authorities,
            &mut self.additionals,
        ];
        for section in sections {
            for record in section.iter_mut() {
                record.name = recase(&mut written, &record.name);
                match &mut record.data {
                    RData::NS(ns) => ns.0 = recase(&mut written, &ns.0),
                    RData::CNAME(cname) => cname.0 = recase(&mut written, &cname.0),
                    RData::PTR(ptr) => ptr.0 = recase(&mut written, &ptr.0),
                    RData::MX(mx) => mx.exchange = recase(&mut written, &mx.exchange),
                    RData::SOA(soa) => {
                        soa.mname = recase(&mut written, &soa.mname);
                        soa.rname = recase(&mut written, &soa.rname);
                    }
                    _ => {}
                }
            }
        }
        self
    }

    /// No records, only a code (the header's AA bit comes from the
    /// metadata `send` is given, not from here).
    pub fn empty(rcode: ResponseCode) -> Answer {
        Answer {
            rcode,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

/// Which NSEC records prove a negative (RFC 4035 section 3.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Proof {
    /// The NSEC at this existing name (its type bitmap lacks the type).
    At(LowerName),
    /// The NSEC covering this name (it does not exist).
    Covering(LowerName),
}

/// What one name gives for one type, with the NSEC proofs a DNSSEC
/// answer needs.
enum Found<'z> {
    /// The RRset answering the question (at the name, or its wildcard:
    /// then the proof that the name itself does not exist).
    Records(&'z RRset, Vec<Proof>),
    /// An RRSIG question: the signatures over this RRset (as Knot
    /// answers it, the name's first signed RRset, like ANY).
    Signatures(&'z RRset, Vec<Proof>),
    /// An alias to follow.
    Cname(&'z RRset, Vec<Proof>),
    /// A DNAME at an ancestor of the name (RFC 6672): the name is
    /// rewritten under its target by a synthesized CNAME.
    Dname(&'z RRset),
    /// The name is at or below the zone cut at this name: a referral.
    Referral(&'z NodeData),
    /// The name exists but has no data of this type.
    NoData(Vec<Proof>),
    /// The name does not exist.
    NxDomain(Vec<Proof>),
}

/// Answers `qname`/`qtype` from `zone`, which holds `qname`; with
/// `dnssec` (the query set DO and the zone is signed), with RRSIGs and the
/// NSEC records proving negatives and wildcard answers.
pub fn answer(zone: &Zone, qname: &Name, qtype: RecordType, dnssec: bool) -> Answer {
    let mut out = Answer {
        rcode: ResponseCode::NoError,
        authoritative: true,
        answers: Vec::new(),
        authorities: Vec::new(),
        additionals: Vec::new(),
    };
    let dnssec = dnssec && zone.signed().is_some();
    let mut name = qname.clone();
    let mut followed: Vec<LowerName> = Vec::new();
    loop {
        let lower = LowerName::new(&name);
        match find(zone, &lower, qtype) {
            Found::Records(set, proofs) => {
                push_set(&mut out.answers, set, &name, dnssec);
                prove(zone, &proofs, dnssec, &mut out);
                additional_for(zone, set, dnssec, &mut out);
                return out;
            }
            Found::Signatures(set, proofs) => {
                for sig in &set.sigs {
                    let mut sig = sig.clone();
                    sig.name = name.clone();
                    out.answers.push(sig);
                }
                prove(zone, &proofs, dnssec, &mut out);
                return out;
            }
            Found::Cname(set, proofs) => {
                push_set(&mut out.answers, set, &name, dnssec);
                prove(zone, &proofs, dnssec, &mut out);
                let RData::CNAME(target) = &set.records[0].data else {
                    return out;
                };
                let target = target.0.clone();
                if !follows(zone, &mut followed, lower, &target) {
                    return out;
                }
                name = target;
            }
            Found::Dname(set) => {
                let owner = set.records[0].name.clone();
                push_set(&mut out.answers, set, &owner, dnssec);
                let Some(target) = crate::zone::dname_target(&set.records[0].data) else {
                    return out;
                };
                // The name with the DNAME's owner replaced by its target;
                // too long a result is YXDOMAIN (RFC 6672 section 2.2).
                let prefix = name.num_labels() - owner.num_labels();
                let labels: Vec<&[u8]> = name.iter().take(prefix as usize).collect();
                let synthesized =
                    Name::from_labels(labels).and_then(|prefix| prefix.append_name(&target));
                let Ok(synthesized) = synthesized else {
                    out.rcode = ResponseCode::YXDomain;
                    return out;
                };
                // In lowercase, as Knot synthesizes it.
                let mut synthesized = synthesized.to_lowercase();
                synthesized.set_fqdn(true);
                out.answers.push(Record::from_rdata(
                    name.clone(),
                    set.records[0].ttl,
                    RData::CNAME(hickory_proto::rr::rdata::CNAME(synthesized.clone())),
                ));
                if !follows(zone, &mut followed, lower, &synthesized) {
                    return out;
                }
                name = synthesized;
            }
            Found::Referral(cut) => {
                // After an alias (RFC 2317's classless delegation) the
                // referral follows the CNAME, as Knot gives it.
                if let Some(ns) = cut.get(RecordType::NS) {
                    out.authoritative = !out.answers.is_empty();
                    out.authorities.extend(ns.records.iter().cloned());
                    if dnssec {
                        // The DS with its RRSIG, or the NSEC proving there
                        // is none (an insecure delegation).
                        if let Some(set) = cut.get(RecordType::DS).or(cut.get(RecordType::NSEC)) {
                            let owner = set.records[0].name.clone();
                            push_set(&mut out.authorities, set, &owner, true);
                        }
                    }
                    additional_for(zone, ns, dnssec, &mut out);
                }
                return out;
            }
            Found::NoData(proofs) => {
                negative(zone, &proofs, dnssec, &mut out);
                return out;
            }
            Found::NxDomain(proofs) => {
                out.rcode = ResponseCode::NXDomain;
                negative(zone, &proofs, dnssec, &mut out);
                return out;
            }
        }
    }
}

/// Whether the answer goes on from the alias at `from` to `target`: only
/// inside the zone, never round a loop, at most [`MAX_CNAME_CHAIN`] steps.
/// `from` joins the names `followed`.
fn follows(zone: &Zone, followed: &mut Vec<LowerName>, from: LowerName, target: &Name) -> bool {
    followed.push(from);
    let target = LowerName::new(target);
    zone.origin().zone_of(&target)
        && !followed.contains(&target)
        && followed.len() < MAX_CNAME_CHAIN
}

/// The SOA at the negative TTL, then (with DNSSEC) its RRSIG and the NSEC
/// proofs.
fn negative(zone: &Zone, proofs: &[Proof], dnssec: bool, out: &mut Answer) {
    out.authorities.push(zone.negative_soa());
    if dnssec {
        out.authorities.extend(zone.negative_soa_sigs());
    }
    prove(zone, proofs, dnssec, out);
}

/// Adds the NSEC records (and their RRSIGs) these proofs name, each once.
fn prove(zone: &Zone, proofs: &[Proof], dnssec: bool, out: &mut Answer) {
    if !dnssec {
        return;
    }
    for proof in proofs {
        let set = match proof {
            Proof::At(name) => zone.node(name).and_then(|n| n.get(RecordType::NSEC)),
            Proof::Covering(name) => zone.nsec_covering(name),
        };
        let Some(set) = set else {
            continue;
        };
        // Once is enough, whatever its owner: a wildcard's NSEC asked
        // for by type is already the proof.
        let nsec = &set.records[0];
        if out
            .answers
            .iter()
            .chain(&out.authorities)
            .any(|r| r.record_type() == RecordType::NSEC && r.data == nsec.data)
        {
            continue;
        }
        let owner = set.records[0].name.clone();
        push_set(&mut out.authorities, set, &owner, true);
    }
}

/// `name` with the longest suffix it shares (ignoring case) with a name
/// in `written` spelled as the first of those spells it; then it is written
/// too.
fn recase(written: &mut Vec<Name>, name: &Name) -> Name {
    let labels: Vec<&[u8]> = name.iter().collect();
    let mut best: Option<(usize, Vec<Vec<u8>>)> = None;
    for earlier in written.iter() {
        let theirs: Vec<&[u8]> = earlier.iter().collect();
        let shared = labels
            .iter()
            .rev()
            .zip(theirs.iter().rev())
            .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
            .count();
        if shared > best.as_ref().map_or(0, |(n, _)| *n) {
            let suffix = theirs[theirs.len() - shared..]
                .iter()
                .map(|l| l.to_vec())
                .collect();
            best = Some((shared, suffix));
        }
    }
    let recased = match best {
        Some((shared, suffix)) => {
            let own = labels[..labels.len() - shared].iter().map(|l| l.to_vec());
            Name::from_labels(own.chain(suffix)).map_or_else(
                |_| name.clone(),
                |mut n| {
                    n.set_fqdn(name.is_fqdn());
                    n
                },
            )
        }
        None => name.clone(),
    };
    written.push(recased.clone());
    recased
}

/// Adds `set` (and with `dnssec` its RRSIGs) with `owner` as written in
/// the question (or the alias that led here): the case the client asked
/// with, and the asked name where a wildcard answered.
fn push_set(section: &mut Vec<Record>, set: &RRset, owner: &Name, dnssec: bool) {
    let sigs = if dnssec { &set.sigs[..] } else { &[] };
    for record in set.records.iter().chain(sigs) {
        let mut record = record.clone();
        record.name = owner.clone();
        section.push(record);
    }
}

/// The ancestors of `name` below the apex, nearest the apex first, then
/// `name` itself.
fn path_from_apex(zone: &Zone, name: &LowerName) -> Vec<LowerName> {
    let mut path = Vec::new();
    let mut current = name.clone();
    while &current != zone.origin() && !current.is_root() {
        path.push(current.clone());
        current = current.base_name();
    }
    path.reverse();
    path
}

fn find<'z>(zone: &'z Zone, name: &LowerName, qtype: RecordType) -> Found<'z> {
    // A DNAME at the apex rewrites every name below it.
    if name != zone.origin()
        && let Some(dname) = zone
            .node(zone.origin())
            .and_then(|n| n.get(RecordType::DNAME))
    {
        return Found::Dname(dname);
    }
    // A zone cut at or above the name hands the question to the child
    // zone, except DS, which lives on the parent side of the cut; a DNAME
    // above the name rewrites it.
    for step in path_from_apex(zone, name) {
        let Some(node) = zone.node(&step) else {
            continue;
        };
        if node.get(RecordType::NS).is_some() && !(step == *name && qtype == RecordType::DS) {
            return Found::Referral(node);
        }
        if step != *name
            && let Some(dname) = node.get(RecordType::DNAME)
        {
            return Found::Dname(dname);
        }
    }
    if let Some(node) = zone.node(name) {
        return from_node(node, qtype, Vec::new(), vec![Proof::At(name.clone())]);
    }
    if zone.exists(name) {
        // An empty non-terminal: the NSEC before it covers it.
        return Found::NoData(vec![Proof::Covering(name.clone())]);
    }
    // The closest encloser is the nearest existing ancestor; its wildcard
    // child, if any, answers for every name that does not exist below it.
    let mut encloser = name.base_name();
    while !zone.exists(&encloser) && encloser != *zone.origin() {
        encloser = encloser.base_name();
    }
    let wildcard = LowerName::new(&Name::from(&encloser).prepend_label("*").unwrap_or_else(
        // Only a name of 255 bytes cannot take `*.`: no wildcard can match it.
        |_| Name::root(),
    ));
    let no_name = Proof::Covering(name.clone());
    match zone.node(&wildcard) {
        Some(node) if wildcard.is_wildcard() => from_node(
            node,
            qtype,
            vec![no_name.clone()],
            vec![no_name, Proof::At(wildcard)],
        ),
        _ => Found::NxDomain(vec![no_name, Proof::Covering(wildcard)]),
    }
}

/// What `node` gives for `qtype`; `positive` proves a wildcard match,
/// `nodata` proves the type is absent.
fn from_node(
    node: &NodeData,
    qtype: RecordType,
    positive: Vec<Proof>,
    nodata: Vec<Proof>,
) -> Found<'_> {
    if qtype == RecordType::ANY {
        // RFC 8482: one RRset is enough, the one with the lowest type.
        return match node.rrsets().first() {
            Some(set) => Found::Records(set, positive),
            None => Found::NoData(nodata),
        };
    }
    if qtype == RecordType::RRSIG {
        return match node.rrsets().iter().find(|set| !set.sigs.is_empty()) {
            Some(set) => Found::Signatures(set, positive),
            None => Found::NoData(nodata),
        };
    }
    if let Some(set) = node.get(qtype) {
        return Found::Records(set, positive);
    }
    if let Some(cname) = node.get(RecordType::CNAME) {
        return Found::Cname(cname, positive);
    }
    Found::NoData(nodata)
}

/// Adds the A and AAAA records of in-zone MX, SRV and NS targets (with
/// their RRSIGs, under DNSSEC; glue has none).
fn additional_for(zone: &Zone, set: &RRset, dnssec: bool, out: &mut Answer) {
    for record in &set.records {
        let target = match &record.data {
            RData::MX(mx) => &mx.exchange,
            RData::SRV(srv) => &srv.target,
            RData::NS(ns) => &ns.0,
            _ => continue,
        };
        let target = LowerName::new(target);
        if !zone.origin().zone_of(&target) {
            continue;
        }
        let Some(node) = zone.node(&target) else {
            continue;
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Some(addresses) = node.get(rtype) {
                let sigs = if dnssec { &addresses.sigs[..] } else { &[] };
                for address in addresses.records.iter().chain(sigs) {
                    if !out.additionals.contains(address) && !out.answers.contains(address) {
                        out.additionals.push(address.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_the_case_of_the_question_they_share_a_suffix_with() {
        let name = |text: &str| Name::from_ascii(text).unwrap();
        let mut written = vec![name("129.REV.Example.COM.")];
        assert_eq!(
            recase(&mut written, &name("129.c26.rev.example.com.")).to_string(),
            "129.c26.REV.Example.COM."
        );
        assert_eq!(
            recase(&mut written, &name("ns1.example.com.")).to_string(),
            "ns1.Example.COM."
        );
        // Nothing shared: as it is.
        assert_eq!(
            recase(&mut written, &name("mail2.example.net.")).to_string(),
            "mail2.example.net."
        );
    }
    use crate::zone::file;

    const ZONE: &str = r#"$ORIGIN example.com.
$TTL 3600
@ SOA ns1 admin 1 3600 1800 604800 300
@ NS ns1
ns1 A 192.0.2.1
@ MX 10 mail
mail A 192.0.2.2
mail AAAA 2001:db8::2
www A 192.0.2.3
api CNAME www
loop1 CNAME loop2
loop2 CNAME loop1
*.apps A 192.0.2.4
deep.a.b TXT "x"
sub NS ns.sub
ns.sub A 192.0.2.5
"#;

    fn zone() -> Zone {
        file::parse(ZONE, "z", &Name::from_ascii("example.com.").unwrap()).unwrap()
    }

    fn ask(name: &str, qtype: RecordType) -> Answer {
        answer(&zone(), &Name::from_ascii(name).unwrap(), qtype, false)
    }

    fn texts(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn positive_answers_are_minimal_with_target_addresses() {
        let a = ask("example.com.", RecordType::MX);
        assert!(a.authoritative);
        assert_eq!(
            texts(&a.answers),
            ["example.com. 3600 IN MX 10 mail.example.com."]
        );
        assert!(a.authorities.is_empty());
        assert_eq!(
            texts(&a.additionals),
            [
                "mail.example.com. 3600 IN A 192.0.2.2",
                "mail.example.com. 3600 IN AAAA 2001:db8::2"
            ]
        );
    }

    #[test]
    fn negative_answers_carry_the_soa_with_the_negative_ttl() {
        let nx = ask("nope.example.com.", RecordType::A);
        assert_eq!(nx.rcode, ResponseCode::NXDomain);
        assert_eq!(nx.authorities.len(), 1);
        assert_eq!(nx.authorities[0].ttl, 300);
        let nodata = ask("www.example.com.", RecordType::MX);
        assert_eq!(nodata.rcode, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
        // An empty non-terminal exists: NODATA, not NXDOMAIN.
        assert_eq!(
            ask("a.b.example.com.", RecordType::A).rcode,
            ResponseCode::NoError
        );
    }

    /// The zone signed with a fresh key.
    fn signed_zone() -> Zone {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = crate::keys::ZoneKey::open(
            &dir.path().join("k.pem"),
            crate::spec::SigningAlgorithm::Ed25519,
            true,
        )
        .unwrap();
        let validity = crate::zone::sign::Validity {
            inception: 0,
            expiration: u32::MAX,
        };
        zone().sign(&key, 1, validity).unwrap()
    }

    /// Each record as `owner TYPE` (RRSIGs as `owner RRSIG(covered)`).
    fn shapes(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match &r.data {
                RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
                    format!("{} RRSIG({})", r.name, sig.input().type_covered)
                }
                _ => format!("{} {}", r.name, r.record_type()),
            })
            .collect()
    }

    #[test]
    fn signed_answers_carry_signatures_and_nsec_proofs_only_when_asked() {
        let zone = signed_zone();
        let ask = |name: &str, qtype, dnssec| {
            answer(&zone, &Name::from_ascii(name).unwrap(), qtype, dnssec)
        };
        let plain = ask("www.example.com.", RecordType::A, false);
        assert_eq!(shapes(&plain.answers), ["www.example.com. A"]);
        let www = ask("www.example.com.", RecordType::A, true);
        assert_eq!(
            shapes(&www.answers),
            ["www.example.com. A", "www.example.com. RRSIG(A)"]
        );
        // NXDOMAIN: the NSEC covering the name and the one covering the
        // wildcard that would have matched (here the apex's, shown once).
        let nx = ask("nope.example.com.", RecordType::A, true);
        assert_eq!(
            shapes(&nx.authorities),
            [
                "example.com. SOA",
                "example.com. RRSIG(SOA)",
                "mail.example.com. NSEC",
                "mail.example.com. RRSIG(NSEC)",
                "example.com. NSEC",
                "example.com. RRSIG(NSEC)",
            ]
        );
        // A wildcard answer proves the asked name does not exist.
        let wild = ask("x.apps.example.com.", RecordType::A, true);
        assert_eq!(
            shapes(&wild.answers),
            ["x.apps.example.com. A", "x.apps.example.com. RRSIG(A)"]
        );
        assert_eq!(
            shapes(&wild.authorities),
            [
                "*.apps.example.com. NSEC",
                "*.apps.example.com. RRSIG(NSEC)"
            ]
        );
        // An insecure delegation: the NSEC at the cut shows no DS.
        let referral = ask("host.sub.example.com.", RecordType::A, true);
        assert_eq!(
            shapes(&referral.authorities),
            [
                "sub.example.com. NS",
                "sub.example.com. NSEC",
                "sub.example.com. RRSIG(NSEC)"
            ]
        );
        assert_eq!(shapes(&referral.additionals), ["ns.sub.example.com. A"]);
    }

    #[test]
    fn wildcards_cnames_and_referrals() {
        let w = ask("x.apps.example.com.", RecordType::A);
        assert_eq!(
            texts(&w.answers),
            ["x.apps.example.com. 3600 IN A 192.0.2.4"]
        );
        assert_eq!(ask("x.apps.example.com.", RecordType::MX).answers.len(), 0);
        let c = ask("api.example.com.", RecordType::A);
        assert_eq!(c.answers.len(), 2);
        let looped = ask("loop1.example.com.", RecordType::A);
        assert_eq!(looped.answers.len(), 2);
        let r = ask("host.sub.example.com.", RecordType::A);
        assert!(!r.authoritative);
        assert_eq!(
            texts(&r.authorities),
            ["sub.example.com. 3600 IN NS ns.sub.example.com."]
        );
        assert_eq!(
            texts(&r.additionals),
            ["ns.sub.example.com. 3600 IN A 192.0.2.5"]
        );
        let ds = ask("sub.example.com.", RecordType::DS);
        assert!(ds.authoritative);
        assert_eq!(ds.authorities[0].record_type(), RecordType::SOA);
    }
}

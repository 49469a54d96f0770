//! The authoritative answer for one question (RFC 1034 section 4.3.2, with
//! RFC 4592 wildcards and RFC 2308 negative answers), shaped as Knot DNS
//! shapes it: minimal responses (no NS in the authority section of a
//! positive answer), addresses of MX, SRV and NS targets in the additional
//! section, CNAME chains followed within the zone.

use std::collections::BTreeMap;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use crate::zone::{NodeData, RRset, Zone};

/// How many CNAMEs one answer follows before it stops (a loop guard).
const MAX_CNAME_CHAIN: usize = 16;

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

/// What one name gives for one type.
enum Found<'z> {
    /// The RRset answering the question (at the name, or its wildcard).
    Records(&'z RRset),
    /// An alias to follow.
    Cname(&'z RRset),
    /// The name is at or below a zone cut: a referral to these servers.
    Referral(&'z RRset),
    /// The name exists but has no data of this type.
    NoData,
    /// The name does not exist.
    NxDomain,
}

/// Answers `qname`/`qtype` from `zone`, which holds `qname`.
pub fn answer(zone: &Zone, qname: &Name, qtype: RecordType) -> Answer {
    let mut out = Answer {
        rcode: ResponseCode::NoError,
        authoritative: true,
        answers: Vec::new(),
        authorities: Vec::new(),
        additionals: Vec::new(),
    };
    let mut name = qname.clone();
    let mut followed: Vec<LowerName> = Vec::new();
    loop {
        let lower = LowerName::new(&name);
        match find(zone, &lower, qtype) {
            Found::Records(set) => {
                push_set(&mut out.answers, set, &name);
                additional_for(zone, set, &mut out);
                return out;
            }
            Found::Cname(set) => {
                push_set(&mut out.answers, set, &name);
                let RData::CNAME(target) = &set.records[0].data else {
                    return out;
                };
                let target = target.0.clone();
                followed.push(lower);
                let target_lower = LowerName::new(&target);
                if !zone.origin().zone_of(&target_lower)
                    || followed.contains(&target_lower)
                    || followed.len() >= MAX_CNAME_CHAIN
                {
                    return out;
                }
                name = target;
            }
            Found::Referral(ns) => {
                // After an alias the referral is not ours to give: the
                // resolver follows the chain itself.
                if out.answers.is_empty() {
                    out.authoritative = false;
                    out.authorities.extend(ns.records.iter().cloned());
                    additional_for(zone, ns, &mut out);
                }
                return out;
            }
            Found::NoData => {
                out.authorities.push(zone.negative_soa());
                return out;
            }
            Found::NxDomain => {
                out.rcode = ResponseCode::NXDomain;
                out.authorities.push(zone.negative_soa());
                return out;
            }
        }
    }
}

/// Adds `set` with `owner` as written in the question (or the alias that
/// led here): the case the client asked with, and the asked name where a
/// wildcard answered.
fn push_set(section: &mut Vec<Record>, set: &RRset, owner: &Name) {
    for record in &set.records {
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
    // A zone cut at or above the name hands the question to the child
    // zone, except DS, which lives on the parent side of the cut.
    for step in path_from_apex(zone, name) {
        if let Some(ns) = zone.node(&step).and_then(|n| n.get(RecordType::NS))
            && !(step == *name && qtype == RecordType::DS)
        {
            return Found::Referral(ns);
        }
    }
    if let Some(node) = zone.node(name) {
        return from_node(node, qtype);
    }
    if zone.exists(name) {
        return Found::NoData; // an empty non-terminal
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
    match zone.node(&wildcard) {
        Some(node) if wildcard.is_wildcard() => from_node(node, qtype),
        _ => Found::NxDomain,
    }
}

fn from_node(node: &NodeData, qtype: RecordType) -> Found<'_> {
    if qtype == RecordType::ANY {
        // RFC 8482: one RRset is enough, the one with the lowest type.
        return match node.rrsets().first() {
            Some(set) => Found::Records(set),
            None => Found::NoData,
        };
    }
    if let Some(set) = node.get(qtype) {
        return Found::Records(set);
    }
    if let Some(cname) = node.get(RecordType::CNAME) {
        return Found::Cname(cname);
    }
    Found::NoData
}

/// Adds the A and AAAA records of in-zone MX, SRV and NS targets.
fn additional_for(zone: &Zone, set: &RRset, out: &mut Answer) {
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
                for address in &addresses.records {
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
        answer(&zone(), &Name::from_ascii(name).unwrap(), qtype)
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

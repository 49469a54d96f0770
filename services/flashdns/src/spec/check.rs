//! What a typed zone list must get right, checked in `const fn` so a
//! mistake fails the build: names, signing, record data, and targets that
//! point into a zone where nothing answers.

use photon_dsl::text::{ConstText, same};
use photon_dsl::validate_dns_name;

use super::{Dnssec, RecData, SigningKey, Zone, ZoneData, ZoneSource};

/// The first thing wrong with the zone list, in the user's terms: which
/// zone and record, and the value that is wrong.
pub(super) const fn zones_problem(zones: &[Zone]) -> Option<ConstText> {
    let mut i = 0;
    while i < zones.len() {
        let zone = &zones[i];
        let at = ConstText::new().push("zone ").quoted(zone.origin);
        if !is_domain_name(zone.origin, false) {
            return Some(at.push(
                ": a zone's `origin` must be a domain name such as `example.com`: labels of 1 to 63 letters, digits, `-` or `_`, at most 253 bytes",
            ));
        }
        let mut j = 0;
        while j < i {
            if names_equal(zones[j].origin, zone.origin) {
                return Some(at.push(
                    " is listed twice: two zones have the same `origin`; a zone is served from one source",
                ));
            }
            j += 1;
        }
        if let Some(problem) = signing_problem(zone.dnssec) {
            return Some(at.push(": ").push(problem));
        }
        match zone.source {
            ZoneSource::File(path) => {
                if path.is_empty() {
                    return Some(at.push(": its `ZoneSource::File` path is empty"));
                }
            }
            ZoneSource::Records(data) => {
                if zone.default_ttl.is_some() {
                    return Some(at.push(
                        ": `default_ttl` is for zone files; a typed zone's default TTL is its `ZoneData::ttl`",
                    ));
                }
                if let Some(problem) = records_problem(zone.origin, data) {
                    return Some(problem);
                }
            }
            ZoneSource::Store => {
                if let Dnssec::Sign(_) = zone.dnssec {
                    return Some(at.push(
                        ": a zone kept in the zone store cannot be signed yet; sign a zone file or typed zone",
                    ));
                }
                if zone.default_ttl.is_some() {
                    return Some(
                        at.push(": `default_ttl` is for zone files; a stored zone's records carry their TTLs"),
                    );
                }
            }
        }
        i += 1;
    }
    dangling_target(zones)
}

const fn signing_problem(dnssec: Dnssec) -> Option<&'static str> {
    let Dnssec::Sign(signing) = dnssec else {
        return None;
    };
    if signing.signature_days < 2 || signing.signature_days > 365 {
        return Some(
            "`signature_days` must be 2 to 365: signatures are refreshed at half their validity, and validators must see a valid one throughout",
        );
    }
    if let SigningKey::PemFile(path) = signing.key
        && path.is_empty()
    {
        return Some("its `SigningKey::PemFile` path is empty");
    }
    None
}

/// The record's kind as an error names it.
const fn kind(data: &RecData) -> &'static str {
    match data.type_name() {
        Some(name) => name,
        None => "A/AAAA of a node",
    }
}

/// The name a record points at, if its kind has one.
const fn target(data: &RecData) -> Option<&'static str> {
    match *data {
        RecData::Cname(name) | RecData::Ns(name) | RecData::Ptr(name) => Some(name),
        RecData::Mx { exchange, .. } => Some(exchange),
        RecData::Srv { target, .. } => Some(target),
        _ => None,
    }
}

const fn records_problem(origin: &str, data: &ZoneData) -> Option<ConstText> {
    let soa = ConstText::new()
        .push("zone ")
        .quoted(origin)
        .push(", SOA: ");
    if !is_name_or_at(data.soa.primary, false) {
        return Some(
            soa.push("`primary` ")
                .quoted(data.soa.primary)
                .push(" is not a name: write `ns1`, or an absolute name with a trailing dot"),
        );
    }
    if !is_name_or_at(data.soa.admin, false) {
        return Some(
            soa.push("`admin` ").quoted(data.soa.admin).push(
                " is not a name: write `hostmaster`, or an absolute name with a trailing dot",
            ),
        );
    }
    let mut i = 0;
    while i < data.records.len() {
        let rec = &data.records[i];
        let at = record_at(origin, rec.owner, kind(&rec.data));
        if !is_name_or_at(rec.owner, true) {
            return Some(at.push(
                ": the `owner` must be `@`, a relative name (`www`, `*.apps`) or an absolute one (`www.example.com.`); `*` only as the whole first label",
            ));
        }
        if let Some(name) = target(&rec.data)
            && !(is_name_or_at(name, false)
                || (same(name, ".") && matches!(rec.data, RecData::Srv { .. })))
        {
            return Some(at.push(": its target ").quoted(name).push(
                " is not a name: write `@`, a relative name, or an absolute one with a trailing dot",
            ));
        }
        if let RecData::Txt(strings) = rec.data {
            if strings.is_empty() {
                return Some(at.push(": a TXT record needs at least one string"));
            }
            let mut s = 0;
            while s < strings.len() {
                if strings[s].len() > 255 {
                    return Some(
                        at.push(": string ")
                            .number(s as i128 + 1)
                            .push(" is longer than 255 bytes; split it into several strings"),
                    );
                }
                s += 1;
            }
        }
        if let RecData::Caa { tag, .. } = rec.data
            && !(same(tag, "issue") || same(tag, "issuewild") || same(tag, "iodef"))
        {
            return Some(
                at.push(": the tag ")
                    .quoted(tag)
                    .push(" must be `issue`, `issuewild` or `iodef`"),
            );
        }
        i += 1;
    }
    None
}

/// Equal as domain names: case-insensitive, a trailing dot ignored.
const fn names_equal(a: &str, b: &str) -> bool {
    same_ignoring_case(without_dot(a).as_bytes(), without_dot(b).as_bytes())
}

/// `a == b` for ASCII, case-insensitive, usable in `const fn`.
const fn same_ignoring_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

const fn is_name_or_at(name: &str, wildcard: bool) -> bool {
    same(name, "@") || is_domain_name(name, wildcard)
}

/// A DNS name as photon-dsl's `DnsName` reads it (labels of letters,
/// digits, `-` and `_`, optionally a trailing dot), but not the root; with
/// `wildcard`, the first label may be exactly `*`.
const fn is_domain_name(name: &str, wildcard: bool) -> bool {
    let bytes = name.as_bytes();
    if wildcard && (same(name, "*") || same(name, "*.")) {
        return true;
    }
    let rest = match bytes {
        [b'*', b'.', rest @ ..] if wildcard => rest,
        _ => bytes,
    };
    match core::str::from_utf8(rest) {
        Ok(rest) => !same(rest, ".") && validate_dns_name(rest).is_ok(),
        Err(_) => false,
    }
}

/// A CNAME, MX, NS or SRV target inside a typed zone this server serves
/// must be a name that zone holds: otherwise every resolver following it
/// gets NXDOMAIN. Targets in zone files (unread at build time) and below a
/// delegation are not checked.
const fn dangling_target(zones: &[Zone]) -> Option<ConstText> {
    let mut z = 0;
    while z < zones.len() {
        if let ZoneSource::Records(data) = zones[z].source {
            let mut r = 0;
            while r < data.records.len() {
                let rec = &data.records[r];
                // A PTR names a host anywhere; SRV's `.` is "no service".
                let checked = match rec.data {
                    RecData::Ptr(_) => None,
                    RecData::Srv { target, .. } if same(target, ".") => None,
                    _ => target(&rec.data),
                };
                if let Some(target) = checked {
                    let name = fqdn(target, zones[z].origin);
                    if let Some(k) = holding_zone(zones, name.as_str())
                        && let ZoneSource::Records(holder) = zones[k].source
                        && !holds(holder, zones[k].origin, name.as_str())
                    {
                        return Some(
                            record_at(zones[z].origin, rec.owner, kind(&rec.data))
                                .push(": its target ")
                                .quoted(name.as_str())
                                .push(" is in zone ")
                                .quoted(zones[k].origin)
                                .push(", which has no such name, so resolvers would get NXDOMAIN: add a record for it or correct the target"),
                        );
                    }
                }
                r += 1;
            }
        }
        z += 1;
    }
    None
}

/// `zone `example.com`, record `www` (CNAME)`: where a record problem is.
const fn record_at(origin: &str, owner: &str, kind: &str) -> ConstText {
    ConstText::new()
        .push("zone ")
        .quoted(origin)
        .push(", record ")
        .quoted(owner)
        .push(" (")
        .push(kind)
        .push(")")
}

/// `name` written in zone `origin` as an absolute name without the
/// trailing dot: `@` is the origin, a relative name ends in it.
const fn fqdn(name: &str, origin: &str) -> ConstText {
    let origin = without_dot(origin);
    if same(name, "@") {
        ConstText::new().push(origin)
    } else if is_absolute(name) {
        ConstText::new().push(without_dot(name))
    } else {
        ConstText::new().push(name).push(".").push(origin)
    }
}

const fn is_absolute(name: &str) -> bool {
    matches!(name.as_bytes(), [.., b'.'])
}

const fn without_dot(name: &str) -> &str {
    if is_absolute(name) {
        name.split_at(name.len() - 1).0
    } else {
        name
    }
}

/// Whether absolute `name` is `ancestor` or below it (case-insensitive).
const fn at_or_below(name: &str, ancestor: &str) -> bool {
    let (name, ancestor) = (name.as_bytes(), without_dot(ancestor).as_bytes());
    if name.len() < ancestor.len() {
        return false;
    }
    let start = name.len() - ancestor.len();
    if start > 0 && name[start - 1] != b'.' {
        return false;
    }
    same_ignoring_case(name.split_at(start).1, ancestor)
}

/// The served zone with the longest origin that absolute `name` is in.
const fn holding_zone(zones: &[Zone], name: &str) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut k = 0;
    while k < zones.len() {
        if at_or_below(name, zones[k].origin) {
            best = match best {
                Some(b)
                    if without_dot(zones[b].origin).len() >= without_dot(zones[k].origin).len() =>
                {
                    Some(b)
                }
                _ => Some(k),
            };
        }
        k += 1;
    }
    best
}

/// Whether the typed zone `origin` answers for absolute `name` with
/// something other than NXDOMAIN: its apex, an owner, a name with owners
/// below it, a wildcard's match, or a name under a delegation.
const fn holds(data: &ZoneData, origin: &str, name: &str) -> bool {
    if names_equal(name, origin) {
        return true;
    }
    let mut r = 0;
    while r < data.records.len() {
        let rec = &data.records[r];
        let owner = fqdn(rec.owner, origin);
        let owner = owner.as_str();
        if at_or_below(owner, name) {
            return true;
        }
        if let [b'*', b'.', ..] = owner.as_bytes() {
            let parent = owner.split_at(2).1;
            if at_or_below(name, parent) && !names_equal(name, parent) {
                return true;
            }
        }
        if let RecData::Ns(_) = rec.data
            && !names_equal(owner, origin)
            && at_or_below(name, owner)
        {
            return true;
        }
        r += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Rec, Soa};
    use photon_dsl::Port;
    use std::net::Ipv4Addr;

    #[test]
    fn domain_names_and_wildcards() {
        assert!(is_domain_name("example.com", false));
        assert!(is_domain_name("example.com.", false));
        assert!(is_domain_name("_sip._tcp", false));
        assert!(is_domain_name("*.apps", true));
        assert!(is_domain_name("*", true));
        assert!(!is_domain_name("*.apps", false));
        assert!(!is_domain_name("a.*", true));
        assert!(!is_domain_name("a*b", true));
        assert!(!is_domain_name("", false));
        assert!(!is_domain_name("a..b", false));
        assert!(!is_domain_name(&format!("{}.com", "a".repeat(64)), false));
        assert!(is_name_or_at("@", false));
    }

    #[test]
    fn zone_lists_are_checked() {
        const DATA: ZoneData = ZoneData::new(&[Rec::new("www", RecData::Cname("@"))]);
        let ok = [
            Zone::records("example.com", &DATA),
            Zone::file("example.net.", "zones/example.net.zone"),
        ];
        assert_eq!(zones_problem(&ok), None);
        let twice = [ok[0], ok[0]];
        assert!(
            zones_problem(&twice)
                .unwrap()
                .as_str()
                .contains("same `origin`")
        );
        const BAD_OWNER: ZoneData = ZoneData {
            records: &[Rec::new("w w", RecData::Cname("@"))],
            ..DATA
        };
        let bad = [Zone::records("example.com", &BAD_OWNER)];
        assert!(zones_problem(&bad).unwrap().as_str().contains("`owner`"));
        const LONG: &str = match core::str::from_utf8(&[b'a'; 256]) {
            Ok(s) => s,
            Err(_) => panic!(),
        };
        let caa = RecData::Caa {
            critical: false,
            tag: "isue",
            value: "ca.example.net",
        };
        let mx = RecData::Mx {
            preference: 1,
            exchange: "bad name",
        };
        for (records, problem) in [
            (
                vec![Rec::new("@", RecData::Txt(&[LONG]))],
                "longer than 255 bytes",
            ),
            (
                vec![Rec::new("@", RecData::Txt(&[]))],
                "at least one string",
            ),
            (vec![Rec::new("@", caa)], "`issue`, `issuewild` or `iodef`"),
            (
                vec![Rec::new("@", mx)],
                "its target `bad name` is not a name",
            ),
            (vec![Rec::new("-www", RecData::Cname("@"))], "`owner`"),
        ] {
            let records: &'static [Rec] = Box::leak(records.into_boxed_slice());
            let data: &'static ZoneData = Box::leak(Box::new(ZoneData { records, ..DATA }));
            let zones = [Zone::records("example.com", data)];
            let found = zones_problem(&zones).unwrap();
            assert!(found.as_str().contains(problem), "{found}");
        }
    }

    /// The problem, if any, with `records` as zone `example.com` served
    /// beside a typed `example.org` (holding `www`) and a zone file
    /// `example.net`.
    fn targets(records: Vec<Rec>) -> Option<String> {
        const ORG: ZoneData = ZoneData {
            soa: Soa {
                primary: "ns1.example.com.",
                ..Soa::DEFAULT
            },
            ..ZoneData::new(&[Rec::new("www", RecData::A(Ipv4Addr::LOCALHOST))])
        };
        let records: &'static [Rec] = Box::leak(records.into_boxed_slice());
        let com: &'static ZoneData = Box::leak(Box::new(ZoneData { records, ..ORG }));
        let zones = [
            Zone::records("example.com", com),
            Zone::records("example.org", &ORG),
            Zone::file("example.net", "zones/example.net.zone"),
        ];
        zones_problem(&zones).map(|text| text.as_str().to_owned())
    }

    #[test]
    fn a_target_inside_a_served_zone_must_exist() {
        let a = |owner| Rec::new(owner, RecData::A(Ipv4Addr::LOCALHOST));
        let mx = |exchange| RecData::Mx {
            preference: 10,
            exchange,
        };
        let srv = |target| RecData::Srv {
            priority: 0,
            weight: 0,
            port: Port::try_from(5060).unwrap(),
            target,
        };
        // Each answers: the apex, an owner (any case, relative or
        // absolute), a name with owners below it, a wildcard's match,
        // a name under a delegation, a name in another served zone, one
        // in a zone file (unread here), one outside every zone, SRV's
        // "no service", and a PTR anywhere.
        for records in [
            vec![Rec::new("www", RecData::Cname("@"))],
            vec![a("mail"), Rec::new("@", mx("MAIL"))],
            vec![a("mail"), Rec::new("@", mx("mail.example.com."))],
            vec![a("a.b"), Rec::new("x", RecData::Cname("b"))],
            vec![a("*.apps"), Rec::new("x", RecData::Cname("shop.apps"))],
            vec![
                Rec::new("sub", RecData::Ns("ns.elsewhere.net.")),
                Rec::new("x", RecData::Cname("www.sub")),
            ],
            vec![Rec::new("x", RecData::Cname("www.example.org."))],
            vec![Rec::new("x", RecData::Cname("anything.example.net."))],
            vec![Rec::new("x", RecData::Cname("www.example.info."))],
            vec![Rec::new("_sip._tcp", srv("."))],
            vec![Rec::new("1", RecData::Ptr("nowhere"))],
        ] {
            assert_eq!(targets(records.clone()), None, "{records:?}");
        }
        for (records, problem) in [
            (
                vec![Rec::new("www", RecData::Cname("wwww"))],
                "zone `example.com`, record `www` (CNAME): its target `wwww.example.com` is in zone `example.com`, which has no such name, so resolvers would get NXDOMAIN: add a record for it or correct the target",
            ),
            (
                vec![Rec::new("@", mx("mail"))],
                "record `@` (MX): its target `mail.example.com`",
            ),
            (
                vec![Rec::new("@", RecData::Ns("ns2"))],
                "record `@` (NS): its target `ns2.example.com`",
            ),
            (
                vec![Rec::new("_sip._tcp", srv("sip"))],
                "record `_sip._tcp` (SRV): its target `sip.example.com`",
            ),
            (
                vec![Rec::new("x", RecData::Cname("web.example.org."))],
                "record `x` (CNAME): its target `web.example.org` is in zone `example.org`",
            ),
        ] {
            let found = targets(records).expect(problem);
            assert!(found.contains(problem), "{found}");
        }
    }
}

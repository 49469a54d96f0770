//! DNSSEC signing of a loaded zone (RFC 4034, 4035): the key's DNSKEY at
//! the apex, an NSEC chain over the authoritative names, and an RRSIG on
//! every authoritative RRset. Delegation NS records and glue are not
//! signed; at a zone cut only DS and NSEC are.

use hickory_proto::dnssec::TBS;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, RRSIG};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType, SerialNumber};

use super::{NodeData, RRset, Signed, Zone};
use crate::keys::ZoneKey;

/// When the signatures are valid (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Not before.
    pub inception: u32,
    /// Not after.
    pub expiration: u32,
}

/// Why a zone could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("zone {origin}: cannot sign {owner} {rtype}: {problem}")]
pub struct SignError {
    origin: String,
    owner: String,
    rtype: RecordType,
    problem: String,
}

impl Zone {
    /// This zone, signed with `key`, its SOA serial set to `serial` (a
    /// re-signed zone is a new version of the zone: secondaries must see a
    /// higher serial to fetch the fresh signatures).
    pub fn sign(&self, key: &ZoneKey, serial: u32, validity: Validity) -> Result<Zone, SignError> {
        let mut zone = self.clone();
        let origin = Name::from(&zone.origin);
        if let RData::SOA(soa) = &mut zone.soa.data {
            soa.serial = serial;
        }
        let soa = zone.soa.clone();
        let apex = zone.nodes.entry(zone.origin.clone()).or_default();
        if let Some(set) = apex
            .rrsets
            .iter_mut()
            .find(|s| s.record_type() == RecordType::SOA)
        {
            set.records = vec![soa.clone()];
        }
        apex.rrsets
            .retain(|s| s.record_type() != RecordType::DNSKEY);
        apex.insert(RRset {
            records: vec![Record::from_rdata(
                origin.clone(),
                soa.ttl,
                RData::DNSSEC(DNSSECRData::DNSKEY(key.dnskey().clone())),
            )],
            sigs: Vec::new(),
        });

        // The authoritative names, in canonical order: every name but those
        // below a zone cut (glue and occluded data), each with whether it is
        // itself a cut.
        let mut names: Vec<(LowerName, bool)> = Vec::new();
        let mut last_cut: Option<LowerName> = None;
        for (name, node) in &zone.nodes {
            if last_cut.as_ref().is_some_and(|cut| cut.zone_of(name)) {
                continue;
            }
            let cut = *name != zone.origin && node.get(RecordType::NS).is_some();
            if cut {
                last_cut = Some(name.clone());
            }
            names.push((name.clone(), cut));
        }

        let nsec_ttl = zone.negative_ttl();
        let mut added = 1; // the DNSKEY
        for (i, (name, cut)) in names.iter().enumerate() {
            let next = names
                .get(i + 1)
                .map_or_else(|| origin.clone(), |(next, _)| Name::from(next));
            let owner = Name::from(name);
            let node = zone.nodes.get_mut(name).expect("listed from the map");
            let types: Vec<RecordType> = node
                .rrsets
                .iter()
                .map(RRset::record_type)
                .filter(|t| !*cut || matches!(t, RecordType::NS | RecordType::DS))
                .chain([RecordType::RRSIG, RecordType::NSEC])
                .collect();
            node.rrsets.retain(|s| s.record_type() != RecordType::NSEC);
            node.insert(RRset {
                records: vec![Record::from_rdata(
                    owner.clone(),
                    nsec_ttl,
                    RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types))),
                )],
                sigs: Vec::new(),
            });
            added += 1;
            added += sign_node(&zone.origin, &owner, node, *cut, key, validity)?;
        }
        zone.record_count += added;
        zone.signed = Some(Signed {
            key_tag: key.key_tag(),
            algorithm: key.algorithm().as_str(),
            ds: key.ds_text(&origin),
            inception: validity.inception,
            expiration: validity.expiration,
        });
        Ok(zone)
    }
}

/// Signs the RRsets of one authoritative name; at a cut only DS and NSEC.
/// Returns how many signatures were made.
fn sign_node(
    origin: &LowerName,
    owner: &Name,
    node: &mut NodeData,
    cut: bool,
    key: &ZoneKey,
    validity: Validity,
) -> Result<usize, SignError> {
    let mut made = 0;
    for set in &mut node.rrsets {
        let rtype = set.record_type();
        if cut && !matches!(rtype, RecordType::DS | RecordType::NSEC) {
            set.sigs.clear();
            continue;
        }
        let failed = |problem: String| SignError {
            origin: origin.to_string(),
            owner: owner.to_string(),
            rtype,
            problem,
        };
        let input = SigInput {
            type_covered: rtype,
            algorithm: key.algorithm(),
            num_labels: owner.num_labels(),
            original_ttl: set.records[0].ttl,
            sig_expiration: SerialNumber::new(validity.expiration),
            sig_inception: SerialNumber::new(validity.inception),
            key_tag: key.key_tag(),
            signer_name: Name::from(origin),
        };
        let tbs = TBS::from_input(owner, DNSClass::IN, &input, set.records.iter())
            .map_err(|e| failed(e.to_string()))?;
        let signature = key.signer().sign(&tbs).map_err(|e| failed(e.to_string()))?;
        set.sigs = vec![Record::from_rdata(
            owner.clone(),
            set.records[0].ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
        )];
        made += 1;
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use hickory_proto::dnssec::PublicKey as _;

    use super::*;
    use crate::spec::SigningAlgorithm;
    use crate::zone::file;

    const ZONE: &str = r#"$ORIGIN example.com.
$TTL 3600
@ SOA ns1 admin 7 3600 1800 604800 300
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.3
*.apps A 192.0.2.4
deep.a.b TXT "x"
sub NS ns.sub
ns.sub A 192.0.2.5
"#;

    fn signed() -> (Zone, ZoneKey) {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = ZoneKey::open(
            &dir.path().join("k.pem"),
            SigningAlgorithm::EcdsaP256Sha256,
            true,
        )
        .unwrap();
        let zone = file::parse(ZONE, "z", &Name::from_ascii("example.com.").unwrap()).unwrap();
        let validity = Validity {
            inception: 1_700_000_000,
            expiration: 1_701_209_600,
        };
        (zone.sign(&key, 8, validity).unwrap(), key)
    }

    fn name(text: &str) -> LowerName {
        LowerName::new(&Name::from_ascii(text).unwrap())
    }

    #[test]
    fn the_nsec_chain_covers_authoritative_names_and_skips_glue() {
        let (zone, _) = signed();
        assert_eq!(zone.serial(), 8);
        let mut chain = Vec::new();
        let mut at = name("example.com.");
        loop {
            let nsec = zone.node(&at).unwrap().get(RecordType::NSEC).unwrap();
            let RData::DNSSEC(DNSSECRData::NSEC(data)) = &nsec.records[0].data else {
                panic!()
            };
            chain.push((at.to_string(), data.type_bit_maps().collect::<Vec<_>>()));
            at = LowerName::new(data.next_domain_name());
            if at == name("example.com.") {
                break;
            }
        }
        let owners: Vec<&str> = chain.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            owners,
            [
                "example.com.",
                "*.apps.example.com.",
                "deep.a.b.example.com.",
                "ns1.example.com.",
                "sub.example.com.",
                "www.example.com.",
            ]
        );
        use RecordType::*;
        assert_eq!(chain[0].1, [NS, SOA, RRSIG, NSEC, DNSKEY]);
        assert_eq!(chain[4].1, [NS, RRSIG, NSEC], "a cut: NS only, no DS");
        assert!(
            zone.node(&name("ns.sub.example.com.")).unwrap().rrsets()[0]
                .sigs
                .is_empty()
        );
    }

    #[test]
    fn every_signature_verifies_with_the_key() {
        let (zone, key) = signed();
        let public = key.dnskey().public_key();
        let mut checked = 0;
        for node in zone.nodes.values() {
            for set in node.rrsets() {
                for sig in &set.sigs {
                    let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &sig.data else {
                        panic!()
                    };
                    let owner = &set.records[0].name;
                    let tbs =
                        TBS::from_input(owner, DNSClass::IN, rrsig.input(), set.records.iter())
                            .unwrap();
                    public.verify(tbs.as_ref(), rrsig.sig()).unwrap();
                    checked += 1;
                }
            }
        }
        // SOA, NS, DNSKEY and NSEC at the apex; A and NSEC at ns1, www and
        // the wildcard; TXT and NSEC at deep.a.b; NSEC at the cut.
        assert_eq!(checked, 4 + 2 * 3 + 2 + 1);
        let wildcard = zone.node(&name("*.apps.example.com.")).unwrap();
        let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &wildcard.rrsets()[0].sigs[0].data else {
            panic!()
        };
        assert_eq!(rrsig.input().num_labels, 3, "the `*` label is not counted");
    }
}

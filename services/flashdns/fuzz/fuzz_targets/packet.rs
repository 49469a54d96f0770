//! Any datagram given to the DNS front end, as its UDP socket hands it
//! over, twice (the second time answered from the cache when the first
//! answer was kept): a response within the UDP limit, the same response
//! both times, never a panic. One zone is DNSSEC-signed (the DO paths),
//! one is not.
#![no_main]

use std::sync::{Arc, OnceLock};

use flashdns::answer::{Catalog, SharedCatalog};
use flashdns::dns::{Counters, DnsHandler, UDP_PAYLOAD};
use flashdns::front::Front;
use flashdns::keys::ZoneKey;
use flashdns::spec::SigningAlgorithm;
use flashdns::zone::file;
use flashdns::zone::sign::Validity;
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;

const ZONE: &str = include_str!("../../../../tests/dns/zones/example.com.zone");
const UNSIGNED: &str = include_str!("../../../../tests/dns/zones/example.net.zone");

fn front() -> &'static Arc<Front> {
    static FRONT: OnceLock<Arc<Front>> = OnceLock::new();
    FRONT.get_or_init(|| {
        let origin = Name::from_ascii("example.com.").unwrap();
        let zone = file::parse(ZONE, "example.com.zone", &origin).unwrap();
        let key_file = std::env::temp_dir().join(format!("flashdns-fuzz-{}.pem", std::process::id()));
        let (key, _) = ZoneKey::open(&key_file, SigningAlgorithm::Ed25519, true).unwrap();
        let _ = std::fs::remove_file(&key_file);
        let validity = Validity { inception: 0, expiration: u32::MAX };
        let signed = zone.sign(&key, 1, validity).unwrap();
        let net = Name::from_ascii("example.net.").unwrap();
        let unsigned = file::parse(UNSIGNED, "example.net.zone", &net).unwrap();
        let catalog = SharedCatalog::new(Catalog::new([Arc::new(signed), Arc::new(unsigned)]));
        let handler =
            DnsHandler::new(catalog, vec!["127.0.0.1".parse().unwrap()], Arc::new(Counters::default()));
        Front::new(handler, None)
    })
}

fuzz_target!(|data: &[u8]| {
    let src = "127.0.0.1:5353".parse().unwrap();
    let mut first = Vec::new();
    let mut second = Vec::new();
    let answered = futures::executor::block_on(front().answer_datagram(data, src, &mut first));
    let again = futures::executor::block_on(front().answer_datagram(data, src, &mut second));
    assert_eq!(answered, again);
    if answered {
        assert!(first.len() <= usize::from(UDP_PAYLOAD));
        assert_eq!(first, second);
    }
});

//! Any datagram given to the DNS handler, as hickory-server hands it over
//! UDP: a response that encodes within the UDP limit, never a panic. One
//! zone is DNSSEC-signed (the DO paths), one is not.
#![no_main]

use std::sync::{Arc, OnceLock};

use flashdns::answer::{Catalog, SharedCatalog};
use flashdns::dns::{Counters, DnsHandler, UDP_PAYLOAD};
use flashdns::keys::ZoneKey;
use flashdns::spec::SigningAlgorithm;
use flashdns::zone::file;
use flashdns::zone::sign::Validity;
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use libfuzzer_sys::fuzz_target;

const ZONE: &str = include_str!("../../../../tests/dns/zones/example.com.zone");
const UNSIGNED: &str = include_str!("../../../../tests/dns/zones/example.net.zone");

/// Encodes the response as the UDP path would, and checks its size.
#[derive(Clone)]
struct Encode;

#[async_trait::async_trait]
impl ResponseHandler for Encode {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut buffer = Vec::new();
        let mut encoder = BinEncoder::new(&mut buffer);
        encoder.set_max_size(UDP_PAYLOAD);
        let info = response.destructive_emit(&mut encoder)?;
        assert!(buffer.len() <= usize::from(UDP_PAYLOAD));
        Ok(info)
    }
}

fn handler() -> &'static DnsHandler {
    static HANDLER: OnceLock<DnsHandler> = OnceLock::new();
    HANDLER.get_or_init(|| {
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
        DnsHandler::new(catalog, vec!["127.0.0.1".parse().unwrap()], Arc::new(Counters::default()))
    })
}

fuzz_target!(|data: &[u8]| {
    let src = "127.0.0.1:5353".parse().unwrap();
    let Ok(request) = Request::from_bytes(data.to_vec(), src, Protocol::Udp) else {
        return; // hickory-server answers FORMERR itself, or drops it
    };
    futures::executor::block_on(handler().handle_request::<_, TokioTime>(&request, Encode));
});

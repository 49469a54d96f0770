//! The DNS front end: the UDP and TCP sockets of one listener, the answer
//! cache in front of the handler, and UDP rate limiting.
//!
//! hickory-server's own front end spawned a task per datagram and parsed,
//! answered and encoded every query; on this machine that left flashdns at
//! half Knot's rate under dnsperf (the profile: 60 % of the server's time
//! in user space, most of it hickory's name handling, allocation and
//! encoding; the rest the kernel's UDP send and receive). Here a few tasks
//! per socket receive in a loop, and a repeated question is answered from
//! [`cache`] by copying the encoded response and setting its ID. A new
//! question goes through [`DnsHandler`] as before; its response is kept.

pub mod cache;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Header, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;

use crate::dns::{DnsHandler, Slipped};
use crate::rrl::{Admit, RateLimiter};
use cache::{AnswerCache, Counted, Transport};

/// What one listener's sockets share: the handler, the cache, the limiter.
#[derive(Debug)]
pub struct Front {
    handler: DnsHandler,
    cache: AnswerCache,
    rate_limiter: Option<RateLimiter>,
}

impl Front {
    /// A front end for `handler`, limiting UDP responses with
    /// `rate_limiter`.
    pub fn new(handler: DnsHandler, rate_limiter: Option<RateLimiter>) -> Arc<Self> {
        Arc::new(Front {
            cache: AnswerCache::new(handler.catalog().clone()),
            handler,
            rate_limiter,
        })
    }

    /// The answer cache (tests look at it).
    pub fn cache(&self) -> &AnswerCache {
        &self.cache
    }

    /// The response to one datagram from `src`, written into `out`;
    /// `false` when nothing is to be sent (not a query, rate limited).
    pub async fn answer_datagram(&self, query: &[u8], src: SocketAddr, out: &mut Vec<u8>) -> bool {
        if !worth_answering(query, src) {
            return false;
        }
        let mut slipped = Slipped::No;
        if let Some(limiter) = &self.rate_limiter {
            let counters = self.handler.counters();
            match limiter.admit(src.ip(), std::time::Instant::now()) {
                Admit::Send => {}
                Admit::Slip => {
                    counters
                        .rate_limited_slipped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    slipped = Slipped::Yes;
                }
                Admit::Drop => {
                    counters
                        .rate_limited_dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return false;
                }
            }
        }
        if slipped == Slipped::No
            && let Some(counted) = self.cache.get(Transport::Udp, query, out)
        {
            counted.add_to(self.handler.counters());
            return true;
        }
        out.clear();
        let Some(request) = self.parse(query, src, Protocol::Udp, out) else {
            return !out.is_empty();
        };
        self.answer_parsed(&request, query, Transport::Udp, slipped, out)
            .await
    }

    /// The response to one message received over TCP from `src`: written
    /// into `out`, or a transfer for the connection to stream with
    /// [`transfer`](Self::transfer).
    pub(crate) async fn answer_stream_message(
        &self,
        query: &[u8],
        src: SocketAddr,
        out: &mut Vec<u8>,
    ) -> StreamReply {
        if !worth_answering(query, src) {
            return StreamReply::Nothing;
        }
        if let Some(counted) = self.cache.get(Transport::Tcp, query, out) {
            counted.add_to(self.handler.counters());
            return StreamReply::Send;
        }
        out.clear();
        let Some(request) = self.parse(query, src, Protocol::Tcp, out) else {
            return if out.is_empty() {
                StreamReply::Nothing
            } else {
                StreamReply::Send
            };
        };
        if is_transfer(&request) {
            return StreamReply::Transfer(Box::new(request));
        }
        if self
            .answer_parsed(&request, query, Transport::Tcp, Slipped::No, out)
            .await
        {
            StreamReply::Send
        } else {
            StreamReply::Nothing
        }
    }

    /// Answers a parsed request (one message) through the handler into
    /// `out`, keeping the response when it may be reused; `false` when the
    /// handler sent nothing.
    async fn answer_parsed(
        &self,
        request: &Request,
        query: &[u8],
        transport: Transport,
        slipped: Slipped,
        out: &mut Vec<u8>,
    ) -> bool {
        // Taken before the answer: one computed across a reload is not kept.
        let generation = self.cache.generation();
        let sink = Sink::collect(transport);
        self.handler.handle(request, sink.clone(), slipped).await;
        let Some((response, info)) = sink.take_first() else {
            return false;
        };
        if slipped == Slipped::No && cacheable(request) {
            self.cache.insert(
                transport,
                generation,
                query,
                &response,
                counted(request, &info),
            );
        }
        *out = response;
        true
    }

    /// Answers a transfer request, each message into `messages` as it is
    /// encoded (the channel's bound holds the zone back from a slow
    /// client).
    pub(crate) async fn transfer(
        &self,
        request: &Request,
        messages: tokio::sync::mpsc::Sender<Vec<u8>>,
    ) {
        self.handler
            .handle(request, Sink::streaming(messages), Slipped::No)
            .await;
    }

    /// The request in `query`, or `None` with a FORMERR response in `out`
    /// when its header reads but the rest does not (as hickory-server
    /// answers it: no question, no EDNS).
    fn parse(
        &self,
        query: &[u8],
        src: SocketAddr,
        protocol: Protocol,
        out: &mut Vec<u8>,
    ) -> Option<Request> {
        match Request::from_bytes(query.to_vec(), src, protocol) {
            Ok(request) => Some(request),
            Err(error) => {
                tracing::debug!(%src, %error, "malformed DNS message: FORMERR");
                let header = Header::read(&mut BinDecoder::new(query)).ok()?;
                let mut metadata = Metadata::response_from_request(&header.metadata);
                metadata.response_code = ResponseCode::FormErr;
                self.handler.counters().count(None, ResponseCode::FormErr);
                let mut message =
                    Message::new(metadata.id, MessageType::Response, metadata.op_code);
                message.metadata = metadata;
                *out = message.to_vec().ok()?;
                None
            }
        }
    }
}

/// Whether a message deserves a response at all: a whole header, a query
/// (a response is never answered: no reflection loops), a source that can
/// be answered.
fn worth_answering(message: &[u8], src: SocketAddr) -> bool {
    message.len() >= 12 && message[2] & 0x80 == 0 && src.port() != 0 && !src.ip().is_unspecified()
}

/// What a TCP connection does after a message.
pub(crate) enum StreamReply {
    /// Sends the response written.
    Send,
    /// Sends nothing.
    Nothing,
    /// Streams this transfer.
    Transfer(Box<Request>),
}

/// Whether `request` asks for a zone transfer (several messages).
fn is_transfer(request: &Request) -> bool {
    request
        .queries
        .queries()
        .iter()
        .any(|q| matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR))
}

/// Whether the response to `request` depends on its bytes and transport
/// alone: one ordinary question (transfers depend on who asks).
fn cacheable(request: &Request) -> bool {
    request.metadata.op_code == OpCode::Query
        && request.queries.queries().len() == 1
        && !is_transfer(request)
}

fn counted(request: &Request, info: &ResponseInfo) -> Counted {
    Counted {
        qtype: request
            .queries
            .queries()
            .first()
            .map(|q| q.original().query_type()),
        rcode: info.response_code,
        truncated: info.truncation,
    }
}

/// Encodes what the handler sends, as hickory-server's UDP and TCP
/// handles did: at most the response's EDNS payload size over UDP (512
/// without EDNS), 65535 over TCP; a response that cannot be encoded goes
/// out as SERVFAIL.
/// One response as sent, and its header.
type Encoded = (Vec<u8>, ResponseInfo);

#[derive(Clone)]
pub(crate) struct Sink {
    transport: Transport,
    messages: Arc<Mutex<Vec<Encoded>>>,
    stream: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
}

impl Sink {
    /// A sink keeping what is sent, for the caller to take.
    fn collect(transport: Transport) -> Self {
        Sink {
            transport,
            messages: Arc::default(),
            stream: None,
        }
    }

    /// A sink handing each message to `stream` as it is encoded (a
    /// transfer over TCP), waiting while the connection is behind.
    fn streaming(stream: tokio::sync::mpsc::Sender<Vec<u8>>) -> Self {
        Sink {
            transport: Transport::Tcp,
            messages: Arc::default(),
            stream: Some(stream),
        }
    }

    /// The first message sent.
    fn take_first(&self) -> Option<Encoded> {
        let mut messages = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        (!messages.is_empty()).then(|| messages.swap_remove(0))
    }
}

#[async_trait::async_trait]
impl ResponseHandler for Sink {
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
        let limit = match (self.transport, response.edns()) {
            (Transport::Udp, Some(edns)) => edns.max_payload(),
            (Transport::Udp, None) => 512,
            (Transport::Tcp, _) => u16::MAX,
        };
        let id = response.metadata().id;
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(limit);
        let info = match response.destructive_emit(&mut encoder) {
            Ok(info) => info,
            Err(error) => {
                tracing::error!(%error, "cannot encode a DNS response: SERVFAIL instead");
                let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
                metadata.response_code = ResponseCode::ServFail;
                let header = Header {
                    metadata,
                    counts: Default::default(),
                };
                bytes = header
                    .to_bytes()
                    .map_err(|e| NetError::from(e.to_string()))?;
                ResponseInfo::from(header)
            }
        };
        match &self.stream {
            Some(stream) => stream
                .send(bytes)
                .await
                .map_err(|_| NetError::from("the TCP connection closed"))?,
            None => self
                .messages
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((bytes, info)),
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Catalog, SharedCatalog};
    use crate::dns::Counters;
    use crate::zone::file;
    use hickory_proto::op::{Edns, Query};
    use hickory_proto::rr::Name;

    const ZONE: &str = include_str!("../../../../tests/dns/zones/example.com.zone");
    const QUESTIONS: &str = include_str!("../../../../tests/dns/queries.txt");

    fn zone(text: &str) -> Arc<crate::zone::Zone> {
        let origin = Name::from_ascii("example.com.").unwrap();
        Arc::new(file::parse(text, "example.com.zone", &origin).unwrap())
    }

    fn front(catalog: &SharedCatalog) -> Arc<Front> {
        let handler = DnsHandler::new(catalog.clone(), Vec::new(), Arc::new(Counters::default()));
        Front::new(handler, None)
    }

    /// The differential check's questions, each asked without EDNS, with
    /// EDNS, with the DO bit and a small payload, in another letter case
    /// and with RD set.
    fn queries() -> Vec<Vec<u8>> {
        let mut queries = Vec::new();
        for line in QUESTIONS.lines().filter(|l| !l.starts_with('#')) {
            let [name, rtype] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                continue;
            };
            let rtype: RecordType = rtype.parse().unwrap();
            for variant in 0..5u16 {
                let written = if variant == 3 {
                    name.to_uppercase()
                } else {
                    name.to_owned()
                };
                let mut message = Message::query();
                message.metadata.id = 1000 + variant;
                message.metadata.recursion_desired = variant == 4;
                message.add_query(Query::query(Name::from_ascii(&written).unwrap(), rtype));
                if variant >= 1 {
                    let mut edns = Edns::new();
                    edns.set_max_payload(if variant == 2 { 512 } else { 1232 });
                    edns.set_dnssec_ok(variant == 2);
                    message.set_edns(edns);
                }
                queries.push(message.to_vec().unwrap());
            }
        }
        queries
    }

    async fn ask_udp(front: &Front, query: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(
            front
                .answer_datagram(query, "127.0.0.1:5353".parse().unwrap(), &mut out)
                .await
        );
        out
    }

    async fn ask_tcp(front: &Front, query: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let reply = front
            .answer_stream_message(query, "127.0.0.1:5353".parse().unwrap(), &mut out)
            .await;
        assert!(matches!(reply, StreamReply::Send));
        out
    }

    fn with_id(query: &[u8], id: u16) -> Vec<u8> {
        let mut query = query.to_vec();
        query[..2].copy_from_slice(&id.to_be_bytes());
        query
    }

    #[tokio::test]
    async fn a_cached_answer_is_byte_for_byte_the_answer_the_handler_builds() {
        let catalog = SharedCatalog::new(Catalog::new([zone(ZONE)]));
        let warm = front(&catalog);
        let queries = queries();
        assert!(queries.len() > 300);
        for query in &queries {
            // Asked once (answered by the handler, kept), then again with
            // another ID (from the cache).
            let first = ask_udp(&warm, query).await;
            let again = with_id(query, 0xbeef);
            let cached = ask_udp(&warm, &again).await;
            // A cold front end answers the second query itself.
            let fresh = ask_udp(&front(&catalog), &again).await;
            assert_eq!(
                cached,
                fresh,
                "UDP answer to {:?}",
                Message::from_vec(query)
            );
            assert_eq!(&first[2..], &cached[2..]);
            assert_eq!(&cached[..2], &[0xbe, 0xef]);
            let cached = {
                ask_tcp(&warm, query).await;
                ask_tcp(&warm, &again).await
            };
            let fresh = ask_tcp(&front(&catalog), &again).await;
            assert_eq!(
                cached,
                fresh,
                "TCP answer to {:?}",
                Message::from_vec(query)
            );
        }
        assert!(!warm.cache().is_empty());
    }

    #[tokio::test]
    async fn cached_answers_count_in_metrics_as_answered_ones() {
        let catalog = SharedCatalog::new(Catalog::new([zone(ZONE)]));
        let front = front(&catalog);
        let query = &queries()[0]; // www.example.com A, no EDNS
        for _ in 0..3 {
            ask_udp(&front, query).await;
        }
        let noerror_a = front.handler.counters().by_qtype_rcode[0][0]
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(noerror_a, 3);
    }

    #[tokio::test]
    async fn a_reloaded_zone_is_answered_from_the_next_query_on() {
        let catalog = SharedCatalog::new(Catalog::new([zone(ZONE)]));
        let front = front(&catalog);
        let query = &queries()[0]; // www.example.com A
        let address = |response: &[u8]| {
            Message::from_vec(response).unwrap().answers[0]
                .data
                .to_string()
        };
        assert_eq!(address(&ask_udp(&front, query).await), "192.168.1.10");
        assert_eq!(address(&ask_tcp(&front, query).await), "192.168.1.10");
        assert_eq!(address(&ask_udp(&front, query).await), "192.168.1.10");
        assert_eq!(front.cache().len(), 2);
        let changed = ZONE.replace(
            "www     IN A    192.168.1.10",
            "www     IN A    192.168.1.99",
        );
        assert_ne!(changed, ZONE);
        catalog.replace(zone(&changed));
        assert_eq!(address(&ask_udp(&front, query).await), "192.168.1.99");
        assert_eq!(address(&ask_tcp(&front, query).await), "192.168.1.99");
        assert_eq!(address(&ask_udp(&front, query).await), "192.168.1.99");
    }

    #[test]
    fn an_answer_computed_across_a_reload_is_not_kept() {
        let catalog = SharedCatalog::new(Catalog::new([zone(ZONE)]));
        let cache = AnswerCache::new(catalog.clone());
        let query = &queries()[0];
        let mut out = Vec::new();
        assert!(cache.get(Transport::Udp, query, &mut out).is_none());
        let before = cache.generation();
        // The zone changes while the (old) answer is being computed.
        catalog.replace(zone(ZONE));
        let counted = Counted {
            qtype: Some(RecordType::A),
            rcode: ResponseCode::NoError,
            truncated: false,
        };
        cache.insert(Transport::Udp, before, query, &[0; 40], counted);
        assert!(cache.get(Transport::Udp, query, &mut out).is_none());
        assert!(cache.is_empty());
        // Computed after: kept.
        cache.insert(Transport::Udp, cache.generation(), query, &[0; 40], counted);
        assert!(cache.get(Transport::Udp, query, &mut out).is_some());
    }

    #[test]
    fn a_flood_of_distinct_questions_keeps_the_cache_bounded() {
        let catalog = SharedCatalog::new(Catalog::new([zone(ZONE)]));
        let cache = AnswerCache::new(catalog.clone());
        let mut out = Vec::new();
        let counted = Counted {
            qtype: None,
            rcode: ResponseCode::NXDomain,
            truncated: false,
        };
        for i in 0..(cache::MAX_ENTRIES as u32 * 2 + 10) {
            let mut query = vec![0; 12];
            query.extend_from_slice(&i.to_be_bytes());
            cache.get(Transport::Udp, &query, &mut out);
            cache.insert(
                Transport::Udp,
                cache.generation(),
                &query,
                &[0; 12],
                counted,
            );
            assert!(cache.len() <= cache::MAX_ENTRIES);
        }
    }

    #[tokio::test]
    async fn garbage_gets_formerr_or_nothing_and_responses_are_never_answered() {
        let catalog = SharedCatalog::new(Catalog::new([zone(ZONE)]));
        let front = front(&catalog);
        let src = "127.0.0.1:5353".parse().unwrap();
        let mut out = Vec::new();
        // Shorter than a header: nothing.
        assert!(!front.answer_datagram(&[1, 2, 3], src, &mut out).await);
        // A header claiming a question that is not there: FORMERR.
        let mut query = queries()[0].clone();
        query.truncate(14);
        assert!(front.answer_datagram(&query, src, &mut out).await);
        let response = Message::from_vec(&out).unwrap();
        assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
        assert_eq!(response.metadata.id, 1000);
        // A response (QR set): no reflection.
        let mut response = queries()[0].clone();
        response[2] |= 0x80;
        assert!(!front.answer_datagram(&response, src, &mut out).await);
        // From port 0: nowhere to answer.
        let nowhere = "127.0.0.1:0".parse().unwrap();
        assert!(
            !front
                .answer_datagram(&queries()[0], nowhere, &mut out)
                .await
        );
    }

    /// The UDP front end takes datagrams in batches and sends the batch's
    /// responses together: under a burst from several clients, over IPv4
    /// and IPv6, every query gets exactly its own response, byte for byte
    /// what the handler builds, and the datagrams that get none (responses
    /// sent to us) leave no gap or shift in the batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_datagrams_gets_one_response_per_query() {
        const CLIENTS: usize = 3;
        let catalog = SharedCatalog::new(Catalog::new([zone(ZONE)]));
        let reference = front(&catalog);
        let queries: Vec<Vec<u8>> = queries()
            .iter()
            .enumerate()
            .map(|(id, query)| with_id(query, u16::try_from(id).unwrap()))
            .collect();
        let mut expected = Vec::new();
        for query in &queries {
            expected.push(ask_udp(&reference, query).await);
        }
        for loopback in ["127.0.0.1", "::1"] {
            let any_port = SocketAddr::new(loopback.parse().unwrap(), 0);
            let socket = tokio::net::UdpSocket::bind(any_port).await.unwrap();
            let server = socket.local_addr().unwrap();
            let shutdown = tokio_util::sync::CancellationToken::new();
            let serving = tokio::spawn(udp::serve(socket, front(&catalog), shutdown.clone()));
            let mut clients = Vec::new();
            for _ in 0..CLIENTS {
                clients.push(Arc::new(
                    tokio::net::UdpSocket::bind(any_port).await.unwrap(),
                ));
            }
            // Each client reads its responses while all of them send.
            let readers: Vec<_> = clients
                .iter()
                .enumerate()
                .map(|(c, client)| {
                    let client = client.clone();
                    let wanted = (c..queries.len()).step_by(CLIENTS).count();
                    tokio::spawn(async move {
                        let mut got = Vec::new();
                        let mut buffer = vec![0; 65_535];
                        while got.len() < wanted {
                            let len = tokio::time::timeout(
                                std::time::Duration::from_secs(10),
                                client.recv(&mut buffer),
                            )
                            .await
                            .expect("a response within 10 s")
                            .unwrap();
                            got.push(buffer[..len].to_vec());
                        }
                        // Nothing more comes: the responses sent to the
                        // server were not answered.
                        let extra = tokio::time::timeout(
                            std::time::Duration::from_millis(300),
                            client.recv(&mut buffer),
                        )
                        .await;
                        assert!(extra.is_err(), "an unexpected datagram: {extra:?}");
                        got
                    })
                })
                .collect();
            for (id, query) in queries.iter().enumerate() {
                let client = &clients[id % CLIENTS];
                client.send_to(query, server).await.unwrap();
                let mut response = query.clone();
                response[2] |= 0x80;
                client.send_to(&response, server).await.unwrap();
            }
            for (c, reader) in readers.into_iter().enumerate() {
                let mut got = reader.await.unwrap();
                got.sort_by_key(|response| u16::from_be_bytes([response[0], response[1]]));
                let wanted: Vec<&Vec<u8>> = expected.iter().skip(c).step_by(CLIENTS).collect();
                assert_eq!(got.len(), wanted.len(), "client {c} over {loopback}");
                for (got, wanted) in got.iter().zip(wanted) {
                    assert_eq!(got, wanted, "client {c} over {loopback}");
                }
            }
            shutdown.cancel();
            serving.await.unwrap().unwrap();
        }
    }
}

//! The DNS request handler: turns each parsed request into an
//! authoritative response, fits it to the client's UDP size (truncating as
//! Knot does: TC with empty sections, so the client retries over TCP) and
//! streams zone transfers. The sockets, the answer cache and rate limiting
//! are the front end's ([`crate::front`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode, emit_message_parts};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::answer::{self, Answer, SharedCatalog};
use crate::zone::Zone;

/// The UDP payload we offer and send at most (the DNS flag day 2020 value,
/// also Knot's and BIND's default).
pub const UDP_PAYLOAD: u16 = 1232;

/// A transfer message stays under this many bytes (TCP messages may be up
/// to 65535; smaller ones let the client start parsing sooner).
const XFR_MESSAGE_BYTES: usize = 16 * 1024;

/// Counts for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Responses by the question's type ([`QTYPE_LABELS`]) and response
    /// code ([`RCODE_LABELS`]): the per-operation breakdown.
    pub by_qtype_rcode: [[AtomicU64; 7]; QTYPE_LABELS.len()],
    /// Responses sent truncated over UDP.
    pub truncated: AtomicU64,
    /// Zone transfers sent.
    pub transfers: AtomicU64,
    /// Zone transfers refused by `axfr_allow`.
    pub transfers_refused: AtomicU64,
    /// UDP responses rate limiting dropped.
    pub rate_limited_dropped: AtomicU64,
    /// UDP responses rate limiting sent truncated instead (slipped).
    pub rate_limited_slipped: AtomicU64,
}

/// The question types counted apart (others are `other`; a message
/// without a question is `none`).
pub const QTYPE_LABELS: [&str; 15] = [
    "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "CAA", "ANY", "AXFR", "IXFR",
    "other", "none",
];

/// The response codes counted apart, as [`Counters::by_qtype_rcode`]'s
/// second index.
pub const RCODE_LABELS: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
];

impl Counters {
    pub(crate) fn count(&self, qtype: Option<RecordType>, rcode: ResponseCode) {
        let q = match qtype {
            Some(RecordType::A) => 0,
            Some(RecordType::AAAA) => 1,
            Some(RecordType::CNAME) => 2,
            Some(RecordType::MX) => 3,
            Some(RecordType::NS) => 4,
            Some(RecordType::PTR) => 5,
            Some(RecordType::SOA) => 6,
            Some(RecordType::SRV) => 7,
            Some(RecordType::TXT) => 8,
            Some(RecordType::CAA) => 9,
            Some(RecordType::ANY) => 10,
            Some(RecordType::AXFR) => 11,
            Some(RecordType::IXFR) => 12,
            Some(_) => 13,
            None => 14,
        };
        let i = match rcode {
            ResponseCode::NoError => 0,
            ResponseCode::FormErr => 1,
            ResponseCode::ServFail => 2,
            ResponseCode::NXDomain => 3,
            ResponseCode::NotImp => 4,
            ResponseCode::Refused => 5,
            _ => 6,
        };
        self.by_qtype_rcode[q][i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Answers queries and transfers from the shared catalog.
#[derive(Debug)]
pub struct DnsHandler {
    catalog: SharedCatalog,
    axfr_allow: Vec<IpAddr>,
    counters: Arc<Counters>,
}

impl DnsHandler {
    /// A handler serving `catalog`, sending transfers only to `axfr_allow`.
    pub fn new(catalog: SharedCatalog, axfr_allow: Vec<IpAddr>, counters: Arc<Counters>) -> Self {
        DnsHandler {
            catalog,
            axfr_allow,
            counters,
        }
    }

    /// The zones answered from.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// The counts `/metrics` reports.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
}

/// The OPT record we answer with: our payload size, version 0, and the
/// request's DO bit copied back (RFC 3225 section 3).
fn response_edns(request: &Request) -> Option<Edns> {
    let asked = request.edns.as_ref()?;
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    edns.set_version(0);
    edns.set_dnssec_ok(asked.flags().dnssec_ok);
    Some(edns)
}

/// How large a response to this request may be.
fn size_limit(request: &Request) -> usize {
    match request.protocol() {
        Protocol::Udp => match &request.edns {
            Some(edns) => usize::from(edns.max_payload().clamp(512, UDP_PAYLOAD)),
            None => 512,
        },
        _ => usize::from(u16::MAX),
    }
}

/// Whether the message with these sections fits in `limit` bytes.
fn fits(
    metadata: &Metadata,
    request: &Request,
    edns: Option<&Edns>,
    sections: [&[Record]; 3],
    limit: usize,
) -> bool {
    let mut buffer = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buffer);
    encoder.set_max_size(limit as u16);
    let queries = request.queries.queries();
    let result = emit_message_parts(
        metadata,
        &mut queries.iter().map(|q| q.original()),
        &mut sections[0].iter(),
        &mut sections[1].iter(),
        &mut sections[2].iter(),
        edns,
        None,
        &mut encoder,
    );
    matches!(result, Ok(header) if !header.metadata.truncation)
}

impl DnsHandler {
    async fn send<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
        metadata: Metadata,
        answer: &Answer,
        slipped: Slipped,
    ) -> ResponseInfo {
        let edns = response_edns(request);
        let limit = size_limit(request);
        let mut metadata = metadata;
        let slipped = slipped == Slipped::Yes;
        let all = [
            &answer.answers[..],
            &answer.authorities,
            &answer.additionals,
        ];
        let without_additional = [&answer.answers[..], &answer.authorities, &[]];
        let empty: [&[Record]; 3] = [&[], &[], &[]];
        let sections = if slipped {
            // As BIND and Knot slip: TC with empty sections, so a real
            // client behind a spoofed flood retries over TCP.
            metadata.truncation = true;
            empty
        } else if limit >= usize::from(u16::MAX)
            || fits(&metadata, request, edns.as_ref(), all, limit)
        {
            all
        } else if fits(&metadata, request, edns.as_ref(), without_additional, limit) {
            // Additional data is a courtesy: dropped without TC (RFC 2181 9).
            without_additional
        } else {
            metadata.truncation = true;
            self.counters.truncated.fetch_add(1, Ordering::Relaxed);
            empty
        };
        self.counters
            .count(first_qtype(request), metadata.response_code);
        let mut builder = MessageResponseBuilder::new(&request.queries, None);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let message = builder.build(
            metadata,
            sections[0].iter(),
            sections[1].iter(),
            std::iter::empty(),
            sections[2].iter(),
        );
        match response.send_response(message).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, src = %request.src(), "cannot send a DNS response");
                let mut header = metadata;
                header.response_code = ResponseCode::ServFail;
                header_info(header)
            }
        }
    }

    async fn error<R: ResponseHandler>(
        &self,
        request: &Request,
        response: R,
        rcode: ResponseCode,
        slipped: Slipped,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = rcode;
        self.send(request, response, metadata, &Answer::empty(rcode), slipped)
            .await
    }

    /// AXFR (and IXFR, answered as a full transfer unless the client is
    /// current): SOA, every record, SOA again, over TCP in messages of
    /// about 16 KiB.
    async fn transfer<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
        zone: &Zone,
        qtype: RecordType,
        slipped: Slipped,
    ) -> ResponseInfo {
        if !self.axfr_allow.contains(&request.src().ip()) {
            self.counters
                .transfers_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(src = %request.src(), zone = %zone.origin(), "zone transfer refused: not in axfr_allow");
            return self
                .error(request, response, ResponseCode::Refused, slipped)
                .await;
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        if qtype == RecordType::IXFR && client_is_current(request, zone.serial()) {
            let current = Answer {
                answers: vec![zone.soa().clone()],
                ..Answer::empty(ResponseCode::NoError)
            };
            return self
                .send(request, response, metadata, &current, slipped)
                .await;
        }
        if request.protocol() == Protocol::Udp {
            // A full transfer needs TCP: TC tells the client to retry there.
            metadata.truncation = true;
            return self
                .send(
                    request,
                    response,
                    metadata,
                    &Answer::empty(ResponseCode::NoError),
                    slipped,
                )
                .await;
        }
        self.counters.transfers.fetch_add(1, Ordering::Relaxed);
        tracing::info!(src = %request.src(), zone = %zone.origin(), serial = zone.serial(), "sending zone transfer");
        let records: Vec<&Record> = zone.records().chain(std::iter::once(zone.soa())).collect();
        let mut info = header_info(metadata);
        let mut start = 0;
        while start < records.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < records.len() && (end == start || bytes < XFR_MESSAGE_BYTES) {
                bytes += wire_size(records[end]);
                end += 1;
            }
            let edns = response_edns(request);
            let mut builder = MessageResponseBuilder::new(&request.queries, None);
            if let Some(edns) = &edns {
                builder.edns(edns);
            }
            let message = builder.build(
                metadata,
                records[start..end].iter().copied(),
                std::iter::empty(),
                std::iter::empty(),
                std::iter::empty(),
            );
            match response.send_response(message).await {
                Ok(sent) => info = sent,
                Err(error) => {
                    tracing::warn!(%error, src = %request.src(), "zone transfer cut off");
                    return info;
                }
            }
            start = end;
        }
        self.counters
            .count(first_qtype(request), ResponseCode::NoError);
        info
    }
}

/// The type of the request's (first) question.
fn first_qtype(request: &Request) -> Option<RecordType> {
    request
        .queries
        .queries()
        .first()
        .map(|q| q.original().query_type())
}

fn header_info(metadata: Metadata) -> ResponseInfo {
    ResponseInfo::from(hickory_proto::op::Header {
        metadata,
        counts: Default::default(),
    })
}

/// A record's uncompressed size on the wire.
fn wire_size(record: &Record) -> usize {
    let mut buffer = Vec::new();
    let mut encoder = BinEncoder::new(&mut buffer);
    match record.emit(&mut encoder) {
        Ok(()) => buffer.len(),
        Err(_) => XFR_MESSAGE_BYTES,
    }
}

/// Whether an IXFR's SOA (in the authority section) has a serial at least
/// ours, in serial-number arithmetic (RFC 1982).
fn client_is_current(request: &Request, ours: u32) -> bool {
    request.authorities.iter().any(|record| match &record.data {
        RData::SOA(SOA { serial, .. }) => {
            let diff = ours.wrapping_sub(*serial);
            diff == 0 || diff > 0x8000_0000
        }
        _ => false,
    })
}

/// Whether rate limiting let this UDP response out only truncated and
/// empty (slipped it), in place of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slipped {
    /// The answer goes out.
    No,
    /// TC with empty sections goes out.
    Yes,
}

impl DnsHandler {
    /// Answers one parsed request through `response` (one message, or a
    /// transfer's several).
    pub async fn handle<R: ResponseHandler>(
        &self,
        request: &Request,
        response: R,
        slipped: Slipped,
    ) -> ResponseInfo {
        if request.metadata.message_type != MessageType::Query {
            return self
                .error(request, response, ResponseCode::FormErr, slipped)
                .await;
        }
        if request.metadata.op_code != OpCode::Query {
            return self
                .error(request, response, ResponseCode::NotImp, slipped)
                .await;
        }
        let queries = request.queries.queries();
        let [query] = queries else {
            return self
                .error(request, response, ResponseCode::FormErr, slipped)
                .await;
        };
        if let Some(edns) = &request.edns
            && edns.version() > 0
        {
            return self
                .error(request, response, ResponseCode::BADVERS, slipped)
                .await;
        }
        if query.query_class() != DNSClass::IN {
            return self
                .error(request, response, ResponseCode::Refused, slipped)
                .await;
        }
        let catalog = self.catalog.load();
        let qname: &LowerName = query.name();
        let qtype = query.query_type();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return match catalog.get(qname) {
                Some(zone) => {
                    let zone = zone.clone();
                    self.transfer(request, response, &zone, qtype, slipped)
                        .await
                }
                None => {
                    self.error(request, response, ResponseCode::NotAuth, slipped)
                        .await
                }
            };
        }
        let Some(zone) = catalog.find(qname) else {
            return self
                .error(request, response, ResponseCode::Refused, slipped)
                .await;
        };
        let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let question = query.original().name();
        let answer = answer::answer(zone, question, qtype, dnssec_ok).in_written_case(question);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = answer.authoritative;
        metadata.response_code = answer.rcode;
        self.send(request, response, metadata, &answer, slipped)
            .await
    }
}

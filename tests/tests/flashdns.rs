//! flashdns driven by hickory's DNS client over UDP and TCP (and by
//! hickory-resolver, which retries a truncated answer over TCP): every
//! record type, wildcards, CNAME chains, referrals, NXDOMAIN vs NODATA,
//! truncation, transfers allowed and refused, reloads good and bad, bad
//! packets and a flood, DNSSEC-signed zones across restarts.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e::Loopback;
use e2e::dns::{ask, ask_with, lines, start, start_in, tcp, try_ask, udp};
use e2e::http_get;
use futures::StreamExt as _;
use hickory_net::client::{Client, ClientHandle as _};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::xfer::DnsHandle as _;
use hickory_proto::op::{DnsRequestOptions, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_type_and_negative_answer_over_udp_and_tcp() {
    let net = Loopback::block();
    let server = start(&net);
    let clients = [
        ("udp", udp(server.addr, None)),
        ("tcp", tcp(server.addr, None).await),
    ];
    for (transport, client) in &clients {
        let a = ask(client, "www.example.com.", RecordType::A).await;
        assert_eq!(
            a.metadata.response_code,
            ResponseCode::NoError,
            "{transport}"
        );
        assert!(a.metadata.authoritative, "{transport}: AA");
        assert!(!a.metadata.recursion_available, "{transport}: RA");
        assert_eq!(
            lines(&a.answers),
            ["www.example.com. 3600 IN A 192.168.1.10"]
        );
        assert!(a.authorities.is_empty(), "{transport}: minimal responses");

        let aaaa = ask(client, "www.example.com.", RecordType::AAAA).await;
        assert_eq!(
            lines(&aaaa.answers),
            ["www.example.com. 600 IN AAAA 2001:db8::10"]
        );

        let mx = ask(client, "example.com.", RecordType::MX).await;
        assert_eq!(
            lines(&mx.answers),
            [
                "example.com. 3600 IN MX 10 mail.example.com.",
                "example.com. 3600 IN MX 20 mail2.example.net.",
            ]
        );
        assert_eq!(
            lines(&mx.additionals),
            [
                "mail.example.com. 3600 IN A 192.168.1.20",
                "mail.example.com. 3600 IN AAAA 2001:db8::20",
            ],
            "{transport}: the in-zone exchange's addresses"
        );

        let ns = ask(client, "example.com.", RecordType::NS).await;
        assert_eq!(ns.answers.len(), 2);
        assert_eq!(ns.additionals.len(), 2, "{transport}: NS glue");

        let soa = ask(client, "example.com.", RecordType::SOA).await;
        let RData::SOA(data) = &soa.answers[0].data else {
            panic!("{transport}: not an SOA: {:?}", soa.answers)
        };
        assert_eq!(data.serial, 2024010101);

        let txt = ask(client, "multi.example.com.", RecordType::TXT).await;
        let RData::TXT(txt) = &txt.answers[0].data else {
            panic!("not TXT")
        };
        let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
        assert_eq!(
            strings,
            [&b"first"[..], &b"second"[..]],
            "parentheses join lines"
        );

        let srv = ask(client, "_sip._tcp.example.com.", RecordType::SRV).await;
        assert_eq!(
            lines(&srv.answers),
            ["_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com."]
        );
        assert_eq!(
            lines(&srv.additionals),
            ["sip.example.com. 3600 IN A 192.168.1.30"]
        );

        let ptr = ask(client, "10.1.168.192.in-addr.example.com.", RecordType::PTR).await;
        assert_eq!(ptr.answers[0].data.to_string(), "www.example.com.");

        let caa = ask(client, "example.com.", RecordType::CAA).await;
        assert_eq!(
            caa.answers[0].data.to_string(),
            "0 issue \"letsencrypt.org\""
        );

        // CNAME chains are followed inside the zone, not out of it.
        let chain = ask(client, "chain.example.com.", RecordType::AAAA).await;
        assert_eq!(
            lines(&chain.answers),
            [
                "api.example.com. 3600 IN CNAME www.example.com.",
                "chain.example.com. 3600 IN CNAME api.example.com.",
                "www.example.com. 600 IN AAAA 2001:db8::10",
            ]
        );
        let ext = ask(client, "ext.example.com.", RecordType::A).await;
        assert_eq!(
            lines(&ext.answers),
            ["ext.example.com. 3600 IN CNAME www.example.net."]
        );

        // Wildcards answer for names that do not exist, with the asked name.
        let wild = ask(client, "anything.apps.example.com.", RecordType::A).await;
        assert_eq!(
            lines(&wild.answers),
            ["anything.apps.example.com. 3600 IN A 192.168.1.40"]
        );
        let wild_cname = ask(client, "x.cn.example.com.", RecordType::A).await;
        assert_eq!(wild_cname.answers.len(), 2);

        // NXDOMAIN and NODATA both carry the SOA, with the negative TTL.
        for (name, rtype, rcode) in [
            ("nope.example.com.", RecordType::A, ResponseCode::NXDomain),
            ("www.example.com.", RecordType::MX, ResponseCode::NoError),
            ("a.b.example.com.", RecordType::A, ResponseCode::NoError),
            ("x.apps.example.com.", RecordType::MX, ResponseCode::NoError),
        ] {
            let negative = ask(client, name, rtype).await;
            assert_eq!(
                negative.metadata.response_code, rcode,
                "{transport}: {name} {rtype}"
            );
            assert!(negative.answers.is_empty(), "{name} {rtype}");
            assert_eq!(
                lines(&negative.authorities),
                [
                    "example.com. 300 IN SOA ns1.example.com. admin.example.com. 2024010101 3600 1800 604800 300"
                ],
                "{transport}: {name} {rtype}"
            );
            assert!(negative.metadata.authoritative);
        }

        // Below a delegation: a referral, not an authoritative answer.
        let referral = ask(client, "host.sub.example.com.", RecordType::A).await;
        assert!(!referral.metadata.authoritative);
        assert_eq!(referral.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            lines(&referral.authorities),
            ["sub.example.com. 3600 IN NS ns.sub.example.com."]
        );
        assert_eq!(
            lines(&referral.additionals),
            ["ns.sub.example.com. 3600 IN A 192.168.1.60"]
        );

        // Names match case-insensitively.
        let mixed = ask(client, "mixed.CASE.example.COM.", RecordType::A).await;
        assert_eq!(mixed.answers.len(), 1, "{transport}");

        // Outside our zones: REFUSED, not authoritative.
        let other = ask(client, "example.org.", RecordType::A).await;
        assert_eq!(other.metadata.response_code, ResponseCode::Refused);
        assert!(!other.metadata.authoritative);

        // The typed zone: the node's own address, from the resolver.
        let node = ask(client, "ns.nodes.internal.", RecordType::A).await;
        assert_eq!(
            lines(&node.answers),
            [format!("ns.nodes.internal. 60 IN A {net}.1")]
        );
        let srv = ask(client, "_dns._tcp.nodes.internal.", RecordType::SRV).await;
        assert_eq!(
            srv.answers[0].data.to_string(),
            "0 0 5300 ns.nodes.internal."
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_over_udp_then_whole_over_tcp() {
    let net = Loopback::block();
    let server = start(&net);
    let client = udp(server.addr, None);
    // Six 100-byte strings do not fit 512 bytes: TC, empty sections.
    let small = ask_with(&client, "big.example.com.", RecordType::TXT, None).await;
    assert!(small.metadata.truncation);
    assert!(small.metadata.authoritative);
    assert!(small.answers.is_empty());
    let edns_512 = ask_with(&client, "big.example.com.", RecordType::TXT, Some(512)).await;
    assert!(edns_512.metadata.truncation);
    assert!(edns_512.edns.is_some(), "an EDNS query gets an OPT back");
    // They fit the 1232 bytes an EDNS client offers.
    let edns = ask_with(&client, "big.example.com.", RecordType::TXT, Some(1232)).await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 6);
    assert_eq!(edns.edns.as_ref().unwrap().max_payload(), 1232);
    let tcp = tcp(server.addr, None).await;
    let whole = ask_with(&tcp, "big.example.com.", RecordType::TXT, None).await;
    assert!(!whole.metadata.truncation);
    assert_eq!(whole.answers.len(), 6);

    // A real resolver does the retry itself.
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    let mut name_server = NameServerConfig::udp_and_tcp(server.addr.ip());
    for connection in &mut name_server.connections {
        connection.port = server.addr.port();
    }
    let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
    config.add_name_server(name_server);
    let mut builder = hickory_resolver::TokioResolver::builder_with_config(
        config,
        hickory_net::runtime::TokioRuntimeProvider::default(),
    );
    builder.options_mut().edns0 = false;
    let resolver = builder.build().unwrap();
    let txt = resolver.txt_lookup("big.example.com.").await.unwrap();
    assert_eq!(txt.answers().len(), 6, "the resolver retried over TCP");
    let metrics = http_get(&server.admin, "/metrics").await.1;
    let truncated: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flashdns_truncated_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(truncated, 3, "two here, one for the resolver: {metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_go_only_to_axfr_allow() {
    let net = Loopback::block();
    let server = start(&net);
    let allowed: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut client = tcp(server.addr, Some(allowed)).await;
    let mut transfer = client.zone_transfer(Name::from_ascii("example.com.").unwrap(), None);
    let mut records = Vec::new();
    while let Some(response) = transfer.next().await {
        let response = response.expect("the transfer");
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
        records.extend(response.answers.clone());
    }
    assert_eq!(records.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);
    let zone_text = http_get(&server.admin, "/zones/example.com").await.1;
    assert_eq!(
        records.len() - 1,
        zone_text.lines().count(),
        "every record once, the SOA twice"
    );
    for record in &records[1..records.len() - 1] {
        // hickory writes `/` (RFC 2317's `128/26`) escaped, zone files as is.
        let name = record.name.to_string().replace("\\/", "/");
        assert!(
            zone_text.contains(&format!(
                "{} {} IN {}",
                name,
                record.ttl,
                record.record_type()
            )),
            "{record} is in the zone"
        );
    }

    // Another address gets REFUSED.
    let refused_from: SocketAddr = "127.0.0.2:0".parse().unwrap();
    let mut other = tcp(server.addr, Some(refused_from)).await;
    let mut transfer = other.zone_transfer(Name::from_ascii("example.com.").unwrap(), None);
    let refused = transfer.next().await.unwrap();
    match refused {
        Ok(response) => assert_eq!(response.metadata.response_code, ResponseCode::Refused),
        Err(e) => assert!(e.to_string().contains("Refused"), "{e}"),
    }

    // IXFR from the current serial: the SOA alone.
    let soa = ask(&client, "example.com.", RecordType::SOA).await;
    assert_eq!(soa.answers[0].record_type(), RecordType::SOA);
    // (hickory's `zone_transfer` wants the SOA's MNAME to be the apex, so
    // the IXFR is written out: the client's SOA goes in the authority section.)
    let mut ixfr = hickory_proto::op::Message::query();
    ixfr.add_query(hickory_proto::op::Query::query(
        Name::from_ascii("example.com.").unwrap(),
        RecordType::IXFR,
    ));
    ixfr.add_authority(soa.answers[0].clone());
    let mut ixfr = client.send(hickory_proto::op::DnsRequest::new(ixfr, Default::default()));
    let up_to_date = ixfr.next().await.unwrap().unwrap();
    assert_eq!(up_to_date.answers.len(), 1);
    assert_eq!(up_to_date.answers[0].record_type(), RecordType::SOA);

    // A transfer of a zone we do not serve.
    let mut unknown = client.zone_transfer(Name::from_ascii("example.org.").unwrap(), None);
    let not_ours = unknown.next().await.unwrap();
    match not_ours {
        Ok(response) => assert_eq!(response.metadata.response_code, ResponseCode::NotAuth),
        Err(e) => assert!(e.to_string().contains("NotAuth"), "{e}"),
    }
    let metrics = http_get(&server.admin, "/metrics").await.1;
    assert!(
        metrics.contains("flashdns_transfers_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flashdns_transfers_refused_total 1\n"),
        "{metrics}"
    );
}

const NET_V2: &str = "$ORIGIN example.net.\n$TTL 300\n@ SOA ns1 hostmaster 2 3600 600 86400 60\n  NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.81\nnew A 192.0.2.99\n";

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_good_files_and_keeps_serving_through_bad_ones() {
    let net = Loopback::block();
    let mut server = start(&net);
    let client = udp(server.addr, None);
    assert_eq!(
        ask(&client, "new.example.net.", RecordType::A)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );

    // A good change is served within the reload interval.
    server.write_zone("example.net.zone", NET_V2);
    wait_until("the new record answers", || async {
        ask(&client, "new.example.net.", RecordType::A)
            .await
            .answers
            .len()
            == 1
    })
    .await;
    let www = ask(&client, "www.example.net.", RecordType::A).await;
    assert_eq!(
        lines(&www.answers),
        ["www.example.net. 300 IN A 192.0.2.81"]
    );

    // A file with an error is rejected with file, line and problem; the
    // last good zone keeps answering.
    server.write_zone(
        "example.net.zone",
        &NET_V2
            .replace("new A 192.0.2.99", "new A 192.0.2.999")
            .replace(" 2 3600", " 3 3600"),
    );
    let rejected = server
        .running
        .wait_for("zone reload rejected", Duration::from_secs(10));
    assert!(
        rejected.contains("example.net.zone:7: bad A data '192.0.2.999'"),
        "{rejected}"
    );
    assert_eq!(
        ask(&client, "new.example.net.", RecordType::A)
            .await
            .answers
            .len(),
        1
    );
    let (status, zones) = http_get(&server.admin, "/zones").await;
    assert_eq!(status, 200);
    assert!(zones.contains("example.net.zone:7: bad A data"), "{zones}");
    assert!(zones.contains("\"serial\":2"), "{zones}");
    let (_, health) = http_get(&server.admin, "/health").await;
    assert!(health.contains("\"status\":\"healthy\""), "{health}");
    assert!(health.contains("example.net.zone:7"), "{health}");

    // A change without a higher serial is served and reported.
    server.write_zone(
        "example.net.zone",
        &NET_V2.replace("192.0.2.99", "192.0.2.98"),
    );
    wait_until("the unserialed change answers", || async {
        ask(&client, "new.example.net.", RecordType::A)
            .await
            .answers[0]
            .data
            .to_string()
            == "192.0.2.98"
    })
    .await;
    let (_, zones) = http_get(&server.admin, "/zones").await;
    assert!(
        zones.contains("its SOA serial did not increase (2 -> 2)"),
        "{zones}"
    );
    // example.net is signed: the new version is signed too, and served
    // with the next serial, so secondaries still fetch it.
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = false;
    options.edns_set_dnssec_ok = true;
    let signed = try_ask(&client, "new.example.net.", RecordType::A, options)
        .await
        .unwrap();
    assert_eq!(
        signed
            .answers
            .iter()
            .map(|r| r.record_type())
            .collect::<Vec<_>>(),
        [RecordType::A, RecordType::RRSIG]
    );
    assert_eq!(soa_serial(&client, "example.net.").await, 3);
    assert!(
        zones.contains("\"last_error\":null"),
        "a good load clears the error: {zones}"
    );

    // SIGHUP re-reads every file.
    server.running.signal("HUP");
    server.running.wait_for(
        "SIGHUP: re-reading every zone file",
        Duration::from_secs(10),
    );
    // Re-read, it is re-signed: a new version with the next serial.
    wait_until("the re-signed version is served", || async {
        soa_serial(&client, "example.net.").await == 4
    })
    .await;
    let metrics = http_get(&server.admin, "/metrics").await.1;
    assert!(
        metrics.contains("flashdns_zone_reload_failures_total{zone=\"example.net.\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flashdns_zone_serial{zone=\"example.net.\"} 4"),
        "{metrics}"
    );

    // An $INCLUDE of a device or a FIFO is refused without reading it (or
    // waiting on it); the last good zone keeps answering.
    let fifo = server.dir.path().join("zones/pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (include, refusal) in [
        ("/dev/zero".to_owned(), "/dev/zero is a device".to_owned()),
        (
            fifo.display().to_string(),
            format!("{} is a FIFO", fifo.display()),
        ),
    ] {
        server.write_zone(
            "example.net.zone",
            &format!("{NET_V2}$INCLUDE {include}\n").replace(" 2 3600", " 9 3600"),
        );
        let rejected = server
            .running
            .wait_for("zone reload rejected", Duration::from_secs(10));
        assert!(rejected.contains(&refusal), "{rejected}");
        assert_eq!(soa_serial(&client, "example.net.").await, 4);
    }
}

async fn soa_serial(client: &Client<TokioRuntimeProvider>, zone: &str) -> u32 {
    let soa = ask(client, zone, RecordType::SOA).await;
    match &soa.answers[0].data {
        RData::SOA(soa) => soa.serial,
        other => panic!("not an SOA: {other}"),
    }
}

#[test]
fn a_bad_zone_file_stops_the_start_with_file_line_and_problem() {
    let net = Loopback::block();
    let dir = e2e::dns::zones_copy();
    let path = dir.path().join("zones/example.net.zone");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("www     A   192.0.2.80", "www     A   192.0.2.80 ("),
    )
    .unwrap();
    let mut running = e2e::Running::start_in(
        "flashdns-files",
        &[
            "up",
            "--loopback-base",
            &format!("{net}.0"),
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
        ],
        &[],
        Some(dir.path()),
    );
    let (status, _) = running.wait(Duration::from_secs(20));
    assert!(!status.success());
    let log = running.log();
    assert!(
        log.contains("zones/example.net.zone:7: unbalanced parentheses"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_packets_and_a_flood_from_one_address_do_not_stop_the_others() {
    let net = Loopback::block();
    let mut server = start(&net);
    let garbage = tokio::net::UdpSocket::bind("127.0.0.3:0").await.unwrap();
    garbage.connect(server.addr).await.unwrap();
    // Too short for a header, a header promising a question that is not
    // there, a response instead of a query, random bytes, a huge datagram.
    let mut packets: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x12],
        vec![0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0],
        vec![0xab, 0xcd, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0],
        (0..300u32).map(|i| (i * 7919 % 251) as u8).collect(),
        vec![0x41; 65_000],
    ];
    // A name whose label runs past the end of the packet.
    packets.push(vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'a', b'b']);
    for packet in &packets {
        garbage.send(packet).await.unwrap();
    }
    // Over TCP: a frame shorter than its length prefix, then a close.
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&[0x01, 0x00, 0xde, 0xad]).await.unwrap();
    }

    // A flood from one address while another client asks: every one of
    // the other client's questions is answered (a lost datagram may need
    // the client's retry, as any resolver does).
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = tokio::spawn({
        let addr = server.addr;
        let flooding = flooding.clone();
        async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.4:0").await.unwrap();
            let query = {
                let mut message = hickory_proto::op::Message::query();
                message.add_query(hickory_proto::op::Query::query(
                    Name::from_ascii("www.example.com.").unwrap(),
                    RecordType::A,
                ));
                message.to_vec().unwrap()
            };
            // 5 000 queries a second from one address: far more than any
            // client sends, and what the server keeps up with on a 2-core
            // machine running other tests beside it (past what it keeps up
            // with, the kernel drops datagrams before flashdns sees them,
            // anyone's alike, which no server can help).
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let mut sent = 0u64;
            while flooding.load(Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..5 {
                    let _ = socket.send_to(&query, addr).await;
                    sent += 1;
                }
            }
            sent
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = udp(server.addr, Some("127.0.0.5:0".parse().unwrap()));
    let mut retries = Vec::new();
    for i in 0..20 {
        let mut tries = 0;
        loop {
            tries += 1;
            match try_ask(
                &client,
                "www.example.com.",
                RecordType::A,
                Default::default(),
            )
            .await
            {
                Ok(a) => {
                    assert_eq!(a.answers.len(), 1);
                    break;
                }
                Err(e) if tries < 5 => retries.push(format!("question {i}: {e}")),
                Err(e) => panic!(
                    "question {i} unanswered after {tries} tries during the flood: {e}; earlier: {retries:?}"
                ),
            }
        }
    }
    flooding.store(false, Ordering::Relaxed);
    let sent = flood.await.unwrap();
    assert!(sent > 2_500, "the flood sent only {sent} queries");
    // Still serving, over both transports.
    let tcp_client = tcp(server.addr, None).await;
    assert_eq!(
        ask(&tcp_client, "www.example.com.", RecordType::A)
            .await
            .answers
            .len(),
        1
    );
    let formerr = http_get(&server.admin, "/metrics").await.1;
    assert!(server.running.is_running(), "the server is still running");
    assert!(formerr.contains("flashdns_responses_total{qtype=\"A\",rcode=\"NOERROR\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_and_transfers_match_knot_for_the_same_zone_files() {
    let net = Loopback::block();
    let knot = Loopback::block();
    let server = start(&net);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/dns-vs-knot.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .env("FLASHDNS", server.addr.ip().to_string())
        .env("ZONES", server.dir.path().join("zones"))
        .env("KNOT", knot.ip(1))
        .env(
            "KEYS",
            server
                .dir
                .path()
                .join("state/flashdns-files/dns/flashdns/dnssec"),
        )
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "flashdns and Knot differ:\n{stdout}\n{}\nflashdns log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.running.log()
    );
    assert!(
        stdout.contains("queries asked of both, with and without +dnssec, 0 differ"),
        "{stdout}"
    );
    assert!(stdout.contains("AXFR example.com: identical"), "{stdout}");
    assert!(stdout.contains("AXFR example.net: identical"), "{stdout}");
    assert!(
        stdout.contains("dnssec-verify example.com: fully signed"),
        "{stdout}"
    );
    assert!(stdout.contains("delv: 13 answers validated"), "{stdout}");

    // The admin API's dump is a zone file BIND reads.
    let (status, text) = http_get(&server.admin, "/zones/example.com").await;
    assert_eq!(status, 200);
    let dump = server.dir.path().join("dump.zone");
    std::fs::write(&dump, text).unwrap();
    let check = std::process::Command::new("named-checkzone")
        .args(["example.com", dump.to_str().unwrap()])
        .output()
        .expect("named-checkzone runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// Asks with the DO bit set, as a validating resolver does.
async fn ask_dnssec(
    client: &Client<TokioRuntimeProvider>,
    name: &str,
    rtype: RecordType,
) -> hickory_proto::op::DnsResponse {
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = false;
    options.edns_set_dnssec_ok = true;
    try_ask(client, name, rtype, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_zones_keep_their_key_across_restarts_and_never_lower_the_serial() {
    let net = Loopback::block();
    use std::os::unix::fs::PermissionsExt as _;
    let e2e::dns::Server {
        mut running, dir, ..
    } = start(&net);
    let addr: SocketAddr = format!("{net}.1:5300").parse().unwrap();
    let client = udp(addr, None);
    let dnskey = ask_dnssec(&client, "example.net.", RecordType::DNSKEY).await;
    assert_eq!(dnskey.answers.len(), 2, "the DNSKEY and its RRSIG");
    let key = dnskey.answers[0].data.clone();
    assert_eq!(soa_serial(&client, "example.net.").await, 1);

    // The key was created private, and /zones shows the DS to publish.
    let key_file = dir
        .path()
        .join("state/flashdns-files/dns/flashdns/dnssec/example.net.pem");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(dnskey_data)) = &key else {
        panic!("not a DNSKEY: {key}")
    };
    let tag = dnskey_data.calculate_key_tag().unwrap();
    let (_, zones) = http_get(&format!("http://{net}.1:8053"), "/zones").await;
    assert!(
        zones.contains(&format!("\"ds\":\"example.net. IN DS {tag} 13 2 ")),
        "{zones}"
    );
    assert!(
        running
            .log()
            .contains(&format!("example.net. IN DS {tag} 13 2 "))
    );

    // An unsigned zone answers a DO query without DNSSEC records.
    let unsigned = ask_dnssec(&client, "ns.nodes.internal.", RecordType::A).await;
    assert_eq!(lines(&unsigned.answers).len(), 1);
    assert_eq!(unsigned.answers[0].record_type(), RecordType::A);
    let nx = ask_dnssec(&client, "nope.nodes.internal.", RecordType::A).await;
    assert_eq!(nx.authorities.len(), 1, "the SOA alone: {nx:?}");

    // Restarted on the same state: the same key, a higher serial (the zone
    // was signed anew; secondaries must see a new version).
    running.signal("TERM");
    let (status, _) = running.wait(Duration::from_secs(10));
    assert!(status.success(), "{}", running.log());
    let again = start_in(&net, dir);
    let client = udp(again.addr, None);
    let dnskey = ask_dnssec(&client, "example.net.", RecordType::DNSKEY).await;
    assert_eq!(dnskey.answers[0].data, key, "the same key");
    assert_eq!(soa_serial(&client, "example.net.").await, 2);
    assert!(
        again.running.lines_with("created a DNSSEC key").is_empty(),
        "no new key: {}",
        again.running.log()
    );
}

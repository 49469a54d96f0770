//! `healthcheck type = "protocol"`: fiberlb asks each backend in the
//! balancer's protocol, so a server that takes TCP connections but does not
//! speak the protocol is taken out, where a connect check would keep it.
//! Real servers answer: etcd (Debian's) for etcd v3, `flashdns-server` for
//! DNS; the impostors are an HTTP server and a socket that never answers.
//!
//! fiberlb on `.1` of the test's loopback block, backends on `.2` and `.3`.

use std::time::Duration;

use e2e::Loopback;
use e2e::http::Backend;

/// Checked every 200 ms in the protocol, out after one failure.
const PROTOCOL_CHECKS: &str = "[standalone.loadbalancers.healthcheck]\ntype = \"protocol\"\ninterval_sec = 0.2\ntimeout_sec = 1\nrise = 1\nfall = 1\n";

/// fiberlb's view of `balancer`'s backends once it has settled on
/// `want` up: (backend, healthy) pairs.
async fn settled(net: &Loopback, balancer: &str, want: &str) -> Vec<(String, bool)> {
    e2e::fiberlb::wait_health(net, balancer, want).await;
    let (_, listed) = e2e::http_get(&net.url(1, 8404), "/balancers").await;
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    listed[0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["backend"].as_str().unwrap().to_owned(),
                b["healthy"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_status_tells_etcd_from_an_http_server_on_its_port() {
    let net = Loopback::block();
    let etcd = e2e::etcd::Etcd::start(&net, 2).await;
    let impostor = Backend::start("impostor", &net.addr(3, 2379)).await;
    let config = format!(
        "[[standalone.loadbalancers]]\nname = \"kv\"\nvip = \"{}\"\nport = 2379\nprotocol = \"etcd-v3\"\n{PROTOCOL_CHECKS}\
         [[standalone.loadbalancers.backends]]\naddress = \"{}\"\nport = 2379\n{}",
        net.ip(1),
        net.ip(2),
        e2e::fiberlb::backend(&impostor, 100),
    );
    let (_lb, _dir) = e2e::fiberlb::start(&net, &config);
    let backends = settled(&net, "kv", "ok: 1 of 2 backends up").await;
    assert_eq!(
        backends,
        vec![
            (etcd.endpoint().to_owned(), true),
            (impostor.addr.to_string(), false)
        ]
    );
    // An etcd client through the balancer reaches etcd every time.
    let mut client = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    for i in 0..6 {
        client.put(format!("k{i}"), "v", None).await.unwrap();
    }
    let got = client
        .get("k", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(got.kvs().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_question_tells_a_name_server_from_a_port_that_only_takes_connections() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let flashdns_config = dir.path().join("flashdns.toml");
    std::fs::write(
        &flashdns_config,
        format!(
            "[photon]\nmode = \"standalone\"\n[standalone.server]\ndns_addr = \"{}\"\nadmin_api_addr = \"{}\"\n\
             [standalone.zones]\nzone_dir = \"{}\"\n[[standalone.zones.zone]]\nname = \"example.com\"\n",
            net.addr(2, 5300),
            net.addr(2, 8053),
            e2e::dns::zone_dir().display(),
        ),
    )
    .unwrap();
    let mut flashdns = e2e::Running::start_server(
        "flashdns",
        &[
            "--config",
            flashdns_config.to_str().unwrap(),
            "--state-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
        None,
    );
    flashdns.wait_for("all services started", Duration::from_secs(30));
    // Takes TCP connections and UDP datagrams on the DNS port, answers
    // neither.
    let _tcp = std::net::TcpListener::bind(net.addr(3, 5300)).unwrap();
    let _udp = std::net::UdpSocket::bind(net.addr(3, 5300)).unwrap();
    let backends = |check: &str| {
        format!(
            "[[standalone.loadbalancers]]\nname = \"dns\"\nvip = \"{}\"\nport = 5300\nprotocol = \"dns\"\n{check}\
             [[standalone.loadbalancers.backends]]\naddress = \"{}\"\nport = 5300\n\
             [[standalone.loadbalancers.backends]]\naddress = \"{}\"\nport = 5300\n",
            net.ip(1),
            net.ip(2),
            net.ip(3),
        )
    };
    {
        // A connect check keeps the silent one.
        let connect = "[standalone.loadbalancers.healthcheck]\ntype = \"tcp\"\ninterval_sec = 0.2\nrise = 1\nfall = 1\n";
        let (_lb, _dir) = e2e::fiberlb::start(&net, &backends(connect));
        tokio::time::sleep(Duration::from_millis(600)).await;
        settled(&net, "dns", "ok: 2 of 2 backends up").await;
    }
    let (_lb, _dir) = e2e::fiberlb::start(&net, &backends(PROTOCOL_CHECKS));
    let backends = settled(&net, "dns", "ok: 1 of 2 backends up").await;
    assert_eq!(
        backends,
        vec![(net.addr(2, 5300), true), (net.addr(3, 5300), false)]
    );
}

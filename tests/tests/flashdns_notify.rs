//! NOTIFY to real secondaries: Knot DNS and BIND's `named`, each set up as
//! a secondary of a `flashdns-server` primary with a refresh interval of
//! an hour, pick up a new serial within seconds of the zone file changing,
//! which only flashdns's NOTIFY explains.
//!
//! Each test holds its own loopback block (`e2e::Loopback`): flashdns on
//! `.1` and Knot on `.2`, port 5300. named listens only on addresses an
//! interface has, so it takes 127.0.0.1 and a port of the block's own
//! (`15300 + N` for block `127.0.N`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::Loopback;
use e2e::dns::{ask, try_ask, udp};
use hickory_proto::op::DnsRequestOptions;
use hickory_proto::rr::{RData, RecordType};

const PORT: u16 = 5300;

/// The zone at `serial`, refreshed hourly: a secondary that has it only
/// asks again within the test's seconds because it was told to.
fn zone(serial: u32, address: &str) -> String {
    format!(
        "$ORIGIN example.net.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 60\n  NS ns1\nns1 A 192.0.2.53\nwww A {address}\n"
    )
}

/// A child process killed when dropped.
struct Secondary {
    child: Child,
    name: &'static str,
    log: std::path::PathBuf,
}

impl Drop for Secondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Secondary {
    fn log(&self) -> String {
        format!(
            "{}'s log:\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

fn knot(net: &Loopback, dir: &std::path::Path) -> Secondary {
    let conf = dir.join("knot.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n    listen: {secondary}@{PORT}\n    rundir: {dir}\ndatabase:\n    storage: {dir}\nlog:\n  - target: stderr\n    any: info\nremote:\n  - id: primary\n    address: {primary}@{PORT}\n    via: {secondary}\nacl:\n  - id: from_primary\n    address: {primary}\n    action: notify\ntemplate:\n  - id: default\n    storage: {dir}\nzone:\n  - domain: example.net\n    master: primary\n    acl: from_primary\n",
            secondary = net.ip(2),
            primary = net.ip(1),
            dir = dir.display()
        ),
    )
    .unwrap();
    let log = dir.join("knot.log");
    let child = Command::new("knotd")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("knotd starts (Debian's knot, installed by .ci/setup)");
    Secondary {
        child,
        name: "knotd",
        log,
    }
}

/// Where named listens for block `net`.
fn named_addr(net: &Loopback) -> std::net::SocketAddr {
    let third: u16 = net.to_string().rsplit('.').next().unwrap().parse().unwrap();
    std::net::SocketAddr::from(([127, 0, 0, 1], 15300 + third))
}

fn named(net: &Loopback, dir: &std::path::Path) -> Secondary {
    let conf = dir.join("named.conf");
    std::fs::write(
        &conf,
        format!(
            "options {{\n  directory \"{dir}\";\n  pid-file \"{dir}/named.pid\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  notify no;\n}};\ncontrols {{ }};\nzone \"example.net\" {{\n  type secondary;\n  primaries {{ {primary} port {PORT}; }};\n  file \"{dir}/example.net.db\";\n}};\n",
            port = named_addr(net).port(),
            primary = net.ip(1),
            dir = dir.display()
        ),
    )
    .unwrap();
    let log = dir.join("named.log");
    let child = Command::new("named")
        .args(["-g", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("named starts (Debian's bind9, installed by .ci/setup)");
    Secondary {
        child,
        name: "named",
        log,
    }
}

/// The SOA serial `server` answers for example.net, if it answers.
async fn serial(server: std::net::SocketAddr) -> Option<u32> {
    let client = udp(server, None);
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = false;
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        try_ask(&client, "example.net.", RecordType::SOA, options),
    )
    .await
    .ok()?
    .ok()?;
    answer.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}

async fn wait_for_serial(
    secondary: &Secondary,
    addr: std::net::SocketAddr,
    want: u32,
    within: Duration,
    primary: &e2e::dns::Server,
) {
    let deadline = Instant::now() + within;
    loop {
        if serial(addr).await == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} does not serve serial {want} within {within:?}\n{}\nflashdns's log:\n{}",
            secondary.name,
            secondary.log(),
            primary.running.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knot_and_named_secondaries_serve_a_new_serial_once_notified() {
    let net = Loopback::block();
    let primary = e2e::dns::start_server(
        &net,
        &[("example.net.zone", &zone(1, "192.0.2.1"))],
        &format!(
            "auto_reload = true\nreload_interval_sec = 1\n\n[standalone.features]\naxfr_allow = [\"{knot}\", \"127.0.0.1\"]\nnotify = [\"{knot}:{PORT}\", \"{named}\"]\n",
            knot = net.ip(2),
            named = named_addr(&net),
        ),
    );
    let dir = &primary.dir;
    let knot_dir = dir.path().join("knot");
    let named_dir = dir.path().join("named");
    std::fs::create_dir(&knot_dir).unwrap();
    std::fs::create_dir(&named_dir).unwrap();
    let secondaries = [
        (knot(&net, &knot_dir), net.addr(2, PORT).parse().unwrap()),
        (named(&net, &named_dir), named_addr(&net)),
    ];
    // Each transfers the zone when it starts.
    for (secondary, addr) in &secondaries {
        wait_for_serial(secondary, *addr, 1, Duration::from_secs(20), &primary).await;
    }
    // A new serial: flashdns reloads it within a second and tells both.
    primary.write_zone("example.net.zone", &zone(2, "192.0.2.2"));
    for (secondary, addr) in &secondaries {
        wait_for_serial(secondary, *addr, 2, Duration::from_secs(10), &primary).await;
        let client = udp(*addr, None);
        let www = ask(&client, "www.example.net.", RecordType::A).await;
        assert_eq!(
            www.answers[0].data.to_string(),
            "192.0.2.2",
            "{} serves the new data",
            secondary.name
        );
    }
}

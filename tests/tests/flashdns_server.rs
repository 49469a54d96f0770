//! `flashdns-server`, the standalone binary: started from the design's TOML
//! (docs/design.md §2.2, paths and addresses adjusted), layered with `PHOTON_*`
//! variables and flags, refusing bad configuration with exit code 2 and a
//! message naming the key, and detecting its mode by probing a control
//! plane's `/health`.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::path::Path;
use std::time::Duration;

use e2e::Loopback;
use e2e::Running;
use e2e::dns::{ask, tcp, udp, zone_dir};
use e2e::http_get;
use hickory_proto::rr::RecordType;

const DESIGN: &str = include_str!("../standalone/design/flashdns-2.2.toml");

/// A directory holding the design's two zones and its configuration, the
/// `/etc/flashdns/zones` paths pointed at it.
fn design_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::copy(
        zone_dir().join("example.com.zone"),
        zones.join("example.com.zone"),
    )
    .unwrap();
    std::fs::write(
        zones.join("internal.local.zone"),
        "$ORIGIN internal.local.\n@ 300 SOA ns hostmaster 7 3600 600 86400 60\n@ NS ns\nns A 10.0.0.53\n",
    )
    .unwrap();
    let config = DESIGN.replace("/etc/flashdns/zones", zones.to_str().unwrap());
    std::fs::write(dir.path().join("flashdns.toml"), config).unwrap();
    dir
}

/// The variables that move the design example's listeners to `ip`: DNS on
/// 5300 (UDP and TCP), the admin API on 8053.
fn listening_on(ip: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PHOTON__STANDALONE__SERVER__DNS_ADDR", format!("{ip}:5300")),
        (
            "PHOTON__STANDALONE__SERVER__DNS_TCP_ADDR",
            format!("{ip}:5300"),
        ),
        (
            "PHOTON__STANDALONE__SERVER__ADMIN_API_ADDR",
            format!("{ip}:8053"),
        ),
    ]
}

/// `vars` as the `(name, value)` pairs the runners take.
fn refs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_design_example_with_addresses_from_the_environment() {
    let net = Loopback::block();
    let dir = design_dir();
    let config = path(dir.path(), "flashdns.toml");
    let state = path(dir.path(), "state");
    let mut server = Running::start_server(
        "flashdns",
        &["--config", &config, "--state-dir", &state],
        &refs(&listening_on(&format!("{net}.1"))),
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    let mode = server.lines_with("operation mode chosen").join("\n");
    assert!(
        mode.contains("operation_mode=\"standalone\"") && mode.contains("flashdns.toml:3"),
        "{mode}"
    );
    assert!(mode.contains("component_id=flashdns-01"), "{mode}");

    let addr = format!("{net}.1:5300").parse().unwrap();
    let www = ask(&udp(addr, None), "www.example.com.", RecordType::A).await;
    assert_eq!(
        www.answers[0].to_string(),
        "www.example.com. 3600 IN A 192.168.1.10"
    );
    let ns = ask(&tcp(addr, None).await, "internal.local.", RecordType::NS).await;
    assert_eq!(
        ns.answers[0].to_string(),
        "internal.local. 300 IN NS ns.internal.local."
    );

    let (status, health) = http_get(&format!("http://{net}.1:8053"), "/health").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["mode"], "standalone");
    assert_eq!(health["component"], "flashdns");
    assert!(health["version"].is_string() && health["checks"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_beats_the_environment_which_beats_the_file() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::copy(
        zone_dir().join("example.net.zone"),
        dir.path().join("zones/example.net.zone"),
    )
    .unwrap();
    // No zone list: every <name>.zone in zone_dir is served.
    let config = format!(
        "[standalone.server]\ndns_addr = \"{net}.2:5301\"\nadmin_api_addr = \"{net}.2:8053\"\n[standalone.zones]\nzone_dir = \"{}\"\n",
        path(dir.path(), "zones")
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let (config, state) = (path(dir.path(), "c.toml"), path(dir.path(), "state"));
    let dns_addr = net.addr(2, 5302);
    let env = [("PHOTON__STANDALONE__SERVER__DNS_ADDR", dns_addr.as_str())];

    let mut from_env = Running::start_server(
        "flashdns",
        &["--config", &config, "--state-dir", &state],
        &env,
        None,
    );
    from_env.wait_for("all services started", Duration::from_secs(30));
    let listening = from_env.lines_with("flashdns listening").join("");
    assert!(
        listening.contains(&format!("dns={net}.2:5302")),
        "{listening}"
    );
    let client = udp(format!("{net}.2:5302").parse().unwrap(), None);
    assert_eq!(
        ask(&client, "www.example.net.", RecordType::A)
            .await
            .answers
            .len(),
        1
    );
    from_env.signal("TERM");
    from_env.wait(Duration::from_secs(10));

    let mut from_flag = Running::start_server(
        "flashdns",
        &[
            "--config",
            &config,
            "--state-dir",
            &state,
            "--set",
            &format!("standalone.server.dns_addr={net}.2:5303"),
        ],
        &env,
        None,
    );
    from_flag.wait_for("all services started", Duration::from_secs(30));
    let listening = from_flag.lines_with("flashdns listening").join("");
    assert!(
        listening.contains(&format!("dns={net}.2:5303")),
        "{listening}"
    );
}

/// Arguments, environment, the message expected.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);

#[test]
fn configuration_errors_exit_2_naming_key_origin_and_problem() {
    let dir = design_dir();
    let config = path(dir.path(), "flashdns.toml");
    let typo = path(dir.path(), "typo.toml");
    std::fs::write(
        &typo,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("auto_reload = true", "auto_relaod = true"),
    )
    .unwrap();
    let d = dir.path().display().to_string();
    let missing = path(dir.path(), "missing.toml");
    let cases: Vec<Case> = vec![
        (
            vec!["--config", &typo],
            vec![],
            format!(
                "flashdns-server: configuration error: {d}/typo.toml:16: `standalone.zones.auto_relaod`: unknown key `auto_relaod`; did you mean `auto_reload`? (expected one of: zone_dir, auto_reload, reload_interval_sec, max_file_mib, max_zone_mib, zone)"
            ),
        ),
        (
            vec!["--config", &config],
            vec![("PHOTON_LOG_LEVL", "debug")],
            "flashdns-server: configuration error: environment variable PHOTON_LOG_LEVL: not a PhotonCloud variable; did you mean PHOTON_LOG_LEVEL? (PHOTON__SECTION__KEY sets any key)".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.server.admin_api_addr=127.0.0.1:65536"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.server.admin_api_addr: `standalone.server.admin_api_addr`: port 65536 in `127.0.0.1:65536` is out of range: a port is 1 to 65535".to_owned(),
        ),
        (
            vec!["--config", &config],
            vec![("PHOTON__STANDALONE__FEATURES__AXFR_ALLOW", "[\"not-an-ip\"]")],
            "flashdns-server: configuration error: environment variable PHOTON__STANDALONE__FEATURES__AXFR_ALLOW: `standalone.features.axfr_allow[0]`: invalid IP address syntax".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.zones.zone=[{name = \"bad name\"}]"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.zones.zone: `standalone.zones.zone[0].name`: zone `bad name`: a zone's `origin` must be a domain name such as `example.com`: labels of 1 to 63 letters, digits, `-` or `_`, at most 253 bytes".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.features.dynamic_update=true"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.features.dynamic_update: `standalone.features.dynamic_update`: dynamic updates (RFC 2136) are not supported; edit the zone file, which is reloaded".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.zones.max_file_mib=0"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.zones.max_file_mib: `standalone.zones.max_file_mib`: `file_limits.max_file_mib` must be at least 1 and at most `max_zone_mib` (`ZoneFileLimits::DEFAULT` is 64 and 256)".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.rate_limit={responses_per_second = 5, slip = 11}"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.rate_limit: `standalone.rate_limit`: `rate_limit`: `responses_per_second` and `window_seconds` must be at least 1 and `slip` at most 10 (`RateLimit::Off` turns it off)".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.features.notify=[\"192.0.2.9:53\"]"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.features.notify: `standalone.features.notify`: `notify` tells `192.0.2.9` of changes, but `axfr_allow` does not let it transfer the zone: add its address to `axfr_allow`".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.zones.zone=[{name = \"vpc.test\", stored = true, file = \"vpc.zone\"}]"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.zones.zone: `standalone.zones.zone[0].stored`: a stored zone's records are in the zone store: leave out `file` and `soa` (create the zone with `photonctl dns create`)".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "photon.standalone.zone_backend=\"chainfire\"", "--set", "standalone.zones.zone=[{name = \"vpc.test\", ttl = 60}]"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.zones.zone: `standalone.zones.zone[0].ttl`: a stored zone's records carry their TTLs: leave out `ttl`".to_owned(),
        ),
        (
            vec!["--config", &config, "--set", "standalone.zones.zone=[{name = \"vpc.test\", stored = true, dnssec = {algorithm = \"ed25519\"}}]"],
            vec![],
            "flashdns-server: configuration error: flag --set standalone.zones.zone: `standalone.zones.zone[0].name`: zone `vpc.test`: a zone kept in the zone store cannot be signed yet; sign a zone file or typed zone".to_owned(),
        ),
        (
            // Hybrid has nothing to integrate in flashdns: a mistake in the
            // configuration, not an unreachable platform to fall back from.
            vec!["--config", &config, "--set", "photon.integrated.chainfire_endpoints=[\"http://127.0.0.1:9\"]", "--set", "photon.integrated.fallback_to_standalone=true"],
            vec![("PHOTON_MODE", "hybrid")],
            "flashdns-server: configuration error: environment variable PHOTON_MODE: `photon.mode`: flashdns has nothing to run hybrid: photonauth checks none of its requests, and its zones are either local (`mode = \"standalone\"`) or stored in chainfire (`mode = \"integrated\"`)".to_owned(),
        ),
        (
            vec!["--config", &missing],
            vec![],
            format!(
                "flashdns-server: configuration error: {d}/missing.toml: cannot read the configuration file: No such file or directory (os error 2)"
            ),
        ),
    ];
    for (args, env, expected) in cases {
        let (code, line) = e2e::last_words("flashdns", &args, &env);
        assert_eq!(code, Some(2), "{args:?}: {line}");
        assert_eq!(line, expected, "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_mode_configured_a_control_plane_that_answers_means_integrated() {
    let net = Loopback::block();
    // A real /health to probe: another flashdns-server's admin API.
    let dir = design_dir();
    let config = path(dir.path(), "flashdns.toml");
    let state = path(dir.path(), "state");
    let mut plane = Running::start_server(
        "flashdns",
        &["--config", &config, "--state-dir", &state],
        &refs(&listening_on(&format!("{net}.3"))),
        None,
    );
    plane.wait_for("all services started", Duration::from_secs(30));

    // The same file without its `mode` line.
    let unset = path(dir.path(), "no-mode.toml");
    std::fs::write(
        &unset,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("mode = \"standalone\"\n", ""),
    )
    .unwrap();
    let answered = e2e::server_output(
        "flashdns",
        &["--config", &unset, "--print-config"],
        &[(
            "PHOTON_CONTROL_PLANE_ENDPOINT",
            &format!("http://{net}.3:8053"),
        )],
    );
    let stderr = String::from_utf8_lossy(&answered.stderr);
    assert_eq!(answered.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            &format!("operation_mode=\"integrated\" reason=no mode configured, and the control plane answered http://{net}.3:8053/health")
        ),
        "{stderr}"
    );
    // Integrated, it needs chainfire's endpoints, which this file lacks.
    assert!(
        stderr.contains(
            "`photon.integrated.chainfire_endpoints`: integrated mode registers the component in chainfire"
        ),
        "{stderr}"
    );

    let silent = e2e::server_output(
        "flashdns",
        &["--config", &unset, "--print-config", "--probe-timeout", "1"],
        &[(
            "PHOTON_CONTROL_PLANE_ENDPOINT",
            &format!("http://{net}.4:9"),
        )],
    );
    let stderr = String::from_utf8_lossy(&silent.stderr);
    assert_eq!(silent.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            &format!("operation_mode=\"standalone\" reason=no mode configured, and the control plane did not answer http://{net}.4:9/health")
        ),
        "{stderr}"
    );
    // --print-config shows the layered configuration, the variable in it.
    let printed = String::from_utf8_lossy(&silent.stdout);
    assert!(
        printed.contains(&format!("control_plane_endpoint = \"http://{net}.4:9\"")),
        "{printed}"
    );

    // The environment's mode is taken without a probe.
    let told = e2e::server_output(
        "flashdns",
        &["--config", &unset, "--print-config"],
        &[
            ("PHOTON_MODE", "standalone"),
            (
                "PHOTON_CONTROL_PLANE_ENDPOINT",
                &format!("http://{net}.3:8053"),
            ),
        ],
    );
    let stderr = String::from_utf8_lossy(&told.stderr);
    assert_eq!(told.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("reason=from environment variable PHOTON_MODE"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_config_prints_toml_that_flashdns_server_serves_the_same() {
    let net = Loopback::block();
    // The operator's files: zones, and the key the deployment names.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    for zone in ["example.com.zone", "example.net.zone"] {
        std::fs::copy(zone_dir().join(zone), dir.path().join("zones").join(zone)).unwrap();
    }
    let (key, _) = flashdns::keys::ZoneKey::open(
        &dir.path().join("keys/example.com.pem"),
        flashdns::SigningAlgorithm::Ed25519,
        true,
    )
    .unwrap();

    let exported = e2e::output(
        "flashdns-primary",
        &[
            "export-config",
            "--node",
            "ns1",
            "--service",
            "flashdns",
            "--loopback-base",
            &format!("{net}.8"),
        ],
    );
    assert_eq!(exported.status.code(), Some(0));
    let toml = String::from_utf8(exported.stdout).unwrap();
    assert!(
        toml.contains(&format!("dns_addr = \"{net}.9:5300\"")),
        "{toml}"
    );
    std::fs::write(dir.path().join("flashdns.toml"), &toml).unwrap();

    let state = path(dir.path(), "state");
    let mut server = Running::start_server(
        "flashdns",
        &["--config", "flashdns.toml", "--state-dir", &state],
        &[],
        Some(dir.path()),
    );
    server.wait_for("all services started", Duration::from_secs(30));
    let mut deployment = Running::start_in(
        "flashdns-primary",
        &[
            "up",
            "--loopback-base",
            &format!("{net}.16"),
            "--state-dir",
            &state,
        ],
        &[],
        Some(dir.path()),
    );
    deployment.wait_for("all services started", Duration::from_secs(30));

    // Both serve the same zones, signed with the same key.
    let standalone = udp(format!("{net}.9:5300").parse().unwrap(), None);
    let compiled = udp(format!("{net}.17:5300").parse().unwrap(), None);
    for (name, rtype) in [
        ("www.example.net.", RecordType::A),
        ("example.com.", RecordType::MX),
        ("example.com.", RecordType::DNSKEY),
        ("nope.example.com.", RecordType::A),
    ] {
        let a = ask(&standalone, name, rtype).await;
        let b = ask(&compiled, name, rtype).await;
        assert_eq!(
            a.metadata.response_code, b.metadata.response_code,
            "{name} {rtype}"
        );
        assert_eq!(
            e2e::dns::lines(&a.answers),
            e2e::dns::lines(&b.answers),
            "{name} {rtype}"
        );
    }
    let dnskey = ask(&standalone, "example.com.", RecordType::DNSKEY).await;
    assert_eq!(
        dnskey.answers[0].data,
        hickory_proto::rr::RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(
            key.dnskey().clone()
        ))
    );

    // A service not on the node is refused.
    let absent = e2e::output(
        "flashdns-primary",
        &["export-config", "--node", "ns1", "--service", "chainfire"],
    );
    assert_eq!(absent.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&absent.stderr),
        "error: node `ns1` runs no service `chainfire` (it runs: flashdns)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_zone_is_exported_record_by_record_and_served_the_same() {
    let net = Loopback::block();
    // Nodes from .24 of the block: node `dns` is .25.
    let dir = tempfile::tempdir().unwrap();
    let state = path(dir.path(), "state");
    let base = ["--loopback-base", &format!("{net}.24")];
    let questions = [
        ("photon.internal.", RecordType::SOA),
        ("photon.internal.", RecordType::NS),
        ("photon.internal.", RecordType::TXT),
        ("www.photon.internal.", RecordType::A),
        ("api.photon.internal.", RecordType::A),
        ("_dns._udp.photon.internal.", RecordType::SRV),
        ("nope.photon.internal.", RecordType::A),
    ];
    let dns = || udp(format!("{net}.25:5300").parse().unwrap(), None);

    let mut deployment = Running::start(
        "flashdns-single",
        &[&["up", "--state-dir", &state][..], &base[..]].concat(),
    );
    deployment.wait_for("all services started", Duration::from_secs(30));
    let mut compiled = Vec::new();
    for (name, rtype) in questions {
        let answer = ask(&dns(), name, rtype).await;
        compiled.push((
            answer.metadata.response_code,
            e2e::dns::lines(&answer.answers),
        ));
    }
    deployment.signal("TERM");
    deployment.wait(Duration::from_secs(15));
    // The node's address is in the records, as the deployment resolved it.
    assert_eq!(
        compiled[3].1,
        vec![format!("www.photon.internal. 300 IN A {net}.25")]
    );

    let exported = e2e::output(
        "flashdns-single",
        &[
            &["export-config", "--node", "dns", "--service", "flashdns"][..],
            &base[..],
        ]
        .concat(),
    );
    assert_eq!(exported.status.code(), Some(0));
    let toml = String::from_utf8(exported.stdout).unwrap();
    assert!(
        toml.contains(&format!("[[standalone.zones.zone.records]]\nowner = \"www\"\ntype = \"A\"\ndata = \"{net}.25\"\n")),
        "{toml}"
    );
    let config = dir.path().join("flashdns.toml");
    std::fs::write(&config, &toml).unwrap();
    let mut server = Running::start_server(
        "flashdns",
        &["--config", config.to_str().unwrap(), "--state-dir", &state],
        &[],
        None,
    );
    server.wait_for("all services started", Duration::from_secs(30));
    for ((name, rtype), expected) in questions.iter().zip(&compiled) {
        let answer = ask(&dns(), name, *rtype).await;
        assert_eq!(
            &(
                answer.metadata.response_code,
                e2e::dns::lines(&answer.answers)
            ),
            expected,
            "{name} {rtype}"
        );
    }
}

/// A zone written with `$GENERATE` in every form BIND reads: plain `$`,
/// offsets, widths, bases, nibbles, a step, a TTL and a class.
const GENERATED: &str = "$ORIGIN gen.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.1\n$GENERATE 1-4 host$ A 10.0.0.$\n$GENERATE 0-6/3 rev${10,3} 600 IN PTR host${1,0,d}.gen.test.\n$GENERATE 250-252 x${0,4,x} CNAME ns\n$GENERATE 26-28 X${0,0,X} IN 60 TXT \"o${0,3,o}\"\n$GENERATE 291-292 ${0,0,n}.ip6 AAAA 2001:db8::$\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_makes_the_records_named_makes() {
    let net = Loopback::block();
    let server = e2e::dns::start_server(
        &net,
        &[("gen.test.zone", GENERATED)],
        "\n[standalone.features]\naxfr_allow = [\"127.0.0.1\"]\n",
    );
    let file = server.zone_file("gen.test.zone");
    let transfer = std::process::Command::new("dig")
        .args([&format!("@{net}.1"), "-p", "5300", "-b", "127.0.0.1"])
        .args(["+nocmd", "+nostats", "+nocomments", "gen.test", "AXFR"])
        .output()
        .unwrap();
    let axfr = server.dir.path().join("axfr");
    std::fs::write(&axfr, &transfer.stdout).unwrap();
    // Both normalised by named-compilezone: what named makes of the file,
    // and what flashdns serves.
    let compiled = |path: &Path| {
        let out = std::process::Command::new("named-compilezone")
            .args(["-q", "-i", "none", "-s", "full", "-o", "-", "gen.test"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Names in lowercase: flashdns stores them so, as Knot does, where
        // named keeps the case written (`X1A`).
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .collect();
        lines.sort();
        lines
    };
    let named = compiled(&file);
    assert_eq!(named.len(), 3 + 4 + 3 + 3 + 3 + 2, "{named:#?}");
    assert_eq!(compiled(&axfr), named, "log:\n{}", server.running.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_holds_back_a_flooding_prefix_and_answers_the_others() {
    let net = Loopback::block();
    let zone = std::fs::read_to_string(zone_dir().join("example.com.zone")).unwrap();
    let server = e2e::dns::start_server(
        &net,
        &[("example.com.zone", &zone)],
        "\n[standalone.rate_limit]\nresponses_per_second = 20\nwindow_seconds = 5\nslip = 2\n",
    );
    let addr = server.addr;
    let query = |id: u16| {
        let mut message = hickory_proto::op::Message::query();
        message.metadata.id = id;
        message.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_ascii("www.example.com.").unwrap(),
            RecordType::A,
        ));
        message.to_vec().unwrap()
    };
    // 400 questions at once from one address of this block's /24.
    let flooder = tokio::net::UdpSocket::bind(format!("{net}.50:0"))
        .await
        .unwrap();
    for id in 0..400u16 {
        flooder.send_to(&query(id), addr).await.unwrap();
    }
    let (mut full, mut truncated) = (0, 0);
    let mut buffer = [0u8; 1500];
    while let Ok(Ok((len, _))) =
        tokio::time::timeout(Duration::from_millis(500), flooder.recv_from(&mut buffer)).await
    {
        let answer = hickory_proto::op::Message::from_vec(&buffer[..len]).unwrap();
        if answer.metadata.truncation {
            assert!(answer.answers.is_empty());
            truncated += 1;
        } else {
            full += 1;
        }
    }
    assert!(
        (20..=60).contains(&full),
        "about one second's worth answered in full: {full}"
    );
    assert!(
        truncated > 100,
        "every second limited one slips: {truncated}"
    );
    assert!(full + truncated < 400, "the rest are dropped");
    // Another prefix is answered in full meanwhile, every time.
    let other = udp(addr, Some("127.0.0.1:0".parse().unwrap()));
    for _ in 0..10 {
        let answer = ask(&other, "www.example.com.", RecordType::A).await;
        assert!(!answer.metadata.truncation);
        assert_eq!(answer.answers.len(), 1);
    }
    let metrics = http_get(&format!("http://{net}.1:8053"), "/metrics")
        .await
        .1;
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flashdns_rate_limited_dropped_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    // (UDP may lose some of the flood on the way, either direction.)
    assert!(
        dropped > 100 && dropped <= 400 - full - truncated,
        "{dropped} dropped, {full} + {truncated} received"
    );
}

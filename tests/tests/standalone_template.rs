//! docs/design.md §3.2's generic standalone file (`storage_backend = "local"`,
//! `auth_backend = "local"`, `config_source = "file"`) loads as written in
//! every `<component>-server`, and a value standalone cannot honour is
//! named by its key.

const TEMPLATE: &str = include_str!("../standalone/design/standalone-3.2.toml");

#[test]
fn every_server_loads_the_generic_standalone_file_of_section_3_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("standalone.toml");
    std::fs::write(&file, TEMPLATE).unwrap();
    let file = file.to_str().unwrap();
    // The template has only `[photon]`; flashdns also needs a zone to serve,
    // lightningstor an access key, fiberlb a balancer.
    let zones = format!(
        "standalone.zones.zone_dir={}",
        e2e::dns::zone_dir().display()
    );
    for (component, own) in [
        ("flashdns", vec!["--set", zones.as_str()]),
        (
            "lightningstor",
            vec![
                "--set",
                "standalone.auth.type=access_key",
                "--set",
                "standalone.auth.access_key=AKIAIOSFODNN7EXAMPLE",
                "--set",
                "standalone.auth.secret_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ],
        ),
        ("chainfire", vec![]),
        (
            "fiberlb",
            vec![
                "--set",
                "standalone.loadbalancers=[{name = \"web\", port = 8080, protocol = \"http\", backends = [{address = \"127.0.0.1\", port = 8081}]}]",
            ],
        ),
    ] {
        let out = e2e::server_output(
            component,
            &[&["--config", file, "--print-config"][..], &own[..]].concat(),
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{component}: {stderr}");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.contains("config_source = \"file\""),
            "{component}: {printed}"
        );

        let out = e2e::server_output(
            component,
            &[
                "--config",
                file,
                "--set",
                "photon.standalone.config_source=chainfire",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{component}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap(),
            format!(
                "{component}-server: configuration error: flag --set photon.standalone.config_source: `photon.standalone.config_source`: unknown value `chainfire` (expected one of: file)"
            )
        );
    }
}

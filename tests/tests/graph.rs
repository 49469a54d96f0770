//! `plan` and `graph` of the bigger deployments are readable: graphviz's
//! `dot` accepts what `graph --format dot` prints and draws every service
//! and dependency, and the mermaid flowchart names the same edges.

use std::io::Write as _;
use std::process::{Command, Stdio};

use e2e::output;

/// `dot -Tsvg` of `text`: the SVG, or dot's complaint.
fn dot_svg(text: &str) -> Result<String, String> {
    let mut dot = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz's dot is installed (.ci/setup)");
    dot.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = dot.wait_with_output().unwrap();
    if out.status.success() && out.stderr.is_empty() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn dot_draws_every_service_and_dependency_of_the_platform_deployments() {
    for (deployment, services, edges) in [
        (
            "photonnet",
            &[
                "kv-1/chainfire",
                "auth/photonauth",
                "net/photonnet",
                "dns/flashdns",
            ][..],
            &[
                ("net/photonnet", "auth/photonauth"),
                ("net/photonnet", "dns/flashdns"),
            ][..],
        ),
        (
            "platform-ha",
            &["kv-3/chainfire", "storage/lightningstor", "dns/flashdns"][..],
            &[("storage/lightningstor", "auth/photonauth")][..],
        ),
        (
            "level1",
            &["storage/lightningstor", "dns/flashdns"][..],
            &[][..],
        ),
        (
            "level2",
            &["kv/chainfire", "edge/fiberlb", "web-1/echo", "dns/flashdns"][..],
            &[
                ("edge/fiberlb", "web-2/echo"),
                ("edge/fiberlb", "dns/flashdns"),
                ("storage/lightningstor", "kv/chainfire"),
            ][..],
        ),
        (
            "level3",
            &[
                "kv-1/chainfire",
                "kv-2/chainfire",
                "kv-3/chainfire",
                "auth/photonauth",
                "net/photonnet",
                "storage/lightningstor",
                "dns/flashdns",
                "edge/fiberlb",
            ][..],
            &[
                ("edge/fiberlb", "storage/lightningstor"),
                ("edge/fiberlb", "dns/flashdns"),
                ("storage/lightningstor", "auth/photonauth"),
                ("net/photonnet", "dns/flashdns"),
                ("dns/flashdns", "kv-2/chainfire"),
            ][..],
        ),
        (
            "prod",
            &["kv-1/chainfire", "edge/fiberlb", "net/photonnet"][..],
            &[("net/photonnet", "auth/photonauth")][..],
        ),
    ] {
        let graph = output(deployment, &["graph", "--format", "dot"]);
        assert!(graph.status.success(), "{graph:?}");
        let text = String::from_utf8_lossy(&graph.stdout);
        let svg = dot_svg(&text)
            .unwrap_or_else(|e| panic!("dot refuses {deployment}'s graph: {e}\n{text}"));
        assert!(svg.contains("<svg"), "{svg}");
        // SVG writes `-` and `>` as entities.
        let svg_text = |s: &str| s.replace('-', "&#45;").replace('>', "&gt;");
        for service in services {
            assert!(
                svg.contains(&format!("<title>{}</title>", svg_text(service))),
                "{deployment}: {service} not drawn"
            );
        }
        for (from, to) in edges {
            assert!(
                text.contains(&format!("\"{from}\" -> \"{to}\"")),
                "{deployment}: no edge {from} -> {to} in\n{text}"
            );
            assert!(
                svg.contains(&format!(
                    "<title>{}</title>",
                    svg_text(&format!("{from}->{to}"))
                )),
                "{deployment}: the edge {from} -> {to} not drawn"
            );
        }

        let graph = output(deployment, &["graph"]);
        let mermaid = String::from_utf8_lossy(&graph.stdout);
        assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
        for (from, to) in edges {
            let id = |s: &str| s.replace(['/', '-'], "_");
            assert!(
                mermaid
                    .lines()
                    .any(|l| l.trim_start().starts_with(&id(from))
                        && l.trim_end().ends_with(&id(to))),
                "{deployment}: no edge {from} -> {to} in\n{mermaid}"
            );
        }

        let plan = output(deployment, &["plan"]);
        let table = String::from_utf8_lossy(&plan.stdout);
        assert!(table.contains("start order:"), "{table}");
        for service in services {
            let (node, kind) = service.split_once('/').unwrap();
            assert!(
                table
                    .lines()
                    .any(|l| l.starts_with(node) && l.contains(kind)),
                "{deployment}: {service} not in the plan\n{table}"
            );
        }
    }
}

//! `plan` and `graph`: the topology as a table, JSON ([`Plan`]), Mermaid or
//! Graphviz; and `plan --diff` ([`diff`]).

pub mod diff;
pub mod document;

use std::fmt::Write as _;

use photon_dsl::{AddressPlan, Resolver, ServiceSpec, Topology};

pub use document::Plan;

fn plan_addresses(plan: &AddressPlan) -> String {
    match plan {
        AddressPlan::Loopback => "loopback aliases (one 127.x.y.z per node)".to_owned(),
        AddressPlan::Static(_) => "static (compiled in)".to_owned(),
        AddressPlan::Listed(_) => "listed (a standalone server's configuration)".to_owned(),
        AddressPlan::HostNames { domain } => match domain {
            Some(d) => format!("host names (<node>.{d})"),
            None => "host names (<node>)".to_owned(),
        },
    }
}

fn address_of(resolver: &Resolver, node: photon_dsl::NodeName) -> String {
    resolver
        .resolve(node)
        .map(|a| a.to_string())
        .unwrap_or_else(|e| format!("({e})"))
}

fn listens<S: ?Sized + ServiceSpec>(t: &Topology<S>, i: usize) -> Vec<String> {
    t.services()[i]
        .decl
        .listeners()
        .map(|l| format!("{} {}/{} {}", l.name, l.port, l.transport, l.protocol))
        .collect()
}

fn needs<S: ?Sized + ServiceSpec>(t: &Topology<S>, i: usize) -> Vec<String> {
    let decl = &t.services()[i].decl;
    decl.deps()
        .enumerate()
        .map(|(d, dep)| {
            let provider = t
                .provider(i, d)
                .map(|p| t.services()[p].decl.kind().to_string())
                .unwrap_or_else(|| "?".to_owned());
            let detail = dep.detail.map_or(String::new(), |d| format!(" {d}"));
            format!(
                "{}: {} {}@{}:{}{detail}",
                dep.slot, dep.protocol, provider, dep.node, dep.port
            )
        })
        // Secrets show where the value is read from; the value is never known here.
        .chain(
            decl.secrets()
                .map(|s| format!("{}: secret from {}", s.slot, s.secret)),
        )
        .collect()
}

/// Each cluster's name and its members' nodes, in topology order.
fn clusters<S: ?Sized + ServiceSpec>(t: &Topology<S>) -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
    for placed in t.services() {
        if let Some(name) = placed.decl.cluster() {
            let node = placed.decl.node().to_string();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, members)) => members.push(node),
                None => out.push((name, vec![node])),
            }
        }
    }
    out
}

/// The human-readable plan.
pub fn table<S: ?Sized + ServiceSpec>(t: &Topology<S>, resolver: &Resolver) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "deployment   {}", t.name());
    let _ = writeln!(out, "version      {}", t.version());
    let _ = writeln!(out, "fingerprint  {}", t.fingerprint());
    let _ = writeln!(out, "addresses    {}", plan_addresses(t.addresses()));
    let _ = writeln!(out);

    let header = ["NODE", "ADDRESS", "SERVICE", "LISTENS", "NEEDS"];
    let mut rows: Vec<[String; 5]> = Vec::new();
    for &node in t.nodes() {
        let on = t.services_on(node);
        if on.is_empty() {
            rows.push([
                node.to_string(),
                address_of(resolver, node),
                "(no services)".into(),
                String::new(),
                String::new(),
            ]);
        }
        for i in on {
            let (l, n) = (listens(t, i), needs(t, i));
            let lines = l.len().max(n.len()).max(1);
            for line in 0..lines {
                let first = line == 0;
                rows.push([
                    if first {
                        node.to_string()
                    } else {
                        String::new()
                    },
                    if first {
                        address_of(resolver, node)
                    } else {
                        String::new()
                    },
                    if first {
                        t.services()[i].decl.kind().to_string()
                    } else {
                        String::new()
                    },
                    l.get(line).cloned().unwrap_or_default(),
                    n.get(line).cloned().unwrap_or_default(),
                ]);
            }
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c == 4 {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ", w = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    let clusters = clusters(t);
    if !clusters.is_empty() {
        let _ = writeln!(out, "\nclusters (initial members, compiled in):");
        for (name, members) in &clusters {
            let _ = writeln!(out, "  {name}: {}", members.join(", "));
        }
    }
    for scraper in (0..t.services().len()).filter(|&i| t.services()[i].decl.scrapes_metrics()) {
        let _ = writeln!(
            out,
            "\nscrape targets of {} (every /metrics of the topology, derived):",
            t.label(scraper)
        );
        for (i, listener) in t.metrics_endpoints() {
            let node = t.services()[i].decl.node();
            let at = resolver
                .resolve(node)
                .map(|a| a.with_port(listener.port.get()))
                .unwrap_or_else(|e| e.to_string());
            let _ = writeln!(out, "  {at}/metrics  {} ({})", t.label(i), listener.name);
        }
    }
    let order = t
        .start_order()
        .map(|o| o.iter().map(|&i| t.label(i)).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|e| e.to_string());
    let _ = writeln!(out, "\nstart order: {order}");
    let _ = writeln!(out, "stop order:  reverse of start order");
    out
}

/// `kind :port :port`, the box label in both diagram formats.
fn diagram_label<S: ?Sized + ServiceSpec>(t: &Topology<S>, i: usize) -> String {
    let decl = &t.services()[i].decl;
    std::iter::once(decl.kind().to_string())
        .chain(decl.listeners().map(|l| format!(":{}", l.port)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn id<S: ?Sized + ServiceSpec>(t: &Topology<S>, i: usize) -> String {
    t.label(i).replace(['/', '-'], "_")
}

/// The topology as a Mermaid flowchart: a subgraph per node, an edge per dependency.
pub fn mermaid<S: ?Sized + ServiceSpec>(t: &Topology<S>) -> String {
    let mut out = String::from("flowchart LR\n");
    for &node in t.nodes() {
        let _ = writeln!(
            out,
            "  subgraph {}[\"node {}\"]",
            node.as_str().replace('-', "_"),
            node
        );
        for i in t.services_on(node) {
            let _ = writeln!(out, "    {}[\"{}\"]", id(t, i), diagram_label(t, i));
        }
        let _ = writeln!(out, "  end");
    }
    for i in 0..t.services().len() {
        for (d, dep) in t.services()[i].decl.deps().enumerate() {
            if let Some(p) = t.provider(i, d) {
                let _ = writeln!(out, "  {} -->|{}| {}", id(t, i), dep.protocol, id(t, p));
            }
        }
    }
    out
}

/// The topology as Graphviz dot: a cluster per node, an edge per dependency.
pub fn dot<S: ?Sized + ServiceSpec>(t: &Topology<S>) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n", t.name());
    for &node in t.nodes() {
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{node}\" {{\n    label=\"node {node}\";"
        );
        for i in t.services_on(node) {
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{}\"];",
                t.label(i),
                diagram_label(t, i)
            );
        }
        let _ = writeln!(out, "  }}");
    }
    for i in 0..t.services().len() {
        for (d, dep) in t.services()[i].decl.deps().enumerate() {
            if let Some(p) = t.provider(i, d) {
                let _ = writeln!(
                    out,
                    "  \"{}\" -> \"{}\" [label=\"{}\"];",
                    t.label(i),
                    t.label(p),
                    dep.protocol
                );
            }
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use photon_dsl::protocol::{Http, PromQuery};
    use photon_dsl::{
        ConfigVersion, DEFAULT_LOOPBACK_BASE, DeploymentName, NodeName, ServiceDecl, port,
    };

    use super::*;

    /// A service on `node` with one listener answering `/health` (and so
    /// `/metrics`), scraping every one of the topology when `scrapes`.
    #[derive(Debug)]
    struct Spec {
        node: &'static str,
        scrapes: bool,
    }

    impl ServiceSpec for Spec {
        fn declare(&self) -> ServiceDecl {
            let node = NodeName::parse(self.node).unwrap();
            if self.scrapes {
                ServiceDecl::on_node(node, "nightlight")
                    .listens::<PromQuery>("http", port!(9090))
                    .with_health()
                    .scrapes_every_metrics_endpoint()
            } else {
                ServiceDecl::on_node(node, "web")
                    .listens::<Http>("admin", port!(8080))
                    .with_health()
                    .listens::<Http>("data", port!(8081))
            }
        }
    }

    #[test]
    fn the_plan_lists_every_metrics_endpoint_a_scraper_collects() {
        let nodes: Vec<NodeName> = ["web", "obs"]
            .iter()
            .map(|n| NodeName::parse(n).unwrap())
            .collect();
        let topology = Topology::new(
            DeploymentName::from_literal("observed"),
            ConfigVersion::from_literal("1.0.0", "main"),
        )
        .with_node(nodes[0])
        .with_node(nodes[1])
        .with_service(Box::new(Spec {
            node: "web",
            scrapes: false,
        }))
        .with_service(Box::new(Spec {
            node: "obs",
            scrapes: true,
        }));
        let resolver = Resolver::new(nodes, AddressPlan::Loopback, DEFAULT_LOOPBACK_BASE).unwrap();
        let text = table(&topology, &resolver);
        let section = text
            .split("scrape targets of obs/nightlight")
            .nth(1)
            .unwrap_or_else(|| panic!("no scrape targets in\n{text}"));
        assert!(
            section.contains("127.0.1.1:8080/metrics  web/web (admin)"),
            "{text}"
        );
        assert!(
            section.contains("127.0.1.2:9090/metrics  obs/nightlight (http)"),
            "{text}"
        );
        assert!(
            !section.contains(":8081"),
            "a listener without /health is no target:\n{text}"
        );
    }
}

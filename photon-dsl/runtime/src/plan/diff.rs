//! `plan --diff`: what changes when one plan replaces another, shown as
//! `terraform plan` shows it: `+` added, `~` changed, `-` removed, one
//! line per node, service and cluster, with the changed listeners, needs
//! and secrets indented under their service.

use std::fmt::Write as _;

use super::document::{Listen, Need, Plan, SecretRef, Service};

/// What happens to a thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// It is new.
    Add,
    /// It is there before and after, different.
    Change,
    /// It goes away.
    Remove,
}

impl Op {
    fn sign(self) -> char {
        match self {
            Op::Add => '+',
            Op::Change => '~',
            Op::Remove => '-',
        }
    }
}

/// One changed thing, with what changed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What happens to it.
    pub op: Op,
    /// What it is: `node web`, `service web/echo`, `version`, ...
    pub subject: String,
    /// The change in one line (`1.0.0+main -> 1.1.0+main`), if it has one.
    pub summary: Option<String>,
    /// The changes within it (a service's listeners, needs and secrets).
    pub details: Vec<(Op, String)>,
}

/// Everything that differs between two plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The changes, deployment-wide first, then nodes, services, clusters.
    pub entries: Vec<Entry>,
}

impl Diff {
    /// Whether the two plans describe the same configuration.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries add, change and remove something.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |op| self.entries.iter().filter(|e| e.op == op).count();
        (count(Op::Add), count(Op::Change), count(Op::Remove))
    }

    /// The report, as `plan --diff` prints it.
    pub fn render(&self, before: &Plan, after: &Plan, before_is: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "before: {before_is}: {} {} (fingerprint {})",
            before.deployment,
            before.version,
            before.short_fingerprint()
        );
        let _ = writeln!(
            out,
            "after:  this binary: {} {} (fingerprint {})",
            after.deployment,
            after.version,
            after.short_fingerprint()
        );
        let _ = writeln!(out);
        if self.is_empty() {
            let _ = writeln!(out, "No changes: both run the same configuration.");
            return out;
        }
        for entry in &self.entries {
            let _ = write!(out, "  {} {}", entry.op.sign(), entry.subject);
            if let Some(summary) = &entry.summary {
                let _ = write!(out, ": {summary}");
            }
            let _ = writeln!(out);
            for (op, detail) in &entry.details {
                let _ = writeln!(out, "      {} {detail}", op.sign());
            }
        }
        let (add, change, remove) = self.counts();
        let _ = writeln!(
            out,
            "\nPlan: {add} to add, {change} to change, {remove} to remove."
        );
        out
    }
}

/// What changes when `after` replaces `before`.
pub fn diff(before: &Plan, after: &Plan) -> Diff {
    let mut entries = Vec::new();
    let changed = |subject: &str, old: &str, new: &str| {
        (old != new).then(|| Entry {
            op: Op::Change,
            subject: subject.to_owned(),
            summary: Some(format!("{old} -> {new}")),
            details: Vec::new(),
        })
    };
    entries.extend(changed("deployment", &before.deployment, &after.deployment));
    entries.extend(changed("version", &before.version, &after.version));

    entries.extend(keyed(
        &before.nodes,
        &after.nodes,
        |n| n.name.clone(),
        |op, node| Entry {
            op,
            subject: format!("node {}", node.name),
            summary: Some(node.address.clone()),
            details: Vec::new(),
        },
        |old, new| {
            (old.address != new.address).then(|| Entry {
                op: Op::Change,
                subject: format!("node {}", new.name),
                summary: Some(format!("address {} -> {}", old.address, new.address)),
                details: Vec::new(),
            })
        },
    ));

    entries.extend(keyed(
        &before.services,
        &after.services,
        Service::label,
        |op, service| Entry {
            op,
            subject: format!("service {}", service.label()),
            summary: None,
            details: if op == Op::Add {
                parts(service)
                    .into_iter()
                    .map(|part| (Op::Add, part))
                    .collect()
            } else {
                Vec::new()
            },
        },
        |old, new| {
            let details = service_details(old, new);
            (!details.is_empty()).then(|| Entry {
                op: Op::Change,
                subject: format!("service {}", new.label()),
                summary: None,
                details,
            })
        },
    ));

    entries.extend(keyed(
        &before.clusters,
        &after.clusters,
        |c| c.name.clone(),
        |op, cluster| Entry {
            op,
            subject: format!("cluster {}", cluster.name),
            summary: Some(format!("members {}", cluster.members.join(", "))),
            details: Vec::new(),
        },
        |old, new| {
            (old.members != new.members).then(|| Entry {
                op: Op::Change,
                subject: format!("cluster {}", new.name),
                summary: Some(format!(
                    "members {} -> {}",
                    old.members.join(", "),
                    new.members.join(", ")
                )),
                details: Vec::new(),
            })
        },
    ));

    // The order among services on both sides: adding a service moves
    // nothing that was there, and is already listed above.
    if let (Some(old), Some(new)) = (&before.start_order, &after.start_order) {
        let common_old: Vec<&String> = old.iter().filter(|l| new.contains(l)).collect();
        let common_new: Vec<&String> = new.iter().filter(|l| old.contains(l)).collect();
        if common_old != common_new {
            entries.push(Entry {
                op: Op::Change,
                subject: "start order".to_owned(),
                summary: Some(format!("{} -> {}", join(&common_old), join(&common_new))),
                details: Vec::new(),
            });
        }
    }

    // Settings the plan does not show (a poll interval, a zone's records)
    // still change the fingerprint: say so rather than "no changes".
    if entries.is_empty() && before.fingerprint != after.fingerprint {
        entries.push(Entry {
            op: Op::Change,
            subject: "configuration".to_owned(),
            summary: Some(format!(
                "settings the plan does not list changed (fingerprint {} -> {})",
                before.short_fingerprint(),
                after.short_fingerprint()
            )),
            details: Vec::new(),
        });
    }
    Diff { entries }
}

fn join(labels: &[&String]) -> String {
    labels
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Items matched by key: removed ones in `before`'s order, then, in
/// `after`'s order, added ones and changed ones.
fn keyed<T>(
    before: &[T],
    after: &[T],
    key: impl Fn(&T) -> String,
    whole: impl Fn(Op, &T) -> Entry,
    changed: impl Fn(&T, &T) -> Option<Entry>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for old in before {
        if !after.iter().any(|new| key(new) == key(old)) {
            out.push(whole(Op::Remove, old));
        }
    }
    for new in after {
        match before.iter().find(|old| key(old) == key(new)) {
            None => out.push(whole(Op::Add, new)),
            Some(old) => out.extend(changed(old, new)),
        }
    }
    out
}

fn listen_text(l: &Listen) -> String {
    let health = if l.health {
        " (+ /health, /metrics)"
    } else {
        ""
    };
    format!(
        "listens {} {}/{} {}{health}",
        l.name, l.port, l.transport, l.protocol
    )
}

fn need_text(n: &Need) -> String {
    format!(
        "needs {}: {} {}@{}:{}{}",
        n.slot,
        n.protocol,
        n.provider.as_deref().unwrap_or("?"),
        n.node,
        n.port,
        n.detail
            .as_deref()
            .map_or(String::new(), |d| format!(" {d}"))
    )
}

fn secret_text(s: &SecretRef) -> String {
    format!("secret {} from {}", s.slot, s.source)
}

/// A service's listeners, needs and secrets, one line each.
fn parts(s: &Service) -> Vec<String> {
    s.listens
        .iter()
        .map(listen_text)
        .chain(s.needs.iter().map(need_text))
        .chain(s.secrets.iter().map(secret_text))
        .collect()
}

/// `field a -> b` for each field that differs, comma-separated.
fn fields(pairs: &[(&str, String, String)]) -> Option<String> {
    let changed: Vec<String> = pairs
        .iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| format!("{field} {old} -> {new}"))
        .collect();
    (!changed.is_empty()).then(|| changed.join(", "))
}

fn service_details(old: &Service, new: &Service) -> Vec<(Op, String)> {
    let mut details = Vec::new();
    let mut part = |entries: Vec<Entry>| {
        details.extend(entries.into_iter().map(|e| {
            let text = match e.summary {
                Some(summary) => format!("{}: {summary}", e.subject),
                None => e.subject,
            };
            (e.op, text)
        }))
    };
    part(keyed(
        &old.listens,
        &new.listens,
        |l| l.name.clone(),
        |op, l| Entry {
            op,
            subject: listen_text(l),
            summary: None,
            details: Vec::new(),
        },
        |a, b| {
            fields(&[
                ("port", a.port.to_string(), b.port.to_string()),
                ("transport", a.transport.clone(), b.transport.clone()),
                ("protocol", a.protocol.clone(), b.protocol.clone()),
                ("health", a.health.to_string(), b.health.to_string()),
            ])
            .map(|summary| Entry {
                op: Op::Change,
                subject: format!("listens {}", b.name),
                summary: Some(summary),
                details: Vec::new(),
            })
        },
    ));
    part(keyed(
        &old.needs,
        &new.needs,
        |n| n.slot.clone(),
        |op, n| Entry {
            op,
            subject: need_text(n),
            summary: None,
            details: Vec::new(),
        },
        |a, b| {
            let provider = |n: &Need| n.provider.clone().unwrap_or_else(|| "?".to_owned());
            fields(&[
                ("protocol", a.protocol.clone(), b.protocol.clone()),
                ("provider", provider(a), provider(b)),
                ("node", a.node.clone(), b.node.clone()),
                ("port", a.port.to_string(), b.port.to_string()),
                (
                    "subject",
                    a.detail.clone().unwrap_or_default(),
                    b.detail.clone().unwrap_or_default(),
                ),
            ])
            .map(|summary| Entry {
                op: Op::Change,
                subject: format!("needs {}", b.slot),
                summary: Some(summary),
                details: Vec::new(),
            })
        },
    ));
    part(keyed(
        &old.secrets,
        &new.secrets,
        |s| s.slot.clone(),
        |op, s| Entry {
            op,
            subject: secret_text(s),
            summary: None,
            details: Vec::new(),
        },
        |a, b| {
            (a.source != b.source).then(|| Entry {
                op: Op::Change,
                subject: format!("secret {}", b.slot),
                summary: Some(format!("from {} -> from {}", a.source, b.source)),
                details: Vec::new(),
            })
        },
    ));
    details
}

#[cfg(test)]
mod tests {
    use super::super::document::{Cluster, Node, SecretFrom};
    use super::*;

    /// Two nodes: an echo server (one listener) and a client that needs it
    /// and reads a token from the environment; one cluster.
    fn base() -> Plan {
        Plan {
            schema_version: 1,
            deployment: "echo".into(),
            version: "1.0.0+main".into(),
            fingerprint: "a".repeat(64),
            nodes: vec![
                Node {
                    name: "server".into(),
                    address: "127.0.1.1".into(),
                },
                Node {
                    name: "client".into(),
                    address: "127.0.1.2".into(),
                },
            ],
            services: vec![
                Service {
                    node: "server".into(),
                    service: "echo".into(),
                    listens: vec![Listen {
                        name: "echo".into(),
                        port: 8080,
                        transport: "tcp".into(),
                        protocol: "http-get".into(),
                        health: true,
                    }],
                    needs: vec![],
                    secrets: vec![],
                },
                Service {
                    node: "client".into(),
                    service: "echo-client".into(),
                    listens: vec![],
                    needs: vec![Need {
                        slot: "echo".into(),
                        protocol: "http-get".into(),
                        node: "server".into(),
                        port: 8080,
                        provider: Some("echo".into()),
                        detail: None,
                    }],
                    secrets: vec![SecretRef {
                        slot: "token".into(),
                        source: SecretFrom::Env("ECHO_TOKEN".into()),
                    }],
                },
            ],
            clusters: vec![Cluster {
                name: "kv".into(),
                members: vec!["server".into()],
            }],
            start_order: Some(vec!["server/echo".into(), "client/echo-client".into()]),
        }
    }

    /// The diff's lines, without the header and the count.
    fn lines(before: &Plan, after: &Plan) -> Vec<String> {
        let d = diff(before, after);
        d.render(before, after, "other")
            .lines()
            .filter(|l| l.starts_with("  "))
            .map(|l| l.trim_end().to_owned())
            .collect()
    }

    /// `after` is `base()` with `change` applied and a new fingerprint.
    fn changed(change: impl FnOnce(&mut Plan)) -> Plan {
        let mut after = base();
        change(&mut after);
        after.fingerprint = "b".repeat(64);
        after
    }

    #[test]
    fn the_same_plan_is_no_change() {
        let d = diff(&base(), &base());
        assert!(d.is_empty());
        assert!(
            d.render(&base(), &base(), "other")
                .contains("No changes: both run the same configuration."),
        );
    }

    #[test]
    fn a_moved_port_shows_on_the_listener_and_on_every_need_of_it() {
        let after = changed(|p| {
            p.services[0].listens[0].port = 8081;
            p.services[1].needs[0].port = 8081;
        });
        assert_eq!(
            lines(&base(), &after),
            [
                "  ~ service server/echo",
                "      ~ listens echo: port 8080 -> 8081",
                "  ~ service client/echo-client",
                "      ~ needs echo: port 8080 -> 8081",
            ]
        );
        assert_eq!(diff(&base(), &after).counts(), (0, 2, 0));
        assert!(
            diff(&base(), &after)
                .render(&base(), &after, "other")
                .ends_with("\nPlan: 0 to add, 2 to change, 0 to remove.\n")
        );
    }

    #[test]
    fn version_and_deployment_name_changes_are_listed_first() {
        let after = changed(|p| {
            p.version = "1.1.0+main".into();
            p.deployment = "echo-next".into();
        });
        assert_eq!(
            lines(&base(), &after),
            [
                "  ~ deployment: echo -> echo-next",
                "  ~ version: 1.0.0+main -> 1.1.0+main",
            ]
        );
    }

    #[test]
    fn nodes_added_removed_and_readdressed() {
        let after = changed(|p| {
            p.nodes[0].address = "10.0.0.1".into();
            p.nodes.remove(1);
            p.nodes.push(Node {
                name: "spare".into(),
                address: "10.0.0.3".into(),
            });
        });
        assert_eq!(
            lines(&base(), &after)[..3],
            [
                "  - node client: 127.0.1.2",
                "  ~ node server: address 127.0.1.1 -> 10.0.0.1",
                "  + node spare: 10.0.0.3",
            ]
        );
    }

    #[test]
    fn services_added_with_their_parts_and_removed() {
        let after = changed(|p| {
            let mut extra = p.services[0].clone();
            extra.node = "client".into();
            extra.service = "echo-2".into();
            extra.listens[0].port = 9000;
            extra.listens[0].health = false;
            p.services.push(extra);
            p.services.remove(0);
            p.start_order = Some(vec!["client/echo-client".into(), "client/echo-2".into()]);
        });
        assert_eq!(
            lines(&base(), &after),
            [
                "  - service server/echo",
                "  + service client/echo-2",
                "      + listens echo 9000/tcp http-get",
            ]
        );
        assert_eq!(diff(&base(), &after).counts(), (1, 0, 1));
    }

    #[test]
    fn listeners_needs_and_secrets_added_removed_and_changed() {
        let after = changed(|p| {
            let echo = &mut p.services[0];
            echo.listens[0].protocol = "http".into();
            echo.listens[0].health = false;
            echo.listens.push(Listen {
                name: "admin".into(),
                port: 9100,
                transport: "tcp".into(),
                protocol: "http".into(),
                health: true,
            });
            echo.secrets.push(SecretRef {
                slot: "tls_key".into(),
                source: SecretFrom::File("/etc/echo/key".into()),
            });
            let client = &mut p.services[1];
            client.needs[0].provider = None;
            client.needs[0].node = "elsewhere".into();
            client.needs.push(Need {
                slot: "kv".into(),
                protocol: "etcd-v3".into(),
                node: "server".into(),
                port: 2379,
                provider: Some("chainfire".into()),
                detail: None,
            });
            client.secrets[0].source = SecretFrom::File("/run/secrets/token".into());
        });
        assert_eq!(
            lines(&base(), &after),
            [
                "  ~ service server/echo",
                "      ~ listens echo: protocol http-get -> http, health true -> false",
                "      + listens admin 9100/tcp http (+ /health, /metrics)",
                "      + secret tls_key from file /etc/echo/key",
                "  ~ service client/echo-client",
                "      ~ needs echo: provider echo -> ?, node server -> elsewhere",
                "      + needs kv: etcd-v3 chainfire@server:2379",
                "      ~ secret token: from env ECHO_TOKEN -> from file /run/secrets/token",
            ]
        );
        let removed = lines(&after, &base());
        assert!(
            removed.contains(&"      - listens admin 9100/tcp http (+ /health, /metrics)".into()),
            "{removed:?}"
        );
        assert!(
            removed.contains(&"      - needs kv: etcd-v3 chainfire@server:2379".into()),
            "{removed:?}"
        );
        assert!(
            removed.contains(&"      - secret tls_key from file /etc/echo/key".into()),
            "{removed:?}"
        );
    }

    #[test]
    fn cluster_membership_and_start_order() {
        let after = changed(|p| {
            p.clusters[0].members.push("client".into());
            p.clusters.push(Cluster {
                name: "dns".into(),
                members: vec!["client".into()],
            });
            p.start_order = Some(vec!["client/echo-client".into(), "server/echo".into()]);
        });
        assert_eq!(
            lines(&base(), &after),
            [
                "  ~ cluster kv: members server -> server, client",
                "  + cluster dns: members client",
                "  ~ start order: server/echo, client/echo-client -> client/echo-client, server/echo",
            ]
        );
    }

    #[test]
    fn a_change_the_plan_does_not_show_is_still_a_change() {
        let after = changed(|_| {});
        let d = diff(&base(), &after);
        assert_eq!(d.counts(), (0, 1, 0));
        assert_eq!(
            lines(&base(), &after),
            [
                "  ~ configuration: settings the plan does not list changed (fingerprint aaaaaaaaaaaaaaaa -> bbbbbbbbbbbbbbbb)"
            ]
        );
    }
}

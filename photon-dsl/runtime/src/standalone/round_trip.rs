//! One round-trip check for every component's standalone schema: what a
//! deployment's `export-config` writes, `<component>-server` must load back
//! as the same service. A component's test gives specs and contexts (a
//! proptest strategy) and calls [`round_trip`]; the comparisons are written
//! here once.

use std::path::PathBuf;
use std::sync::Arc;

use photon_config::{ComponentDocument, Layers};
use photon_dsl::{NodeAddress, Resolver, SecretSource, ServiceDecl, ServiceSpec as _};

use super::{Built, StandaloneServer};
use crate::{ExportContext, Service};

/// An export context for a test: `node` binding on `bind_ip`, the other
/// nodes at `addresses`, its state under `/var/lib/photoncloud`, no peers
/// and no lifetime (set the fields to change them).
pub fn context(
    node: photon_dsl::NodeName,
    bind_ip: std::net::IpAddr,
    addresses: Vec<(photon_dsl::NodeName, NodeAddress)>,
) -> ExportContext {
    let mut listed = vec![(node, NodeAddress::Ip(bind_ip))];
    listed.extend(addresses);
    let resolver = Resolver::listed(listed).expect("a listed plan names its own nodes");
    ExportContext {
        node,
        bind_ip,
        component_id: format!("{node}-service"),
        cluster: "the-cluster".to_owned(),
        state_dir: PathBuf::from("/var/lib/photoncloud/the-cluster").join(node.as_str()),
        resolver: Arc::new(resolver),
        peers: Vec::new(),
        stops_node_after: None,
        placements: Arc::from([]),
        metrics_endpoints: Vec::new(),
    }
}

/// How an export and its load back differ.
#[derive(Debug, thiserror::Error)]
#[error("{stage}: {problem}")]
pub struct RoundTripError {
    stage: &'static str,
    problem: String,
}

fn differs(stage: &'static str, problem: impl Into<String>) -> RoundTripError {
    RoundTripError {
        stage,
        problem: problem.into(),
    }
}

/// Exports `spec` with `ctx` as `export-config` does, loads the text back
/// through the layers `<component>-server` uses, builds it, and checks that
/// - the text is the document it loads as, written again (the schema keeps
///   every key it was given);
/// - the built spec declares the same listeners (name, port, protocol),
///   each bound on `ctx.bind_ip`;
/// - it has the same dependencies (slot, protocol, port), each reached at
///   the address `ctx` gives the original's node;
/// - it reads the same secrets from the same places;
/// - its cluster members are `ctx.peers`, and its node stops when
///   `ctx.stops_node_after` says;
/// - exported again, from what was built (its state directory, its
///   remotes' addresses), it is the same text.
///
/// Returns what was built, for the component's own checks.
pub fn round_trip<C: StandaloneServer>(
    spec: &dyn Service,
    ctx: &ExportContext,
) -> Result<Built<C::Spec>, RoundTripError> {
    let text = spec
        .export_config(ctx)
        .map_err(|e| differs("export", e.to_string()))?;
    let mut layers = Layers::new();
    layers
        .text(std::path::Path::new("exported.toml"), &text)
        .map_err(|e| differs("load", e.to_string()))?;
    let doc: ComponentDocument<C> = layers
        .extract()
        .map_err(|e| differs("load", e.to_string()))?;
    let again = photon_config::to_toml(&doc).map_err(|e| differs("write", e.to_string()))?;
    if again != text {
        return Err(differs(
            "load",
            format!("the document writes back differently:\n{text}\n---\n{again}"),
        ));
    }
    let built = C::build(&doc, &layers).map_err(|e| differs("build", e.to_string()))?;

    let (before, after) = (spec.declare(), built.spec.declare());
    same("listeners", listeners(&before), listeners(&after))?;
    for listener in after.listeners() {
        let ip = built
            .listen
            .iter()
            .find(|(name, _)| *name == listener.name)
            .map(|(_, ip)| *ip);
        if ip != Some(ctx.bind_ip) {
            return Err(differs(
                "listeners",
                format!("`{}` binds on {ip:?}, not {}", listener.name, ctx.bind_ip),
            ));
        }
    }
    same(
        "dependencies",
        deps(&before, |node| ctx.resolver.resolve(node).ok()),
        deps(&after, |node| {
            built
                .remotes
                .iter()
                .find(|r| r.node() == node)
                .map(|r| r.address().clone())
        }),
    )?;
    same("secrets", secrets(&before), secrets(&after))?;
    same("peers", &ctx.peers, &built.peers)?;
    same(
        "lifetime",
        ctx.stops_node_after,
        built.companions.iter().find_map(|c| c.stops_node_after()),
    )?;

    let reexport = ExportContext {
        state_dir: built
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/the-default-state-dir")),
        resolver: Arc::new(remotes_resolver(ctx, &built)?),
        peers: built.peers.clone(),
        stops_node_after: built.companions.iter().find_map(|c| c.stops_node_after()),
        ..ctx.clone()
    };
    let text_again = built
        .spec
        .export_config(&reexport)
        .map_err(|e| differs("export again", e.to_string()))?;
    if text_again != text {
        return Err(differs(
            "export again",
            format!("what was built exports differently:\n{text}\n---\n{text_again}"),
        ));
    }
    Ok(built)
}

fn same<T: PartialEq + std::fmt::Debug>(
    stage: &'static str,
    before: T,
    after: T,
) -> Result<(), RoundTripError> {
    if before == after {
        Ok(())
    } else {
        Err(differs(
            stage,
            format!("exported {before:?}, loaded back {after:?}"),
        ))
    }
}

fn listeners(decl: &ServiceDecl) -> Vec<(&'static str, u16, &'static str)> {
    decl.listeners()
        .map(|l| (l.name, l.port.get(), l.protocol))
        .collect()
}

fn deps(
    decl: &ServiceDecl,
    address: impl Fn(photon_dsl::NodeName) -> Option<NodeAddress>,
) -> Vec<(&'static str, &'static str, u16, Option<NodeAddress>)> {
    decl.deps()
        .map(|d| (d.slot, d.protocol, d.port.get(), address(d.node)))
        .collect()
}

fn secrets(decl: &ServiceDecl) -> Vec<(&'static str, String)> {
    decl.secrets()
        .map(|s| {
            let source = match s.secret.source() {
                SecretSource::Env(name) => format!("env {name}"),
                SecretSource::File(path) => format!("file {path}"),
                SecretSource::Written(written) => format!("written {}", written.value),
            };
            (s.slot, source)
        })
        .collect()
}

/// `ctx`'s node where `ctx` puts it, and every remote where the
/// configuration says it is.
fn remotes_resolver<S>(ctx: &ExportContext, built: &Built<S>) -> Result<Resolver, RoundTripError> {
    let mut listed: Vec<(photon_dsl::NodeName, NodeAddress)> = Vec::new();
    if let Ok(address) = ctx.resolver.resolve(ctx.node) {
        listed.push((ctx.node, address));
    }
    for remote in &built.remotes {
        listed.push((remote.node(), remote.address().clone()));
    }
    Resolver::listed(listed).map_err(|e| differs("export again", e.to_string()))
}

//! The suite compiles against the config layer only, and the smallest
//! deployment builds without gRPC; this keeps them so, by asking cargo for
//! the crates in their build graphs.

use std::process::Command;

/// Crates that belong to servers, never to the config layer.
const HEAVY: &[&str] = &[
    "tokio",
    "hyper",
    "tonic",
    "prost",
    "rocksdb",
    "librocksdb-sys",
    "hickory-proto",
    "hickory-server",
    "openraft",
    "rustls",
    "photon-runtime",
];

/// The crates in `package`'s build graph along `edges`, and the tree as
/// cargo printed it.
fn build_graph(package: &str, edges: &str) -> (Vec<String>, String) {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            package,
            "--edges",
            edges,
            "--prefix",
            "none",
            "--quiet",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    (crates, tree)
}

#[test]
fn the_build_graph_has_only_the_config_layer() {
    let (crates, tree) = build_graph("ui-tests", "normal,dev,build");
    let crates: Vec<&str> = crates.iter().map(String::as_str).collect();
    assert!(crates.contains(&"photon-dsl"), "{tree}");
    let heavy: Vec<&&str> = HEAVY.iter().filter(|h| crates.contains(h)).collect();
    assert!(
        heavy.is_empty(),
        "heavy crates in the ui-tests build graph: {heavy:?}"
    );
}

/// The echo pair never registers in chainfire, so its deployment builds
/// without the runtime's `integration` feature: no etcd client, no gRPC.
#[test]
fn the_smallest_deployment_builds_without_grpc() {
    let (crates, tree) = build_graph("deploy-echo-single", "normal,build");
    let crates: Vec<&str> = crates.iter().map(String::as_str).collect();
    assert!(crates.contains(&"photon-runtime"), "{tree}");
    assert!(crates.contains(&"hyper"), "{tree}");
    let grpc: Vec<&&str> = ["tonic", "prost", "etcd-client", "photon-integration", "h2"]
        .iter()
        .filter(|c| crates.contains(c))
        .collect();
    assert!(
        grpc.is_empty(),
        "deploy-echo-single builds {grpc:?}; the runtime's `integration` feature belongs to components that register:\n{tree}"
    );
}

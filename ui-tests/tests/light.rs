//! The suite compiles against the config layer only; this keeps it so, by
//! asking cargo for the crates in its build graph.

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

#[test]
fn the_build_graph_has_only_the_config_layer() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            "ui-tests",
            "--edges",
            "normal,dev,build",
            "--prefix",
            "none",
            "--quiet",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"photon-dsl"), "{tree}");
    let heavy: Vec<&&str> = HEAVY.iter().filter(|h| crates.contains(h)).collect();
    assert!(
        heavy.is_empty(),
        "heavy crates in the ui-tests build graph: {heavy:?}"
    );
}

//! `export`: what each orchestrator gets, judged by that orchestrator's own
//! validator: the compose specification's JSON Schema (check-jsonschema),
//! Kubernetes' API schemas (kubernetes-validate, strict), and systemd's
//! own `systemd-analyze verify`. Deployments between them have clusters,
//! TCP+UDP listeners (prod's DNS on port 53), and secrets from the
//! environment and from files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::output;

const DEPLOYMENTS: [&str; 4] = ["echo-canary", "chainfire-cluster", "level3", "prod"];

fn export(deployment: &str, format: &str, dir: &Path, extra: &[&str]) -> Vec<PathBuf> {
    let out = dir.join(format!("{deployment}-{format}"));
    let mut args = vec!["export", "--format", format, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let done = output(deployment, &args);
    assert!(
        done.status.success(),
        "{deployment} {format}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let listed: Vec<PathBuf> = String::from_utf8_lossy(&done.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    for file in &listed {
        assert!(
            file.starts_with(&out) && file.is_file(),
            "{}",
            file.display()
        );
    }
    listed
}

fn named<'a>(files: &'a [PathBuf], name: &str) -> &'a PathBuf {
    files
        .iter()
        .find(|f| f.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no {name} in {files:?}"))
}

/// `tool args file`, run.
fn judge(tool: &Path, args: &[&str], file: &Path) -> Output {
    Command::new(tool).args(args).arg(file).output().unwrap()
}

/// The validator does judge: `broken` written to a file is refused.
fn refuses(tool: &Path, args: &[&str], dir: &Path, broken: &str) {
    let file = dir.join("broken");
    std::fs::write(&file, broken).unwrap();
    let caught = judge(tool, args, &file);
    assert!(
        !caught.status.success(),
        "accepted:\n{broken}\n{}",
        said(&caught)
    );
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let dir = tempfile::tempdir().unwrap();
    let validator = e2e::installed_tool("check-jsonschema");
    for deployment in DEPLOYMENTS {
        let files = export(deployment, "compose", dir.path(), &[]);
        let compose = named(&files, "compose.yaml");
        let checked = judge(
            &validator,
            &["--builtin-schema", "vendor.compose-spec"],
            compose,
        );
        assert!(checked.status.success(), "{deployment}: {}", said(&checked));
        let text = std::fs::read_to_string(compose).unwrap();
        assert!(named(&files, "Dockerfile").is_file());
        if deployment == "prod" {
            // environment secrets come from the operator's shell, file
            // secrets are compose secrets mounted where they are read
            assert!(
                text.contains("target: \"/etc/photoncloud/secrets/photonauth-admin-token\""),
                "{text}"
            );
            assert!(named(&files, "README").is_file());
        }
        if deployment == "level3" {
            assert!(text.contains("- \"5300/udp\""), "{text}");
            assert!(text.contains("- \"5300/tcp\""), "{text}");
            assert!(
                text.contains("PHOTONAUTH_ADMIN_TOKEN: \"${PHOTONAUTH_ADMIN_TOKEN:?set PHOTONAUTH_ADMIN_TOKEN where compose runs}\""),
                "{text}"
            );
        }
    }

    // The validator does judge: an unknown key and a healthcheck that is
    // not a map are caught.
    refuses(
        &validator,
        &["--builtin-schema", "vendor.compose-spec"],
        dir.path(),
        "services:\n  a:\n    image: x\n    surprise: 1\n    healthcheck: often\n",
    );
}

#[test]
fn the_kubernetes_manifests_follow_the_api_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let validator = e2e::installed_tool("kubernetes-validate");
    for deployment in DEPLOYMENTS {
        let files = export(
            deployment,
            "kubernetes",
            dir.path(),
            &["--image", "registry.example/photon:1"],
        );
        let manifests = named(&files, "kubernetes.yaml");
        let checked = judge(&validator, &["--strict"], manifests);
        assert!(checked.status.success(), "{deployment}: {}", said(&checked));
        let text = std::fs::read_to_string(manifests).unwrap();
        let plan: serde_json::Value =
            serde_json::from_slice(&output(deployment, &["plan", "--format", "json"]).stdout)
                .unwrap();
        let nodes = plan["nodes"].as_array().unwrap();
        // a headless Service and a StatefulSet per node, named after it
        assert_eq!(text.matches("kind: \"StatefulSet\"").count(), nodes.len());
        assert_eq!(text.matches("clusterIP: \"None\"").count(), nodes.len());
        for node in nodes {
            assert!(
                text.contains(&format!("serviceName: {}", node["name"])),
                "{deployment}: {}",
                node["name"]
            );
        }
        assert!(text.contains(&format!("fingerprint: {}", plan["fingerprint"])));
        assert!(text.contains("image: \"registry.example/photon:1\""));
        if deployment == "level3" {
            assert!(text.contains("path: \"/health\""), "{text}");
            assert!(text.contains("secretKeyRef:"), "{text}");
            assert!(text.contains("protocol: \"UDP\""), "{text}");
        }
        if deployment == "prod" {
            assert!(
                text.contains("mountPath: \"/etc/photoncloud/secrets/lightningstor-secret-key\""),
                "{text}"
            );
        }
    }
    // The validator does judge: an unknown field is refused under --strict.
    refuses(
        &validator,
        &["--strict"],
        dir.path(),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  clusterIP: None\n  surprise: 1\n",
    );
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    for deployment in DEPLOYMENTS {
        let binary = e2e::deployment(deployment);
        let files = export(
            deployment,
            "systemd",
            dir.path(),
            &["--binary-path", binary.to_str().unwrap()],
        );
        let plan: serde_json::Value =
            serde_json::from_slice(&output(deployment, &["plan", "--format", "json"]).stdout)
                .unwrap();
        assert_eq!(files.len(), plan["nodes"].as_array().unwrap().len());
        let verified = Command::new("systemd-analyze")
            .arg("verify")
            .args(&files)
            .output()
            .unwrap();
        // verify exits 0 with warnings for unknown keys: none is allowed
        assert!(
            verified.status.success() && said(&verified).trim().is_empty(),
            "{deployment}: {}",
            said(&verified)
        );
        for unit in &files {
            let text = std::fs::read_to_string(unit).unwrap();
            assert!(text.contains("Restart=on-failure"), "{text}");
            assert!(text.contains("--host-names"), "{text}");
        }
    }
    // prod's DNS binds port 53 with the one capability it needs, level3's
    // (on 5300) with none
    let files = export(
        "prod",
        "systemd",
        dir.path(),
        &["--binary-path", "/usr/bin/true"],
    );
    let dns = std::fs::read_to_string(named(&files, "photoncloud-prod-dns.service")).unwrap();
    assert!(
        dns.contains(
            "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
        ),
        "{dns}"
    );
    // level3: the nodes needing chainfire start after it; secrets are
    // credentials
    let files = export("level3", "systemd", dir.path(), &[]);
    let dns = std::fs::read_to_string(named(&files, "photoncloud-level3-dns.service")).unwrap();
    assert!(dns.contains("\nCapabilityBoundingSet=\n"), "{dns}");
    assert!(!dns.contains("AmbientCapabilities"), "{dns}");
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(
        all.contains("After=network-online.target photoncloud-level3-kv-"),
        "{all}"
    );
    assert!(
        all.contains("LoadCredential=PHOTONAUTH_ADMIN_TOKEN:/etc/photoncloud/credentials/PHOTONAUTH_ADMIN_TOKEN"),
        "{all}"
    );
    // The verifier does judge: a unit whose program is missing fails.
    let systemd_analyze = Path::new("systemd-analyze");
    let broken = dir.path().join("broken.service");
    std::fs::write(&broken, "[Service]\nExecStart=/nonexistent/deploy-x run\n").unwrap();
    let caught = judge(systemd_analyze, &["verify"], &broken);
    assert!(!caught.status.success(), "{}", said(&caught));
}

/// No Nomad binary or published job schema can be installed here (Nomad is
/// not packaged for Debian, nor on PyPI or npm), so the job is checked for
/// what it must say: a group per node pinned to the client of that name,
/// the image running `run --node`, its ports, a Consul service checked on
/// `/health`, and secrets from Nomad variables.
#[test]
fn the_nomad_job_has_a_group_per_node() {
    let dir = tempfile::tempdir().unwrap();
    let files = export("level3", "nomad", dir.path(), &[]);
    let job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(named(&files, "level3.nomad.json")).unwrap())
            .unwrap();
    let plan: serde_json::Value =
        serde_json::from_slice(&output("level3", &["plan", "--format", "json"]).stdout).unwrap();
    let groups = job["Job"]["TaskGroups"].as_array().unwrap();
    assert_eq!(groups.len(), plan["nodes"].as_array().unwrap().len());
    for (group, node) in groups.iter().zip(plan["nodes"].as_array().unwrap()) {
        assert_eq!(group["Name"], node["name"]);
        assert_eq!(group["Constraints"][0]["RTarget"], node["name"]);
        let args = &group["Tasks"][0]["Config"]["args"];
        assert_eq!(args[0], "run");
        assert_eq!(args[2], node["name"]);
        assert_eq!(args[3], "--host-names=service.consul");
    }
    let text = serde_json::to_string(&job).unwrap();
    assert!(text.contains("\"Path\":\"/health\""), "{text}");
    assert!(text.contains("nomadVar"), "{text}");
}

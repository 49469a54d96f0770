//! Nomad: one job, a group per node (count 1) running the image with the
//! docker driver on the host's network, its listeners as static ports, a
//! Consul service named after the node (so `<node>.service.consul`
//! resolves: the default domain of this export), checked on `/health`,
//! state on a host volume, and secrets rendered from Nomad variables
//! (`nomad/jobs/<deployment>`) into the task's environment or files.
//! Written as the JSON the jobs API takes (`nomad job run -json`).

use photon_dsl::Topology;
use serde_json::json;

use super::{ExportError, ExportOptions, NodeFacts, STATE_DIR, SecretFacts};
use crate::Service;

const SECOND_NS: u64 = 1_000_000_000;

pub(super) fn files(
    topology: &Topology<dyn Service>,
    nodes: &[NodeFacts],
    options: &ExportOptions,
) -> Result<Vec<(String, String)>, ExportError> {
    let deployment = topology.name().to_string();
    let variables = format!("nomad/jobs/{deployment}");
    let mut groups = Vec::new();
    for node in nodes {
        let name = super::dns1035(node.name, "Nomad")?;
        let ports: Vec<_> = node
            .ports
            .iter()
            .map(|p| json!({ "Label": format!("p{}", p.port), "Value": p.port }))
            .collect();
        let mut service = json!({
            "Name": name,
            "Provider": "consul",
            "Tags": [deployment],
            "Meta": { "fingerprint": topology.fingerprint().full_hex() },
        });
        if let Some(port) = node
            .health_port
            .or(node.ports.iter().find(|p| p.tcp).map(|p| p.port))
        {
            service["PortLabel"] = json!(format!("p{port}"));
            service["Checks"] = json!([if node.health_port == Some(port) {
                json!({ "Name": "health", "Type": "http", "Path": "/health", "PortLabel": format!("p{port}"), "Interval": 10 * SECOND_NS, "Timeout": 5 * SECOND_NS })
            } else {
                json!({ "Name": "connect", "Type": "tcp", "PortLabel": format!("p{port}"), "Interval": 10 * SECOND_NS, "Timeout": 5 * SECOND_NS })
            }]);
        }
        let mut templates = Vec::new();
        let env: Vec<&str> = node
            .secrets
            .iter()
            .filter_map(|s| match s {
                SecretFacts::Env(name) => Some(*name),
                SecretFacts::File { .. } => None,
            })
            .collect();
        if !env.is_empty() {
            let body: String = env
                .iter()
                .map(|v| format!("{v}={{{{ .{v} }}}}\n"))
                .collect();
            templates.push(json!({
                "EmbeddedTmpl": format!("{{{{ with nomadVar \"{variables}\" }}}}\n{body}{{{{ end }}}}\n"),
                "DestPath": "secrets/env",
                "Envvars": true,
                "ChangeMode": "restart",
            }));
        }
        let mut mounts = Vec::new();
        for secret in &node.secrets {
            if let SecretFacts::File { path, credential } = secret {
                let key = credential.replace(['-', '.'], "_");
                templates.push(json!({
                    "EmbeddedTmpl": format!("{{{{ with nomadVar \"{variables}\" }}}}{{{{ .{key} }}}}{{{{ end }}}}"),
                    "DestPath": format!("secrets/{credential}"),
                    "Perms": "0400",
                    "ChangeMode": "restart",
                }));
                mounts.push(format!("secrets/{credential}:{path}:ro"));
            }
        }
        let mut config = json!({
            "image": options.image,
            "args": node.run_args(options, STATE_DIR),
            "network_mode": "host",
        });
        if !mounts.is_empty() {
            config["volumes"] = json!(mounts);
        }
        let mut task = json!({
            "Name": "node",
            "Driver": "docker",
            "Config": config,
            "VolumeMounts": [{ "Volume": "state", "Destination": STATE_DIR }],
            "KillTimeout": 30 * SECOND_NS,
        });
        if !templates.is_empty() {
            task["Templates"] = json!(templates);
        }
        groups.push(json!({
            "Name": name,
            "Count": 1,
            "Constraints": [{
                "LTarget": "${node.unique.name}",
                "RTarget": name,
                "Operand": "=",
            }],
            "Networks": [{ "Mode": "host", "ReservedPorts": ports }],
            "Services": [service],
            "Volumes": {
                "state": { "Type": "host", "Source": format!("photoncloud-{deployment}-{name}"), "ReadOnly": false },
            },
            "RestartPolicy": { "Attempts": 10, "Interval": 300 * SECOND_NS, "Delay": 2 * SECOND_NS, "Mode": "delay" },
            "Tasks": [task],
        }));
    }
    let job = json!({
        "Job": {
            "ID": deployment,
            "Name": deployment,
            "Type": "service",
            "Datacenters": ["*"],
            "Meta": {
                "photoncloud_version": topology.version().to_string(),
                "photoncloud_fingerprint": topology.fingerprint().full_hex(),
            },
            "TaskGroups": groups,
        }
    });
    Ok(vec![
        (
            format!("{deployment}.nomad.json"),
            serde_json::to_string_pretty(&job).unwrap_or_default() + "\n",
        ),
        (
            "Dockerfile".to_owned(),
            super::dockerfile(options, topology),
        ),
    ])
}

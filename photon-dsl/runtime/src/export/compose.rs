//! docker compose: one service per node, named after it (compose's network
//! resolves it), state in a named volume, healthchecked by `check --node`,
//! environment secrets interpolated from the operator's shell
//! (`${NAME:?...}`, never a value in the file) and file secrets as compose
//! secrets mounted where the deployment reads them.

use photon_dsl::Topology;
use serde_json::{Map, Value, json};

use super::{ExportError, ExportOptions, NodeFacts, STATE_DIR, SecretFacts};
use crate::Service;

pub(super) fn files(
    topology: &Topology<dyn Service>,
    nodes: &[NodeFacts],
    options: &ExportOptions,
) -> Result<Vec<(String, String)>, ExportError> {
    let mut services = Map::new();
    let mut volumes = Map::new();
    let mut secrets = Map::new();
    for node in nodes {
        let volume = format!("{}-state", node.name);
        volumes.insert(volume.clone(), json!({}));
        let mut environment = Map::new();
        let mut mounted = Vec::new();
        for secret in &node.secrets {
            match secret {
                SecretFacts::Env(name) => {
                    environment.insert(
                        (*name).to_owned(),
                        json!(format!("${{{name}:?set {name} where compose runs}}")),
                    );
                }
                SecretFacts::File { path, credential } => {
                    secrets.insert(
                        (*credential).to_owned(),
                        json!({ "file": format!("./secrets/{credential}") }),
                    );
                    mounted.push(json!({ "source": credential, "target": path }));
                }
            }
        }
        let mut check = vec![
            "CMD".to_owned(),
            format!("/usr/local/bin/{}", options.binary_name),
        ];
        check.extend(node.check_args(options));
        let mut service = json!({
            "image": options.image,
            "build": ".",
            "hostname": node.name.as_str(),
            "command": node.run_args(options, STATE_DIR),
            "restart": "unless-stopped",
            "stop_grace_period": "30s",
            "volumes": [format!("{volume}:{STATE_DIR}")],
            "healthcheck": {
                "test": check,
                "interval": "10s",
                "timeout": "5s",
                "retries": 3,
                "start_period": "60s",
            },
            "labels": {
                "dev.photoncloud.deployment": topology.name().as_str(),
                "dev.photoncloud.node": node.name.as_str(),
                "dev.photoncloud.services": node.services.join(","),
            },
        });
        if !node.ports.is_empty() {
            let expose: Vec<String> = node
                .ports
                .iter()
                .flat_map(|p| {
                    let mut both = Vec::new();
                    if p.tcp {
                        both.push(format!("{}/tcp", p.port));
                    }
                    if p.udp {
                        both.push(format!("{}/udp", p.port));
                    }
                    both
                })
                .collect();
            service["expose"] = json!(expose);
        }
        if !node.depends_on.is_empty() {
            // started, not healthy: each node waits for what it needs
            // itself (`--dependency-timeout`), and a cluster's members
            // must start together to elect a leader
            let after: Map<String, Value> = node
                .depends_on
                .iter()
                .map(|d| (d.to_string(), json!({ "condition": "service_started" })))
                .collect();
            service["depends_on"] = Value::Object(after);
        }
        if !environment.is_empty() {
            service["environment"] = Value::Object(environment);
        }
        if !mounted.is_empty() {
            service["secrets"] = json!(mounted);
        }
        services.insert(node.name.to_string(), service);
    }
    let mut doc = json!({
        "name": topology.name().as_str(),
        "services": services,
        "volumes": volumes,
    });
    if !secrets.is_empty() {
        doc["secrets"] = Value::Object(secrets.clone());
    }
    let mut files = vec![
        (
            "compose.yaml".to_owned(),
            super::provenance(topology, "#") + &super::yaml::to_yaml(&doc),
        ),
        (
            "Dockerfile".to_owned(),
            super::dockerfile(options, topology),
        ),
    ];
    if !secrets.is_empty() {
        let mut readme = String::from(
            "Put each secret's value in the file of its name here before `docker compose up`\n\
             (compose mounts it where the deployment reads it); keep this directory out of\n\
             version control.\n\n",
        );
        for name in secrets.keys() {
            readme.push_str(&format!("  {name}\n"));
        }
        files.push(("secrets/README".to_owned(), readme));
    }
    Ok(files)
}

//! Kubernetes: a ConfigMap naming the configuration, then per node a
//! headless Service named after the node (so the node's name resolves in
//! the namespace, even before the pod is ready: a cluster's members must
//! find each other to become ready) and a StatefulSet of one pod with a
//! volume claim for its state, probes on `/health`, and secrets as
//! references to one Secret the operator creates.

use photon_dsl::Topology;
use serde_json::json;

use super::{ExportError, ExportOptions, NodeFacts, STATE_DIR, SecretFacts};
use crate::Service;

pub(super) fn files(
    topology: &Topology<dyn Service>,
    nodes: &[NodeFacts],
    options: &ExportOptions,
) -> Result<Vec<(String, String)>, ExportError> {
    let deployment = topology.name().to_string();
    let secret_name = format!("{deployment}-secrets");
    let short = topology.fingerprint().to_string();
    let full = topology.fingerprint().full_hex();
    let mut docs = vec![json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": format!("{deployment}-config"),
            "labels": { "app.kubernetes.io/part-of": deployment },
        },
        "data": {
            "deployment": deployment,
            "version": topology.version().to_string(),
            "fingerprint": full,
        },
    })];
    for node in nodes {
        let name = super::dns1035(node.name, "Kubernetes")?;
        let labels = json!({
            "app.kubernetes.io/part-of": deployment,
            "app.kubernetes.io/instance": name,
            "photoncloud.dev/fingerprint": short,
        });
        let selector =
            json!({ "app.kubernetes.io/part-of": deployment, "app.kubernetes.io/instance": name });
        let mut service_ports = Vec::new();
        let mut container_ports = Vec::new();
        for p in &node.ports {
            for (protocol, on) in [("TCP", p.tcp), ("UDP", p.udp)] {
                if !on {
                    continue;
                }
                // IANA service names: at most 15 characters
                let port_name = format!("p{}-{}", p.port, protocol.to_lowercase());
                service_ports.push(json!({
                    "name": port_name, "port": p.port, "targetPort": p.port, "protocol": protocol,
                }));
                container_ports.push(json!({
                    "name": port_name, "containerPort": p.port, "protocol": protocol,
                }));
            }
        }
        let mut service_spec = json!({
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector,
        });
        if !service_ports.is_empty() {
            service_spec["ports"] = json!(service_ports);
        }
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name, "labels": labels },
            "spec": service_spec,
        }));

        let mut env = Vec::new();
        let mut mounts = vec![json!({ "name": "state", "mountPath": STATE_DIR })];
        let mut volumes = Vec::new();
        for secret in &node.secrets {
            match secret {
                SecretFacts::Env(variable) => env.push(json!({
                    "name": variable,
                    "valueFrom": { "secretKeyRef": { "name": secret_name, "key": variable } },
                })),
                SecretFacts::File { path, credential } => {
                    let volume = format!("secret-{}", volumes.len());
                    volumes.push(json!({
                        "name": volume,
                        "secret": {
                            "secretName": secret_name,
                            "items": [{ "key": credential, "path": credential }],
                            "defaultMode": 0o400,
                        },
                    }));
                    mounts.push(json!({
                        "name": volume,
                        "mountPath": path,
                        "subPath": credential,
                        "readOnly": true,
                    }));
                }
            }
        }
        // `/health` where a listener serves it, else a TCP connect; a node
        // with neither (UDP only, or no listener) gets no probe rather
        // than a meaningless one
        let asked = match node.health_port {
            Some(port) => Some(json!({ "httpGet": { "path": "/health", "port": port } })),
            None => node
                .ports
                .iter()
                .find(|p| p.tcp)
                .map(|p| json!({ "tcpSocket": { "port": p.port } })),
        };
        let mut container = json!({
            "name": "node",
            "image": options.image,
            "args": node.run_args(options, STATE_DIR),
            "volumeMounts": mounts,
            "securityContext": { "allowPrivilegeEscalation": false },
        });
        if let Some(asked) = asked {
            for (probe, period, failures) in [("readinessProbe", 5, 3), ("livenessProbe", 10, 6)] {
                let mut p = asked.clone();
                p["periodSeconds"] = json!(period);
                p["failureThreshold"] = json!(failures);
                container[probe] = p;
            }
        }
        if !container_ports.is_empty() {
            container["ports"] = json!(container_ports);
        }
        if !env.is_empty() {
            container["env"] = json!(env);
        }
        let mut pod_spec = json!({
            "containers": [container],
            "terminationGracePeriodSeconds": 30,
        });
        if !volumes.is_empty() {
            pod_spec["volumes"] = json!(volumes);
        }
        docs.push(json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {
                    "photoncloud.dev/fingerprint": full,
                    "photoncloud.dev/services": node.services.join(","),
                },
            },
            "spec": {
                "serviceName": name,
                "replicas": 1,
                "podManagementPolicy": "Parallel",
                "selector": { "matchLabels": selector },
                "template": {
                    "metadata": { "labels": labels },
                    "spec": pod_spec,
                },
                "volumeClaimTemplates": [{
                    "metadata": { "name": "state" },
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": { "requests": { "storage": "1Gi" } },
                    },
                }],
            },
        }));
    }
    let mut text = super::provenance(topology, "#");
    let secrets: Vec<String> = nodes
        .iter()
        .flat_map(|n| n.secrets.iter())
        .map(|s| match s {
            SecretFacts::Env(name) => (*name).to_owned(),
            SecretFacts::File { credential, .. } => (*credential).to_owned(),
        })
        .collect();
    if !secrets.is_empty() {
        let mut keys = secrets.clone();
        keys.sort();
        keys.dedup();
        text.push_str(&format!(
            "# Create the Secret first, one key per secret: kubectl create secret generic {secret_name} {}\n",
            keys.iter()
                .map(|k| format!("--from-file={k}=<file>"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&super::yaml::to_yaml(doc));
    }
    Ok(vec![
        ("kubernetes.yaml".to_owned(), text),
        (
            "Dockerfile".to_owned(),
            super::dockerfile(options, topology),
        ),
    ])
}

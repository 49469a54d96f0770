//! systemd: one unit per node, `photoncloud-<deployment>-<node>.service`,
//! to install on the host of that name. Ordered after the units of the
//! nodes it needs (which matters where several nodes share a host; across
//! hosts each node waits for what it needs itself), restarted on failure,
//! state in `StateDirectory=`, secrets handed over as credentials
//! (`LoadCredential=`, read by `photon_runtime::read_secret`), and the
//! service sandboxed as far as a network server allows.

use photon_dsl::{NodeName, Topology};

use super::{ExportError, ExportOptions, NodeFacts, STATE_DIR, SecretFacts};
use crate::Service;

/// Where an environment secret's credential is loaded from on the host.
pub const CREDENTIALS_DIR: &str = "/etc/photoncloud/credentials";

/// The unit's file name for `node`.
pub fn unit_name(topology: &Topology<dyn Service>, node: NodeName) -> String {
    format!("photoncloud-{}-{node}.service", topology.name())
}

pub(super) fn files(
    topology: &Topology<dyn Service>,
    nodes: &[NodeFacts],
    options: &ExportOptions,
) -> Result<Vec<(String, String)>, ExportError> {
    let mut files = Vec::new();
    for node in nodes {
        let mut credentials = Vec::new();
        for secret in &node.secrets {
            let (name, from) = match secret {
                SecretFacts::Env(name) => (*name, format!("{CREDENTIALS_DIR}/{name}")),
                SecretFacts::File { path, credential } => (*credential, (*path).to_owned()),
            };
            if credentials.iter().any(|(n, _)| *n == name) {
                return Err(ExportError::Unnameable(format!(
                    "node `{}` reads two secrets systemd would hand over as one credential `{name}`: give the files different names",
                    node.name
                )));
            }
            credentials.push((name, from));
        }
        let after: Vec<String> = node
            .depends_on
            .iter()
            .map(|&d| unit_name(topology, d))
            .collect();
        let mut unit = super::provenance(topology, "#");
        unit.push_str(&format!(
            "[Unit]\nDescription=PhotonCloud {} {}: node {} ({})\n",
            topology.name(),
            topology.version(),
            node.name,
            node.services.join(", ")
        ));
        unit.push_str("After=network-online.target");
        for a in &after {
            unit.push(' ');
            unit.push_str(a);
        }
        unit.push_str("\nWants=network-online.target");
        for a in &after {
            unit.push(' ');
            unit.push_str(a);
        }
        unit.push_str("\n\n[Service]\nType=exec\n");
        unit.push_str(&format!(
            "ExecStart={} {}\n",
            options.binary_path,
            node.run_args(options, STATE_DIR).join(" ")
        ));
        unit.push_str(
            "Restart=on-failure\nRestartSec=2s\nTimeoutStopSec=30s\n\
             DynamicUser=yes\nStateDirectory=photoncloud\n",
        );
        for (name, from) in &credentials {
            unit.push_str(&format!("LoadCredential={name}:{from}\n"));
        }
        if node.binds_privileged_port() {
            unit.push_str(
                "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
            );
        } else {
            unit.push_str("CapabilityBoundingSet=\n");
        }
        unit.push_str(
            "NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n\
             PrivateDevices=yes\nProtectKernelTunables=yes\nProtectKernelModules=yes\n\
             ProtectKernelLogs=yes\nProtectControlGroups=yes\nProtectClock=yes\n\
             ProtectHostname=yes\nRestrictNamespaces=yes\nRestrictRealtime=yes\n\
             RestrictSUIDSGID=yes\nLockPersonality=yes\nMemoryDenyWriteExecute=yes\n\
             RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n\
             SystemCallArchitectures=native\nSystemCallFilter=@system-service\n\
             \n[Install]\nWantedBy=multi-user.target\n",
        );
        files.push((unit_name(topology, node.name), unit));
    }
    Ok(files)
}

//! `export --format compose|systemd|kubernetes|nomad --out DIR`: the
//! topology handed to the engine an operator already runs. PhotonCloud
//! grows no cluster manager of its own: each engine gets one unit per node
//! (a compose service, a systemd unit, a StatefulSet, a Nomad group), each
//! running this same binary with `run --node <node> --host-names`, so
//! nodes find each other by the names the engine gives them
//! (`AddressPlan::HostNames`). Secrets are wired by reference in each
//! engine's own way; no value is ever written.

mod compose;
mod kubernetes;
mod nomad;
mod systemd;
pub mod yaml;

use std::path::{Path, PathBuf};

use photon_dsl::{NodeName, SecretSource, Topology, Transport};

use crate::Service;

/// Where a node keeps its state inside the engine's unit (a volume, a
/// systemd `StateDirectory=`).
pub const STATE_DIR: &str = "/var/lib/photoncloud";

/// What the operator chooses about the export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The binary's name (`deploy-prod`).
    pub binary_name: String,
    /// Where the binary is on each host (systemd's `ExecStart=`).
    pub binary_path: String,
    /// The container image holding the binary (compose, Kubernetes,
    /// Nomad); a `Dockerfile` that builds it is written beside them.
    pub image: String,
    /// The domain appended to node names, if the engine's names need one.
    pub domain: Option<String>,
}

/// An export that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A node or secret cannot be named as the engine requires.
    #[error("{0}")]
    Unnameable(String),
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A listener as the engines publish it.
#[derive(Debug, Clone)]
pub(crate) struct PortFacts {
    pub port: u16,
    pub tcp: bool,
    pub udp: bool,
}

/// A secret as the engines hand it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretFacts {
    /// Read from this environment variable.
    Env(&'static str),
    /// Read from this file (and its credential name).
    File {
        path: &'static str,
        credential: &'static str,
    },
}

/// What every engine needs to know about one node.
#[derive(Debug, Clone)]
pub(crate) struct NodeFacts {
    pub name: NodeName,
    /// The kinds of its services, in topology order.
    pub services: Vec<String>,
    pub ports: Vec<PortFacts>,
    /// The port serving `/health`, if any.
    pub health_port: Option<u16>,
    /// Nodes providing something this node's services need.
    pub depends_on: Vec<NodeName>,
    pub secrets: Vec<SecretFacts>,
}

impl NodeFacts {
    /// The arguments of the binary for this node.
    pub fn run_args(&self, options: &ExportOptions, state_dir: &str) -> Vec<String> {
        let mut args = vec!["run".to_owned(), "--node".to_owned(), self.name.to_string()];
        args.extend(host_names_args(options));
        args.extend(["--state-dir".to_owned(), state_dir.to_owned()]);
        args
    }

    /// `check --node <node>` as a health command run beside the node.
    pub fn check_args(&self, options: &ExportOptions) -> Vec<String> {
        let mut args = vec![
            "check".to_owned(),
            "--node".to_owned(),
            self.name.to_string(),
        ];
        args.extend(host_names_args(options));
        args
    }

    /// Whether a port below 1024 is among its listeners.
    pub fn binds_privileged_port(&self) -> bool {
        self.ports.iter().any(|p| p.port < 1024)
    }
}

fn host_names_args(options: &ExportOptions) -> Vec<String> {
    match &options.domain {
        Some(domain) => vec![format!("--host-names={domain}")],
        None => vec!["--host-names".to_owned()],
    }
}

/// Every node's facts, in topology order.
pub(crate) fn nodes(topology: &Topology<dyn Service>) -> Vec<NodeFacts> {
    topology
        .nodes()
        .iter()
        .map(|&node| {
            let on = topology.services_on(node);
            let mut ports = Vec::new();
            let mut health_port = None;
            let mut depends_on = Vec::new();
            let mut secrets = Vec::new();
            for &i in &on {
                let decl = &topology.services()[i].decl;
                for l in decl.listeners() {
                    ports.push(PortFacts {
                        port: l.port.get(),
                        tcp: l.transport.has_tcp(),
                        udp: matches!(l.transport, Transport::Udp | Transport::TcpAndUdp),
                    });
                    if l.health && health_port.is_none() {
                        health_port = Some(l.port.get());
                    }
                }
                for (d, _) in decl.deps().enumerate() {
                    if let Some(p) = topology.provider(i, d) {
                        let provider = topology.services()[p].decl.node();
                        if provider != node && !depends_on.contains(&provider) {
                            depends_on.push(provider);
                        }
                    }
                }
                for s in decl.secrets() {
                    let facts = match s.secret.source() {
                        SecretSource::Env(name) => SecretFacts::Env(name),
                        SecretSource::File(path) => SecretFacts::File {
                            path,
                            credential: crate::secret::credential_name(&s.secret).unwrap_or(path),
                        },
                        SecretSource::Written(_) => continue,
                    };
                    if !secrets.contains(&facts) {
                        secrets.push(facts);
                    }
                }
            }
            NodeFacts {
                name: node,
                services: on
                    .iter()
                    .map(|&i| topology.services()[i].decl.kind().to_string())
                    .collect(),
                ports,
                health_port,
                depends_on,
                secrets,
            }
        })
        .collect()
}

/// The engines `export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `compose.yaml`, a `Dockerfile`, `secrets/README`.
    Compose,
    /// One `.service` unit per node.
    Systemd,
    /// `kubernetes.yaml`: a ConfigMap, per node a headless Service and a
    /// StatefulSet; a `Dockerfile`.
    Kubernetes,
    /// `<deployment>.nomad.json`: a job with a group per node; a `Dockerfile`.
    Nomad,
}

impl Format {
    /// Parses `compose`, `systemd`, `kubernetes` or `nomad`.
    pub fn parse(text: &str) -> Option<Format> {
        Some(match text {
            "compose" => Format::Compose,
            "systemd" => Format::Systemd,
            "kubernetes" => Format::Kubernetes,
            "nomad" => Format::Nomad,
            _ => return None,
        })
    }
}

/// Writes the export for `format` into `out` (created if missing); the
/// files written, in order.
pub fn export(
    topology: &Topology<dyn Service>,
    format: Format,
    options: &ExportOptions,
    out: &Path,
) -> Result<Vec<PathBuf>, ExportError> {
    let nodes = nodes(topology);
    let files: Vec<(String, String)> = match format {
        Format::Compose => compose::files(topology, &nodes, options)?,
        Format::Systemd => systemd::files(topology, &nodes, options)?,
        Format::Kubernetes => kubernetes::files(topology, &nodes, options)?,
        Format::Nomad => nomad::files(topology, &nodes, options)?,
    };
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(write_error(out))?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = out.join(&name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_error(dir))?;
        }
        // written whole, then renamed: a reader never sees half a file
        let partial = out.join(format!(".{}.partial", name.replace('/', "_")));
        std::fs::write(&partial, text).map_err(write_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(write_error(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// The image's recipe: Debian with the shared libraries the binary links
/// (RocksDB) and the programs its services run (nats-server), and the
/// binary as the entry point.
pub(crate) fn dockerfile(options: &ExportOptions, topology: &Topology<dyn Service>) -> String {
    let mut packages: Vec<&str> = vec!["librocksdb7.8", "ca-certificates"];
    for service in topology.services() {
        for package in service.spec.system_packages() {
            if !packages.contains(package) {
                packages.push(package);
            }
        }
    }
    format!(
        "# Builds {image}: put `{bin}` (from `cargo build --release -p {bin}`) beside\n\
         # this file, then `docker build -t {image} .`\n\
         FROM debian:bookworm-slim\n\
         RUN apt-get update \\\n    && apt-get install -y --no-install-recommends {packages} \\\n    && rm -rf /var/lib/apt/lists/*\n\
         COPY {bin} /usr/local/bin/{bin}\n\
         ENTRYPOINT [\"/usr/local/bin/{bin}\"]\n",
        image = options.image,
        bin = options.binary_name,
        packages = packages.join(" "),
    )
}

/// A header comment naming what the file runs.
pub(crate) fn provenance(topology: &Topology<dyn Service>, comment: &str) -> String {
    format!(
        "{comment} Written by `export` for deployment {} {} (fingerprint {}).\n\
         {comment} Regenerate rather than edit: the topology is the source.\n",
        topology.name(),
        topology.version(),
        topology.fingerprint().full_hex(),
    )
}

/// Node names that are not DNS-1035 labels (as Kubernetes Service and
/// Nomad names must be: starting with a letter) are refused by name.
pub(crate) fn dns1035(node: NodeName, engine: &str) -> Result<String, ExportError> {
    let name = node.to_string();
    if name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        Ok(name)
    } else {
        Err(ExportError::Unnameable(format!(
            "node `{name}` cannot be named in {engine}: names there start with a letter; rename the node"
        )))
    }
}

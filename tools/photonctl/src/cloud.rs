//! `photonctl cloud`: tenants' resources through the API gateway (level
//! 4), over its HTTP/JSON API (`services/api-gateway/openapi.json`), as a
//! tenant (a token from `photonctl auth token --audience api-gateway`) or
//! as the operator (the gateway's admin token).
//!
//! ```text
//! export PHOTON_CLOUD_TOKEN=...            # or --token-file PATH; never a flag value
//! photonctl cloud --endpoint http://gateway:8080 --tenant acme apply dns-record www \
//!     --spec '{"type": "A", "values": ["192.0.2.10"]}' --wait
//! photonctl cloud --endpoint ... --tenant acme get dns-record www
//! photonctl cloud --endpoint ... --tenant acme list [bucket]
//! photonctl cloud --endpoint ... --tenant acme delete dns-record www --wait
//! photonctl cloud --endpoint ... --tenant acme account
//! ```
//!
//! Each prints the gateway's JSON answer; a refusal prints its message
//! and code and exits 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::Value;

use crate::Report;

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the gateway is and who is calling.
#[derive(Debug, Args)]
pub struct CloudArgs {
    /// The gateway's URL, such as http://gateway:8080.
    #[arg(long, env = "PHOTON_CLOUD_ENDPOINT")]
    endpoint: String,
    /// A file holding the token (else `PHOTON_CLOUD_TOKEN`): a tenant's
    /// photonauth token for `api-gateway`, or the gateway's admin token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The tenant acted for (a tenant's token reaches only its own).
    #[arg(long, env = "PHOTON_TENANT")]
    tenant: String,
    #[command(subcommand)]
    command: CloudCommand,
}

/// What `photonctl cloud` does.
#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    /// Applies a resource's spec (idempotent).
    Apply {
        /// bucket, dns-record, load-balancer, vpc, subnet or address.
        kind: String,
        /// Its name (a DNS label).
        name: String,
        /// The spec, as JSON.
        #[arg(
            long,
            conflicts_with = "spec_file",
            required_unless_present = "spec_file"
        )]
        spec: Option<String>,
        /// A file holding the spec.
        #[arg(long)]
        spec_file: Option<PathBuf>,
        /// Waits until its agent reports it ready (or failed).
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout_sec: u64,
    },
    /// Shows a resource and its status.
    Get {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// Lists the tenant's resources (of one kind, if given).
    List {
        /// Only this kind.
        kind: Option<String>,
    },
    /// Deletes a resource.
    Delete {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// Waits until it is gone.
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout_sec: u64,
    },
    /// The tenant's credits, and its usage and limit per kind.
    Account,
}

/// The gateway at one address, called with one token.
struct Gateway {
    addr: SocketAddr,
    bearer: String,
}

impl Gateway {
    /// `method path` with `body`: the status and the JSON answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let headers = [
            ("authorization", self.bearer.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        let body = body.map_or_else(bytes::Bytes::new, |b| bytes::Bytes::from(b.to_string()));
        let answer =
            photon_runtime::http::send(self.addr, method, path, &headers, body, CALL_TIMEOUT)
                .await
                .map_err(|e| format!("the gateway at {}: {e}", self.addr))?;
        let value: Value = serde_json::from_str(&answer.body).map_err(|_| {
            format!(
                "the gateway answered {} with something not JSON: {}",
                answer.status,
                answer.body.trim()
            )
        })?;
        Ok((answer.status.as_u16(), value))
    }

    /// As [`call`](Self::call), a refusal made an error naming its code.
    async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let (status, value) = self.call(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(refusal(status, &value))
        }
    }
}

/// A refusal in the gateway's one shape, said for people.
fn refusal(status: u16, value: &Value) -> String {
    let error = &value["error"];
    match (error["message"].as_str(), error["code"].as_str()) {
        (Some(message), Some(code)) => format!("{message} ({status} {code})"),
        _ => format!("the gateway answered {status}: {value}"),
    }
}

/// `host:port` of an `http://` URL.
fn address(endpoint: &str) -> Result<SocketAddr, String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{endpoint}`: give the gateway's URL as http://host:port"))?;
    let authority = rest.trim_end_matches('/');
    use std::net::ToSocketAddrs as _;
    authority
        .to_socket_addrs()
        .map_err(|e| format!("`{endpoint}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{endpoint}` names no address"))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values print") + "\n"
}

/// Runs `photonctl cloud`.
pub async fn run(args: CloudArgs) -> Result<Report, String> {
    let token = crate::read_token(
        args.token_file.as_deref(),
        "PHOTON_CLOUD_TOKEN",
        "the token",
    )?;
    let gateway = Gateway {
        addr: address(&args.endpoint)?,
        bearer: format!("Bearer {token}"),
    };
    let tenant = &args.tenant;
    let resource = |kind: &str, name: &str| format!("/v1/tenants/{tenant}/resources/{kind}/{name}");
    let text = match args.command {
        CloudCommand::Apply {
            kind,
            name,
            spec,
            spec_file,
            wait,
            timeout_sec,
        } => {
            let text = match (spec, spec_file) {
                (Some(spec), _) => spec,
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
                (None, None) => unreachable!("clap requires one"),
            };
            let spec: Value =
                serde_json::from_str(&text).map_err(|e| format!("the spec is not JSON: {e}"))?;
            let path = resource(&kind, &name);
            let applied = gateway.ok(Method::PUT, &path, Some(&spec)).await?;
            if wait {
                pretty(&until_settled(&gateway, &path, Duration::from_secs(timeout_sec)).await?)
            } else {
                pretty(&applied)
            }
        }
        CloudCommand::Get { kind, name } => pretty(
            &gateway
                .ok(Method::GET, &resource(&kind, &name), None)
                .await?,
        ),
        CloudCommand::List { kind } => {
            let path = match kind {
                Some(kind) => format!("/v1/tenants/{tenant}/resources/{kind}"),
                None => format!("/v1/tenants/{tenant}/resources"),
            };
            pretty(&gateway.ok(Method::GET, &path, None).await?)
        }
        CloudCommand::Delete {
            kind,
            name,
            wait,
            timeout_sec,
        } => {
            let path = resource(&kind, &name);
            let deleting = gateway.ok(Method::DELETE, &path, None).await?;
            if wait {
                until_gone(&gateway, &path, Duration::from_secs(timeout_sec)).await?;
                format!("{kind} {name} of {tenant} deleted\n")
            } else {
                pretty(&deleting)
            }
        }
        CloudCommand::Account => pretty(
            &gateway
                .ok(Method::GET, &format!("/v1/tenants/{tenant}/account"), None)
                .await?,
        ),
    };
    Ok(Report {
        text,
        all_well: true,
    })
}

/// Polls `path` until its agent reports the current generation: the
/// resource when ready, an error naming the agent's message when failed
/// (a pending one, waiting for a node, is waited for).
async fn until_settled(gateway: &Gateway, path: &str, within: Duration) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = gateway.ok(Method::GET, path, None).await?;
        if got["ready"] == true {
            return Ok(got);
        }
        let status = &got["status"];
        if status["state"] == "failed" && status["observed_generation"] == got["generation"] {
            return Err(format!(
                "{} {}: its agent ({}) failed: {}",
                got["kind"].as_str().unwrap_or("?"),
                got["name"].as_str().unwrap_or("?"),
                status["agent"].as_str().unwrap_or("?"),
                status["message"].as_str().unwrap_or("")
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            if status["state"] == "pending" {
                return Err(format!(
                    "not ready within {} s, still pending: {}",
                    within.as_secs(),
                    status["message"].as_str().unwrap_or("")
                ));
            }
            return Err(format!("not ready within {} s: {}", within.as_secs(), got));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `path` until it answers 404.
async fn until_gone(gateway: &Gateway, path: &str, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, got) = gateway.call(Method::GET, path, None).await?;
        match status {
            404 => return Ok(()),
            200 if tokio::time::Instant::now() < deadline => {}
            200 => {
                return Err(format!(
                    "still there after {} s (finalizers {}): {}",
                    within.as_secs(),
                    got["finalizers"],
                    got["status"]["message"]
                ));
            }
            _ => return Err(refusal(status, &got)),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

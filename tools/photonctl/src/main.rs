//! `photonctl`, the design's troubleshooting commands (§7.3):
//!
//! ```text
//! photonctl check-connection --endpoint http://chainfire:2379   # can this machine reach the platform?
//! photonctl status --endpoint http://chainfire:2379             # every registered component, and its /health
//! photonctl dns add --endpoint ... --cluster c1 --zone vpc.internal 'web-1 60 IN A 10.0.0.5'
//! photonctl auth --endpoint http://auth:50051 tenant create acme   # admin token in PHOTONAUTH_ADMIN_TOKEN
//! photonctl net --endpoint http://net:50052 vpc list --tenant acme  # token in PHOTONNET_TOKEN
//! photonctl cloud --endpoint http://gateway:8080 --tenant acme list   # token in PHOTON_CLOUD_TOKEN
//! photonctl db --endpoint db-1:50060 move --to db-4 3 11         # token in FLAREDB_TOKEN
//! photonctl migrate --from standalone --to integrated --component lightningstor --config lightningstor.toml
//! ```
//!
//! `dns` changes the zones integrated flashdns serve ([`dns`]). Each prints one line per thing checked and exit 0 when all is well, 1
//! when something is not (the line says what), 2 on a usage mistake.

use std::process::ExitCode;
use std::time::Duration;

mod auth;
mod cloud;
mod db;
mod dns;
mod migrate;
mod net;

use clap::{Parser, Subcommand};
use etcd_client::{Client, ConnectOptions, GetOptions};

/// The prefix every component registers under (photon-integration).
const CLUSTERS: &str = "/photon/clusters/";

#[derive(Debug, Parser)]
#[command(
    name = "photonctl",
    version,
    about = "The operator's view of an integrated PhotonCloud"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reaches chainfire: a member answers Status and knows a leader.
    CheckConnection {
        /// chainfire's client URL (etcd v3 API), such as http://chainfire:2379.
        #[arg(long, env = "PHOTON_CHAINFIRE_ENDPOINTS")]
        endpoint: String,
        /// How long to wait for an answer, in seconds.
        #[arg(long, default_value_t = 5)]
        timeout_sec: u64,
    },
    /// Lists the registered components and asks each its /health.
    Status {
        /// chainfire's client URL (etcd v3 API), such as http://chainfire:2379.
        #[arg(long, env = "PHOTON_CHAINFIRE_ENDPOINTS")]
        endpoint: String,
        /// Only this cluster's components (all clusters when left out).
        #[arg(long)]
        cluster: Option<String>,
        /// How long each question may take, in seconds.
        #[arg(long, default_value_t = 2)]
        timeout_sec: u64,
    },
    /// The zones kept in chainfire, which integrated flashdns serve.
    Dns {
        /// chainfire's client URL (etcd v3 API), such as http://chainfire:2379.
        #[arg(long, env = "PHOTON_CHAINFIRE_ENDPOINTS")]
        endpoint: String,
        /// The cluster whose zones these are (`photon.cluster_id`).
        #[arg(long, env = "PHOTON_CLUSTER_ID")]
        cluster: String,
        #[command(subcommand)]
        command: dns::DnsCommand,
    },
    /// photonauth's tenants, users, access keys and policies.
    Auth(auth::AuthArgs),
    /// photonnet's VPCs, subnets and addresses.
    Net(net::NetArgs),
    /// Tenants' resources through the API gateway (level 4).
    Cloud(cloud::CloudArgs),
    /// flaredb's shard map, and moving shards between its nodes.
    Db(db::DbArgs),
    /// Moves a stopped component's state from standalone to integrated
    /// (copied, verified object by object, then handed over; safe to run
    /// again after an interruption).
    Migrate(migrate::MigrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("photonctl: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::CheckConnection {
                endpoint,
                timeout_sec,
            } => check_connection(&endpoint, Duration::from_secs(timeout_sec)).await,
            Command::Status {
                endpoint,
                cluster,
                timeout_sec,
            } => {
                status(
                    &endpoint,
                    cluster.as_deref(),
                    Duration::from_secs(timeout_sec),
                )
                .await
            }
            Command::Dns {
                endpoint,
                cluster,
                command,
            } => match connect(&endpoint, Duration::from_secs(5)).await {
                Ok(client) => dns::run(client, &cluster, command).await,
                Err(e) => Err(e),
            },
            Command::Migrate(args) => migrate::run(args).await,
            Command::Auth(args) => auth::run(args).await,
            Command::Net(args) => net::run(args).await,
            Command::Cloud(args) => cloud::run(args).await,
            Command::Db(args) => db::run(args).await,
        }
    });
    // The report goes to stdout (a command's output), problems to stderr.
    match outcome {
        Ok(report) => {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(report.text.as_bytes());
            if report.all_well {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("photonctl: {e}");
            ExitCode::from(1)
        }
    }
}

/// What a command found.
struct Report {
    text: String,
    all_well: bool,
}

/// A token from `file` if given, else from the environment variable
/// `env` (never a flag value, which `ps` would show); `what` names it.
fn read_token(file: Option<&std::path::Path>, env: &str, what: &str) -> Result<String, String> {
    match file {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| t.trim_end().to_owned())
            .map_err(|e| format!("{}: {e}", path.display())),
        None => std::env::var(env)
            .map_err(|_| format!("give {what} in {env} or --token-file (never as a flag value)")),
    }
}

async fn connect(endpoint: &str, timeout: Duration) -> Result<Client, String> {
    let options = ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout(timeout);
    Client::connect([endpoint], Some(options))
        .await
        .map_err(|e| format!("chainfire at {endpoint} cannot be reached: {e}"))
}

async fn check_connection(endpoint: &str, timeout: Duration) -> Result<Report, String> {
    let mut client = connect(endpoint, timeout).await?;
    let status = client
        .status()
        .await
        .map_err(|e| format!("chainfire at {endpoint} did not answer Status: {e}"))?;
    let members = client
        .member_list()
        .await
        .map(|m| m.members().len())
        .unwrap_or(0);
    let header = status.header().map(|h| h.member_id()).unwrap_or_default();
    let leader = status.leader();
    let all_well = leader != 0;
    let verdict = if all_well { "ok" } else { "failing" };
    let mut text = format!(
        "{verdict:<8}{endpoint}  version {}, member {header:x}, leader {leader:x}, raft term {}, index {}, {members} member(s), {} bytes stored\n",
        status.version(),
        status.raft_term(),
        status.raft_index(),
        status.db_size(),
    );
    if !all_well {
        text.push_str("        the member knows no leader: the cluster cannot take writes\n");
    }
    Ok(Report { text, all_well })
}

async fn status(
    endpoint: &str,
    cluster: Option<&str>,
    timeout: Duration,
) -> Result<Report, String> {
    let mut client = connect(endpoint, timeout).await?;
    let prefix = match cluster {
        Some(cluster) => format!("{CLUSTERS}{cluster}/components/"),
        None => CLUSTERS.to_owned(),
    };
    let listed = client
        .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
        .await
        .map_err(|e| format!("chainfire at {endpoint} did not list {prefix}: {e}"))?;
    let mut text = String::new();
    let (mut healthy, mut count) = (0usize, 0usize);
    for kv in listed.kvs() {
        let key = kv.key_str().unwrap_or("(not UTF-8)");
        count += 1;
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(kv.value()) else {
            text.push_str(&format!("failing  {key}: the registration is not JSON\n"));
            continue;
        };
        let field = |name: &str| value[name].as_str().unwrap_or("?").to_owned();
        let listeners: Vec<(String, String)> = value["listeners"]
            .as_object()
            .map(|l| {
                l.iter()
                    .map(|(name, addr)| (name.clone(), addr.as_str().unwrap_or("?").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let (verdict, mode, why) = health(&listeners, timeout).await;
        if verdict == "ok" {
            healthy += 1;
        }
        let listed: Vec<String> = listeners.iter().map(|(n, a)| format!("{n}={a}")).collect();
        text.push_str(&format!(
            "{verdict:<8}{}/{}  cluster {}, version {}, mode {mode}  {}{why}\n",
            field("component"),
            field("component_id"),
            field("cluster_id"),
            field("version"),
            listed.join(" "),
        ));
    }
    text.push_str(&format!(
        "{count} component(s) registered under {prefix}, {healthy} healthy\n"
    ));
    Ok(Report {
        text,
        all_well: healthy == count,
    })
}

/// Asks each listener `GET /health` until one answers with the platform's
/// JSON: ("ok" or "failing", the mode it reports, why it failed).
async fn health(
    listeners: &[(String, String)],
    timeout: Duration,
) -> (&'static str, String, String) {
    let mut last = "no listener".to_owned();
    for (name, addr) in listeners {
        let Ok(addr) = addr.parse() else {
            last = format!("listener {name}: `{addr}` is not an address");
            continue;
        };
        match photon_runtime::http::get(addr, "/health", timeout).await {
            Ok(answer) => {
                let Ok(json) = serde_json::from_str::<serde_json::Value>(&answer.body) else {
                    last = format!("{name}: /health is not the platform's JSON");
                    continue;
                };
                let mode = json["mode"].as_str().unwrap_or("?").to_owned();
                return if answer.status.is_success() {
                    ("ok", mode, String::new())
                } else {
                    ("failing", mode, format!("  /health: {}", json["status"]))
                };
            }
            Err(e) => last = format!("{name}: {e}"),
        }
    }
    (
        "failing",
        "?".to_owned(),
        format!("  no /health answered ({last})"),
    )
}

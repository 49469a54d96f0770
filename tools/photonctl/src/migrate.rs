//! `photonctl migrate --from standalone --to integrated`: moves a stopped
//! standalone lightningstor's metadata and access keys into chainfire,
//! where the same node, restarted integrated, finds them (the design's
//! migration tool, §7.1). The work is lightningstor's own
//! [`Migration`](lightningstor::migrate::Migration), through the same
//! metadata seam the server uses; this is its command line.
//!
//! ```text
//! photonctl migrate --from standalone --to integrated --component lightningstor \
//!     --config /etc/lightningstor.toml --endpoint http://chainfire:2379 [--dry-run]
//! ```

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use lightningstor::migrate::Migration;
use lightningstor::standalone::LightningStorSchema;
use lightningstor::store::chainfire::{ChainfireMeta, instance_prefix};
use photon_config::{ComponentDocument, Sources};

use crate::Report;

/// Where a component's state is kept before.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum From {
    /// On the node (RocksDB, files).
    Standalone,
}

/// Where it is kept after.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum To {
    /// In chainfire.
    Integrated,
}

/// The component whose state moves.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Component {
    /// Buckets, objects' records, uploads and access keys (the bytes stay).
    Lightningstor,
}

/// `photonctl migrate`'s arguments.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the state is now.
    #[arg(long, value_enum)]
    from: From,
    /// Where it goes.
    #[arg(long, value_enum)]
    to: To,
    /// The component whose state moves.
    #[arg(long, value_enum)]
    component: Component,
    /// The component's standalone TOML (its metadata path, data directory,
    /// component_id, cluster_id and chainfire_endpoints are read from it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The metadata directory (RocksDB), instead of or over `--config`'s.
    #[arg(long)]
    meta_dir: Option<PathBuf>,
    /// The data directory (blobs), instead of or over `--config`'s.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// chainfire's client URL, over `--config`'s first `chainfire_endpoints`.
    #[arg(long, env = "PHOTON_CHAINFIRE_ENDPOINTS")]
    endpoint: Option<String>,
    /// The cluster the integrated component joins (`photon.cluster_id`;
    /// a deployment's name).
    #[arg(long, env = "PHOTON_CLUSTER_ID")]
    cluster: Option<String>,
    /// The instance's name (`photon.component_id`; a deployment's node).
    #[arg(long)]
    instance: Option<String>,
    /// Only say what would be copied.
    #[arg(long)]
    dry_run: bool,
}

fn required<T>(value: Option<T>, what: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("give {what}"))
}

/// Runs the migration `args` asks for.
pub async fn run(args: MigrateArgs) -> Result<Report, String> {
    let (From::Standalone, To::Integrated, Component::Lightningstor) =
        (args.from, args.to, args.component);
    let doc = match &args.config {
        Some(path) => {
            let sources = Sources {
                file: Some(path.clone()),
                env: std::env::vars().collect(),
                flags: Vec::new(),
            };
            let (doc, _) = photon_config::load::<ComponentDocument<LightningStorSchema>>(&sources)
                .map_err(|e| e.to_string())?;
            Some(doc)
        }
        None => None,
    };
    let paths = doc.as_ref().map(lightningstor::migrate::paths_of);
    let meta_dir = required(
        args.meta_dir.or(paths.as_ref().map(|p| p.0.clone())),
        "--meta-dir or --config",
    )?;
    let data_dir = required(
        args.data_dir.or(paths.map(|p| p.1)),
        "--data-dir or --config",
    )?;
    let endpoint = required(
        args.endpoint.or_else(|| {
            doc.as_ref()
                .and_then(|d| d.photon.integrated.chainfire_endpoints.first().cloned())
        }),
        "--endpoint (chainfire's client URL) or chainfire_endpoints in --config",
    )?;
    let cluster = required(
        args.cluster
            .or_else(|| doc.as_ref().and_then(|d| d.photon.cluster_id.clone())),
        "--cluster (the cluster the integrated lightningstor joins) or cluster_id in --config",
    )?;
    let instance = required(
        args.instance
            .or_else(|| doc.as_ref().and_then(|d| d.photon.component_id.clone())),
        "--instance (the integrated lightningstor's component_id or node) or component_id in --config",
    )?;

    let local = lightningstor::migrate::open_local(&meta_dir)?;
    let client = crate::connect(&endpoint, std::time::Duration::from_secs(10)).await?;
    let target = ChainfireMeta::new(client, instance_prefix(&cluster, &instance));
    let migration = Migration {
        data_dir,
        dry_run: args.dry_run,
    };
    // Progress goes out as it happens (stderr): a long migration shows it.
    let mut progress = |line: &str| eprintln!("photonctl: {line}");
    let tally = migration
        .run(&local, &target, &mut progress)
        .await
        .map_err(|e| e.to_string())?;
    let text = format!(
        "{}{} buckets, {} objects ({} bytes), {} uploads, {} parts, {} access keys {}; {} already there{}\n",
        if args.dry_run { "" } else { "ok      " },
        tally.buckets,
        tally.objects,
        tally.bytes,
        tally.uploads,
        tally.parts,
        tally.keys,
        if args.dry_run {
            "would be copied"
        } else {
            "copied"
        },
        tally.already_there,
        if args.dry_run {
            String::new()
        } else {
            format!("; {} objects verified", tally.verified)
        }
    );
    Ok(Report {
        text,
        all_well: true,
    })
}

//! `photonctl migrate --from standalone --to integrated`: moves a stopped
//! standalone component's state into chainfire, where the same node,
//! restarted integrated, finds it (the design's migration tool, §7.1):
//! lightningstor's metadata and access keys (its
//! [`Migration`](lightningstor::migrate::Migration), through the metadata
//! seam the server uses), and flashdns's stored zones (its
//! [`copy_zones`], from the zone files into the zone store integrated
//! flashdns read).
//!
//! ```text
//! photonctl migrate --from standalone --to integrated --component lightningstor \
//!     --config /etc/lightningstor.toml --endpoint http://chainfire:2379 [--dry-run]
//! photonctl migrate --from standalone --to integrated --component flashdns \
//!     --zones-dir /var/lib/flashdns/zones --cluster c1 --endpoint http://chainfire:2379
//! ```
//!
//! The next step, `--to photonauth`, hands a lightningstor's own access keys
//! to a photonauth tenant's user (unchanged, so their holders go on) and its
//! buckets to that tenant, before it restarts with `Auth::PhotonAuth`:
//!
//! ```text
//! photonctl migrate --from integrated --to photonauth --component lightningstor \
//!     --endpoint http://chainfire:2379 --cluster c1 --instance storage \
//!     --auth-endpoint http://auth:50051 --tenant acme --user legacy [--dry-run]
//! ```
//!
//! (`--from standalone` reads the RocksDB metadata of a stopped, hybrid-bound
//! lightningstor at `--meta-dir` instead.)

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use flashdns::store::chainfire::{ChainfireStore, cluster_prefix};
use flashdns::store::copy::{Copied, copy_zones};
use flashdns::store::file::FileStore;
use lightningstor::migrate::Migration;
use lightningstor::standalone::LightningStorSchema;
use lightningstor::store::chainfire::{ChainfireMeta, instance_prefix};
use photon_config::{ComponentDocument, Sources};
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonauth::api::proto::{AttachPolicyRequest, ImportAccessKeyRequest, PutPolicyRequest};

use crate::Report;

/// Where a component's state is kept before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum From {
    /// On the node (RocksDB, files).
    Standalone,
    /// In chainfire.
    Integrated,
}

/// Where it is kept after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum To {
    /// In chainfire.
    Integrated,
    /// Keys with a photonauth tenant, buckets owned by it.
    Photonauth,
}

/// The component whose state moves.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Component {
    /// Buckets, objects' records, uploads and access keys (the bytes stay).
    Lightningstor,
    /// Stored zones (`stored = true`), kept as zone files when standalone.
    Flashdns,
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
    /// flashdns: the directory of its stored zones' files (`zones` under
    /// the standalone server's state directory).
    #[arg(long)]
    zones_dir: Option<PathBuf>,
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
    /// `--to photonauth`: photonauth's gRPC URL.
    #[arg(long, env = "PHOTONAUTH_ENDPOINT")]
    auth_endpoint: Option<String>,
    /// `--to photonauth`: a file holding the admin token (else
    /// `PHOTONAUTH_ADMIN_TOKEN`).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// `--to photonauth`: the tenant that gets the buckets and keys.
    #[arg(long)]
    tenant: Option<String>,
    /// `--to photonauth`: the tenant's user that gets the keys.
    #[arg(long)]
    user: Option<String>,
    /// Only say what would be copied.
    #[arg(long)]
    dry_run: bool,
}

fn required<T>(value: Option<T>, what: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("give {what}"))
}

/// Runs the migration `args` asks for.
pub async fn run(args: MigrateArgs) -> Result<Report, String> {
    match (args.from, args.to, args.component) {
        (From::Standalone, To::Integrated, Component::Lightningstor) => lightningstor(args).await,
        (From::Standalone, To::Integrated, Component::Flashdns) => flashdns(args).await,
        (_, To::Photonauth, Component::Lightningstor) => lightningstor_to_photonauth(args).await,
        (_, To::Photonauth, Component::Flashdns) => Err(
            "flashdns has nothing photonauth checks: only lightningstor moves to photonauth".into(),
        ),
        (From::Integrated, To::Integrated, _) => {
            Err("it is integrated already: nothing to move".into())
        }
    }
}

/// The policy that lets migrated keys do what they could before.
const KEYS_POLICY: &str = "lightningstor-keys";

/// lightningstor's own keys to a photonauth tenant's user, its unowned
/// buckets to the tenant, through the metadata seam (RocksDB or chainfire).
async fn lightningstor_to_photonauth(args: MigrateArgs) -> Result<Report, String> {
    use lightningstor::store::MetaStore;

    let tenant = required(args.tenant, "--tenant (who gets the buckets)")?;
    let user = required(args.user, "--user (the tenant's user who gets the keys)")?;
    let auth_endpoint = required(args.auth_endpoint, "--auth-endpoint (photonauth's URL)")?;
    let meta: Box<dyn MetaStore> = match args.from {
        From::Standalone => {
            let meta_dir = required(
                args.meta_dir,
                "--meta-dir (the stopped lightningstor's RocksDB)",
            )?;
            Box::new(lightningstor::migrate::open_local(&meta_dir)?)
        }
        From::Integrated => {
            let endpoint = required(args.endpoint, "--endpoint (chainfire's client URL)")?;
            let cluster = required(args.cluster, "--cluster (the cluster it joined)")?;
            let instance = required(args.instance, "--instance (its component_id or node)")?;
            let client = crate::connect(&endpoint, std::time::Duration::from_secs(10)).await?;
            Box::new(ChainfireMeta::new(
                client,
                instance_prefix(&cluster, &instance),
            ))
        }
    };
    let token = crate::auth::admin_token(args.token_file.as_deref())?;
    let bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = format!("Bearer {token}")
        .parse()
        .map_err(|_| "the admin token is not a valid header value".to_owned())?;
    let mut auth = PhotonAuthClient::connect(auth_endpoint.clone())
        .await
        .map_err(|e| format!("photonauth at {auth_endpoint} cannot be reached: {e}"))?;
    let failed =
        |status: tonic::Status| format!("photonauth: {:?}: {}", status.code(), status.message());

    let (mut imported, mut already, mut sessions) = (0, 0, 0);
    for (id, record) in meta.access_keys().await.map_err(|e| e.to_string())? {
        if record.session.is_some() {
            // Temporary credentials end by themselves; photonauth issues none.
            sessions += 1;
            continue;
        }
        if args.dry_run {
            imported += 1;
            continue;
        }
        let request = ImportAccessKeyRequest {
            tenant: tenant.clone(),
            user: user.clone(),
            access_key_id: id.clone(),
            secret_access_key: record.secret.clone(),
            description: record.description.clone(),
        };
        let answer = auth
            .import_access_key(crate::auth::authed(request, &bearer))
            .await
            .map_err(failed)?
            .into_inner();
        if answer.created {
            imported += 1;
        } else {
            already += 1;
        }
    }
    // lightningstor's own keys could do anything; so may their user in its
    // tenant, through one named policy the operator can narrow later.
    if imported + already > 0 && !args.dry_run {
        let policy = PutPolicyRequest {
            tenant: tenant.clone(),
            name: KEYS_POLICY.to_owned(),
            document: r#"{"statements":[{"effect":"allow","actions":["s3:*"],"resources":["*"]}]}"#
                .to_owned(),
        };
        auth.put_policy(crate::auth::authed(policy, &bearer))
            .await
            .map_err(failed)?;
        let attach = AttachPolicyRequest {
            tenant: tenant.clone(),
            user: user.clone(),
            policy: KEYS_POLICY.to_owned(),
        };
        auth.attach_policy(crate::auth::authed(attach, &bearer))
            .await
            .map_err(failed)?;
    }
    let (mut given, mut owned, mut others) = (0, 0, Vec::new());
    for (name, record) in meta.buckets().await.map_err(|e| e.to_string())? {
        match record.owner.as_deref() {
            None => {
                if !args.dry_run {
                    meta.set_bucket_owner(&name, Some(&tenant))
                        .await
                        .map_err(|e| format!("bucket {name}: {e}"))?;
                }
                given += 1;
            }
            Some(owner) if owner == tenant => owned += 1,
            Some(owner) => others.push(format!("{name} ({owner})")),
        }
    }
    let verb = |done: &str, would: &str| {
        if args.dry_run {
            would.to_owned()
        } else {
            done.to_owned()
        }
    };
    let mut text = format!(
        "{}{imported} access keys {} to {user} of {tenant} ({already} already there), {given} buckets {} to {tenant} ({owned} already its)",
        if args.dry_run { "" } else { "ok      " },
        verb("imported", "would be imported"),
        verb("given", "would be given"),
    );
    if imported + already > 0 {
        text.push_str(&format!(
            "; {user} {} policy {KEYS_POLICY} (s3:* in {tenant}), as the keys could do anything",
            verb("has", "would get")
        ));
    }
    if sessions > 0 {
        text.push_str(&format!(
            "; {sessions} temporary sessions not moved (they expire)"
        ));
    }
    if !others.is_empty() {
        text.push_str(&format!("; left with their tenants: {}", others.join(", ")));
    }
    text.push('\n');
    Ok(Report {
        text,
        all_well: true,
    })
}

/// flashdns's stored zones: zone files into chainfire.
async fn flashdns(args: MigrateArgs) -> Result<Report, String> {
    if args.config.is_some() || args.meta_dir.is_some() || args.data_dir.is_some() {
        return Err("flashdns's stored zones are files under its state directory: give --zones-dir <state dir>/zones and --cluster, not --config, --meta-dir or --data-dir".into());
    }
    let zones_dir = required(
        args.zones_dir,
        "--zones-dir (<state dir>/zones of the standalone flashdns)",
    )?;
    if !zones_dir.is_dir() {
        return Err(format!(
            "{}: not a directory of stored zones",
            zones_dir.display()
        ));
    }
    let endpoint = required(args.endpoint, "--endpoint (chainfire's client URL)")?;
    let cluster = required(
        args.cluster,
        "--cluster (the cluster the integrated flashdns joins)",
    )?;
    let from = FileStore::new(&zones_dir);
    let origins = from.origins().map_err(|e| e.to_string())?;
    let client = crate::connect(&endpoint, std::time::Duration::from_secs(10)).await?;
    let to = ChainfireStore::new(client, cluster_prefix(&cluster));
    let copied = copy_zones(&from, &to, &origins, args.dry_run)
        .await
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    for (origin, outcome) in &copied {
        let line = match (outcome, args.dry_run) {
            (Copied::Created(n), true) => format!("would copy {origin} ({n} records)"),
            (Copied::Created(n), false) => {
                format!("ok      copied {origin} ({n} records, read back equal)")
            }
            (Copied::AlreadyThere, _) => format!("ok      {origin} is already there"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    if copied.is_empty() {
        text.push_str(&format!("no stored zones in {}\n", zones_dir.display()));
    }
    Ok(Report {
        text,
        all_well: true,
    })
}

/// lightningstor's metadata and keys: RocksDB into chainfire.
async fn lightningstor(args: MigrateArgs) -> Result<Report, String> {
    if args.zones_dir.is_some() {
        return Err("--zones-dir is flashdns's; lightningstor's paths are --meta-dir and --data-dir (or --config)".into());
    }
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

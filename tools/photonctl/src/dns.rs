//! `photonctl dns`: zones kept in chainfire, which every integrated
//! flashdns of the cluster serves (`Zone::stored`, or `stored = true` in
//! its TOML), changed through the same [`ZoneStore`] seam the server reads.
//!
//! ```text
//! photonctl dns create --zone vpc.internal --file vpc.internal.zone
//! photonctl dns add --zone vpc.internal 'web-1 60 IN A 10.0.0.5'
//! photonctl dns remove --zone vpc.internal 'web-1 IN A 10.0.0.5'
//! photonctl dns list --zone vpc.internal
//! ```
//!
//! Records are zone-file lines; names are relative to the zone unless they
//! end in a dot, and a record without a TTL gets 3600.

use std::path::PathBuf;

use clap::Subcommand;
use etcd_client::Client;
use flashdns::store::chainfire::{ChainfireStore, cluster_prefix};
use flashdns::store::{Change, ZoneStore};
use flashdns::zone::{self, file};
use hickory_proto::rr::{Name, Record, RecordType};

use crate::Report;

/// What `photonctl dns` does.
#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Creates a zone from a BIND zone file (its SOA among its records);
    /// a zone that exists is left as it is.
    Create {
        /// The zone's apex.
        #[arg(long)]
        zone: String,
        /// The zone file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Adds records (zone-file lines) in one change.
    Add {
        /// The zone's apex.
        #[arg(long)]
        zone: String,
        /// Records such as `www 60 IN A 10.0.0.5`.
        #[arg(required = true)]
        records: Vec<String>,
    },
    /// Removes records (name, type and data compared; the TTL is not) in
    /// one change.
    Remove {
        /// The zone's apex.
        #[arg(long)]
        zone: String,
        /// Records such as `www IN A 10.0.0.5`.
        #[arg(required = true)]
        records: Vec<String>,
    },
    /// Prints the zone as a zone file.
    List {
        /// The zone's apex.
        #[arg(long)]
        zone: String,
    },
}

/// Runs `command` against the zones of `cluster` in the chainfire `client`
/// reached.
pub async fn run(client: Client, cluster: &str, command: DnsCommand) -> Result<Report, String> {
    let store = ChainfireStore::new(client, cluster_prefix(cluster));
    let text = match command {
        DnsCommand::Create { zone, file } => {
            let origin = origin(&zone)?;
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let parsed = file::parse(&text, &file.display().to_string(), &origin)
                .map_err(|e| e.to_string())?;
            let records: Vec<Record> = parsed.records().cloned().collect();
            if store
                .create(&origin, &records)
                .await
                .map_err(|e| e.to_string())?
            {
                format!(
                    "created {origin} with {} records, serial {}\n",
                    records.len(),
                    parsed.serial()
                )
            } else {
                format!("{origin} exists already: left as it is\n")
            }
        }
        DnsCommand::Add { zone, records } => {
            let origin = origin(&zone)?;
            let changes = lines(&origin, &records)?
                .into_iter()
                .map(Change::Add)
                .collect::<Vec<_>>();
            let serial = store
                .apply(&origin, &changes)
                .await
                .map_err(|e| e.to_string())?;
            format!("{origin}: {} added, serial {serial}\n", changes.len())
        }
        DnsCommand::Remove { zone, records } => {
            let origin = origin(&zone)?;
            let changes = lines(&origin, &records)?
                .into_iter()
                .map(Change::Remove)
                .collect::<Vec<_>>();
            let serial = store
                .apply(&origin, &changes)
                .await
                .map_err(|e| e.to_string())?;
            format!("{origin}: {} removed, serial {serial}\n", changes.len())
        }
        DnsCommand::List { zone } => {
            let origin = origin(&zone)?;
            let snapshot = store.read(&origin).await.map_err(|e| e.to_string())?;
            if !snapshot.exists() {
                return Err(format!("zone {origin} is not in the store"));
            }
            snapshot
                .records
                .iter()
                .map(|r| zone::record_text(r) + "\n")
                .collect()
        }
    };
    Ok(Report {
        text,
        all_well: true,
    })
}

fn origin(zone: &str) -> Result<Name, String> {
    let mut origin =
        Name::from_ascii(zone).map_err(|e| format!("--zone {zone}: not a domain name: {e}"))?;
    origin.set_fqdn(true);
    Ok(origin)
}

/// Zone-file lines as records of zone `origin`, read by the zone-file
/// reader flashdns loads zones with: every line must give one record in
/// the zone.
fn lines(origin: &Name, lines: &[String]) -> Result<Vec<Record>, String> {
    // A placeholder SOA and NS make the lines a zone the reader accepts.
    let mut text =
        String::from("$TTL 3600\n@ IN SOA invalid. invalid. 0 0 0 0 0\n@ IN NS invalid.\n");
    let placeholder_ns = format!("{origin} 3600 IN NS invalid.");
    for line in lines {
        if line.contains('\n') || line.trim_start().starts_with('$') {
            return Err(format!("{line:?}: one record per argument, no directives"));
        }
        text.push_str(line);
        text.push('\n');
    }
    let parsed = file::parse(&text, "the command line", origin).map_err(|e| e.to_string())?;
    if let Some(warning) = parsed.warnings().first() {
        return Err(warning.clone());
    }
    let records: Vec<Record> = parsed
        .records()
        .filter(|r| r.record_type() != RecordType::SOA && zone::record_text(r) != placeholder_ns)
        .cloned()
        .collect();
    if records.len() != lines.len() {
        return Err(format!(
            "{} records given, {} read (the same record twice?)",
            lines.len(),
            records.len()
        ));
    }
    Ok(records)
}

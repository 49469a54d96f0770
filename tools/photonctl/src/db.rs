//! `photonctl db`: flaredb's shard map, and moving shards between its
//! nodes (onto a node that joined, off one being retired), through
//! flaredb's own routing client with its admin token.
//!
//! ```text
//! export FLAREDB_TOKEN=...                 # or --token-file PATH; never a flag value
//! photonctl db --endpoint db-1:50060 map                    # every shard's node, and each node's address
//! photonctl db --endpoint db-1:50060 move --to db-4 3 11   # shards 3 and 11 to node db-4
//! ```

use std::path::PathBuf;

use clap::{Args, Subcommand};
use flaredb::client::Client;

use crate::Report;

/// Where flaredb is and its token.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Any flaredb node's API, `host:port` (the map names the others).
    #[arg(long, env = "FLAREDB_ENDPOINT")]
    endpoint: String,
    /// A file holding the admin token (else `FLAREDB_TOKEN`).
    #[arg(long)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: DbCommand,
}

/// What `photonctl db` does.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// The shard map: its epoch, each node with its address and shards.
    Map,
    /// Moves shards to a node, one after another (each waits for the
    /// last; writes to a shard wait while it is copied).
    Move {
        /// The node that takes them (a name in the map).
        #[arg(long)]
        to: String,
        /// The shards.
        #[arg(required = true)]
        shards: Vec<u16>,
    },
}

fn failed(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// The map as `map` prints it: a line per node, its shards as ranges.
fn map_text(map: &flaredb::shard::ShardMap) -> String {
    let mut text = format!("epoch {}, {} shards\n", map.epoch, map.shards());
    for (node, addr) in &map.nodes {
        let held: Vec<u16> = (0..map.shards())
            .filter(|s| map.owner(*s) == Some(node.as_str()))
            .collect();
        text.push_str(&format!(
            "{node} {addr} {} shard(s): {}\n",
            held.len(),
            ranges(&held)
        ));
    }
    text
}

/// `0-3,7,9-10`: sorted shard numbers as ranges; `-` for none.
fn ranges(shards: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < shards.len() {
        let start = shards[i];
        while i + 1 < shards.len() && shards[i + 1] == shards[i] + 1 {
            i += 1;
        }
        parts.push(if shards[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", shards[i])
        });
        i += 1;
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(",")
    }
}

/// Runs `args`.
pub async fn run(args: DbArgs) -> Result<Report, String> {
    let token = crate::read_token(
        args.token_file.as_deref(),
        "FLAREDB_TOKEN",
        "the admin token",
    )?;
    let client = Client::connect(&args.endpoint, &token)
        .await
        .map_err(|e| format!("flaredb at {}: {}", args.endpoint, failed(e)))?;
    let text = match args.command {
        DbCommand::Map => map_text(&client.map()),
        DbCommand::Move { to, shards } => {
            let mut text = String::new();
            for shard in shards {
                let moved = client
                    .move_shard(shard, &to)
                    .await
                    .map_err(|e| format!("{text}shard {shard}: {}", failed(e)))?;
                text.push_str(&format!(
                    "shard {shard} on {to} ({} keys copied, {} writes caught up; map epoch {})\n",
                    moved.keys, moved.caught_up, moved.epoch
                ));
            }
            text
        }
    };
    Ok(Report {
        text,
        all_well: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_print_as_ranges() {
        assert_eq!(ranges(&[]), "-");
        assert_eq!(ranges(&[4]), "4");
        assert_eq!(ranges(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
    }
}

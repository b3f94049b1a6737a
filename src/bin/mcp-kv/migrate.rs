//! `mcp-kv migrate`: copies every live entry with its remaining TTL, in batches, resumably.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mcp_kv::{Bytes, Cursor, Error, KvStore};
use serde::{Deserialize, Serialize};

use crate::{store_err, CliResult};

/// Arguments of `migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source store URL (or MCP_KV_FROM).
    #[arg(long, env = "MCP_KV_FROM", hide_env_values = true)]
    from: String,
    /// Destination store URL (or MCP_KV_TO).
    #[arg(long, env = "MCP_KV_TO", hide_env_values = true)]
    to: String,
    /// Keys per batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Progress file: written after every batch; an interrupted migration resumes from it.
    /// Deleted when the migration completes.
    #[arg(long, default_value = "mcp-kv-migrate.state.json")]
    state: PathBuf,
    /// Only these collections (repeatable); default: every collection of the source.
    #[arg(long = "collection")]
    collections: Vec<String>,
    /// Stops (with an error) after this many batches, leaving the progress file: simulates an
    /// interruption, for testing resumption.
    #[arg(long, hide = true)]
    stop_after_batches: Option<usize>,
}

/// What the progress file holds: no URL (they may carry passwords), only positions and counts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Collections copied completely.
    done: Vec<String>,
    /// The collection being copied and where its listing stands.
    current: Option<(String, Option<String>)>,
    /// Per collection: entries copied, entries that expired between listing and reading.
    copied: BTreeMap<String, u64>,
    expired: BTreeMap<String, u64>,
    /// Per collection: entries copied with a TTL (they may expire at the destination before the
    /// final check).
    copied_with_ttl: BTreeMap<String, u64>,
}

impl State {
    fn load(path: &PathBuf) -> CliResult<Option<State>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("progress file {} is not valid: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    fn save(&self, path: &PathBuf) -> CliResult {
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// Counts the live keys of a collection by paging through `keys()`.
pub async fn count_keys(store: &dyn KvStore, collection: &str) -> Result<u64, Error> {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = store.keys(collection, cursor, 1000).await?;
        n += page.keys.len() as u64;
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(n),
        }
    }
}

pub async fn run(args: Args) -> CliResult {
    if args.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let from = mcp_kv::open(&args.from).await.map_err(store_err)?;
    let to = mcp_kv::open(&args.to).await.map_err(store_err)?;
    let mut state = match State::load(&args.state)? {
        Some(s) => {
            eprintln!(
                "resuming from {} ({} collections done)",
                args.state.display(),
                s.done.len()
            );
            s
        }
        None => State::default(),
    };
    let mut collections = if args.collections.is_empty() {
        from.collections().await.map_err(store_err)?
    } else {
        args.collections.clone()
    };
    collections.sort();
    let todo: Vec<String> = collections
        .iter()
        .filter(|c| !state.done.contains(c))
        .cloned()
        .collect();

    // A first pass counts what is left, so the bar has a length.
    let mut total = 0;
    for c in &todo {
        total += count_keys(from.as_ref(), c).await.map_err(store_err)?;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} entries ({per_sec}, eta {eta}) {msg}",
        )
        .map_err(|e| e.to_string())?,
    );
    let mut batches = 0usize;
    for c in &todo {
        bar.set_message(c.clone());
        let mut cursor = match &state.current {
            Some((cur, pos)) if cur == c => pos.clone().map(Cursor::new),
            _ => None,
        };
        loop {
            let page = from.keys(c, cursor, args.batch).await.map_err(store_err)?;
            let keys: Vec<&str> = page.keys.iter().map(String::as_str).collect();
            let entries = from.get_entries(c, &keys).await.map_err(store_err)?;
            let mut plain = Vec::new();
            let mut with_ttl = Vec::new();
            let mut expired = 0u64;
            for (k, e) in page.keys.iter().zip(entries) {
                match e {
                    None => expired += 1,
                    Some(e) => match e.ttl {
                        None => plain.push((k.clone(), e.value)),
                        Some(ttl) => with_ttl.push((k.clone(), e.value, ttl)),
                    },
                }
            }
            let copied = (plain.len() + with_ttl.len()) as u64;
            let ttl_count = with_ttl.len() as u64;
            if !plain.is_empty() {
                to.put_many(c, plain, None).await.map_err(store_err)?;
            }
            let results: Vec<Result<(), Error>> = futures::stream::iter(with_ttl.into_iter().map(
                |(k, v, ttl): (String, Bytes, Duration)| {
                    let to = to.clone();
                    let c = c.clone();
                    async move { to.put(&c, &k, v, Some(ttl)).await }
                },
            ))
            .buffer_unordered(32)
            .collect()
            .await;
            for r in results {
                r.map_err(store_err)?;
            }
            *state.copied.entry(c.clone()).or_default() += copied;
            *state.expired.entry(c.clone()).or_default() += expired;
            *state.copied_with_ttl.entry(c.clone()).or_default() += ttl_count;
            bar.inc(copied + expired);
            cursor = page.next;
            // Counts and position are saved together, after the batch is written: a crash
            // before the save re-copies this batch (puts are idempotent) without counting it
            // twice.
            if cursor.is_none() {
                state.done.push(c.clone());
                state.current = None;
            } else {
                state.current = Some((c.clone(), cursor.as_ref().map(|n| n.as_str().to_string())));
            }
            state.save(&args.state)?;
            batches += 1;
            if args.stop_after_batches.is_some_and(|n| batches >= n) {
                bar.abandon();
                return Err(format!(
                    "stopped after {batches} batches as asked; progress kept in {}",
                    args.state.display()
                ));
            }
            if cursor.is_none() {
                break;
            }
        }
    }
    bar.finish_and_clear();

    // Final count check: the destination holds at least what was copied, less what carried a
    // TTL (which may have run out since).
    let mut ok = true;
    println!(
        "{:<40} {:>10} {:>10} {:>12} {:>12}",
        "collection", "copied", "at dest", "expired*", "with ttl"
    );
    for c in &collections {
        let copied = state.copied.get(c).copied().unwrap_or(0);
        let expired = state.expired.get(c).copied().unwrap_or(0);
        let ttl = state.copied_with_ttl.get(c).copied().unwrap_or(0);
        let at_dest = count_keys(to.as_ref(), c).await.map_err(store_err)?;
        let missing = copied.saturating_sub(at_dest);
        if missing > ttl {
            ok = false;
        }
        println!("{c:<40} {copied:>10} {at_dest:>10} {expired:>12} {ttl:>12}");
    }
    println!("* expired at the source between listing and copying: reported, not lost");
    from.close().await.map_err(store_err)?;
    to.close().await.map_err(store_err)?;
    if !ok {
        return Err(format!(
            "count check failed: the destination holds fewer entries than were copied \
             (beyond those with a TTL); progress kept in {}",
            args.state.display()
        ));
    }
    std::fs::remove_file(&args.state)
        .map_err(|e| format!("removing {}: {e}", args.state.display()))?;
    println!("migration complete");
    Ok(())
}

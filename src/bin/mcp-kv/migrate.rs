//! `mcp-kv migrate`: copies every live entry with its remaining TTL, in batches, resumably,
//! then verifies the destination against the source.
//!
//! - **Progress**: after every batch, the position and counts go to a progress file (with the
//!   two URLs, passwords removed, so a file is never resumed against other stores). An
//!   interrupted run resumes from it; a completed one deletes it. An advisory lock on
//!   `<progress file>.lock` ([`ProgressLock`]) makes a second migrate on the same file fail
//!   at once instead of interleaving its writes with the first one's.
//! - **Verification**: the copy is then checked key by key — every entry still live at the
//!   source must be at the destination with the same value, or it is copied again and counted
//!   as `recopied`. That covers writes an interruption took from a destination that had not
//!   made them durable yet (sled flushes every 500 ms by default): the progress file may say a
//!   batch was copied that the destination lost when the process was killed.
//! - Entries that expire during the migration are reported (`expired`), not counted as lost.

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
    /// Deleted when the migration completes. Locked while a migration runs (`<file>.lock`):
    /// a second migrate on it fails at once.
    #[arg(long, default_value = "mcp-kv-migrate.state.json")]
    state: PathBuf,
    /// Only these collections (repeatable); default: every collection of the source.
    #[arg(long = "collection")]
    collections: Vec<String>,
    /// Stops (with an error) after this many batches, leaving the progress file: simulates an
    /// interruption, for testing resumption.
    #[arg(long, hide = true)]
    stop_after_batches: Option<usize>,
    /// Waits after this many batches (progress saved) until stdin is closed: holds a migration
    /// under way, for testing what runs beside it.
    #[arg(long, hide = true)]
    hold_after_batches: Option<usize>,
}

/// What the progress file holds: the two URLs without passwords ([`redact`]), positions and
/// counts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The source and destination URLs, redacted: a progress file resumes only the migration
    /// that wrote it.
    from: String,
    to: String,
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
    fn new(args: &Args) -> State {
        State {
            from: redact(&args.from),
            to: redact(&args.to),
            ..State::default()
        }
    }

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

/// The advisory lock (`flock`, `LockFileEx`) on `<progress file>.lock`, held while a migration
/// runs: a second `migrate` on the same progress file fails at once instead of overwriting the
/// first one's progress. The operating system releases it when the process ends, however it
/// ends (even SIGKILL); the lock file is removed when the lock is dropped, and one left behind
/// by a killed run is harmless (the next run locks it again).
///
/// The lock is not on the progress file itself: that file is replaced (written to a temporary
/// file, then renamed) after every batch.
#[derive(Debug)]
struct ProgressLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl ProgressLock {
    fn acquire(state: &std::path::Path) -> CliResult<ProgressLock> {
        let mut path = state.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        // A holder removes the file as it finishes: a file locked just after that is no longer
        // the one at `path`, and is locked again.
        for _ in 0..100 {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| format!("creating the lock file {}: {e}", path.display()))?;
            // Not `file.try_lock()`: since Rust 1.89 that names std's own method.
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => {}
                Err(fs4::TryLockError::WouldBlock) => {
                    return Err(format!(
                        "another migrate is running on {} (it holds {}): wait for it to end, \
                         or pass another --state",
                        state.display(),
                        path.display()
                    ));
                }
                Err(fs4::TryLockError::Error(e)) => {
                    return Err(format!("locking {}: {e}", path.display()));
                }
            }
            if is_still_at(&file, &path) {
                return Ok(ProgressLock { path, _file: file });
            }
        }
        Err(format!("could not lock {}", path.display()))
    }
}

impl Drop for ProgressLock {
    fn drop(&mut self) {
        // Removed while still locked (the file closes after this): see `acquire`.
        if cfg!(unix) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether `file` is (still) the file at `path`.
#[cfg(unix)]
fn is_still_at(file: &std::fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Elsewhere the lock file is never removed, so the file locked is the one at `path`.
#[cfg(not(unix))]
fn is_still_at(_: &std::fs::File, _: &std::path::Path) -> bool {
    true
}

/// `url` without the password (or user) it may carry, nor the values of parameters that hold
/// credentials: `redis://user:pw@h:1/0` → `redis://***@h:1/0`,
/// `dynamodb://t?access_key_id=A&secret_access_key=S` →
/// `dynamodb://t?access_key_id=***&secret_access_key=***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_string(),
    };
    let Some((location, query)) = rest.split_once('?') else {
        return format!("{scheme}://{rest}");
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{scheme}://{location}?{}", query.join("&"))
}

/// Whether a URL parameter may hold a credential (`secret_access_key`, `session_token`,
/// `password`, …).
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "token", "pass", "key", "auth", "cred"]
        .iter()
        .any(|s| name.contains(s))
}

/// A failed write at the destination, naming the collection (and the entry, when one entry is
/// refused) so that it can be found at the source.
fn write_err(collection: &str, key: Option<&str>, e: Error, state: &std::path::Path) -> String {
    let entry = match key {
        Some(k) => {
            format!("collection {collection:?}, key {k:?}: {e}; nothing of its batch was written")
        }
        None => format!("collection {collection:?}: {e}"),
    };
    format!(
        "--to: {entry} (progress kept in {}: run the same command again to resume)",
        state.display()
    )
}

/// Counts the live keys of a collection by paging through `keys()`.
pub async fn count_keys(store: &dyn KvStore, collection: &str) -> Result<u64, Error> {
    count_keys_from(store, collection, None).await
}

/// Counts the live keys of a collection from `cursor` on.
async fn count_keys_from(
    store: &dyn KvStore,
    collection: &str,
    mut cursor: Option<Cursor>,
) -> Result<u64, Error> {
    let mut n = 0;
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
    if crate::same_store::same_store(&args.from, &args.to) {
        return Err("--from and --to name the same store: nothing to migrate".into());
    }
    // Held until the process ends: a second migrate on this progress file stops here.
    let _lock = ProgressLock::acquire(&args.state)?;
    let fresh = State::new(&args);
    let mut state = match State::load(&args.state)? {
        Some(s) if (&s.from, &s.to) != (&fresh.from, &fresh.to) => {
            return Err(format!(
                "progress file {} belongs to a migration from {} to {}, not this one: pass \
                 another --state, or delete it to start over",
                args.state.display(),
                s.from,
                s.to
            ));
        }
        Some(s) => {
            eprintln!(
                "resuming from {} ({} collections done)",
                args.state.display(),
                s.done.len()
            );
            s
        }
        None => fresh,
    };
    crate::require_existing(&args.from, "--from")?;
    // Only read from: a SQLite source opens read-only (a backup it may not write works too).
    let from = mcp_kv::open(&crate::read_only_url(&args.from))
        .await
        .map_err(|e| format!("--from: {e}"))?;
    let to = mcp_kv::open(&args.to)
        .await
        .map_err(|e| format!("--to: {e}"))?;
    let mut collections = from.collections().await.map_err(store_err)?;
    if !args.collections.is_empty() {
        for c in &args.collections {
            if !collections.contains(c) {
                eprintln!("warning: collection `{c}` has no live entries at the source");
            }
        }
        collections = args.collections.clone();
    }
    collections.sort();
    collections.dedup();
    let todo: Vec<String> = collections
        .iter()
        .filter(|c| !state.done.contains(c))
        .cloned()
        .collect();

    // A first pass counts what is left, so the bar has a length.
    let mut total = 0;
    for c in &todo {
        let cursor = match &state.current {
            Some((cur, pos)) if cur == c => pos.clone().map(Cursor::new),
            _ => None,
        };
        total += count_keys_from(from.as_ref(), c, cursor)
            .await
            .map_err(store_err)?;
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
            // Checked whole before any write, so that a value or name the destination refuses
            // is named, and nothing of its batch is written.
            let caps = to.capabilities();
            let checks = plain.iter().map(|(k, v)| (k, v, None));
            let checks = checks.chain(with_ttl.iter().map(|(k, v, t)| (k, v, Some(*t))));
            for (k, v, ttl) in checks {
                mcp_kv::rules::check_put(&caps, c, k, v.len(), ttl)
                    .map_err(|e| write_err(c, Some(k), e, &args.state))?;
            }
            if !plain.is_empty() {
                to.put_many(c, plain, None)
                    .await
                    .map_err(|e| write_err(c, None, e, &args.state))?;
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
                r.map_err(|e| write_err(c, None, e, &args.state))?;
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
            if args.hold_after_batches == Some(batches) {
                eprintln!("holding after {batches} batches until stdin is closed");
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            }
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

    let mut verified = Vec::new();
    for c in &collections {
        verified.push(verify(from.as_ref(), to.as_ref(), c, args.batch).await?);
    }
    outln!(
        "{:<40} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "collection",
        "copied",
        "with ttl",
        "expired*",
        "verified",
        "recopied"
    );
    for (c, v) in collections.iter().zip(&verified) {
        let copied = state.copied.get(c).copied().unwrap_or(0);
        let ttl = state.copied_with_ttl.get(c).copied().unwrap_or(0);
        let expired = state.expired.get(c).copied().unwrap_or(0) + v.expired;
        outln!(
            "{c:<40} {copied:>10} {ttl:>10} {expired:>10} {:>10} {:>10}",
            v.verified,
            v.recopied
        );
    }
    outln!(
        "* expired at the source during the migration: reported, not lost. Every entry live at \
         the source is at the destination with its value (verified, or recopied)."
    );
    let recopied: u64 = verified.iter().map(|v| v.recopied).sum();
    if recopied > 0 {
        outln!(
            "note: {recopied} entries were missing or different at the destination after the \
             copy (writes an interrupted run's destination had not made durable, or changes at \
             the source meanwhile) and were copied again"
        );
    }
    from.close().await.map_err(|e| format!("--from: {e}"))?;
    to.close().await.map_err(|e| format!("--to: {e}"))?;
    match std::fs::remove_file(&args.state) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing {}: {e}", args.state.display())),
    }
    outln!("migration complete");
    Ok(())
}

/// What [`verify`] found in one collection.
#[derive(Debug, Default)]
struct Verified {
    /// Live at the source and at the destination with the same value.
    verified: u64,
    /// Live at the source, missing or different at the destination: copied again.
    recopied: u64,
    /// Listed at the source, expired before it was read.
    expired: u64,
}

/// Walks `collection` at the source and checks every live entry at the destination, copying
/// again (with its remaining TTL) any that is missing or holds another value.
async fn verify(
    from: &dyn KvStore,
    to: &dyn KvStore,
    collection: &str,
    batch: usize,
) -> CliResult<Verified> {
    let mut out = Verified::default();
    let mut cursor = None;
    loop {
        let page = from
            .keys(collection, cursor, batch)
            .await
            .map_err(store_err)?;
        let keys: Vec<&str> = page.keys.iter().map(String::as_str).collect();
        let source = from
            .get_entries(collection, &keys)
            .await
            .map_err(store_err)?;
        let dest = to.get_many(collection, &keys).await.map_err(store_err)?;
        for ((key, s), d) in keys.iter().zip(source).zip(dest) {
            match (s, d) {
                (None, _) => out.expired += 1,
                (Some(s), Some(d)) if s.value == d => out.verified += 1,
                (Some(s), _) => {
                    to.put(collection, key, s.value, s.ttl)
                        .await
                        .map_err(store_err)?;
                    out.recopied += 1;
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

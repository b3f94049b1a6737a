//! `mcp-kv`: inspect, migrate, re-key and benchmark any mcp-kv store from the command line.
//!
//! ```text
//! mcp-kv --url sqlite://state.db put sessions s1 '{"page":2}' --ttl 30m
//! mcp-kv --url sqlite://state.db get sessions s1
//! mcp-kv migrate --from sqlite://state.db --to redis://127.0.0.1:6379
//! mcp-kv bench --url memory://
//! ```
//!
//! URLs may come from the environment (`MCP_KV_URL`, `MCP_KV_FROM`, `MCP_KV_TO`) so that
//! passwords stay out of shell history; they are never printed. Errors are one line on stderr
//! and a non-zero exit status.

/// `println!` that ends the process quietly (status 0) when stdout was closed early
/// (`mcp-kv keys c | head`) instead of panicking, and fails in one line on any other write
/// error.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let written = writeln!(std::io::stdout().lock(), $($arg)*);
        $crate::stdout_written(written)
    }};
}

mod bench;
mod migrate;
mod rekey;
mod same_store;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mcp_kv::{Bytes, DynStore, Error, KvStore};

/// Inspect, migrate, re-key and benchmark mcp-kv stores.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-kv",
    version,
    about = "Inspect, migrate, re-key and benchmark mcp-kv stores."
)]
struct Cli {
    /// The store's URL (memory://, sqlite://path, sled://path, redis://…, redis+cluster://…,
    /// dynamodb://table?…). Read from MCP_KV_URL when not given. Commands that only read
    /// (and delete, rekey) refuse a sqlite:// or sled:// path that does not exist instead of
    /// creating it; those that only read (get, keys, collections, ttl, stats) open a sqlite://
    /// file read-only (`read_only=true`), so they work on a file or directory this user may
    /// not write. Not used by `migrate`, which takes --from and --to.
    #[arg(long, env = "MCP_KV_URL", hide_env_values = true, global = true)]
    url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the value of a key (raw bytes to stdout).
    Get { collection: String, key: String },
    /// Stores a value (`-` reads it from stdin).
    Put {
        collection: String,
        key: String,
        value: String,
        /// Time to live: 1500ms, 30s, 5m, 2h, 7d, or plain seconds; at least 1ms.
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<Duration>,
    },
    /// Deletes a key.
    Delete { collection: String, key: String },
    /// Lists the keys of a collection.
    Keys {
        collection: String,
        /// Stop after this many keys.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Lists the collections.
    Collections,
    /// Prints the remaining TTL of a key.
    Ttl { collection: String, key: String },
    /// Prints the store's capabilities and the live keys per collection.
    Stats,
    /// Copies every live entry, with its remaining TTL, from one store to another.
    Migrate(migrate::Args),
    /// Re-encrypts every entry under a new key (the encryption wrapper's rekey).
    Rekey(rekey::Args),
    /// Runs the standard workload against a store and prints a table.
    Bench(bench::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--help` and `--version` as clap prints them; a usage error as one line (clap's first),
/// exit status 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
    if matches!(e.kind(), DisplayHelp | DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error");
    eprintln!("{} (see --help)", line.trim_end());
    ExitCode::from(2)
}

/// See [`outln!`]: a closed stdout ends the process quietly; another write error ends it
/// with one line.
fn stdout_written(written: std::io::Result<()>) {
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1)
        }
    }
}

/// A CLI failure: one line.
type CliResult<T = ()> = Result<T, String>;

/// For commands that must not create a store: a `sqlite://` or `sled://` path that does not
/// exist is an error (opening it would create an empty database and report "no such key").
fn require_existing(url: &str, what: &str) -> CliResult {
    let Some((scheme, path)) = local_path(url) else {
        return Ok(());
    };
    if path.is_empty() || path == ":memory:" || std::path::Path::new(&path).exists() {
        return Ok(());
    }
    Err(format!(
        "{what}: no {scheme} database at `{path}` (this command does not create one)"
    ))
}

/// The scheme (`sqlite` or `sled`) and file path of a local store's URL, as [`mcp_kv::open`]
/// reads them: scheme in any case, path percent-decoded. `None` for other stores, and for a
/// malformed path (left to `open` to report).
fn local_path(url: &str) -> Option<(&'static str, String)> {
    let url = mcp_kv::StoreUrl::parse(url).ok()?;
    let scheme = match url.scheme() {
        "sqlite" => "sqlite",
        "sled" => "sled",
        _ => return None,
    };
    Some((scheme, url.path().ok()?))
}

fn store_err(e: Error) -> String {
    e.to_string()
}

async fn open_url(url: Option<&str>, what: &str) -> CliResult<DynStore> {
    let url = url.ok_or_else(|| format!("no {what} URL: pass --url or set MCP_KV_URL"))?;
    mcp_kv::open(url).await.map_err(store_err)
}

/// [`open_url`] for a command that must not create the store ([`require_existing`]).
async fn open_existing(url: Option<&str>, what: &str) -> CliResult<DynStore> {
    if let Some(url) = url {
        require_existing(url, "--url")?;
    }
    open_url(url, what).await
}

/// [`open_existing`] for a command that only reads: a SQLite file is opened read-only
/// (`read_only=true`), so that it reads a file this user may not write, also in a directory
/// they may not write (a backup mount, another user's file), and never writes to it.
async fn open_for_reading(url: Option<&str>, what: &str) -> CliResult<DynStore> {
    let url = url.map(read_only_url);
    open_existing(url.as_deref(), what).await
}

/// `url` with `read_only=true` added when it names a SQLite file (not `:memory:`) and does not
/// set `read_only` itself; any other URL unchanged.
fn read_only_url(url: &str) -> String {
    let Ok(parsed) = mcp_kv::StoreUrl::parse(url) else {
        return url.to_string();
    };
    let memory = parsed.path().is_ok_and(|p| p == ":memory:");
    if parsed.scheme() != "sqlite" || memory || parsed.pairs().any(|(k, _)| k == "read_only") {
        return url.to_string();
    }
    let sep = if url.contains('?') { "&" } else { "?" };
    format!("{url}{sep}read_only=true")
}

async fn run(cli: Cli) -> CliResult {
    let url = cli.url.as_deref();
    match cli.command {
        Command::Get { collection, key } => {
            let store = open_for_reading(url, "store").await?;
            let value = store.get(&collection, &key).await.map_err(store_err)?;
            store.close().await.map_err(store_err)?;
            let value = value.ok_or_else(|| "no such key (absent or expired)".to_string())?;
            let mut out = std::io::stdout().lock();
            stdout_written(out.write_all(&value));
            if std::io::IsTerminal::is_terminal(&out) {
                stdout_written(writeln!(out));
            }
            Ok(())
        }
        Command::Put {
            collection,
            key,
            value,
            ttl,
        } => {
            let bytes = if value == "-" {
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                Bytes::from(buf)
            } else {
                Bytes::from(value.into_bytes())
            };
            let store = open_url(url, "store").await?;
            store
                .put(&collection, &key, bytes, ttl)
                .await
                .map_err(store_err)?;
            store.close().await.map_err(store_err)
        }
        Command::Delete { collection, key } => {
            let store = open_existing(url, "store").await?;
            let removed = store.delete(&collection, &key).await.map_err(store_err)?;
            store.close().await.map_err(store_err)?;
            outln!("{}", if removed { "deleted" } else { "not found" });
            Ok(())
        }
        Command::Keys { collection, limit } => {
            let store = open_for_reading(url, "store").await?;
            let mut cursor = None;
            let mut printed = 0usize;
            let mut out = std::io::stdout().lock();
            'pages: loop {
                let page = store
                    .keys(&collection, cursor, 1000)
                    .await
                    .map_err(store_err)?;
                for k in page.keys {
                    if limit.is_some_and(|l| printed >= l) {
                        break 'pages;
                    }
                    stdout_written(writeln!(out, "{k}"));
                    printed += 1;
                }
                match page.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            store.close().await.map_err(store_err)
        }
        Command::Collections => {
            let store = open_for_reading(url, "store").await?;
            let mut cols = store.collections().await.map_err(store_err)?;
            cols.sort();
            for c in cols {
                outln!("{c}");
            }
            store.close().await.map_err(store_err)
        }
        Command::Ttl { collection, key } => {
            let store = open_for_reading(url, "store").await?;
            let entry = store
                .get_entry(&collection, &key)
                .await
                .map_err(store_err)?;
            store.close().await.map_err(store_err)?;
            match entry {
                None => Err("no such key (absent or expired)".to_string()),
                Some(e) => {
                    match e.ttl {
                        None => outln!("no expiry"),
                        Some(t) => outln!("{}", format_duration(t)),
                    }
                    Ok(())
                }
            }
        }
        Command::Stats => {
            let store = open_for_reading(url, "store").await?;
            if url.is_some_and(|u| read_only_url(u) != u) {
                // Said, so that the `no` of the atomic operations below is not taken for the
                // backend's.
                outln!(
                    "{:<28} read-only (stats never writes: the atomic operations show as `no`)",
                    "opened"
                );
            }
            print_capabilities(&store.capabilities());
            let mut cols = store.collections().await.map_err(store_err)?;
            cols.sort();
            outln!("{:<40} {:>12}", "collection", "live keys");
            for c in cols {
                let n = migrate::count_keys(store.as_ref(), &c)
                    .await
                    .map_err(store_err)?;
                outln!("{c:<40} {n:>12}");
            }
            store.close().await.map_err(store_err)
        }
        Command::Migrate(args) => migrate::run(args).await,
        Command::Rekey(args) => rekey::run(url, args).await,
        Command::Bench(args) => bench::run(url, args).await,
    }
}

/// The capabilities as `name: value` lines (`unlimited` for no limit).
fn print_capabilities(c: &mcp_kv::Capabilities) {
    let limit = |n: usize| match n {
        usize::MAX => "unlimited".to_string(),
        n => n.to_string(),
    };
    let flags = [
        ("native ttl", c.native_ttl),
        ("put_if_absent", c.put_if_absent),
        ("take", c.take),
        ("compare_and_swap", c.compare_and_swap),
        ("touch", c.touch),
        ("enumerate", c.enumerate),
        ("persistent", c.persistent),
        ("distributed", c.distributed),
    ];
    for (name, on) in flags {
        outln!("{name:<28} {}", if on { "yes" } else { "no" });
    }
    let limits = [
        ("max collection bytes", c.max_collection_bytes),
        ("max key bytes", c.max_key_bytes),
        ("max value bytes", c.max_value_bytes),
        ("max batch", c.max_batch),
        (
            "max entries per collection",
            c.max_entries_per_collection.unwrap_or(usize::MAX),
        ),
    ];
    for (name, n) in limits {
        outln!("{name:<28} {}", limit(n));
    }
    outln!();
}

/// Parses `1500ms`, `30s`, `5m`, `2h`, `7d` or plain (fractional) seconds.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 1500ms, 30s, 5m, 2h, 7d)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => return Err(format!("unknown duration unit `{other}` (ms, s, m, h, d)")),
    };
    let d = Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is out of range"))?;
    mcp_kv::rules::check_ttl(Some(d)).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(1) {
        return Err(format!("`{s}` is shorter than 1ms, the smallest TTL"));
    }
    Ok(d)
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_commands_open_sqlite_files_read_only() {
        assert_eq!(
            read_only_url("sqlite://s.db"),
            "sqlite://s.db?read_only=true"
        );
        assert_eq!(
            read_only_url("SQLITE:///a/s.db?table=t"),
            "SQLITE:///a/s.db?table=t&read_only=true"
        );
        for same in [
            "sqlite://s.db?read_only=false",
            "sqlite://:memory:",
            "sled://x",
            "memory://",
            "redis://h:6379",
            "no-scheme",
        ] {
            assert_eq!(read_only_url(same), same);
        }
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_ttl("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("soon").is_err());
        assert!(parse_ttl("5 weeks").is_err());
        assert!(parse_ttl("200y").is_err());
        assert!(parse_ttl("0.0001ms").is_err());
        assert_eq!(parse_ttl("1ms"), Ok(Duration::from_millis(1)));
    }
}

//! Configuration of a [`SqliteStore`]: where the database lives, how
//! durable a commit is, which table holds the entries, and the clock and sweeper.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::{Clock, Error, ErrorKind, Result, SharedClock};

use crate::SqliteStore;

/// The table that holds the entries unless [`SqliteStoreBuilder::table`] names another.
pub const DEFAULT_TABLE: &str = "mcp_kv";

/// How long a statement waits for another connection's lock (another process sharing the file)
/// before it fails with [`ErrorKind::Timeout`], unless [`SqliteStoreBuilder::busy_timeout`] says
/// otherwise.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest busy timeout SQLite takes: it counts the wait in an `int` of milliseconds
/// (`i32::MAX` ms, about 24.8 days). [`SqliteStoreBuilder::build`] refuses a longer one with
/// [`ErrorKind::Config`].
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Read connections opened for a file database unless [`SqliteStoreBuilder::readers`] says
/// otherwise.
pub const DEFAULT_READERS: usize = 2;

/// Read connections that reads (`get`, `get_entry`, `ttl`, `get_many`, `get_entries`) use on
/// their caller's thread, unless [`SqliteStoreBuilder::inline_readers`] says otherwise (file
/// databases only).
pub const DEFAULT_INLINE_READERS: usize = 4;

/// The most read connections [`SqliteStoreBuilder::readers`] and
/// [`SqliteStoreBuilder::inline_readers`] each take (a reader is a thread and a connection, an
/// inline reader a connection: three file descriptors each).
pub const MAX_READERS: usize = 64;

/// How long a worker thread keeps polling for its next job before it sleeps (see
/// [`SqliteStoreBuilder::idle_spin`]).
pub const DEFAULT_IDLE_SPIN: Duration = mcp_kv_core::handoff::DEFAULT_SPIN;

/// How long a caller keeps polling for its answer before it sleeps (see
/// [`SqliteStoreBuilder::answer_spin`]).
pub const DEFAULT_ANSWER_SPIN: Duration = mcp_kv_core::handoff::DEFAULT_ANSWER_SPIN;

/// How durable a committed write is: SQLite's `PRAGMA synchronous` in WAL mode.
///
/// | setting | a write is acknowledged after | survives a process crash (panic, SIGKILL, OOM kill) | survives power loss / OS crash | cost |
/// |---|---|---|---|---|
/// | [`Normal`](Durability::Normal) | it is in the WAL file (OS page cache) | yes | the last transactions before the loss may roll back; the file stays consistent | no fsync per commit; fsync at checkpoints |
/// | [`Full`](Durability::Full) | the WAL file is fsynced | yes | yes, if the disk honours fsync | one fsync per write transaction (a batch is one) |
///
/// Neither setting ever corrupts the database file; they differ only in how many of the most
/// recent acknowledged writes a power loss can take back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous = NORMAL`: safe against process crashes; a power loss may lose the most
    /// recent commits. The default, and SQLite's recommendation for WAL mode.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is fsynced before it is acknowledged.
    Full,
}

impl Durability {
    /// The value of `PRAGMA synchronous` for this setting.
    pub fn pragma_value(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// Where the database lives.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A file (created when missing) with its `-wal` and `-shm` companions.
    File(PathBuf),
    /// A private in-memory database, gone when the store is closed or dropped.
    Memory,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => f.debug_tuple("File").field(p).finish(),
            Location::Memory => f.write_str("Memory"),
        }
    }
}

/// The validated configuration a store was built with (see [`SqliteStoreBuilder`]).
#[derive(Clone)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// Where the database lives.
    pub location: Location,
    /// The table holding the entries (a validated SQL identifier).
    pub table: String,
    /// How durable a commit is.
    pub durability: Durability,
    /// How long a statement waits for another process's lock.
    pub busy_timeout: Duration,
    /// How often the background sweeper removes expired entries (`None`: never; call
    /// [`cull`](mcp_kv_core::KvStore::cull) yourself).
    pub sweep_interval: Option<Duration>,
    /// Read connections beside the writer (file databases only; 0: every read goes through the
    /// writer thread).
    pub readers: usize,
    /// Read connections that reads by key use on their caller's thread (file databases only;
    /// 0: every read goes to a reader thread).
    pub inline_readers: usize,
    /// How long a worker thread polls for its next job before sleeping (`Duration::ZERO`:
    /// sleep at once).
    pub idle_spin: Duration,
    /// How long a caller polls for its answer (yielding to its runtime) before sleeping
    /// (`Duration::ZERO`: sleep at once).
    pub answer_spin: Duration,
    /// The clock every expiry check reads.
    pub clock: SharedClock,
    /// Opened read-only (see [`SqliteStoreBuilder::read_only`]): reads only, nothing written.
    pub read_only: bool,
}

impl fmt::Debug for SqliteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteConfig")
            .field("location", &self.location)
            .field("table", &self.table)
            .field("durability", &self.durability)
            .field("busy_timeout", &self.busy_timeout)
            .field("sweep_interval", &self.sweep_interval)
            .field("readers", &self.readers)
            .field("inline_readers", &self.inline_readers)
            .field("idle_spin", &self.idle_spin)
            .field("answer_spin", &self.answer_spin)
            .field("clock", &self.clock)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// Builds a [`SqliteStore`]: `SqliteStore::builder().path("kv.db").durability(Durability::Full).build()`.
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStoreBuilder {
    config: SqliteConfig,
}

impl Default for SqliteStoreBuilder {
    fn default() -> Self {
        SqliteStoreBuilder {
            config: SqliteConfig {
                location: Location::Memory,
                table: DEFAULT_TABLE.to_string(),
                durability: Durability::default(),
                busy_timeout: DEFAULT_BUSY_TIMEOUT,
                sweep_interval: None,
                readers: DEFAULT_READERS,
                inline_readers: DEFAULT_INLINE_READERS,
                idle_spin: DEFAULT_IDLE_SPIN,
                answer_spin: DEFAULT_ANSWER_SPIN,
                clock: mcp_kv_core::system_clock(),
                read_only: false,
            },
        }
    }
}

impl SqliteStoreBuilder {
    /// A builder for an in-memory store with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores entries in the file at `path` (created when missing; its directory must exist).
    ///
    /// `build` refuses with [`ErrorKind::Config`] an empty path, `":memory:"` (SQLite's name for
    /// an in-memory database: use [`memory`](Self::memory)), a path that is a directory and a
    /// path whose directory does not exist.
    pub fn path(mut self, path: impl AsRef<Path>) -> Self {
        self.config.location = Location::File(path.as_ref().to_path_buf());
        self
    }

    /// Stores entries in a private in-memory database (the default).
    pub fn memory(mut self) -> Self {
        self.config.location = Location::Memory;
        self
    }

    /// The table that holds the entries (default [`DEFAULT_TABLE`]): ASCII letters, digits and
    /// `_`, not starting with a digit nor `sqlite_`, at most 63 bytes. Checked by `build`.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.config.table = table.into();
        self
    }

    /// How durable a commit is (default [`Durability::Normal`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.config.durability = durability;
        self
    }

    /// How long a statement waits for another process's lock (default
    /// [`DEFAULT_BUSY_TIMEOUT`]), in whole milliseconds (SQLite drops the rest; below 1 ms it
    /// does not wait at all). At most [`MAX_BUSY_TIMEOUT`]: `build` refuses a longer one.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.config.busy_timeout = timeout;
        self
    }

    /// Runs a sweep (one `DELETE … WHERE expires_at < now`) on the writer thread every
    /// `interval`, until [`close`](mcp_kv_core::KvStore::close). Off by default. An interval
    /// so long that the next sweep falls past what [`Instant`](std::time::Instant) can represent
    /// (e.g. `Duration::MAX`) is valid: that sweep never comes.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.config.sweep_interval = Some(interval);
        self
    }

    /// Read connections beside the writer for a file database, each on a thread of its own
    /// (default [`DEFAULT_READERS`], at most [`MAX_READERS`]; 0 sends reads through the writer
    /// thread too). Ignored in memory.
    pub fn readers(mut self, readers: usize) -> Self {
        self.config.readers = readers;
        self
    }

    /// Read connections that reads by key (`get`, `get_entry`, `ttl`, `get_many`,
    /// `get_entries`) use on their caller's thread instead of a round trip to a reader thread
    /// (default [`DEFAULT_INLINE_READERS`], at most [`MAX_READERS`]; file databases only,
    /// ignored in memory).
    ///
    /// A primary-key read of a cached page takes 2–3 µs, and the round trip to a reader thread
    /// costs as much again on a virtual machine; inline, the read never waits for a lock (the
    /// connection's busy timeout is 0: a locked database sends the read to a reader thread,
    /// which waits with [`busy_timeout`](Self::busy_timeout)), and when every inline connection
    /// is borrowed the read goes to a reader thread too. What it can still do on the caller's
    /// thread is read a page that is not in SQLite's cache from the operating system (a
    /// `pread`, as sled does for every read). A batch reads 16 keys at a time and yields to
    /// its runtime between slices, in one read transaction. `0` sends every read to the reader
    /// threads: the choice for a database on network storage or much larger than memory.
    /// Scans (`keys`, `collections`) and writes always run on the store's threads. See the
    /// crate docs, section *Threading*.
    pub fn inline_readers(mut self, connections: usize) -> Self {
        self.config.inline_readers = connections;
        self
    }

    /// How long a worker thread keeps polling for its next job after finishing one before it
    /// goes to sleep (default [`DEFAULT_IDLE_SPIN`], 50 µs).
    ///
    /// Waking a sleeping thread costs far more than the SQLite work of a point read on an idle
    /// virtual machine — ~35 µs each way was measured on the project's 2-core VM, against
    /// ~2 µs for the read — so back-to-back operations are much faster when the worker has not
    /// gone to sleep in between. The price is up to this long of busy CPU on each worker after
    /// the last operation of a burst. `Duration::ZERO` turns it off (sleep at once: least CPU,
    /// most latency when idle).
    pub fn idle_spin(mut self, spin: Duration) -> Self {
        self.config.idle_spin = spin;
        self
    }

    /// How long a caller keeps polling for the answer to its job, yielding to its runtime
    /// between polls (other tasks run; the runtime's thread never blocks), before it sleeps
    /// until woken (default [`DEFAULT_ANSWER_SPIN`], 500 µs).
    ///
    /// It spans the job itself — ~2 µs for a point read, ~100 µs for `get_many(100)` or a
    /// `FULL` commit's fsync — so an answer that arrives within it is picked up at once instead
    /// of a wake-up later. While it polls, the caller's runtime thread stays busy when it has no
    /// other task to run. `Duration::ZERO` awaits at once.
    pub fn answer_spin(mut self, spin: Duration) -> Self {
        self.config.answer_spin = spin;
        self
    }

    /// The clock every expiry check reads (default: the system clock). SQLite's own time is
    /// never used.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config.clock = Arc::new(clock);
        self
    }

    /// The clock every expiry check reads, already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.config.clock = clock;
        self
    }

    /// Opens an existing database for reading only (default `false`): for a file this user may
    /// not write, in a directory they may not write either (a backup mount, another user's
    /// file). See the crate docs, section *Read-only*:
    ///
    /// - every connection is opened with `SQLITE_OPEN_READ_ONLY` (and `query_only`); the
    ///   journal mode is not switched, the schema neither created nor migrated: the table and
    ///   its schema version must already be there, at the version this build reads
    ///   ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)), else `build` fails with
    ///   [`ErrorKind::Config`] naming the problem. A missing file is a `Config` error, never
    ///   created;
    /// - every write (`put`, `delete`, the batches, `put_if_absent`, `take`,
    ///   `compare_and_swap`, `touch`, `clear`, `cull`) fails at once with
    ///   [`ErrorKind::ReadOnly`] (not temporary), without reaching SQLite;
    ///   [`capabilities`](mcp_kv_core::KvStore::capabilities) reports no atomic operations;
    /// - no sweeper (`build` refuses [`sweep_interval`](Self::sweep_interval) with it), and
    ///   `close` neither checkpoints nor optimizes;
    /// - an in-memory store cannot be read-only (`build` refuses it).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.config.read_only = read_only;
        self
    }

    /// Validates the configuration without opening anything.
    pub fn config(self) -> Result<SqliteConfig> {
        validate_table(&self.config.table)?;
        if self.config.sweep_interval == Some(Duration::ZERO) {
            return Err(Error::new(ErrorKind::Config, "sweep interval is zero"));
        }
        // rusqlite panics ("too big") on a timeout whose milliseconds do not fit SQLite's `int`.
        if self.config.busy_timeout.as_millis() > MAX_BUSY_TIMEOUT.as_millis() {
            return Err(Error::new(
                ErrorKind::Config,
                "busy timeout is longer than SQLite takes (at most 2147483647 ms, i32::MAX \
                 milliseconds, about 24.8 days)",
            ));
        }
        if let Location::File(path) = &self.config.location {
            validate_path_name(path)?;
        }
        for (what, n) in [
            ("readers", self.config.readers),
            ("inline_readers", self.config.inline_readers),
        ] {
            if n > MAX_READERS {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{what} is {n}: at most {MAX_READERS} read connections"),
                ));
            }
        }
        if self.config.read_only {
            if self.config.location == Location::Memory {
                return Err(Error::new(
                    ErrorKind::Config,
                    "an in-memory store cannot be read-only (it would always be empty): give \
                     the path of an existing database file",
                ));
            }
            if self.config.sweep_interval.is_some() {
                return Err(Error::new(
                    ErrorKind::Config,
                    "a read-only store cannot run the sweeper (it deletes expired entries): \
                     drop sweep_interval or read_only",
                ));
            }
        }
        Ok(self.config)
    }

    /// Opens (or creates) the database, migrates its schema and starts the writer thread
    /// (with [`read_only`](Self::read_only): opens the existing database and checks its
    /// schema, nothing more).
    ///
    /// Blocks while the file is opened and migrated (milliseconds, longer when another process
    /// holds the write lock); call it at startup, or inside `spawn_blocking`.
    pub fn build(self) -> Result<SqliteStore> {
        SqliteStore::from_config(self.config()?)
    }
}

/// Refuses file paths SQLite would not open as a file: the empty path (a private temporary
/// database) and `:memory:` (a private in-memory database), neither of which can run in WAL
/// mode — SQLite's refusal then read "the file system does not support SQLite's WAL mode".
fn validate_path_name(path: &Path) -> Result<()> {
    const USE_MEMORY: &str = "for an in-memory store use SqliteStoreBuilder::memory() or \
                              SqliteStore::memory()";
    let why = if path.as_os_str().is_empty() {
        "the database path is empty"
    } else if path.as_os_str() == ":memory:" {
        "\":memory:\" is not a file path"
    } else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::Config,
        format!("{why}: {USE_MEMORY}"),
    ))
}

/// Checks, just before opening, what SQLite would report only as a `CANTOPEN` that looks
/// temporary (`Unavailable`): a path that is a directory, or whose directory does not exist or
/// is not a directory. These are configuration errors, and retrying cannot fix them. Other
/// failures (permissions, too many open files) are left to SQLite's own error.
pub(crate) fn check_file_path(path: &Path) -> Result<()> {
    let bad = |why: String| Err(Error::new(ErrorKind::Config, why));
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return bad(format!(
            "the database path {} is a directory, not a file",
            path.display()
        ));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => return Ok(()), // the current directory
    };
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bad(format!(
            "the directory {} of the database file does not exist (SQLite does not create it)",
            dir.display()
        )),
        Ok(m) if !m.is_dir() => bad(format!(
            "{} is not a directory, so it cannot hold the database file",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Checks that `table` is a plain SQL identifier we may interpolate into statements.
pub(crate) fn validate_table(table: &str) -> Result<()> {
    let bad = |why: &'static str| Err(Error::new(ErrorKind::Config, why));
    let mut chars = table.chars();
    match chars.next() {
        None => return bad("table name is empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return bad("table name must start with an ASCII letter or '_'")
        }
        Some(_) => {}
    }
    if table.len() > 63 {
        return bad("table name is longer than 63 bytes");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return bad("table name may hold only ASCII letters, digits and '_'");
    }
    let lower = table.to_ascii_lowercase();
    if lower.starts_with("sqlite_") {
        return bad("table names starting with 'sqlite_' are reserved by SQLite");
    }
    if lower == crate::schema::VERSION_TABLE {
        return bad("that table name is reserved for the schema version table");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for ok in ["mcp_kv", "_x", "Kv2", &"a".repeat(63)] {
            assert!(validate_table(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2kv",
            "kv-entries",
            "kv entries",
            "kv\"; DROP TABLE x; --",
            "données",
            "sqlite_master",
            "SQLITE_x",
            crate::schema::VERSION_TABLE,
            &"a".repeat(64),
        ] {
            let err = validate_table(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn builder_validates() {
        let err = SqliteStoreBuilder::new()
            .table("no way")
            .config()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = SqliteStoreBuilder::new()
            .sweep_interval(Duration::ZERO)
            .config()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        for bad in [
            SqliteStoreBuilder::new().busy_timeout(MAX_BUSY_TIMEOUT + Duration::from_millis(1)),
            SqliteStoreBuilder::new().path(""),
            SqliteStoreBuilder::new().path(":memory:"),
            SqliteStoreBuilder::new().readers(MAX_READERS + 1),
            SqliteStoreBuilder::new().inline_readers(MAX_READERS + 1),
        ] {
            let err = bad.config().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        }
        let cfg = SqliteStoreBuilder::new()
            .path("/tmp/x.db")
            .durability(Durability::Full)
            .readers(MAX_READERS)
            .inline_readers(MAX_READERS)
            .config()
            .unwrap();
        assert_eq!(cfg.location, Location::File("/tmp/x.db".into()));
        assert_eq!(cfg.durability.pragma_value(), "FULL");
        assert!(format!("{cfg:?}").contains("Full"));
    }
}

//! [`SqliteStore`]: the [`KvStore`] implementation, one short method per operation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{named_params, Connection, OpenFlags, Statement, TransactionBehavior};

use mcp_kv_core::{
    async_trait, expiry, rules, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation,
    Page, Result, SharedClock,
};

use crate::config::{Location, SqliteConfig, SqliteStoreBuilder};
use crate::encoding::{
    decode_expiry, decode_name, decode_value, encode_expiry, encode_now, map_sqlite, BACKEND,
};
use crate::engine::{Engine, Sweep};
use crate::schema::{self, Sql};

/// A [`KvStore`] in one SQLite table (see the [crate docs](crate) for layout, threading and
/// durability). Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    shared: Arc<Shared>,
    config: SqliteConfig,
    /// A read-only store reading its file with `immutable=1` (see [`SqliteStore::is_immutable`]).
    immutable: bool,
}

/// What every job needs: the statements and the clock.
struct Shared {
    sql: Arc<Sql>,
    clock: SharedClock,
}

impl Shared {
    fn now(&self) -> i64 {
        encode_now(self.clock.now_millis())
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("config", &self.inner.config)
            .field("immutable", &self.inner.immutable)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// A builder: path or memory, durability, table, clock, sweeper, readers.
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder::new()
    }

    /// A private in-memory store with the defaults.
    pub fn memory() -> Result<SqliteStore> {
        Self::builder().memory().build()
    }

    /// Opens (or creates) the file at `path` with the defaults ([`Durability::Normal`](crate::Durability::Normal),
    /// table [`DEFAULT_TABLE`](crate::DEFAULT_TABLE), system clock, no sweeper).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        Self::builder().path(path).build()
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// Whether this read-only store reads its file as *immutable* (`immutable=1`): SQLite could
    /// not read it in WAL mode here — it cannot create the `-wal`/`-shm` files beside it (a
    /// read-only directory) — and the file had no pending `-wal`, so the store reads the main
    /// file alone and sees its last checkpointed state. `false` for every other store. See the
    /// crate docs, section *Read-only*.
    pub fn is_immutable(&self) -> bool {
        self.inner.immutable
    }

    pub(crate) fn from_config(config: SqliteConfig) -> Result<SqliteStore> {
        let sql = Arc::new(Sql::new(&config.table));
        let (writer, readers, inline, immutable) = if config.read_only {
            open_read_only(&config)?
        } else {
            let (writer, readers, inline) = open_read_write(&config)?;
            (writer, readers, inline, false)
        };
        let sweep = config.sweep_interval.map(|every| Sweep {
            every,
            sql: sql.clone(),
            clock: config.clock.clone(),
        });
        let engine = Engine::start(
            writer,
            readers,
            inline,
            sweep,
            config.idle_spin,
            config.answer_spin,
            config.read_only,
        )?;
        let shared = Arc::new(Shared {
            sql,
            clock: config.clock.clone(),
        });
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                engine,
                shared,
                config,
                immutable,
            }),
        })
    }

    /// Fails a write of a read-only store at once, before it reaches SQLite.
    fn writable(&self, op: Operation) -> Result<()> {
        if self.inner.config.read_only {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                "the store was opened read-only (SqliteStoreBuilder::read_only): nothing is \
                 written",
            )
            .with_operation(op)
            .with_backend(BACKEND));
        }
        Ok(())
    }

    async fn write<T, F>(&self, op: Operation, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Shared) -> rusqlite::Result<Result<T>> + Send + 'static,
    {
        let shared = self.inner.shared.clone();
        self.inner
            .engine
            .write(op, move |conn| finish(f(conn, &shared), op))
            .await
    }

    /// A read of one key: on this thread with an inline connection (see
    /// [`SqliteStoreBuilder::inline_readers`]), else — none idle, or the database locked — on a
    /// reader thread.
    async fn read_key<T: Send + 'static>(
        &self,
        op: Operation,
        collection: &str,
        key: &str,
        f: fn(&Connection, &Shared, &str, &str) -> rusqlite::Result<Result<T>>,
    ) -> Result<T> {
        let shared = &self.inner.shared;
        let inline = self
            .inner
            .engine
            .read_inline(|conn| f(conn, shared, collection, key));
        if let Some(answer) = inline {
            return finish(answer, op);
        }
        let (c, k) = owned(collection, key);
        self.read(op, move |conn, sh| f(conn, sh, &c, &k)).await
    }

    async fn read<T, F>(&self, op: Operation, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Shared) -> rusqlite::Result<Result<T>> + Send + 'static,
    {
        let shared = self.inner.shared.clone();
        self.inner
            .engine
            .read(op, move |conn| finish(f(conn, &shared), op))
            .await
    }
}

/// How many keys of a batch an inline read runs before it yields to its runtime: each is a
/// point read of 2–3 µs, so a slice stays well under the 10–100 µs a task should not exceed
/// between two `.await`s.
const INLINE_SLICE: usize = 16;

impl SqliteStore {
    /// `get_entries` on this task with a leased inline connection: the keys in slices of
    /// [`INLINE_SLICE`], yielding to the runtime between slices, all in one read transaction
    /// (one snapshot, as on a reader thread). `None` when it must go to a reader thread: no
    /// idle inline connection, or the database locked at its first read.
    async fn entries_inline(
        &self,
        collection: &str,
        keys: &[&str],
    ) -> Option<Result<Vec<Option<Entry>>>> {
        let op = Operation::GetEntries;
        let lease = self.inner.engine.lease_inline()?;
        let sh = &*self.inner.shared;
        let mut out = Vec::with_capacity(keys.len());
        let mut slices = keys.chunks(INLINE_SLICE).peekable();
        let mut first = true;
        let mut now = None;
        while let Some(slice) = slices.next() {
            let step = (|| -> rusqlite::Result<Result<()>> {
                let conn = lease.conn();
                if first {
                    conn.execute_batch("BEGIN")?;
                }
                if let Err(e) = batch_entries(conn, sh, collection, slice, &mut now, &mut out)? {
                    return Ok(Err(e));
                }
                if slices.peek().is_none() {
                    conn.execute_batch("COMMIT")?;
                }
                Ok(Ok(()))
            })();
            match step {
                // Nothing read yet: a reader thread waits for the lock instead (the lease's
                // drop rolls the transaction back).
                Err(e) if first && crate::inline::is_locked(&e) => return None,
                Ok(Ok(())) => {}
                r => return Some(finish(r, op).map(|()| Vec::new())),
            }
            first = false;
            if slices.peek().is_some() {
                tokio::task::yield_now().await;
            }
        }
        Some(Ok(out))
    }
}

/// Flattens a job's outcome: driver errors mapped, data errors tagged.
fn finish<T>(r: rusqlite::Result<Result<T>>, op: Operation) -> Result<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.with_operation(op).with_backend(BACKEND)),
        Err(e) => Err(map_sqlite(e, op)),
    }
}

fn open_err(e: rusqlite::Error) -> Error {
    map_sqlite(e, Operation::Open)
}

/// Connections of one store: the writer, the readers' and the inline ones.
type Connections = (Connection, Vec<Connection>, Vec<Connection>);

/// The write connection (creating the file when missing), schema migrated, the readers and
/// the inline readers.
fn open_read_write(config: &SqliteConfig) -> Result<Connections> {
    let (mut writer, path) = match &config.location {
        Location::Memory => (Connection::open_in_memory().map_err(open_err)?, None),
        Location::File(path) => {
            crate::config::check_file_path(path)
                .map_err(|e| e.with_operation(Operation::Open).with_backend(BACKEND))?;
            (
                Connection::open(path).map_err(open_err)?,
                Some(path.as_path()),
            )
        }
    };
    configure(&writer, config, false)?;
    schema::migrate(&mut writer, &config.table)?;
    let Some(path) = path else {
        return Ok((writer, Vec::new(), Vec::new()));
    };
    let reader = || {
        let c = Connection::open(path).map_err(open_err)?;
        configure(&c, config, true)?;
        Ok(c)
    };
    let readers = (0..config.readers)
        .map(|_| reader())
        .collect::<Result<Vec<_>>>()?;
    let inline = (0..config.inline_readers)
        .map(|_| reader().and_then(never_waits))
        .collect::<Result<Vec<_>>>()?;
    Ok((writer, readers, inline))
}

/// An inline reader's busy timeout: 0 (it hands a locked read to a reader thread instead).
fn never_waits(conn: Connection) -> Result<Connection> {
    conn.busy_timeout(Duration::ZERO).map_err(open_err)?;
    Ok(conn)
}

/// The flags of every read-only connection: never creates, never writes.
const READ_ONLY_FLAGS: OpenFlags = OpenFlags::SQLITE_OPEN_READ_ONLY
    .union(OpenFlags::SQLITE_OPEN_URI)
    .union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

/// A read-only store's connections (the "writer", which only reads, and the readers), its
/// schema checked, and whether it reads the file as immutable.
///
/// SQLite reads a WAL-mode file read-only when its `-wal` and `-shm` files exist or can be
/// created (<https://www.sqlite.org/wal.html>, "Read-Only Databases"). In a directory it may
/// not write and without them, the first read fails (`SQLITE_READONLY_DIRECTORY`, or
/// `SQLITE_CANTOPEN` when only the `-wal` is there); the documented way out is the
/// `immutable=1` URI parameter: the file is read alone, without locks, and must not change
/// while open. It is taken only when no `-wal` file with content is beside the file (its
/// commits would be silently missed: that is refused instead).
fn open_read_only(
    config: &SqliteConfig,
) -> Result<(Connection, Vec<Connection>, Vec<Connection>, bool)> {
    let tag = |e: Error| e.with_operation(Operation::Open).with_backend(BACKEND);
    let bad = |why: String| tag(Error::new(ErrorKind::Config, why));
    let Location::File(path) = &config.location else {
        return Err(bad("an in-memory store cannot be read-only".into()));
    };
    crate::config::check_file_path(path).map_err(tag)?;
    match std::fs::File::open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(format!(
                "no database file at {} (a read-only store does not create one)",
                path.display()
            )))
        }
        Err(e) => {
            return Err(tag(Error::new(
                ErrorKind::Config,
                format!("cannot read the database file {}: {e}", path.display()),
            )
            .with_source(e)))
        }
    }
    // SQLite's own failures stay raw (the caller decides on the immutable retry); ours are
    // final.
    let connect = |name: &Path| -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(name, READ_ONLY_FLAGS)?;
        configure_read_only(&c, config)?;
        Ok(c)
    };
    let open = |name: &Path| -> rusqlite::Result<Result<Connection>> {
        let c = connect(name)?;
        Ok(schema::check(&c, &config.table)?.map(|()| c))
    };
    let (writer, name, immutable) = match open(path) {
        Ok(c) => (c.map_err(tag)?, path.clone(), false),
        Err(e) if wants_immutable(&e) => {
            refuse_pending_wal(path).map_err(tag)?;
            let name = PathBuf::from(immutable_uri(path).map_err(tag)?);
            let c = open(&name).map_err(open_err)?.map_err(tag)?;
            tracing::info!(
                path = %path.display(),
                "mcp-kv-sqlite: read-only store opened immutable (no -wal/-shm can be created \
                 beside the file): reads see its last checkpointed state"
            );
            (c, name, true)
        }
        Err(e) => return Err(open_err(e)),
    };
    let readers = (0..config.readers)
        .map(|_| connect(&name).map_err(open_err))
        .collect::<Result<Vec<_>>>()?;
    let inline = (0..config.inline_readers)
        .map(|_| connect(&name).map_err(open_err).and_then(never_waits))
        .collect::<Result<Vec<_>>>()?;
    Ok((writer, readers, inline, immutable))
}

/// Pragmas of a read-only connection: busy timeout, statement and page caches, `query_only`
/// (a second guard: the store refuses writes before they reach SQLite). Nothing that writes:
/// no page size, no journal mode, no `synchronous`.
fn configure_read_only(conn: &Connection, config: &SqliteConfig) -> rusqlite::Result<()> {
    conn.busy_timeout(config.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(32);
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "query_only", "ON")
}

/// SQLite could not read the file read-only in WAL mode here: it cannot create, or open, the
/// `-wal`/`-shm` files (`SQLITE_READONLY_*`, `SQLITE_CANTOPEN`).
fn wants_immutable(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen))
}

/// Refuses to read a file as immutable while a `-wal` file with content is beside it: those
/// commits (or, with a live writer, the ones to come) would be silently missed.
fn refuse_pending_wal(path: &Path) -> Result<()> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    match std::fs::metadata(&wal) {
        Ok(m) if m.len() > 0 => Err(Error::new(
            ErrorKind::Config,
            format!(
                "cannot read {} read-only here: its -wal file holds commits not yet in the \
                 database file (a writer is running, or did not close), and SQLite cannot \
                 create the -shm file it needs to read them (read-only directory); reading the \
                 file alone would show an older state. Copy the file with its -wal to a \
                 writable directory, or let the writer close (it checkpoints)",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// `file:<absolute path, percent-encoded>?mode=ro&immutable=1`.
fn immutable_uri(path: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(path).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("cannot resolve the database path {}: {e}", path.display()),
        )
    })?;
    let mut uri = String::from("file:");
    for &b in path_bytes(&abs).iter() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Ok(uri)
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

/// `C:/dir/file` as `/C:/dir/file` (SQLite's URI form of a Windows path; not tested here).
#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    let s = p.to_string_lossy().replace('\\', "/");
    let s = s.strip_prefix("//?/").unwrap_or(&s);
    format!("/{}", s.trim_start_matches('/')).into_bytes()
}

/// Page size of new database files: rows up to ~2 KiB stay inside the `WITHOUT ROWID` b-tree
/// (with 4 KiB pages anything above ~1000 bytes spills to an overflow page of its own).
pub(crate) const PAGE_SIZE: i64 = 8192;

/// Page cache of each connection, in KiB (SQLite's default is 2000).
pub(crate) const CACHE_KIB: i64 = 8192;

/// Sets the connection pragmas: page size (new files), cache, WAL, synchronous, busy timeout.
fn configure(conn: &Connection, config: &SqliteConfig, reader: bool) -> Result<()> {
    conn.busy_timeout(config.busy_timeout).map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    if !reader {
        // Takes effect only while the file is empty; later it is a no-op.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(open_err)?;
    }
    conn.pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(open_err)?;
    if matches!(config.location, Location::File(_)) && !reader {
        let mode = set_wal(conn, config.busy_timeout)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                mcp_kv_core::ErrorKind::Config,
                "the file system does not support SQLite's WAL mode",
            )
            .with_operation(Operation::Open)
            .with_backend(BACKEND));
        }
    }
    conn.pragma_update(None, "synchronous", config.durability.pragma_value())
        .map_err(open_err)?;
    if reader {
        conn.pragma_update(None, "query_only", "ON")
            .map_err(open_err)?;
    }
    Ok(())
}

/// Switches the file to WAL mode and returns the journal mode now in effect. SQLite answers
/// `SQLITE_BUSY` at once, without its busy handler, when another connection holds a lock on
/// the file meanwhile (two processes opening one new file together): retried here for up to
/// the busy timeout, like any other locked statement.
fn set_wal(conn: &Connection, busy_timeout: Duration) -> Result<String> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DatabaseBusy
                    && start.elapsed() + pause <= busy_timeout =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            r => return r.map_err(open_err),
        }
    }
}

/// A stored row: the value and its expiry (epoch ms).
type Row = (Bytes, Option<u64>);

/// Reads one row as `(value, expires_at)`, undecoded rows as `Corrupted`.
fn select_row(
    conn: &Connection,
    sh: &Shared,
    c: &str,
    k: &str,
) -> rusqlite::Result<Result<Option<Row>>> {
    let mut stmt = conn.prepare_cached(&sh.sql.get)?;
    query_row(&mut stmt, c, k)
}

/// [`select_row`] with the `get` statement already prepared (a batch prepares it once).
fn query_row(stmt: &mut Statement<'_>, c: &str, k: &str) -> rusqlite::Result<Result<Option<Row>>> {
    let mut rows = stmt.query((c, k))?;
    let Some(row) = rows.next()? else {
        return Ok(Ok(None));
    };
    let (value, at) = (row.get_ref(0)?, row.get_ref(1)?);
    Ok(decode_value(value).and_then(|v| Ok(Some((v, decode_expiry(at)?)))))
}

/// The entry of a stored row if it is live; `now` is asked only for a row that can expire (a
/// miss or a row without TTL reads no clock).
fn live((value, at): Row, now: impl FnOnce() -> u64) -> Option<Entry> {
    let now = at.map_or(0, |_| now());
    expiry::is_live(at, now).then(|| Entry {
        value,
        ttl: expiry::remaining(at, now),
    })
}

/// A live entry of `(c, k)` at the clock's now.
fn live_entry(
    conn: &Connection,
    sh: &Shared,
    c: &str,
    k: &str,
) -> rusqlite::Result<Result<Option<Entry>>> {
    let now = || sh.clock.now_millis();
    Ok(select_row(conn, sh, c, k)?.map(|row| row.and_then(|row| live(row, now))))
}

/// The live value of `(c, k)` at the clock's now.
fn live_value(
    conn: &Connection,
    sh: &Shared,
    c: &str,
    k: &str,
) -> rusqlite::Result<Result<Option<Bytes>>> {
    Ok(live_entry(conn, sh, c, k)?.map(|e| e.map(|e| e.value)))
}

/// After a conditional write that did nothing: `Corrupted` if the row does not decode, else
/// the plain outcome.
fn lost<T>(
    conn: &Connection,
    sh: &Shared,
    c: &str,
    k: &str,
    outcome: T,
) -> rusqlite::Result<Result<T>> {
    Ok(select_row(conn, sh, c, k)?.map(|_| outcome))
}

fn expires_at(sh: &Shared, ttl: Option<Duration>) -> Option<i64> {
    encode_expiry(expiry::expires_at(sh.clock.now_millis(), ttl))
}

fn owned(c: &str, k: &str) -> (String, String) {
    (c.to_string(), k.to_string())
}

fn collect_entries(
    conn: &Connection,
    sh: &Shared,
    c: &str,
    keys: &[String],
) -> rusqlite::Result<Result<Vec<Option<Entry>>>> {
    // One read transaction: every key from the same snapshot.
    let tx = conn.unchecked_transaction()?;
    let mut out = Vec::with_capacity(keys.len());
    let mut now = None;
    if let Err(e) = batch_entries(&tx, sh, c, keys, &mut now, &mut out)? {
        return Ok(Err(e));
    }
    tx.commit()?;
    Ok(Ok(out))
}

/// The live entries of `keys`, appended to `out`: one prepared statement, and one clock
/// reading for the whole batch (`now`, kept across slices: taken at the first entry that can
/// expire), so every key of a batch is judged at the same instant.
fn batch_entries<K: AsRef<str>>(
    conn: &Connection,
    sh: &Shared,
    c: &str,
    keys: &[K],
    now: &mut Option<u64>,
    out: &mut Vec<Option<Entry>>,
) -> rusqlite::Result<Result<()>> {
    let mut stmt = conn.prepare_cached(&sh.sql.get)?;
    for k in keys {
        match query_row(&mut stmt, c, k.as_ref())? {
            Ok(row) => {
                out.push(row.and_then(|row| {
                    live(row, || *now.get_or_insert_with(|| sh.clock.now_millis()))
                }))
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(()))
}

#[async_trait]
impl KvStore for SqliteStore {
    fn capabilities(&self) -> Capabilities {
        // Read-only: the reads only (`clear`, under `enumerate`, is refused with the writes).
        let mut caps = Capabilities::default().with_atomic(!self.inner.config.read_only);
        caps.enumerate = true;
        let file = matches!(self.inner.config.location, Location::File(_));
        caps.persistent = file;
        caps.distributed = file;
        caps
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        // Its own read rather than the provided `get_entry` wrapper: one boxed future.
        rules::check_name(collection, key)?;
        self.read_key(Operation::Get, collection, key, live_value)
            .await
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        rules::check_name(collection, key)?;
        self.read_key(Operation::GetEntry, collection, key, live_entry)
            .await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.writable(Operation::Put)?;
        rules::check_put(&self.capabilities(), collection, key, value.len(), ttl)?;
        let (c, k) = owned(collection, key);
        self.write(Operation::Put, move |conn, sh| {
            let at = expires_at(sh, ttl);
            conn.prepare_cached(&sh.sql.put)?
                .execute((&c, &k, value.as_ref(), at))?;
            Ok(Ok(()))
        })
        .await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.writable(Operation::Delete)?;
        rules::check_name(collection, key)?;
        let (c, k) = owned(collection, key);
        self.write(Operation::Delete, move |conn, sh| {
            let now = sh.clock.now_millis();
            delete_one(conn, &sh.sql, &c, &k, now).map(Ok)
        })
        .await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let entries = self.get_entries(collection, keys).await?;
        Ok(entries.into_iter().map(|e| e.map(|e| e.value)).collect())
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        rules::check_keys(&self.capabilities(), collection, keys)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(r) = self.entries_inline(collection, keys).await {
            return r;
        }
        let c = collection.to_string();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        self.read(Operation::GetEntries, move |conn, sh| {
            collect_entries(conn, sh, &c, &keys)
        })
        .await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.writable(Operation::PutMany)?;
        rules::check_entries(&self.capabilities(), collection, &entries, ttl)?;
        if entries.is_empty() {
            return Ok(());
        }
        let c = collection.to_string();
        self.write(Operation::PutMany, move |conn, sh| {
            let at = expires_at(sh, ttl);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(&sh.sql.put)?;
                for (k, v) in &entries {
                    stmt.execute((&c, k, v.as_ref(), at))?;
                }
            }
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.writable(Operation::DeleteMany)?;
        rules::check_keys(&self.capabilities(), collection, keys)?;
        if keys.is_empty() {
            return Ok(0);
        }
        let c = collection.to_string();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        self.write(Operation::DeleteMany, move |conn, sh| {
            let now = sh.clock.now_millis();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut removed = 0;
            for k in &keys {
                removed += u64::from(delete_one(&tx, &sh.sql, &c, k, now)?);
            }
            tx.commit()?;
            Ok(Ok(removed))
        })
        .await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.writable(Operation::PutIfAbsent)?;
        rules::check_put(&self.capabilities(), collection, key, value.len(), ttl)?;
        let (c, k) = owned(collection, key);
        self.write(Operation::PutIfAbsent, move |conn, sh| {
            insert_if_absent(conn, sh, &c, &k, &value, ttl)
        })
        .await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.writable(Operation::Take)?;
        rules::check_name(collection, key)?;
        let (c, k) = owned(collection, key);
        self.write(Operation::Take, move |conn, sh| {
            let taken = {
                let mut stmt = conn.prepare_cached(&sh.sql.take)?;
                let mut rows = stmt.query(named_params! {
                    ":collection": c, ":key": k, ":now": sh.now(),
                })?;
                let mut taken = None;
                // Step to the end so the statement (and its autocommit) completes here.
                while let Some(row) = rows.next()? {
                    taken = Some(decode_value(row.get_ref(0)?));
                }
                taken
            };
            match taken {
                Some(v) => Ok(v.map(Some)),
                None => lost(conn, sh, &c, &k, None),
            }
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.writable(Operation::CompareAndSwap)?;
        let new_len = new.as_ref().map_or(0, Bytes::len);
        rules::check_put(&self.capabilities(), collection, key, new_len, ttl)?;
        let (c, k) = owned(collection, key);
        let current = current.map(Bytes::copy_from_slice);
        self.write(Operation::CompareAndSwap, move |conn, sh| {
            match (current, new) {
                (None, Some(new)) => insert_if_absent(conn, sh, &c, &k, &new, ttl),
                (None, None) => Ok(live_entry(conn, sh, &c, &k)?.map(|e| e.is_none())),
                (Some(cur), Some(new)) => {
                    let n = conn.prepare_cached(&sh.sql.swap)?.execute(named_params! {
                        ":new": new.as_ref(), ":expires_at": expires_at(sh, ttl),
                        ":collection": c, ":key": k, ":current": cur.as_ref(), ":now": sh.now(),
                    })?;
                    if n > 0 {
                        Ok(Ok(true))
                    } else {
                        lost(conn, sh, &c, &k, false)
                    }
                }
                (Some(cur), None) => {
                    let n = conn.prepare_cached(&sh.sql.delete_if_equal)?.execute(
                        named_params! {
                            ":collection": c, ":key": k, ":current": cur.as_ref(), ":now": sh.now(),
                        },
                    )?;
                    if n > 0 {
                        Ok(Ok(true))
                    } else {
                        lost(conn, sh, &c, &k, false)
                    }
                }
            }
        })
        .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.writable(Operation::Touch)?;
        rules::check_name(collection, key)?;
        rules::check_ttl(ttl)?;
        let (c, k) = owned(collection, key);
        self.write(Operation::Touch, move |conn, sh| {
            let n = conn.prepare_cached(&sh.sql.touch)?.execute(named_params! {
                ":expires_at": expires_at(sh, ttl), ":collection": c, ":key": k, ":now": sh.now(),
            })?;
            if n > 0 {
                Ok(Ok(true))
            } else {
                lost(conn, sh, &c, &k, false)
            }
        })
        .await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        rules::check_collection(collection)?;
        rules::check_limit(limit)?;
        let c = collection.to_string();
        self.read(Operation::Keys, move |conn, sh| {
            // One more than asked tells whether another page follows.
            let fetch = i64::try_from(limit)
                .unwrap_or(i64::MAX - 1)
                .saturating_add(1);
            let now = sh.now();
            let mut stmt;
            let mut rows = match &cursor {
                None => {
                    stmt = conn.prepare_cached(&sh.sql.keys_first)?;
                    stmt.query(named_params! { ":collection": c, ":now": now, ":limit": fetch })?
                }
                Some(after) => {
                    stmt = conn.prepare_cached(&sh.sql.keys_after)?;
                    stmt.query(named_params! {
                        ":collection": c, ":after": after.as_str(), ":now": now, ":limit": fetch,
                    })?
                }
            };
            let mut keys = Vec::new();
            while let Some(row) = rows.next()? {
                match decode_name(row.get_ref(0)?) {
                    Ok(k) => keys.push(k),
                    Err(e) => return Ok(Err(e)),
                }
            }
            let next = if keys.len() > limit {
                keys.truncate(limit);
                keys.last().map(|k| Cursor::new(k.clone()))
            } else {
                None
            };
            Ok(Ok(Page { keys, next }))
        })
        .await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.read(Operation::Collections, |conn, sh| {
            let mut stmt = conn.prepare_cached(&sh.sql.collections)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                match decode_name(row.get_ref(0)?) {
                    Ok(c) => out.push(c),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(Ok(out))
        })
        .await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.writable(Operation::Clear)?;
        rules::check_collection(collection)?;
        let c = collection.to_string();
        self.write(Operation::Clear, move |conn, sh| {
            let n = conn.prepare_cached(&sh.sql.clear)?.execute([&c])?;
            Ok(Ok(n as u64))
        })
        .await
    }

    async fn cull(&self) -> Result<u64> {
        self.writable(Operation::Cull)?;
        self.write(Operation::Cull, |conn, sh| {
            let n = conn.prepare_cached(&sh.sql.cull)?.execute([sh.now()])?;
            Ok(Ok(n as u64))
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        self.inner.engine.close().await
    }
}

/// `INSERT … ON CONFLICT DO UPDATE … WHERE` the old row is expired: one statement.
fn insert_if_absent(
    conn: &Connection,
    sh: &Shared,
    c: &str,
    k: &str,
    value: &Bytes,
    ttl: Option<Duration>,
) -> rusqlite::Result<Result<bool>> {
    let n = conn
        .prepare_cached(&sh.sql.put_if_absent)?
        .execute(named_params! {
            ":collection": c, ":key": k, ":value": value.as_ref(),
            ":expires_at": expires_at(sh, ttl), ":now": sh.now(),
        })?;
    if n > 0 {
        Ok(Ok(true))
    } else {
        lost(conn, sh, c, k, false)
    }
}

/// Deletes `(c, k)` whatever its state; `true` if the row was live (rows whose expiry does not
/// decode count as live: they were there, and are gone).
fn delete_one(conn: &Connection, sql: &Sql, c: &str, k: &str, now: u64) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(&sql.delete)?;
    let mut rows = stmt.query((c, k))?;
    let mut live = false;
    while let Some(row) = rows.next()? {
        live = decode_expiry(row.get_ref(0)?).map_or(true, |at| expiry::is_live(at, now));
    }
    Ok(live)
}

#[cfg(test)]
mod static_checks {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn store_is_send_sync() {
        send_sync::<super::SqliteStore>();
        send_sync::<crate::SqliteConfig>();
        send_sync::<crate::SqliteStoreBuilder>();
    }
}

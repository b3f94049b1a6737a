//! # mcp-kv-sqlite
//!
//! The SQLite backend of mcp-kv: one file (or memory), one `WITHOUT ROWID` table, WAL, atomic
//! operations as single SQL statements — linearizable also between processes sharing the
//! file — and no blocking work on the async runtime. rusqlite 0.32 with SQLite bundled: no
//! system library needed.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_sqlite::{Durability, SqliteStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! // Once, when the server starts.
//! let store = SqliteStore::builder()
//!     .path(dir.path().join("mcp.db"))
//!     .durability(Durability::Full)          // fsync every commit
//!     .sweep_interval(Duration::from_secs(60)) // remove expired rows in the background
//!     .build()?;
//!
//! store.put("tokens", "abc", Bytes::from_static(b"grant"), Some(Duration::from_secs(300))).await?;
//! let entry = store.get_entry("tokens", "abc").await?.unwrap();
//! assert!(entry.ttl.unwrap() <= Duration::from_secs(300));
//!
//! // One-time codes: of any number of callers — in any number of processes — one takes it.
//! assert!(store.put_if_absent("codes", "c1", Bytes::from_static(b"x"), None).await?);
//! assert!(!store.put_if_absent("codes", "c1", Bytes::from_static(b"y"), None).await?);
//! assert_eq!(store.take("codes", "c1").await?, Some(Bytes::from_static(b"x")));
//! assert_eq!(store.take("codes", "c1").await?, None);
//!
//! store.close().await?; // checkpoints the WAL into the file; later calls are Unavailable
//!
//! // State survives a restart.
//! let store = SqliteStore::open(dir.path().join("mcp.db"))?;
//! assert!(store.get("tokens", "abc").await?.is_some());
//! # store.close().await?;
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`SqliteStore::memory()`] gives a private in-memory store (tests, caches);
//! [`SqliteStore::builder()`] also sets the table name, the busy timeout, the number of read
//! connections and the [`Clock`](mcp_kv_core::Clock) (tests inject a
//! [`ManualClock`](mcp_kv_core::ManualClock); SQLite's own time is never used).
//!
//! ## Capabilities
//!
//! | capability | file | memory |
//! |---|---|---|
//! | `put_if_absent`, `take`, `compare_and_swap`, `touch` | yes, linearizable per key, also across processes sharing the file | yes |
//! | `keys` (cursor paging), `collections`, `clear` | yes | yes |
//! | `native_ttl` | no: expiry is checked on every read and conditional write; [`cull`](mcp_kv_core::KvStore::cull) and the optional sweeper delete expired rows | same |
//! | `persistent` | yes | no |
//! | `distributed` | yes: processes on one machine may share the file (not over a network file system) | no |
//! | names | any UTF-8 (NUL included), collection ≤ 1024 bytes, key ≤ 4096 bytes | same |
//! | `max_value_bytes` | 16 MiB | same |
//! | batches | one transaction each, any size | same |
//!
//! ## Storage layout
//!
//! One table per store (default `mcp_kv`, set with [`SqliteStoreBuilder::table`]; validated as
//! a plain identifier, so it is safe to interpolate):
//!
//! ```sql
//! CREATE TABLE "mcp_kv" (
//!     collection TEXT NOT NULL,   -- UTF-8 as given, NUL included
//!     key        TEXT NOT NULL,
//!     value      BLOB NOT NULL,   -- the bytes, unchanged
//!     expires_at INTEGER,         -- Unix epoch ms; live while now <= expires_at; NULL = never
//!     PRIMARY KEY (collection, key)
//! ) WITHOUT ROWID;
//! CREATE INDEX "mcp_kv_expires_at" ON "mcp_kv" (expires_at) WHERE expires_at IS NOT NULL;
//!
//! CREATE TABLE mcp_kv_schema (name TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL);
//! ```
//!
//! - Names are bound as TEXT with their full length, and SQLite compares TEXT with `memcmp`
//!   over that length, so names with NUL bytes stay distinct and `keys()` pages in byte order
//!   (the cursor is the last key of a page; each page is one range scan of the primary key).
//! - The partial index holds only rows with a TTL: `cull()` is one
//!   `DELETE … WHERE expires_at < now` over it, and rows without a TTL cost it nothing.
//! - `mcp_kv_schema` records each table's schema version ([`SCHEMA_VERSION`]). Opening runs
//!   the missing forward migrations in one immediate transaction; a table at a newer version, or
//!   a table of that name that this crate did not create, is refused with
//!   [`ErrorKind::Config`](mcp_kv_core::ErrorKind::Config).
//! - Several stores (tables) may share one file, within SQLite's naming rules: names are
//!   case-insensitive, and each table's expiry index, named `<table>_expires_at`, lives in the
//!   same namespace as the tables. So two tables whose names differ only in case (`kv`, `Kv`),
//!   or where one is the other's name followed by `_expires_at` (`a`, `a_expires_at`), cannot
//!   share a file: whichever is opened second is refused with `Config` (the first stays
//!   intact).
//! - New files get 8 KiB pages: a `WITHOUT ROWID` row lives inside the b-tree, and with
//!   SQLite's default 4 KiB pages any row above ~1000 bytes spills to an overflow page of its
//!   own (a 1 KiB value then cost a whole extra page: 2.5× the file size and 3–7× slower
//!   reads in our measurement). With 8 KiB pages rows up to ~2 KiB stay inline. Each
//!   connection keeps an 8 MiB page cache.
//! - Rows that this crate did not write (changed behind the store's back) never panic:
//!   - a value that is not a BLOB, or an expiry that is not a non-negative integer, reads as
//!     [`ErrorKind::Corrupted`](mcp_kv_core::ErrorKind::Corrupted) for that key only;
//!     conditional writes leave the row untouched and report the same; `keys()` lists it
//!     (only a well-formed expiry in the past hides a row), as the sled and DynamoDB backends
//!     list theirs; `put` and `delete` repair it;
//!   - a *name* that is not UTF-8 TEXT (a BLOB, a number, TEXT with invalid UTF-8) cannot be
//!     addressed through the API: names are `&str`, bound as TEXT, and never match it. A bad
//!     key makes `keys()` of its collection fail with `Corrupted` on every page that reaches
//!     it (the cursor cannot step past it; a BLOB sorts after all TEXT, so only the end of the
//!     listing), and `clear` of its collection removes it with the rest. A bad collection name
//!     makes `collections()` fail with `Corrupted`, and no call removes it: delete such rows
//!     with SQL, e.g. `DELETE FROM "mcp_kv" WHERE typeof(collection) <> 'text' OR typeof(key)
//!     <> 'text'`, and for TEXT that is not UTF-8 match its bytes:
//!     `… WHERE CAST(collection AS BLOB) = X'…'` (find them with
//!     `SELECT hex(collection), hex(key) FROM "mcp_kv"`).
//! - Damage to the file itself is detected only as far as SQLite checks it: it checks the
//!   structure of its pages, not the bytes of the values in them (no checksums). Measured
//!   (`tests/corruption.rs`): pages overwritten with garbage fail the open, or are `Corrupted`
//!   for the keys and listings that reach them; a byte changed inside a stored value reads
//!   back as a different value, without an error.
//!
//! ## Atomic operations
//!
//! Each runs as one statement (an implicit transaction that takes SQLite's write lock, so it is
//! atomic against every connection of every process on the file), with the store's clock as a
//! parameter:
//!
//! | operation | statement |
//! |---|---|
//! | `put_if_absent` | `INSERT … ON CONFLICT (collection, key) DO UPDATE SET … WHERE` the old row is expired |
//! | `take` | `DELETE … WHERE` live `RETURNING value` |
//! | `compare_and_swap` | `UPDATE … SET value = :new WHERE value = :current AND` live (or `DELETE … WHERE value = :current`, or `put_if_absent`'s insert) |
//! | `touch` | `UPDATE … SET expires_at WHERE` live |
//! | batches | one `BEGIN IMMEDIATE … COMMIT` (reads: one read transaction, one snapshot) |
//!
//! Another process holding the write lock makes a statement wait up to the busy timeout
//! (default 5 s), then fail with [`ErrorKind::Timeout`](mcp_kv_core::ErrorKind::Timeout)
//! (temporary). The two-process test races `put_if_absent` and `take` on one key for 100
//! rounds and sees exactly one winner each round.
//!
//! ## Durability
//!
//! WAL mode always; [`Durability`] picks `synchronous`:
//!
//! | [`Durability`] | acknowledged after | process crash (panic, SIGKILL, OOM kill) | power loss / OS crash | cost |
//! |---|---|---|---|---|
//! | `Normal` (default) | the commit is in the WAL (OS page cache) | nothing acknowledged is lost | the last commits may roll back; the file stays consistent | no fsync per commit |
//! | `Full` | the WAL is fsynced | nothing lost | nothing lost, if the disk honours fsync | one fsync per write (a batch is one) |
//!
//! The crash test SIGKILLs a writing child process at a random moment, 5 times in `Full` and 3
//! times in `Normal`, reopens the file and finds every acknowledged entry. `close()`
//! checkpoints the WAL into the main file and truncates it; dropping the store without
//! `close()` leaves that to SQLite (it checkpoints when the last connection closes, or the
//! next opener recovers the WAL) — nothing is lost either way.
//!
//! ## Read-only
//!
//! [`SqliteStoreBuilder::read_only`] opens an existing database for reading only — a file this
//! user may not write, in a directory they may not write either (a backup mount, another
//! user's file):
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mcp_kv_core::{Bytes, ErrorKind, KvStore};
//! use mcp_kv_sqlite::SqliteStore;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("mcp.db");
//! let store = SqliteStore::open(&path)?;
//! store.put("tokens", "abc", Bytes::from_static(b"grant"), None).await?;
//! store.close().await?;
//!
//! let reader = SqliteStore::builder().path(&path).read_only(true).build()?;
//! assert_eq!(reader.get("tokens", "abc").await?, Some(Bytes::from_static(b"grant")));
//! assert_eq!(reader.collections().await?, vec!["tokens"]);
//! let err = reader.put("tokens", "abc", Bytes::from_static(b"x"), None).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ReadOnly); // refused before it reaches SQLite
//! assert!(!err.is_temporary());
//! assert!(!reader.capabilities().take);
//! reader.close().await?; // no checkpoint, no `PRAGMA optimize`: nothing written
//!
//! // A missing file is a configuration error, and is not created.
//! let err = SqliteStore::builder().path(dir.path().join("nope.db")).read_only(true).build();
//! assert_eq!(err.unwrap_err().kind(), ErrorKind::Config);
//! assert!(!dir.path().join("nope.db").exists());
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! - Every connection opens with `SQLITE_OPEN_READ_ONLY` (and `PRAGMA query_only`). The journal
//!   mode is not switched and the schema neither created nor migrated: the table and its
//!   version must be there, at [`SCHEMA_VERSION`], else `build` fails with
//!   [`ErrorKind::Config`](mcp_kv_core::ErrorKind::Config) naming what is missing (another
//!   application's database, another table name, a newer or not yet migrated schema); a file
//!   that is not a database is `Corrupted`. No sweeper (`build` refuses `sweep_interval`), no
//!   in-memory read-only store.
//! - Writes — `put`, `delete`, `put_many`, `delete_many`, `put_if_absent`, `take`,
//!   `compare_and_swap`, `touch`, `clear`, `cull` — fail at once with
//!   [`ErrorKind::ReadOnly`](mcp_kv_core::ErrorKind::ReadOnly), not temporary. Capabilities
//!   report no atomic operations (`enumerate` stays: `keys` and `collections` work; `clear` is
//!   refused with the writes).
//! - **Which state a reader sees.** A WAL file is read as SQLite reads it
//!   (<https://www.sqlite.org/wal.html>, "Read-Only Databases"): when its `-wal` and `-shm`
//!   files exist or can be created beside it, the reader sees every commit, those still in the
//!   `-wal` included, and follows a live writer's new commits like any reader. In a writable
//!   directory SQLite creates those two files itself (owned by the reader; the `-wal` stays
//!   empty; the database file is not written — tested by bytes and mtime). In a directory it
//!   cannot write, without them, SQLite refuses to read (`SQLITE_READONLY_DIRECTORY`, or
//!   `SQLITE_CANTOPEN` with a `-wal` alone); the store then reopens the file with the
//!   `immutable=1` URI parameter ([`SqliteStore::is_immutable`] is `true`): the main file is
//!   read alone, without locks, so it shows the **last checkpointed state** — after a
//!   `close()` of the writing store, everything. SQLite requires that nobody change an immutable
//!   file while it is open; a writer that changes it anyway can make reads wrong. Commits in a
//!   `-wal` that was not checkpointed would not be seen, so when a `-wal` file with content
//!   lies beside the file the store refuses (`Config`, saying so: copy the file with its `-wal`
//!   to a writable directory, or let the writer close) rather than show an older state.
//!
//! ## Threading
//!
//! SQLite's blocking work runs off the async runtime, on the store's own threads. Reads by key
//! of a file store are the exception, because they are not blocking work in the async sense
//! (the Tokio team's rule of thumb: no more than 10–100 µs between two `.await`s — Alice
//! Ryhl, *Async: What is blocking?*, ryhl.io, 2020):
//!
//! - **reads by key** (`get`, `get_entry` and `ttl` through it, `get_many`, `get_entries`) of
//!   a file store run on the caller's thread, with one of [`DEFAULT_INLINE_READERS`] read
//!   connections ([`SqliteStoreBuilder::inline_readers`]). A primary-key lookup of a cached
//!   page takes 2–3 µs, and the round trip to a reader thread costs as much again (table
//!   below). A batch reads 16 keys at a time and yields to its runtime between slices (other
//!   tasks run), all in one read transaction, so it still reads one snapshot; dropped midway,
//!   it rolls that transaction back before its connection is used again. Such a connection
//!   never waits for a lock: its busy timeout is 0, so a read SQLite answers `SQLITE_BUSY`
//!   (another process's exclusive lock, a WAL recovery) is handed to a reader thread at once,
//!   which waits with the store's busy timeout; when every inline connection is in use the
//!   read goes to a reader thread too. What the caller's thread may still do is read a page
//!   that is not in the connection's page cache (8 MiB) from the operating system — from its
//!   file cache, or from the disk when the database is cold — as every read of sled does.
//!   `inline_readers(0)` sends every read to the threads: the choice for a database on
//!   network storage, or much larger than memory and read at random;
//! - one **writer thread** owns the write connection and runs every write (and the sweeper)
//!   in order; an in-memory store runs everything there (its one connection is the database);
//! - a file store also has [`DEFAULT_READERS`] **reader threads**, each owning a read-only
//!   connection, for enumeration (`keys`, `collections`) and the reads by key that could not
//!   run inline; a read goes to the reader with the fewest jobs in flight, the first one on a
//!   tie. A reader stops counting a job as in flight *before* it answers, so a caller that reads
//!   one batch after another keeps going to the same reader — awake, its page cache warm —
//!   and reads spread over the readers only when they really overlap. WAL readers never wait
//!   for the writer, so reads continue while a commit fsyncs;
//! - jobs travel as closures over a channel and answer through a oneshot; nothing depends on
//!   which async runtime awaits them.
//!
//! Why: the brief's three options were measured on the project's 2-core VM (a point read of a
//! 100-byte value by primary key; µs per operation, two runs, machine shared with other
//! builds):
//!
//! | how the read runs | awaited from `block_on` | awaited from a spawned task | 8 concurrent tasks (throughput) |
//! |---|---|---|---|
//! | inline on the caller (raw rusqlite, blocks the runtime) | 2.7–4.9 | — | 1.4–1.9 |
//! | dedicated thread + channel + oneshot | 4.6–6.9 | 7.3–10.7 | — |
//! | `spawn_blocking` + pool of 2 connections | 8.7–12.0 | 13.5–13.7 | 7.9–10.9 |
//! | pool of 2 threads sharing one queue | 10.7 | — | 6.8 |
//!
//! A dedicated thread is the cheapest hop (a parked thread woken by a channel, no
//! blocking-pool bookkeeping), and one writer thread also matches SQLite's one-writer rule: our
//! own writes never contend for the file lock. Reader threads with a queue each (rather than
//! one shared queue) keep that cheap hop while reads run in parallel.
//!
//! Those figures were taken while other builds kept both cores busy. On the same VM **idle**,
//! a core with nothing to do sleeps, and waking a sleeping thread took ~35 µs each way: a `get`
//! measured 76 µs (raw rusqlite inline: 2.1 µs). So both sides now **spin before they sleep**:
//! a worker polls its channel for [`SqliteStoreBuilder::idle_spin`] (default
//! [`DEFAULT_IDLE_SPIN`], 50 µs) after each job, and a caller polls for its answer for up to
//! [`SqliteStoreBuilder::answer_spin`] (default [`DEFAULT_ANSWER_SPIN`], 500 µs), yielding to
//! its runtime between polls (other tasks run; the runtime's thread never blocks). Back-to-back
//! operations then find both threads awake (`get` went from 76 µs to ~4–6 µs), and a batch or
//! a `FULL` commit (~100 µs) is picked up when it lands, not a wake-up later. At most
//! (cores − 1) callers poll at once in the process ([`mcp_kv_core::handoff`]): pollers on
//! every core would starve the threads they wait for. The price is up to 50 µs of busy CPU on
//! each worker after the last operation of a burst, and a polling caller's runtime thread busy
//! while it has nothing else to run; `Duration::ZERO` for either turns it off.
//!
//! ## Performance
//!
//! `benches/sqlite.rs` at the workspace root runs get, get-miss, put, put-with-TTL,
//! put_many(100), get_many(100), take and a 90/10 mix on 2 tasks, with 1 KiB values over 10k
//! keys, for this store (through `Arc<dyn KvStore>`), raw rusqlite with the same pragmas and
//! table (`raw`: inline on the benchmark thread; `raw-thread`: on a dedicated thread behind a
//! channel and a oneshot with the same spins, the least an async caller pays to keep SQLite off
//! its runtime) and openkeyv 0.4's SQLite store (which blocks the async task instead), in
//! `NORMAL` and `FULL`. Every write stores bytes other than the key's current ones (SQLite
//! skips rewriting an unchanged row, which made earlier `put` figures time no-ops). One run on
//! the project's 2-core VM, load ~2, 2026-11-27 (pass 8 in `BENCHMARKS.md` at the workspace
//! root, which has every row and the noise; get_many(100) from the run after the batch change,
//! see there); ÷ = the other's time over ours, above 1 we are faster:
//!
//! | group (NORMAL) | mcp-kv | raw | raw-thread | openkeyv | ÷ raw | ÷ raw-thread |
//! |---|---|---|---|---|---|---|
//! | get | 2.59 µs | 2.49 µs | 4.18 µs | 5.40 µs | 0.96 | 1.61 |
//! | get-miss | 1.79 µs | 1.74 µs | 2.80 µs | 3.86 µs | 0.97 | 1.56 |
//! | put (no TTL) | 24.8 µs | 23.0 µs | 24.1 µs | 35.8 µs | 0.93 | 0.97 |
//! | put_many(100) | 1.75 ms | 1.61 ms | 1.69 ms | 2.13 ms | 0.92 | 0.96 |
//! | get_many(100) | 120 µs | 124 µs | 137 µs | 242 µs | 1.03 | 1.14 |
//! | take | 38.4 µs | 36.7 µs | 38.1 µs | — | 0.95 | 0.99 |
//!
//! - **Reads by key run on the caller's thread** (see *Threading*): get 0.96 / 0.99 and
//!   get-miss 0.97 / 0.94 against inline raw (`NORMAL` / `FULL`). Until pass 5 every read went
//!   to a reader thread, and the round trip cost as much as the read: get 0.45 / 0.55,
//!   get-miss 0.59 / 0.40 — the same reads behind that hop (`raw-thread`) still cost 1.5–1.6×
//!   ours.
//! - Writes are at parity with inline raw (`FULL`: put 0.99, take 0.94, put_many 0.96): a
//!   commit costs far more than the hop to the writer thread.
//! - **get_many(100)** prepares its statement once and reads the clock once per batch (the
//!   raw twin does the same since this change), yields to its runtime every 16 keys and still
//!   reads one snapshot: 1.03 / 1.01 against inline raw (0.89 / 0.94 in the run before, same
//!   code — this VM's spread).
//! - **put_many(100)** runs the same statements in one transaction as raw does; it is bound by
//!   SQLite's I/O (WAL appends, checkpoints, fsync per commit in `FULL`), and which
//!   participant's round contains a checkpoint decides single figures: parity within noise.

#![forbid(unsafe_code)]

pub mod config;
mod encoding;
mod engine;
mod inline;
mod schema;
mod store;

pub use config::{
    Durability, Location, SqliteConfig, SqliteStoreBuilder, DEFAULT_ANSWER_SPIN,
    DEFAULT_BUSY_TIMEOUT, DEFAULT_IDLE_SPIN, DEFAULT_INLINE_READERS, DEFAULT_READERS,
    DEFAULT_TABLE, MAX_BUSY_TIMEOUT, MAX_READERS,
};
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;

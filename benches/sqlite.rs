//! The SQLite backend side by side with the raw driver and the Rust peer, same workload in one
//! group each, in both durability settings (`synchronous = NORMAL` and `FULL`, WAL mode):
//!
//! - `mcp-kv` — our `SqliteStore`, called through `Arc<dyn KvStore>` as users hold it, with
//!   its defaults: reads by key (get, get-miss, get_many) on the caller's task with one of its
//!   inline read connections (a batch in slices of 16 keys, yielding between them), writes on
//!   its writer thread, off the async runtime;
//! - `raw` — rusqlite 0.32 prepared statements (`prepare_cached`) on one connection with the
//!   same pragmas and the same table, called synchronously on the benchmark thread (the
//!   floor: no async, no thread hop), batches in one transaction;
//! - `raw-thread` — the same raw statements on a dedicated thread reached through a channel
//!   and a oneshot reply, the thread polling for 50 µs and the caller for up to 500 µs before
//!   they sleep, as our engine does (`idle_spin`, `answer_spin`): the least an async caller
//!   pays to keep SQLite off its runtime, so `mcp-kv / raw-thread` is our own overhead where our
//!   store runs the work on its threads (the write groups);
//! - `raw-spawn_blocking` (get only) — the raw statement on `tokio::task::spawn_blocking` with
//!   a pool of two connections: the other way to stay off the runtime, measured for the
//!   threading choice;
//! - `openkeyv` — openkeyv 0.4's SQLite store, given a connection with the same pragmas (it
//!   runs its statements inline on the async task, behind a `tokio::sync::Mutex`).
//!
//! 10k keys, 1 KiB values (preloaded with one value; every write of `put` stores a value other
//! than the key's current one, see `fresh_value`, so SQLite cannot skip an identical rewrite),
//! one collection; reads read entries written with a 1 h TTL and check expiry — except
//! `get_many(100)`, which reads the batches `put_many(100)` last wrote (60 s TTL), each side
//! asserting that it read 100 live values; writes carry a 60 s TTL, except in `put` (no TTL:
//! `expires_at` is NULL on every side).
//! Each participant has a file of its own in one temporary directory.
//!
//! Groups, per durability: `sqlite get`, `sqlite get-miss` (keys never written), `sqlite mix
//! 90/10 on 2 tasks`, `sqlite put`, `sqlite put-with-TTL`, `sqlite put_many(100)`, `sqlite
//! get_many(100)`, `sqlite take`. Notes:
//!
//! - `take`: the raw twins run `DELETE … RETURNING value` with the same liveness condition as
//!   our statement (well-formed row, `expires_at` NULL or not past). Every iteration takes a
//!   present key: rounds of 1 000 keys are put untimed (one transaction on each side), then their
//!   takes are timed; each side asserts that every take hit. openkeyv has no get-and-delete (only
//!   `compare_and_delete` after a `get_with_revision`), so it is left out of `take`;
//! - `mix 90/10 on 2 tasks`: two Tokio tasks, each 90 % gets of present keys / 10 % puts with the
//!   60 s TTL. Our store sends writes to its writer thread and runs reads on the calling task
//!   with one of its inline read connections, so here `raw` is the raw statements threaded the
//!   same way — writes on a writer thread behind a channel and a oneshot, reads inline with the
//!   first free one of as many connections — rather than everything inline (two tasks blocking
//!   the runtime's two workers in SQLite commits would not be the same work). `mcp-kv / raw` is
//!   then our own overhead under concurrency. openkeyv runs inline as always. The mix runs right
//!   after the reads, before the write groups, so every read hits a live entry;
//! - `(FULL)` write groups (`put`, `put-with-TTL`, `take`, the mix) take 20 samples: one fsync
//!   per write makes criterion's default 100 need minutes.
//!
//! Run: `cargo bench --bench sqlite -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mcp_kv_core::KvStore;
use mcp_kv_sqlite::{Durability, SqliteStore};
use openkeyv::protocol::AsyncKeyValue;
use openkeyv::Value;
use rusqlite::{Connection, Statement, TransactionBehavior};
use tokio::runtime::Runtime;

#[path = "support/mix.rs"]
mod support_mix;
use support_mix::{mix, Side};
#[path = "support/workload.rs"]
mod support_workload;
use support_workload::Workload;
#[path = "support/take.rs"]
mod support_take;
use support_take::take_rounds;
#[path = "support/interleave.rs"]
mod support_interleave;
use support_interleave::{interleave, our_gets, timed, Contender};

const KEYS: usize = 10_000;
const VALUE_BYTES: usize = 1024;
const COLL: &str = "bench";
const BATCH: usize = 100;
const READ_TTL: Duration = Duration::from_secs(3600);
const WRITE_TTL: Duration = Duration::from_secs(60);
/// Keys put (untimed) then taken (timed) per round of a `take` group.
const TAKE_CHUNK: usize = 1_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The raw twin: one connection, the same pragmas, table and statements as `SqliteStore`.
struct Raw {
    conn: Connection,
}

const GET: &str = "SELECT value, expires_at FROM kv WHERE collection = ?1 AND key = ?2";
const PUT: &str = "INSERT INTO kv (collection, key, value, expires_at) VALUES (?1, ?2, ?3, ?4) \
                   ON CONFLICT (collection, key) DO UPDATE \
                   SET value = excluded.value, expires_at = excluded.expires_at";
/// `SqliteStore`'s take: the row is removed only if it is live (and well-formed).
const TAKE: &str = "DELETE FROM kv WHERE collection = ?1 AND key = ?2 \
                    AND typeof(value) = 'blob' AND (expires_at IS NULL \
                    OR (typeof(expires_at) = 'integer' AND expires_at >= ?3)) RETURNING value";

/// A connection configured as `SqliteStore` configures its own (8 KiB pages, 8 MiB page
/// cache, WAL, the durability's `synchronous`, 5 s busy timeout).
fn connection(path: &Path, durability: Durability) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.set_prepared_statement_cache_capacity(32);
    conn.pragma_update(None, "page_size", 8192).unwrap();
    conn.pragma_update(None, "cache_size", -8192).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", durability.pragma_value())
        .unwrap();
    conn
}

impl Raw {
    fn open(path: &Path, durability: Durability) -> Raw {
        let conn = connection(path, durability);
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                 collection TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                 expires_at INTEGER, PRIMARY KEY (collection, key)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at)
                 WHERE expires_at IS NOT NULL;",
        )
        .unwrap();
        Raw { conn }
    }

    fn get_on(conn: &Connection, key: &str) -> Option<Bytes> {
        let mut stmt = conn.prepare_cached(GET).unwrap();
        Self::get_with(&mut stmt, key, now_ms)
    }

    /// One read with a prepared statement; `now` is asked only for an entry with an expiry.
    fn get_with(stmt: &mut Statement<'_>, key: &str, now: impl FnOnce() -> i64) -> Option<Bytes> {
        let mut rows = stmt.query((COLL, key)).unwrap();
        let row = rows.next().unwrap()?;
        let value = Bytes::copy_from_slice(row.get_ref(0).unwrap().as_blob().unwrap());
        let expires_at: Option<i64> = row.get(1).unwrap();
        match expires_at {
            Some(at) if at < now() => None,
            _ => Some(value),
        }
    }

    fn get(&self, key: &str) -> Option<Bytes> {
        Self::get_on(&self.conn, key)
    }

    fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) {
        let at = ttl.map(|ttl| now_ms() + ttl.as_millis() as i64);
        self.conn
            .prepare_cached(PUT)
            .unwrap()
            .execute((COLL, key, value, at))
            .unwrap();
    }

    fn put_many(&mut self, keys: &[String], value: &[u8], ttl: Duration) {
        let at = now_ms() + ttl.as_millis() as i64;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        {
            let mut stmt = tx.prepare_cached(PUT).unwrap();
            for key in keys {
                stmt.execute((COLL, key, value, at)).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    fn take(&self, key: &str) -> Option<Bytes> {
        let mut stmt = self.conn.prepare_cached(TAKE).unwrap();
        let mut rows = stmt.query((COLL, key, now_ms())).unwrap();
        let mut taken = None;
        // Step to the end so the statement (and its autocommit) completes here.
        while let Some(row) = rows.next().unwrap() {
            taken = Some(Bytes::copy_from_slice(
                row.get_ref(0).unwrap().as_blob().unwrap(),
            ));
        }
        taken
    }

    /// One transaction, the statement prepared once and the clock read once for the batch (as
    /// our store's batch does).
    fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let tx = self.conn.unchecked_transaction().unwrap();
        let now = now_ms();
        let mut stmt = tx.prepare_cached(GET).unwrap();
        let out = keys
            .iter()
            .map(|k| Self::get_with(&mut stmt, k, || now))
            .collect();
        drop(stmt);
        tx.commit().unwrap();
        out
    }
}

type Job = Box<dyn FnOnce(&mut Raw, &AtomicUsize) + Send>;

/// How long the raw thread polls for its next job, and its caller for the answer, before
/// sleeping: our engine's defaults (`mcp_kv_sqlite::DEFAULT_IDLE_SPIN`,
/// `DEFAULT_ANSWER_SPIN`), so `mcp-kv / raw-thread` stays our own overhead.
const IDLE_SPIN: Duration = mcp_kv_sqlite::DEFAULT_IDLE_SPIN;
const ANSWER_SPIN: Duration = mcp_kv_sqlite::DEFAULT_ANSWER_SPIN;

/// The raw twin on a dedicated thread, reached through a channel and a oneshot, with a count of
/// the jobs in flight (what our engine keeps to pick a reader); the thread polls for
/// [`IDLE_SPIN`] and the caller for [`ANSWER_SPIN`] before sleeping, as our engine does.
#[derive(Clone)]
struct RawThread {
    tx: mpsc::Sender<Job>,
    in_flight: Arc<AtomicUsize>,
}

impl RawThread {
    fn start(raw: Raw) -> RawThread {
        let (tx, rx) = mpsc::channel::<Job>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let counter = in_flight.clone();
        std::thread::spawn(move || {
            let mut raw = raw;
            loop {
                let start = Instant::now();
                let job = loop {
                    match rx.try_recv() {
                        Ok(job) => break Some(job),
                        Err(mpsc::TryRecvError::Disconnected) => return,
                        Err(mpsc::TryRecvError::Empty) if start.elapsed() < IDLE_SPIN => {
                            std::hint::spin_loop()
                        }
                        Err(mpsc::TryRecvError::Empty) => break None,
                    }
                };
                let job = match job {
                    Some(job) => job,
                    None => match rx.recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    },
                };
                job(&mut raw, &counter);
            }
        });
        RawThread { tx, in_flight }
    }

    async fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut Raw) -> T + Send + 'static) -> T {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(Box::new(move |raw, in_flight| {
                let out = f(raw);
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send(out);
            }))
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < ANSWER_SPIN {
            if let Ok(out) = rx.try_recv() {
                return out;
            }
            tokio::task::yield_now().await;
        }
        rx.await.unwrap()
    }
}

/// The raw twin of the mix, threaded as our store is: writes on the raw-thread writer, reads
/// inline on the calling task with the first free one of a few connections to its file (our
/// store's inline readers; all busy — not with two tasks on four — would wait here where ours
/// goes to a reader thread).
struct RawPool {
    writer: RawThread,
    readers: Arc<Vec<std::sync::Mutex<Connection>>>,
}

impl RawPool {
    fn get(&self, key: &str) -> Option<Bytes> {
        let conn = self
            .readers
            .iter()
            .find_map(|c| c.try_lock().ok())
            .unwrap_or_else(|| self.readers[0].lock().unwrap());
        Raw::get_on(&conn, key)
    }
}

struct Fixture {
    label: &'static str,
    pool: Arc<Vec<std::sync::Mutex<Connection>>>,
    ours: Arc<dyn KvStore>,
    raw: Raw,
    raw_thread: RawThread,
    /// Read connections to the raw-thread file, for the mix.
    raw_readers: Arc<Vec<std::sync::Mutex<Connection>>>,
    okv: Arc<openkeyv::store::sqlite::SqliteStore>,
    keys: Vec<String>,
    /// Keys never written.
    misses: Vec<String>,
    /// The keys of the `take` groups, written only by them.
    takes: Vec<String>,
    values: Vec<Bytes>,
    batches: Vec<Vec<String>>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new(rt: &Runtime, durability: Durability) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let Workload {
            keys,
            misses,
            takes,
            values,
            batches,
        } = Workload::new(KEYS, TAKE_CHUNK, VALUE_BYTES, BATCH);
        let label = match durability {
            Durability::Full => "FULL",
            _ => "NORMAL",
        };
        let ours: Arc<dyn KvStore> = Arc::new(
            SqliteStore::builder()
                .path(dir.path().join("ours.db"))
                .durability(durability)
                .build()
                .unwrap(),
        );
        let mut raw = Raw::open(&dir.path().join("raw.db"), durability);
        let mut raw_twin = Raw::open(&dir.path().join("raw-thread.db"), durability);
        let okv = rt.block_on(async {
            let conn = connection(&dir.path().join("openkeyv.db"), durability);
            let store = openkeyv::store::sqlite::SqliteStore::from_conn(conn, Some("kv"))
                .await
                .unwrap();
            Arc::new(store)
        });
        rt.block_on(async {
            for chunk in keys.chunks(BATCH) {
                let v = values[0].clone();
                let entries = chunk.iter().map(|k| (k.clone(), v.clone())).collect();
                ours.put_many(COLL, entries, Some(READ_TTL)).await.unwrap();
                raw.put_many(chunk, &v, READ_TTL);
                raw_twin.put_many(chunk, &v, READ_TTL);
                let okv_values = vec![Value::binary(v.clone()); chunk.len()];
                okv.put_many(chunk, &okv_values, Some(COLL), Some(READ_TTL.as_secs_f64()))
                    .await
                    .unwrap();
            }
        });
        let pool = Arc::new(
            (0..2)
                .map(|_| std::sync::Mutex::new(connection(&dir.path().join("raw.db"), durability)))
                .collect(),
        );
        let raw_readers = Arc::new(
            (0..mcp_kv_sqlite::DEFAULT_INLINE_READERS)
                .map(|_| {
                    let path = dir.path().join("raw-thread.db");
                    std::sync::Mutex::new(connection(&path, durability))
                })
                .collect(),
        );
        Fixture {
            label,
            pool,
            ours,
            raw,
            raw_thread: RawThread::start(raw_twin),
            raw_readers,
            okv,
            keys,
            misses,
            takes,
            values,
            batches,
            _dir: dir,
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The index in `values` of the `n`th write of a `put` group, which writes key `(7 n) % KEYS`:
/// never 0 (what the fixture preloads) and never the value of that key's previous write
/// (`n - KEYS`, one pass earlier). SQLite does not rewrite a row whose new bytes equal the old
/// ones (no dirty page, nothing to commit or fsync), so a `put` that rewrote the same bytes
/// would time a no-op.
fn fresh_value(n: usize) -> usize {
    1 + (n / KEYS) % 3
}

fn group<'a>(c: &'a mut Criterion, name: String, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements));
    g
}

fn get(c: &mut Criterion, rt: &Runtime, f: &mut Fixture) {
    let mut g = group(c, format!("sqlite get ({})", f.label), 1);
    let keys: &[String] = &f.keys;
    let mut i = 0;
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let key = &keys[i];
            async move { black_box(ours.get(COLL, key).await.unwrap()).unwrap() }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw", |b| {
        b.iter(|| {
            i = (i + 7) % KEYS;
            black_box(raw.get(&keys[i])).unwrap()
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let key = keys[i].clone();
            async move { black_box(raw_thread.call(move |r| r.get(&key)).await).unwrap() }
        })
    });
    let pool = &f.pool;
    g.bench_function("raw-spawn_blocking", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let (key, pool) = (keys[i].clone(), pool.clone());
            async move {
                let got = tokio::task::spawn_blocking(move || {
                    let conn = pool
                        .iter()
                        .find_map(|c| c.try_lock().ok())
                        .unwrap_or_else(|| pool[0].lock().unwrap());
                    Raw::get_on(&conn, &key)
                })
                .await
                .unwrap();
                black_box(got).unwrap()
            }
        })
    });
    let okv = &f.okv;
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let key = &keys[i];
            async move { black_box(okv.get(key, Some(COLL)).await.unwrap()).unwrap() }
        })
    });
    g.finish();
}

fn put(c: &mut Criterion, rt: &Runtime, f: &mut Fixture, ttl: Option<Duration>) {
    let name = if ttl.is_some() { "put-with-TTL" } else { "put" };
    let mut g = group(c, format!("sqlite {name} ({})", f.label), 1);
    if f.label == "FULL" {
        g.sample_size(20);
    }
    let keys: &[String] = &f.keys;
    let values: &[Bytes] = &f.values;
    // `n` counts writes; key `(7 n) % KEYS` gets a value that differs from the one it holds
    // (see `fresh_value`): SQLite skips rewriting a row whose bytes do not change.
    let mut n = 0;
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let i = (7 * n) % KEYS;
            let (key, value) = (&keys[i], values[fresh_value(n)].clone());
            async move { ours.put(COLL, key, value, ttl).await.unwrap() }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw", |b| {
        b.iter(|| {
            n += 1;
            let i = (7 * n) % KEYS;
            raw.put(&keys[i], &values[fresh_value(n)], ttl)
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let i = (7 * n) % KEYS;
            let (key, value) = (keys[i].clone(), values[fresh_value(n)].clone());
            async move { raw_thread.call(move |r| r.put(&key, &value, ttl)).await }
        })
    });
    let okv = &f.okv;
    let ttl_secs = ttl.map(|t| t.as_secs_f64());
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let i = (7 * n) % KEYS;
            let (key, value) = (&keys[i], Value::binary(values[fresh_value(n)].clone()));
            async move { okv.put(key, value, Some(COLL), ttl_secs).await.unwrap() }
        })
    });
    g.finish();
}

fn put_many(c: &mut Criterion, rt: &Runtime, f: &mut Fixture) {
    let mut g = group(
        c,
        format!("sqlite put_many(100) ({})", f.label),
        BATCH as u64,
    );
    let batches: &[Vec<String>] = &f.batches;
    let values: &[Bytes] = &f.values;
    let mut i = 0;
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = &batches[i % batches.len()];
            let value = &values[i % 4];
            let entries = batch.iter().map(|k| (k.clone(), value.clone())).collect();
            async move { ours.put_many(COLL, entries, Some(WRITE_TTL)).await.unwrap() }
        })
    });
    let raw = &mut f.raw;
    g.bench_function("raw", |b| {
        b.iter(|| {
            i += 1;
            raw.put_many(&batches[i % batches.len()], &values[i % 4], WRITE_TTL)
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = batches[i % batches.len()].clone();
            let value = values[i % 4].clone();
            async move {
                raw_thread
                    .call(move |r| r.put_many(&batch, &value, WRITE_TTL))
                    .await
            }
        })
    });
    let okv = &f.okv;
    let ttl = Some(WRITE_TTL.as_secs_f64());
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = &batches[i % batches.len()];
            let okv_values = vec![Value::binary(values[i % 4].clone()); batch.len()];
            async move {
                okv.put_many(batch, &okv_values, Some(COLL), ttl)
                    .await
                    .unwrap()
            }
        })
    });
    g.finish();
}

/// `get_many(100)` reads the batches `put_many` last wrote, with the 60 s `WRITE_TTL`: every side
/// checks that it read `BATCH` live values, since a side reading expired rows (no value handed
/// out) would time other, cheaper work unnoticed. A count over 100 results, next to 100 SQLite
/// reads; a run long enough for the rows to expire fails here instead of timing misses.
fn all_live<T>(got: Vec<Option<T>>) -> Vec<Option<T>> {
    let live = got.iter().filter(|v| v.is_some()).count();
    assert_eq!(
        live, BATCH,
        "get_many(100) read {live} live values, not {BATCH}"
    );
    got
}

fn get_many(c: &mut Criterion, rt: &Runtime, f: &mut Fixture) {
    let mut g = group(
        c,
        format!("sqlite get_many(100) ({})", f.label),
        BATCH as u64,
    );
    let batches: &[Vec<String>] = &f.batches;
    let refs: Vec<Vec<&str>> = batches
        .iter()
        .map(|b| b.iter().map(String::as_str).collect())
        .collect();
    let refs: &[Vec<&str>] = &refs;
    let mut i = 0;
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = &refs[i % refs.len()];
            async move { black_box(all_live(ours.get_many(COLL, batch).await.unwrap())) }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw", |b| {
        b.iter(|| {
            i += 1;
            black_box(all_live(raw.get_many(&batches[i % batches.len()])))
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = batches[i % batches.len()].clone();
            async move { black_box(all_live(raw_thread.call(move |r| r.get_many(&batch)).await)) }
        })
    });
    let okv = &f.okv;
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = &batches[i % batches.len()];
            async move { black_box(all_live(okv.get_many(batch, Some(COLL)).await.unwrap())) }
        })
    });
    g.finish();
}

fn get_miss(c: &mut Criterion, rt: &Runtime, f: &mut Fixture) {
    let mut g = group(c, format!("sqlite get-miss ({})", f.label), 1);
    let keys: &[String] = &f.misses;
    let mut i = 0;
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let key = &keys[i];
            async move { assert!(black_box(ours.get(COLL, key).await.unwrap()).is_none()) }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw", |b| {
        b.iter(|| {
            i = (i + 7) % KEYS;
            assert!(black_box(raw.get(&keys[i])).is_none())
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let key = keys[i].clone();
            async move { assert!(black_box(raw_thread.call(move |r| r.get(&key)).await).is_none()) }
        })
    });
    let okv = &f.okv;
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let key = &keys[i];
            async move { assert!(black_box(okv.get(key, Some(COLL)).await.unwrap()).is_none()) }
        })
    });
    g.finish();
}

fn take(c: &mut Criterion, rt: &Runtime, f: &mut Fixture) {
    let mut g = group(c, format!("sqlite take ({})", f.label), 1);
    if f.label == "FULL" {
        g.sample_size(20);
    }
    let keys: &[String] = &f.takes;
    let values: &[Bytes] = &f.values;
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            support_take::our_takes(ours.as_ref(), COLL, keys, values, WRITE_TTL, iters).await
        })
    });
    let raw = &mut f.raw;
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for (r, n) in take_rounds(iters, TAKE_CHUNK).enumerate() {
                let round = &keys[..n];
                raw.put_many(round, &values[r % 4], WRITE_TTL);
                let mut hits = 0;
                let start = Instant::now();
                for key in round {
                    hits += usize::from(black_box(raw.take(key)).is_some());
                }
                timed += start.elapsed();
                assert_eq!(hits, n, "every take hits");
            }
            timed
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for (r, n) in take_rounds(iters, TAKE_CHUNK).enumerate() {
                let (round, value) = (keys[..n].to_vec(), values[r % 4].clone());
                raw_thread
                    .call(move |raw| raw.put_many(&round, &value, WRITE_TTL))
                    .await;
                let mut hits = 0;
                let start = Instant::now();
                for key in &keys[..n] {
                    let key = key.clone();
                    let taken = raw_thread.call(move |raw| raw.take(&key)).await;
                    hits += usize::from(black_box(taken).is_some());
                }
                timed += start.elapsed();
                assert_eq!(hits, n, "every take hits");
            }
            timed
        })
    });
    // openkeyv: no get-and-delete (see the top of the file).
    g.finish();
}

/// A store and the fixture's keys and values, shared by the tasks of the mix.
struct Mixed<T> {
    store: T,
    keys: Vec<String>,
    values: Vec<Bytes>,
}

impl Mixed<()> {
    fn new<T>(store: T, f: &Fixture) -> Arc<Mixed<T>> {
        Arc::new(Mixed {
            store,
            keys: f.keys.clone(),
            values: f.values.clone(),
        })
    }
}

impl Side for Mixed<Arc<dyn KvStore>> {
    async fn read(&self, n: usize) {
        black_box(self.store.get(COLL, &self.keys[n % KEYS]).await.unwrap()).unwrap();
    }
    async fn write(&self, n: usize) {
        let value = self.values[n % 4].clone();
        let key = &self.keys[n % KEYS];
        self.store
            .put(COLL, key, value, Some(WRITE_TTL))
            .await
            .unwrap();
    }
}

impl Side for Mixed<RawPool> {
    async fn read(&self, n: usize) {
        black_box(self.store.get(&self.keys[n % KEYS])).unwrap();
    }
    async fn write(&self, n: usize) {
        let (key, value) = (self.keys[n % KEYS].clone(), self.values[n % 4].clone());
        self.store
            .writer
            .call(move |r| r.put(&key, &value, Some(WRITE_TTL)))
            .await
    }
}

impl Side for Mixed<Arc<openkeyv::store::sqlite::SqliteStore>> {
    async fn read(&self, n: usize) {
        let got = self.store.get(&self.keys[n % KEYS], Some(COLL)).await;
        black_box(got.unwrap()).unwrap();
    }
    async fn write(&self, n: usize) {
        let value = Value::binary(self.values[n % 4].clone());
        let ttl = Some(WRITE_TTL.as_secs_f64());
        self.store
            .put(&self.keys[n % KEYS], value, Some(COLL), ttl)
            .await
            .unwrap();
    }
}

fn mixed(c: &mut Criterion, rt: &Runtime, f: &mut Fixture) {
    let mut g = group(c, format!("sqlite mix 90/10 on 2 tasks ({})", f.label), 1);
    if f.label == "FULL" {
        g.sample_size(20);
    }
    let ours = Mixed::new(f.ours.clone(), f);
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, ours.clone()))
    });
    let pool = RawPool {
        writer: f.raw_thread.clone(),
        readers: f.raw_readers.clone(),
    };
    let raw = Mixed::new(pool, f);
    g.bench_function("raw", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, raw.clone()))
    });
    let okv = Mixed::new(f.okv.clone(), f);
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, okv.clone()))
    });
    g.finish();
}

/// Criterion measures a group's participants one after the other; on a shared machine a load
/// shift between them skews the ratio (and the first one always runs right after the previous
/// group's writes). This pass has `mcp-kv`, `raw-thread` and `raw` take turns round by round
/// on one fixture (`NORMAL`), for get and put_many(100) (see `support/interleave.rs`). Printed
/// before the criterion groups.
fn interleaved(rt: &Runtime) {
    const ROUNDS: usize = 30;
    const GETS: usize = 3_000;
    const BATCHES: usize = 4;
    let mut f = Fixture::new(rt, Durability::Normal);
    let (ours, raw_thread, keys) = (&f.ours, &f.raw_thread, &f.keys);
    let (mut j, mut k) = (0, 0);
    let raw = &f.raw;
    let mut sides: [Contender<'_>; 3] = [
        our_gets("mcp-kv", rt, ours.as_ref(), COLL, keys, 7, GETS),
        (
            "raw-thread",
            Box::new(|| {
                timed(rt, async {
                    for _ in 0..GETS {
                        j = (j + 7) % KEYS;
                        let key = keys[j].clone();
                        black_box(raw_thread.call(move |r| r.get(&key)).await.unwrap());
                    }
                })
            }),
        ),
        (
            "raw",
            Box::new(|| {
                let started = Instant::now();
                for _ in 0..GETS {
                    k = (k + 7) % KEYS;
                    black_box(raw.get(&keys[k]).unwrap());
                }
                started.elapsed()
            }),
        ),
    ];
    interleave("sqlite get (NORMAL)", GETS, ROUNDS, &mut sides);
    drop(sides);
    let (batches, values, raw) = (&f.batches, &f.values, &mut f.raw);
    let (mut i, mut j, mut k) = (0, 0, 0);
    let mut sides: [Contender<'_>; 3] = [
        (
            "mcp-kv",
            Box::new(|| {
                timed(rt, async {
                    for _ in 0..BATCHES {
                        i += 1;
                        let value = &values[i % 4];
                        let entries = batches[i % batches.len()]
                            .iter()
                            .map(|k| (k.clone(), value.clone()))
                            .collect();
                        ours.put_many(COLL, entries, Some(WRITE_TTL)).await.unwrap();
                    }
                })
            }),
        ),
        (
            "raw-thread",
            Box::new(|| {
                timed(rt, async {
                    for _ in 0..BATCHES {
                        j += 1;
                        let (batch, value) =
                            (batches[j % batches.len()].clone(), values[j % 4].clone());
                        raw_thread
                            .call(move |r| r.put_many(&batch, &value, WRITE_TTL))
                            .await;
                    }
                })
            }),
        ),
        (
            "raw",
            Box::new(|| {
                let started = Instant::now();
                for _ in 0..BATCHES {
                    k += 1;
                    raw.put_many(&batches[k % batches.len()], &values[k % 4], WRITE_TTL);
                }
                started.elapsed()
            }),
        ),
    ];
    interleave("sqlite put_many(100) (NORMAL)", BATCHES, ROUNDS, &mut sides);
    rt.block_on(f.ours.close()).unwrap();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    interleaved(&rt);
    for durability in [Durability::Normal, Durability::Full] {
        let mut f = Fixture::new(&rt, durability);
        get(c, &rt, &mut f);
        get_miss(c, &rt, &mut f);
        mixed(c, &rt, &mut f);
        put(c, &rt, &mut f, None);
        put(c, &rt, &mut f, Some(WRITE_TTL));
        put_many(c, &rt, &mut f);
        get_many(c, &rt, &mut f);
        take(c, &rt, &mut f);
        rt.block_on(f.ours.close()).unwrap();
    }
}

criterion_group!(sqlite, benches);
criterion_main!(sqlite);

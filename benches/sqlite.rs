//! The SQLite backend side by side with the raw driver and the Rust peer, same workload in one
//! group each, in both durability settings (`synchronous = NORMAL` and `FULL`, WAL mode):
//!
//! - `mcp-kv` — our `SqliteStore`, called through `Arc<dyn KvStore>` as users hold it (work
//!   runs on its writer / reader threads, off the async runtime);
//! - `raw` — rusqlite 0.32 prepared statements (`prepare_cached`) on one connection with the
//!   same pragmas and the same table, called synchronously on the benchmark thread (the
//!   floor: no async, no thread hop), batches in one transaction;
//! - `raw-thread` — the same raw statements on a dedicated thread reached through a channel
//!   and a oneshot reply: the least an async caller pays to keep SQLite off its runtime, so
//!   `mcp-kv / raw-thread` is our own overhead;
//! - `raw-spawn_blocking` (get only) — the raw statement on `tokio::task::spawn_blocking` with
//!   a pool of two connections: the other way to stay off the runtime, measured for the
//!   threading choice;
//! - `openkeyv` — openkeyv 0.4's SQLite store, given a connection with the same pragmas (it
//!   runs its statements inline on the async task, behind a `tokio::sync::Mutex`).
//!
//! 10k keys, 1 KiB values (four rotating values in writes, so SQLite cannot skip identical
//! rewrites), one collection; reads read entries written with a 1 h TTL and check expiry;
//! writes carry a 60 s TTL. Each participant has a file of its own in one temporary directory.
//!
//! Run: `cargo bench --bench sqlite -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mcp_kv_core::KvStore;
use mcp_kv_sqlite::{Durability, SqliteStore};
use openkeyv::protocol::AsyncKeyValue;
use openkeyv::Value;
use rusqlite::{Connection, TransactionBehavior};
use tokio::runtime::Runtime;

const KEYS: usize = 10_000;
const VALUE_BYTES: usize = 1024;
const COLL: &str = "bench";
const BATCH: usize = 100;
const READ_TTL: Duration = Duration::from_secs(3600);
const WRITE_TTL: Duration = Duration::from_secs(60);

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
        let mut rows = stmt.query((COLL, key)).unwrap();
        let row = rows.next().unwrap()?;
        let value = Bytes::copy_from_slice(row.get_ref(0).unwrap().as_blob().unwrap());
        let expires_at: Option<i64> = row.get(1).unwrap();
        match expires_at {
            Some(at) if at < now_ms() => None,
            _ => Some(value),
        }
    }

    fn get(&self, key: &str) -> Option<Bytes> {
        Self::get_on(&self.conn, key)
    }

    fn put(&self, key: &str, value: &[u8], ttl: Duration) {
        let at = now_ms() + ttl.as_millis() as i64;
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

    fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let tx = self.conn.unchecked_transaction().unwrap();
        let out = keys.iter().map(|k| Self::get_on(&tx, k)).collect();
        tx.commit().unwrap();
        out
    }
}

type Job = Box<dyn FnOnce(&mut Raw) + Send>;

/// The raw twin on a dedicated thread, reached through a channel and a oneshot.
struct RawThread {
    tx: mpsc::Sender<Job>,
}

impl RawThread {
    fn start(raw: Raw) -> RawThread {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            let mut raw = raw;
            while let Ok(job) = rx.recv() {
                job(&mut raw);
            }
        });
        RawThread { tx }
    }

    async fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut Raw) -> T + Send + 'static) -> T {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move |raw| {
                let _ = tx.send(f(raw));
            }))
            .unwrap();
        rx.await.unwrap()
    }
}

struct Fixture {
    label: &'static str,
    pool: Arc<Vec<std::sync::Mutex<Connection>>>,
    ours: Arc<dyn KvStore>,
    raw: Raw,
    raw_thread: RawThread,
    okv: openkeyv::store::sqlite::SqliteStore,
    keys: Vec<String>,
    values: Vec<Bytes>,
    batches: Vec<Vec<String>>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new(rt: &Runtime, durability: Durability) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i:05}")).collect();
        let values: Vec<Bytes> = (0..4u8)
            .map(|n| Bytes::from(vec![n; VALUE_BYTES]))
            .collect();
        let batches = (0..KEYS / BATCH)
            .map(|b| {
                (0..BATCH)
                    .map(|j| keys[(j * (KEYS / BATCH) + b) % KEYS].clone())
                    .collect()
            })
            .collect();
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
            openkeyv::store::sqlite::SqliteStore::from_conn(conn, Some("kv"))
                .await
                .unwrap()
        });
        rt.block_on(async {
            for (chunk_no, chunk) in keys.chunks(BATCH).enumerate() {
                let v = values[chunk_no % 4].clone();
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
        Fixture {
            label,
            pool,
            ours,
            raw,
            raw_thread: RawThread::start(raw_twin),
            okv,
            keys,
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

fn put(c: &mut Criterion, rt: &Runtime, f: &mut Fixture) {
    let mut g = group(c, format!("sqlite put ({})", f.label), 1);
    let keys: &[String] = &f.keys;
    let values: &[Bytes] = &f.values;
    let mut i = 0;
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let (key, value) = (&keys[i], values[i % 4].clone());
            async move { ours.put(COLL, key, value, Some(WRITE_TTL)).await.unwrap() }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw", |b| {
        b.iter(|| {
            i = (i + 7) % KEYS;
            raw.put(&keys[i], &values[i % 4], WRITE_TTL)
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let (key, value) = (keys[i].clone(), values[i % 4].clone());
            async move {
                raw_thread
                    .call(move |r| r.put(&key, &value, WRITE_TTL))
                    .await
            }
        })
    });
    let okv = &f.okv;
    let ttl = Some(WRITE_TTL.as_secs_f64());
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 7) % KEYS;
            let (key, value) = (&keys[i], Value::binary(values[i % 4].clone()));
            async move { okv.put(key, value, Some(COLL), ttl).await.unwrap() }
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
            async move { black_box(ours.get_many(COLL, batch).await.unwrap()) }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw", |b| {
        b.iter(|| {
            i += 1;
            black_box(raw.get_many(&batches[i % batches.len()]))
        })
    });
    let raw_thread = &f.raw_thread;
    g.bench_function("raw-thread", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = batches[i % batches.len()].clone();
            async move { black_box(raw_thread.call(move |r| r.get_many(&batch)).await) }
        })
    });
    let okv = &f.okv;
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let batch = &batches[i % batches.len()];
            async move { black_box(okv.get_many(batch, Some(COLL)).await.unwrap()) }
        })
    });
    g.finish();
}

/// On a shared machine, load shifts between criterion's sequential measurements skew a ratio
/// (and the first participant of a group always runs right after the previous group's writes).
/// This pass interleaves `mcp-kv`, `raw-thread` and `raw` round by round on one fixture
/// (`NORMAL`) and keeps each one's fastest round (the least disturbed) and its median, for get
/// and put_many(100). Printed before the criterion groups.
fn interleaved(rt: &Runtime) {
    const ROUNDS: usize = 25;
    const GETS: usize = 2_000;
    const BATCHES: usize = 8;
    let mut f = Fixture::new(rt, Durability::Normal);
    let names = ["mcp-kv", "raw-thread", "raw"];
    let report = |what: &str, per: usize, times: &mut [Vec<Duration>; 3]| {
        let us = |d: Duration| d.as_secs_f64() * 1e6 / per as f64;
        let (best, median): (Vec<f64>, Vec<f64>) = times
            .iter_mut()
            .map(|t| {
                t.sort();
                (us(t[0]), us(t[t.len() / 2]))
            })
            .unzip();
        for n in 0..3 {
            println!(
                "interleaved {what} {}: best {:.2} µs, median {:.2} µs; raw-thread/mcp-kv {:.2} (median {:.2}), raw/mcp-kv {:.2} (median {:.2})",
                names[n], best[n], median[n],
                best[1] / best[n], median[1] / median[n], best[2] / best[n], median[2] / median[n],
            );
        }
    };
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut i = 0;
    for _ in 0..ROUNDS {
        for (n, t) in times.iter_mut().enumerate() {
            let started = std::time::Instant::now();
            for _ in 0..GETS {
                i = (i + 7) % KEYS;
                let key = &f.keys[i];
                let got = match n {
                    0 => rt.block_on(f.ours.get(COLL, key)).unwrap(),
                    1 => {
                        let key = key.clone();
                        rt.block_on(f.raw_thread.call(move |r| r.get(&key)))
                    }
                    _ => f.raw.get(key),
                };
                black_box(got).unwrap();
            }
            t.push(started.elapsed());
        }
    }
    report("get", GETS, &mut times);
    let mut times: [Vec<Duration>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (n, t) in times.iter_mut().enumerate() {
            let started = std::time::Instant::now();
            for _ in 0..BATCHES {
                i += 1;
                let batch = &f.batches[i % f.batches.len()];
                let value = f.values[i % 4].clone();
                match n {
                    0 => {
                        let entries = batch.iter().map(|k| (k.clone(), value.clone())).collect();
                        rt.block_on(f.ours.put_many(COLL, entries, Some(WRITE_TTL)))
                            .unwrap()
                    }
                    1 => {
                        let batch = batch.clone();
                        rt.block_on(
                            f.raw_thread
                                .call(move |r| r.put_many(&batch, &value, WRITE_TTL)),
                        )
                    }
                    _ => f.raw.put_many(batch, &value, WRITE_TTL),
                }
            }
            t.push(started.elapsed());
        }
    }
    report("put_many(100)", BATCHES, &mut times);
    rt.block_on(f.ours.close()).unwrap();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    interleaved(&rt);
    for durability in [Durability::Normal, Durability::Full] {
        let mut f = Fixture::new(&rt, durability);
        get(c, &rt, &mut f);
        put(c, &rt, &mut f);
        put_many(c, &rt, &mut f);
        get_many(c, &rt, &mut f);
        rt.block_on(f.ours.close()).unwrap();
    }
}

criterion_group!(sqlite, benches);
criterion_main!(sqlite);

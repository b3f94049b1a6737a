//! The sled backend side by side with raw sled and the Rust peer, same workload in one group:
//!
//! - `mcp-kv` — our `SledStore`, called through `Arc<dyn KvStore>` as users hold it (names
//!   validated and length-prefixed, a 2–10 byte expiry header, expiry checked on read);
//! - `raw sled` — sled 0.34 itself: `get` / `insert` / `Batch` on plain keys and values;
//! - `openkeyv` — openkeyv 0.4's sled ("disk") store, which flushes after every put, so it
//!   only appears in the flushed groups.
//!
//! Each pair runs in the same durability setting: `(periodic)` groups rely on sled's background
//! flush (our `Durability::Periodic`, raw sled without `flush`); `(flush)` groups flush sled's log
//! after every write (our `Durability::Flush`, raw sled + a blocking `flush` inline, openkeyv as it is).
//! 10k keys, 1 KiB values; every write stores bytes other than the key's current ones (sled
//! skips an insert of an equal value: see `fresh_value`); reads hit entries written with a 1 h
//! TTL. Every database lives in its own temporary directory on disk.
//!
//! Groups: `sled get`, `sled get-miss` (keys never written), `sled get_many(100)`, and per
//! durability `sled put`, `sled put-with-TTL`, `sled put_many(100)`, `sled take`,
//! `sled mix 90/10 on 2 tasks`. What the raw twin does in them:
//!
//! - reads are plain `Tree::get`s (the preloaded raw values carry no header, so raw reads decode
//!   nothing: the floor);
//! - `put-with-TTL` and the writes of the mix (30 min TTL) store the same bytes as our store: the
//!   10-byte header (format version, tag, `expires_at` as u64 big-endian epoch ms) then the value;
//! - `take` is `Tree::remove` then the same expiry check on the removed bytes' header (ours:
//!   a `get` and a `compare_and_swap` to nothing, linearizable against concurrent writers).
//!   Every iteration takes a present key: rounds of 1 000 keys are put untimed (one sled
//!   `Batch` on each side, flushed once in `(flush)`), then their takes are timed; each side
//!   asserts that every take hit;
//! - the mix runs two Tokio tasks, each 90 % gets of present keys / 10 % puts with the TTL, and
//!   calls sled directly on the tasks, as our store does (see the last group).
//!
//! openkeyv flushes after every put, so it is only in the `(flush)` write groups; it has no
//! get-and-delete (only `compare_and_delete` after a `get_with_revision`), so it is left out of
//! `take`.
//!
//! The `sled get: direct vs spawn_blocking` group is the measurement behind calling sled
//! directly in the async methods.
//!
//! Before the groups, `interleaved …` lines: the writes in both settings (on fresh database
//! pairs) and the reads with the sides taking turns round by round (`support/interleave.rs`),
//! the reads also against raw sled on our store's own database (see `interleaved_reads`).
//!
//! Run: `cargo bench --bench sled --features sled -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mcp_kv_core::encoding::encode_pair;
use mcp_kv_core::KvStore;
use mcp_kv_sled::encoding::encode_value;
use mcp_kv_sled::{Durability, SledStore};
use openkeyv::protocol::AsyncKeyValue;
use openkeyv::Value;
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
const WRITE_TTL: Duration = Duration::from_secs(1800); // outlives the run: reads stay hits
/// Keys put (untimed) then taken (timed) per round of a `take` group.
const TAKE_CHUNK: usize = 1_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What a raw sled user storing an expiry writes: the bytes our store writes (format version
/// 1, tag 1, `expires_at` as u64 big-endian epoch ms, then the value).
fn with_header(value: &[u8], ttl: Duration) -> Vec<u8> {
    let at = now_ms() + ttl.as_millis() as u64;
    let mut out = Vec::with_capacity(10 + value.len());
    out.extend_from_slice(&[1, 1]);
    out.extend_from_slice(&at.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The raw side's expiry check: the value of header-prefixed bytes if it has not expired.
fn live_value(stored: &[u8], now: u64) -> Option<&[u8]> {
    match stored {
        [1, 1, rest @ ..] => {
            let (at, value) = rest.split_first_chunk::<8>()?;
            (now <= u64::from_be_bytes(*at)).then_some(value)
        }
        [1, 0, value @ ..] => Some(value),
        _ => None,
    }
}

struct Fixture {
    _dirs: Vec<tempfile::TempDir>,
    ours: Arc<dyn KvStore>,
    ours_flush: Arc<dyn KvStore>,
    ours_db: sled::Db,
    raw: sled::Db,
    okv: Arc<openkeyv::store::disk::DiskStore>,
    keys: Vec<String>,
    /// Keys never written.
    misses: Vec<String>,
    /// The keys of the `take` groups, written only by them.
    takes: Vec<String>,
    values: Vec<Bytes>,
    batches: Vec<Vec<String>>,
}

impl Fixture {
    fn new(rt: &Runtime) -> Self {
        let Workload {
            keys,
            misses,
            takes,
            values,
            batches,
        } = Workload::new(KEYS, TAKE_CHUNK, VALUE_BYTES, BATCH);
        // The raw twin's header is our store's, byte for byte.
        let probe = with_header(b"v", WRITE_TTL);
        let at = u64::from_be_bytes(probe[2..10].try_into().unwrap());
        assert_eq!(probe, encode_value(b"v", Some(at)));
        let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        // Our store over a sled handle the benchmark keeps too, to read our layout raw.
        let ours_db = sled::open(dirs[0].path().join("db")).unwrap();
        let ours: Arc<dyn KvStore> =
            Arc::new(SledStore::builder().build_with_db(ours_db.clone()).unwrap());
        let ours_flush: Arc<dyn KvStore> = Arc::new(
            SledStore::builder()
                .path(dirs[1].path().join("db"))
                .durability(Durability::Flush)
                .open()
                .unwrap(),
        );
        let raw = sled::open(dirs[2].path().join("db")).unwrap();
        let okv =
            Arc::new(openkeyv::store::disk::DiskStore::new(dirs[3].path().join("db")).unwrap());
        rt.block_on(async {
            for chunk in keys.chunks(BATCH) {
                let entries: Vec<(String, Bytes)> = chunk
                    .iter()
                    .map(|k| (k.clone(), values[0].clone()))
                    .collect();
                ours.put_many(COLL, entries.clone(), Some(READ_TTL))
                    .await
                    .unwrap();
                ours_flush
                    .put_many(COLL, entries.clone(), Some(READ_TTL))
                    .await
                    .unwrap();
                let mut batch = sled::Batch::default();
                for (k, v) in &entries {
                    batch.insert(k.as_bytes(), &v[..]);
                }
                raw.apply_batch(batch).unwrap();
                let (ks, vs): (Vec<String>, Vec<Value>) = entries
                    .into_iter()
                    .map(|(k, v)| (k, Value::binary(v)))
                    .unzip();
                okv.put_many(&ks, &vs, Some(COLL), Some(READ_TTL.as_secs_f64()))
                    .await
                    .unwrap();
            }
            raw.flush().unwrap();
        });
        Fixture {
            _dirs: dirs,
            ours,
            ours_flush,
            ours_db,
            raw,
            okv,
            keys,
            misses,
            takes,
            values,
            batches,
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

/// The index in `values` of the `n`th write of a `put` group, which writes key `n % KEYS`:
/// never 0 (what the fixture preloads) and never the value of that key's previous write
/// (`n - KEYS`, one pass earlier). sled skips an insert whose value equals the stored one — no
/// log write, nothing to flush — so a `put` that rewrote the same bytes would time a no-op.
fn fresh_value(n: usize) -> usize {
    1 + (n / KEYS) % 3
}

fn group<'a>(c: &'a mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements));
    g
}

fn get(c: &mut Criterion, rt: &Runtime, f: &Fixture, miss: bool) {
    let (keys, name): (&[String], _) = if miss {
        (&f.misses, "sled get-miss")
    } else {
        (&f.keys, "sled get")
    };
    let mut g = group(c, name, 1);
    let ours = &f.ours;
    let mut i = 0;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let key = &keys[i];
            async move { black_box(ours.get(COLL, key).await.unwrap()) }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let key = &keys[i];
            async move { black_box(raw.get(key.as_bytes()).unwrap()) }
        })
    });
    let okv = &f.okv;
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let key = &keys[i];
            async move { black_box(okv.get(key, Some(COLL)).await.unwrap()) }
        })
    });
    g.finish();
}

fn blocking(c: &mut Criterion, rt: &Runtime, f: &Fixture) {
    let keys: Arc<Vec<String>> = Arc::new(f.keys.clone());
    let mut g = group(c, "sled get: direct vs spawn_blocking", 1);
    let mut i = 0;
    let raw = f.raw.clone();
    g.bench_function("direct", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (raw, key) = (&raw, &keys[i]);
            async move { black_box(raw.get(key.as_bytes()).unwrap()) }
        })
    });
    g.bench_function("spawn_blocking", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (raw, keys) = (raw.clone(), keys.clone());
            async move {
                let v = tokio::task::spawn_blocking(move || raw.get(keys[i].as_bytes()).unwrap())
                    .await
                    .unwrap();
                black_box(v)
            }
        })
    });
    g.finish();
}

fn put(c: &mut Criterion, rt: &Runtime, f: &Fixture, flush: bool, ttl: Option<Duration>) {
    let keys: &[String] = &f.keys;
    let values: &[Bytes] = &f.values;
    let name = format!(
        "sled {} ({})",
        if ttl.is_some() { "put-with-TTL" } else { "put" },
        if flush { "flush" } else { "periodic" }
    );
    let mut g = group(c, &name, 1);
    if flush {
        g.sample_size(20);
    }
    let ours = if flush { &f.ours_flush } else { &f.ours };
    // `n` counts writes; key `n % KEYS` gets a value that differs from the one it holds (see
    // `fresh_value`): sled skips writing a value equal to the stored one.
    let mut n = 0;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let (key, value) = (&keys[n % KEYS], values[fresh_value(n)].clone());
            async move { ours.put(COLL, key, value, ttl).await.unwrap() }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let (key, value) = (&keys[n % KEYS], &values[fresh_value(n)]);
            async move {
                match ttl {
                    Some(ttl) => raw.insert(key.as_bytes(), with_header(value, ttl)),
                    None => raw.insert(key.as_bytes(), &value[..]),
                }
                .unwrap();
                if flush {
                    raw.flush().unwrap();
                }
            }
        })
    });
    if flush {
        let okv = &f.okv;
        let ttl_secs = ttl.map(|t| t.as_secs_f64());
        g.bench_function("openkeyv", |b| {
            b.to_async(rt).iter(|| {
                n += 1;
                let (key, value) = (
                    &keys[n % KEYS],
                    Value::binary(values[fresh_value(n)].clone()),
                );
                async move { okv.put(key, value, Some(COLL), ttl_secs).await.unwrap() }
            })
        });
    }
    g.finish();
}

fn put_many(c: &mut Criterion, rt: &Runtime, f: &Fixture, flush: bool) {
    let batches: &[Vec<String>] = &f.batches;
    let values: &[Bytes] = &f.values;
    let name = if flush {
        "sled put_many(100) (flush)"
    } else {
        "sled put_many(100) (periodic)"
    };
    let mut g = group(c, name, BATCH as u64);
    if flush {
        g.sample_size(20);
    }
    let ours = if flush { &f.ours_flush } else { &f.ours };
    let mut i = 0;
    // Batch `i % 100` gets value `1 + (i / 100) % 3`: never the preloaded value 0 nor the
    // value of that batch's previous write (sled would skip equal values); the batch is built in
    // the measured closure on every side.
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (batch, value) = (
                &batches[i % batches.len()],
                &values[1 + (i / batches.len()) % 3],
            );
            let entries: Vec<(String, Bytes)> =
                batch.iter().map(|k| (k.clone(), value.clone())).collect();
            async move { ours.put_many(COLL, entries, None).await.unwrap() }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (batch, value) = (
                &batches[i % batches.len()],
                &values[1 + (i / batches.len()) % 3],
            );
            async move {
                let mut b = sled::Batch::default();
                for k in batch {
                    b.insert(k.as_bytes(), &value[..]);
                }
                raw.apply_batch(b).unwrap();
                if flush {
                    raw.flush().unwrap();
                }
            }
        })
    });
    if flush {
        let okv = &f.okv;
        g.bench_function("openkeyv", |b| {
            b.to_async(rt).iter(|| {
                i += 1;
                let (batch, value) = (
                    &batches[i % batches.len()],
                    &values[1 + (i / batches.len()) % 3],
                );
                let vals: Vec<Value> = batch.iter().map(|_| Value::binary(value.clone())).collect();
                async move { okv.put_many(batch, &vals, Some(COLL), None).await.unwrap() }
            })
        });
    }
    g.finish();
}

fn get_many(c: &mut Criterion, rt: &Runtime, f: &Fixture) {
    let batches: &[Vec<String>] = &f.batches;
    let refs: Vec<Vec<&str>> = batches
        .iter()
        .map(|b| b.iter().map(String::as_str).collect())
        .collect();
    let refs: &[Vec<&str>] = &refs;
    let mut g = group(c, "sled get_many(100)", BATCH as u64);
    let ours = &f.ours;
    let mut i = 0;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % refs.len();
            let batch = &refs[i];
            async move { black_box(ours.get_many(COLL, batch).await.unwrap()) }
        })
    });
    // sled has no multi-get: a loop, as its users write it.
    let raw = &f.raw;
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % refs.len();
            let batch = &refs[i];
            async move {
                let out: Vec<_> = batch
                    .iter()
                    .map(|k| raw.get(k.as_bytes()).unwrap())
                    .collect();
                black_box(out)
            }
        })
    });
    // Raw sled reading our layout (length-prefixed names, header-prefixed values): what the
    // layout itself costs, apart from the store's code.
    let ours_db = &f.ours_db;
    let encoded: Vec<Vec<Vec<u8>>> = batches
        .iter()
        .map(|b| b.iter().map(|k| encode_pair(COLL, k)).collect())
        .collect();
    let encoded = &encoded;
    g.bench_function("raw sled, our layout", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % encoded.len();
            let batch = &encoded[i];
            async move {
                let out: Vec<_> = batch.iter().map(|k| ours_db.get(k).unwrap()).collect();
                black_box(out)
            }
        })
    });
    let okv = &f.okv;
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % batches.len();
            let batch = &batches[i];
            async move { black_box(okv.get_many(batch, Some(COLL)).await.unwrap()) }
        })
    });
    g.finish();
}

fn take(c: &mut Criterion, rt: &Runtime, f: &Fixture, flush: bool) {
    let keys: &[String] = &f.takes;
    let values: &[Bytes] = &f.values;
    let name = if flush {
        "sled take (flush)"
    } else {
        "sled take (periodic)"
    };
    let mut g = group(c, name, 1);
    if flush {
        g.sample_size(20);
    }
    let ours = if flush { &f.ours_flush } else { &f.ours };
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            support_take::our_takes(ours.as_ref(), COLL, keys, values, WRITE_TTL, iters).await
        })
    });
    let raw = &f.raw;
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for n in take_rounds(iters, TAKE_CHUNK) {
                let round = &keys[..n];
                let mut batch = sled::Batch::default();
                for (j, k) in round.iter().enumerate() {
                    batch.insert(k.as_bytes(), with_header(&values[j % 4], WRITE_TTL));
                }
                raw.apply_batch(batch).unwrap();
                if flush {
                    raw.flush().unwrap();
                }
                let mut hits = 0;
                let start = Instant::now();
                for key in round {
                    let removed = raw.remove(key.as_bytes()).unwrap();
                    let now = now_ms();
                    let taken = removed.as_deref().and_then(|s| live_value(s, now));
                    hits += usize::from(black_box(taken).is_some());
                    if flush {
                        raw.flush().unwrap();
                    }
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
        black_box(self.store.get(COLL, &self.keys[n % KEYS]).await.unwrap());
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

/// Raw sled in the mix: `(db, flush after every write)`.
impl Side for Mixed<(sled::Db, bool)> {
    async fn read(&self, n: usize) {
        black_box(self.store.0.get(self.keys[n % KEYS].as_bytes()).unwrap());
    }
    async fn write(&self, n: usize) {
        let (db, flush) = &self.store;
        let stored = with_header(&self.values[n % 4], WRITE_TTL);
        db.insert(self.keys[n % KEYS].as_bytes(), stored).unwrap();
        if *flush {
            db.flush().unwrap();
        }
    }
}

impl Side for Mixed<Arc<openkeyv::store::disk::DiskStore>> {
    async fn read(&self, n: usize) {
        black_box(
            self.store
                .get(&self.keys[n % KEYS], Some(COLL))
                .await
                .unwrap(),
        );
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

fn mixed(c: &mut Criterion, rt: &Runtime, f: &Fixture, flush: bool) {
    let name = if flush {
        "sled mix 90/10 on 2 tasks (flush)"
    } else {
        "sled mix 90/10 on 2 tasks (periodic)"
    };
    let mut g = group(c, name, 1);
    if flush {
        g.sample_size(20);
    }
    let ours = Mixed::new(if flush { &f.ours_flush } else { &f.ours }.clone(), f);
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, ours.clone()))
    });
    let raw = Mixed::new((f.raw.clone(), flush), f);
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, raw.clone()))
    });
    if flush {
        let okv = Mixed::new(f.okv.clone(), f);
        g.bench_function("openkeyv", |b| {
            b.to_async(rt).iter_custom(|iters| mix(iters, okv.clone()))
        });
    }
    g.finish();
}

/// The target reads with the sides taking turns round by round (see `support/interleave.rs`),
/// on the criterion groups' fixture, keys and raw twins: get, get-miss, get_many(100).
///
/// The reads have a third side, `raw sled, our layout`: raw `Tree::get`s on our store's own
/// database (length-prefixed names) that also decode the value header and check the expiry
/// against the system clock — everything our `get` does except being our code (no `Bytes`, no
/// boxed future, no name checks). The plain `raw sled` side reads another database, written
/// without headers; how two trees holding the same keys were laid out by sled moved a point
/// read by ~20 % in our runs, which this side shows apart from our code.
fn interleaved_reads(rt: &Runtime, f: &Fixture) {
    // Many short rounds: the fastest of them are the ones no background work (sled's flusher,
    // the host) landed on.
    const ROUNDS: usize = 200;
    const GETS: usize = 1_000;
    const BATCHES: usize = 10;
    let (ours, raw, ours_db) = (&f.ours, &f.raw, &f.ours_db);
    // Our layout, decoded and checked as our store does.
    let read_ours_raw = |name: &[u8], now: u64| {
        let stored = ours_db.get(name).unwrap();
        black_box(stored.and_then(|v| live_value(&v, now).map(<[u8]>::len)));
    };
    for (label, keys) in [("sled get", &f.keys), ("sled get-miss", &f.misses)] {
        let encoded: Vec<Vec<u8>> = keys.iter().map(|k| encode_pair(COLL, k)).collect();
        let (mut j, mut k) = (0, 0);
        let mut sides: [Contender<'_>; 3] = [
            our_gets("mcp-kv", rt, ours.as_ref(), COLL, keys, 1, GETS),
            (
                "raw sled, our layout",
                Box::new(|| {
                    timed(rt, async {
                        for _ in 0..GETS {
                            j = (j + 1) % KEYS;
                            read_ours_raw(&encoded[j], now_ms());
                        }
                    })
                }),
            ),
            (
                "raw sled",
                Box::new(|| {
                    timed(rt, async {
                        for _ in 0..GETS {
                            k = (k + 1) % KEYS;
                            black_box(raw.get(keys[k].as_bytes()).unwrap());
                        }
                    })
                }),
            ),
        ];
        interleave(label, GETS, ROUNDS, &mut sides);
    }
    let refs: Vec<Vec<&str>> = f
        .batches
        .iter()
        .map(|b| b.iter().map(String::as_str).collect())
        .collect();
    let encoded: Vec<Vec<Vec<u8>>> = f
        .batches
        .iter()
        .map(|b| b.iter().map(|k| encode_pair(COLL, k)).collect())
        .collect();
    let (mut i, mut j, mut k) = (0, 0, 0);
    let mut sides: [Contender<'_>; 3] = [
        (
            "mcp-kv",
            Box::new(|| {
                timed(rt, async {
                    for _ in 0..BATCHES {
                        i = (i + 1) % refs.len();
                        black_box(ours.get_many(COLL, &refs[i]).await.unwrap());
                    }
                })
            }),
        ),
        (
            "raw sled, our layout",
            Box::new(|| {
                timed(rt, async {
                    for _ in 0..BATCHES {
                        j = (j + 1) % encoded.len();
                        let now = now_ms();
                        encoded[j].iter().for_each(|name| read_ours_raw(name, now));
                    }
                })
            }),
        ),
        (
            "raw sled",
            Box::new(|| {
                timed(rt, async {
                    for _ in 0..BATCHES {
                        k = (k + 1) % refs.len();
                        let out: Vec<_> = refs[k]
                            .iter()
                            .map(|key| raw.get(key.as_bytes()).unwrap())
                            .collect();
                        black_box(out);
                    }
                })
            }),
        ),
    ];
    interleave("sled get_many(100)", BATCHES, ROUNDS, &mut sides);
}

/// A fresh pair for the interleaved writes: our store (`Durability::Flush` when `flush`, else
/// periodic) and raw sled, each on its own new database holding `keys` with `value` (written
/// only by the pass that takes the pair, so its fresh values are fresh, and the criterion
/// groups' databases stay as they were).
fn write_pair(
    rt: &Runtime,
    keys: &[String],
    value: &Bytes,
    flush: bool,
) -> (Arc<dyn KvStore>, sled::Db, [tempfile::TempDir; 2]) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let durability = if flush {
        Durability::Flush
    } else {
        Durability::Periodic
    };
    let ours: Arc<dyn KvStore> = Arc::new(
        SledStore::builder()
            .path(dirs[0].path().join("db"))
            .durability(durability)
            .open()
            .unwrap(),
    );
    let raw = sled::open(dirs[1].path().join("db")).unwrap();
    for chunk in keys.chunks(BATCH) {
        let entries: Vec<(String, Bytes)> =
            chunk.iter().map(|k| (k.clone(), value.clone())).collect();
        rt.block_on(ours.put_many(COLL, entries, None)).unwrap();
        let mut batch = sled::Batch::default();
        chunk
            .iter()
            .for_each(|k| batch.insert(k.as_bytes(), &value[..]));
        raw.apply_batch(batch).unwrap();
    }
    raw.flush().unwrap();
    (ours, raw, dirs)
}

/// The writes, interleaved as in [`interleaved_reads`]: put, put-with-TTL and put_many(100),
/// each on a fresh [`write_pair`], in the periodic setting, then flushed per write (raw sled
/// calls its blocking `flush` inline after each write, ours awaits its flusher thread, as in
/// the criterion `(flush)` groups; fewer operations per round there, a flush being ~100×
/// slower than a periodic write). Runs before the fixture opens its four
/// databases: with six sled databases open in one process and this write load, sled 0.34 hung
/// once here (every `sled-io` thread blocked in `IoBufs::write_to_log`, the writer waiting in
/// `SegmentAccountant::next`; its threadpool is shared by every database of the process).
fn interleaved_writes(rt: &Runtime) {
    let Workload {
        keys,
        values,
        batches,
        ..
    } = Workload::new(KEYS, TAKE_CHUNK, VALUE_BYTES, BATCH);
    let (keys, values, batches) = (&keys, &values, &batches);
    for flush in [false, true] {
        let setting = if flush { "flush" } else { "periodic" };
        // Rounds of ~10 ms in either setting.
        let (rounds, puts, put_batches) = if flush { (60, 20, 3) } else { (200, 250, 10) };
        for ttl in [None, Some(WRITE_TTL)] {
            let what = if ttl.is_some() { "put-with-TTL" } else { "put" };
            let (ours, raw, _dirs) = write_pair(rt, keys, &values[0], flush);
            // Each side counts its own writes: key `n % KEYS` gets `fresh_value(n)`, never the
            // bytes it holds.
            let (mut i, mut j) = (0, 0);
            let mut sides: [Contender<'_>; 2] = [
                (
                    "mcp-kv",
                    Box::new(|| {
                        timed(rt, async {
                            for _ in 0..puts {
                                i += 1;
                                let value = values[fresh_value(i)].clone();
                                ours.put(COLL, &keys[i % KEYS], value, ttl).await.unwrap();
                            }
                        })
                    }),
                ),
                (
                    "raw sled",
                    Box::new(|| {
                        timed(rt, async {
                            for _ in 0..puts {
                                j += 1;
                                let (key, value) =
                                    (keys[j % KEYS].as_bytes(), &values[fresh_value(j)]);
                                match ttl {
                                    Some(ttl) => raw.insert(key, with_header(value, ttl)),
                                    None => raw.insert(key, &value[..]),
                                }
                                .unwrap();
                                if flush {
                                    raw.flush().unwrap();
                                }
                            }
                        })
                    }),
                ),
            ];
            interleave(
                &format!("sled {what} ({setting})"),
                puts,
                rounds,
                &mut sides,
            );
        }
        let (ours, raw, _dirs) = write_pair(rt, keys, &values[0], flush);
        // Batch `n % 100` gets value `1 + (n / 100) % 3`, as in the criterion group.
        let (mut i, mut j) = (0, 0);
        let mut sides: [Contender<'_>; 2] = [
            (
                "mcp-kv",
                Box::new(|| {
                    timed(rt, async {
                        for _ in 0..put_batches {
                            i += 1;
                            let value = &values[1 + (i / batches.len()) % 3];
                            let entries = batches[i % batches.len()]
                                .iter()
                                .map(|k| (k.clone(), value.clone()))
                                .collect();
                            ours.put_many(COLL, entries, None).await.unwrap();
                        }
                    })
                }),
            ),
            (
                "raw sled",
                Box::new(|| {
                    timed(rt, async {
                        for _ in 0..put_batches {
                            j += 1;
                            let value = &values[1 + (j / batches.len()) % 3];
                            let mut b = sled::Batch::default();
                            for k in &batches[j % batches.len()] {
                                b.insert(k.as_bytes(), &value[..]);
                            }
                            raw.apply_batch(b).unwrap();
                            if flush {
                                raw.flush().unwrap();
                            }
                        }
                    })
                }),
            ),
        ];
        let label = format!("sled put_many(100) ({setting})");
        interleave(&label, put_batches, rounds, &mut sides);
    }
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    interleaved_writes(&rt);
    let f = Fixture::new(&rt);
    interleaved_reads(&rt, &f);
    get(c, &rt, &f, false);
    get(c, &rt, &f, true);
    get_many(c, &rt, &f);
    for flush in [false, true] {
        put(c, &rt, &f, flush, None);
        put(c, &rt, &f, flush, Some(WRITE_TTL));
        put_many(c, &rt, &f, flush);
        take(c, &rt, &f, flush);
        mixed(c, &rt, &f, flush);
    }
    blocking(c, &rt, &f);
}

criterion_group!(sled_benches, benches);
criterion_main!(sled_benches);

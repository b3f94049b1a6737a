//! The memory backend side by side with its peers, same workload in one group each:
//!
//! - `mcp-kv` — our `MemoryStore`, called through `Arc<dyn KvStore>` as users hold it;
//! - `moka` — `moka::future::Cache` 0.12 with a per-entry expiry policy (`Expiry`), so TTLs
//!   are paid for on both sides;
//! - `openkeyv` — openkeyv 0.4's memory store (the Rust port of py-key-value).
//!
//! 10k keys, 1 KiB values (one buffer per key when preloaded, four rotating values in writes),
//! one collection. Read groups read entries written with a 1 h TTL, so expiry is checked on
//! every side. Groups run in order on one fixture, so later groups read what earlier write
//! groups wrote.
//!
//! Groups: `get-hit`, `get-miss` (keys never written), `put`, `put-with-TTL`, `get_many(100)`,
//! `put_many(100)` (with a TTL), `take`, `mix 90/10 on 2 tasks`. Where a peer lacks the
//! operation:
//!
//! - moka has no batch read or write: `get_many(100)` and `put_many(100)` loop over its `get` /
//!   `insert`, as its users write them;
//! - `take` is our atomic get-and-delete. moka's counterpart is `remove` (which returns the
//!   removed value); openkeyv has no get-and-delete (only `compare_and_delete` after a
//!   `get_with_revision`, two calls), so it is left out of `take`. Every `take` iteration takes
//!   a present key: rounds of 1 000 keys are put untimed (ours in one `put_many`, moka one
//!   `insert` per key, both with the write TTL), then their takes are timed; each side asserts
//!   that every take hit.
//!
//! Run: `cargo bench --bench memory -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mcp_kv_core::KvStore;
use mcp_kv_memory::MemoryStore;
use moka::future::Cache;
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

const KEYS: usize = 10_000;
const VALUE_BYTES: usize = 1024;
const COLL: &str = "bench";
const BATCH: usize = 100;
const READ_TTL: Duration = Duration::from_secs(3600);
const WRITE_TTL: Duration = Duration::from_secs(1800); // outlives the run: reads stay hits
/// Keys put (untimed) then taken (timed) per round of the `take` group.
const TAKE_CHUNK: usize = 1_000;

/// A moka value with its own TTL.
#[derive(Clone)]
struct Val {
    bytes: Bytes,
    ttl: Option<Duration>,
}

/// moka's per-entry expiry: the TTL stored with the value, reset on every write.
struct PerEntry;

impl moka::Expiry<String, Val> for PerEntry {
    fn expire_after_create(&self, _: &String, v: &Val, _: Instant) -> Option<Duration> {
        v.ttl
    }
    fn expire_after_update(
        &self,
        _: &String,
        v: &Val,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        v.ttl
    }
}

struct Fixture {
    ours: Arc<dyn KvStore>,
    moka: Cache<String, Val>,
    okv: openkeyv::store::memory::MemoryStore,
    keys: Vec<String>,
    misses: Vec<String>,
    /// The keys of the `take` group, written only by it.
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
        let fixture = rt.block_on(async {
            let fixture = Fixture {
                // Built inside the runtime, as a server would: the sweeper runs.
                ours: Arc::new(MemoryStore::new()),
                moka: Cache::builder().expire_after(PerEntry).build(),
                okv: openkeyv::store::memory::MemoryStore::new(),
                keys,
                misses,
                takes,
                values,
                batches,
            };
            for (i, key) in fixture.keys.iter().enumerate() {
                // One buffer per key (shared by the three stores), as real data would be.
                let v = Bytes::from(vec![(i % 251) as u8; VALUE_BYTES]);
                fixture
                    .ours
                    .put(COLL, key, v.clone(), Some(READ_TTL))
                    .await
                    .unwrap();
                fixture
                    .moka
                    .insert(
                        key.clone(),
                        Val {
                            bytes: v.clone(),
                            ttl: Some(READ_TTL),
                        },
                    )
                    .await;
                fixture
                    .okv
                    .put(
                        key,
                        Value::binary(v),
                        Some(COLL),
                        Some(READ_TTL.as_secs_f64()),
                    )
                    .await
                    .unwrap();
            }
            fixture
        });
        fixture
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn group<'a>(c: &'a mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements));
    g
}

fn reads(c: &mut Criterion, rt: &Runtime, f: &Fixture, name: &str, miss: bool) {
    let keys: &[String] = if miss { &f.misses } else { &f.keys };
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
    let moka = &f.moka;
    g.bench_function("moka", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let key = keys[i].as_str();
            async move { black_box(moka.get(key).await.map(|v| v.bytes)) }
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

fn writes(c: &mut Criterion, rt: &Runtime, f: &Fixture, name: &str, ttl: Option<Duration>) {
    let keys: &[String] = &f.keys;
    let values: &[Bytes] = &f.values;
    let mut g = group(c, name, 1);
    let ours = &f.ours;
    let mut i = 0;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (key, value) = (&keys[i], values[(i / 7) % 4].clone());
            async move { ours.put(COLL, key, value, ttl).await.unwrap() }
        })
    });
    let moka = &f.moka;
    g.bench_function("moka", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (key, bytes) = (keys[i].clone(), values[(i / 7) % 4].clone());
            async move { moka.insert(key, Val { bytes, ttl }).await }
        })
    });
    let okv = &f.okv;
    let ttl_secs = ttl.map(|t| t.as_secs_f64());
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (key, value) = (&keys[i], Value::binary(values[(i / 7) % 4].clone()));
            async move { okv.put(key, value, Some(COLL), ttl_secs).await.unwrap() }
        })
    });
    g.finish();
}

fn get_many(c: &mut Criterion, rt: &Runtime, f: &Fixture) {
    let batches: &[Vec<String>] = &f.batches;
    let refs: Vec<Vec<&str>> = batches
        .iter()
        .map(|b| b.iter().map(String::as_str).collect())
        .collect();
    let refs: &[Vec<&str>] = &refs;
    let mut g = group(c, "get_many(100)", BATCH as u64);
    let ours = &f.ours;
    let mut i = 0;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % refs.len();
            let batch = &refs[i];
            async move { black_box(ours.get_many(COLL, batch).await.unwrap()) }
        })
    });
    // moka has no batch read: a loop, as its users write it.
    let moka = &f.moka;
    g.bench_function("moka", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % refs.len();
            let batch = &refs[i];
            async move {
                let mut out = Vec::with_capacity(batch.len());
                for key in batch {
                    out.push(moka.get(*key).await.map(|v| v.bytes));
                }
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

fn put_many(c: &mut Criterion, rt: &Runtime, f: &Fixture) {
    let batches: &[Vec<String>] = &f.batches;
    let values: &[Bytes] = &f.values;
    let mut g = group(c, "put_many(100)", BATCH as u64);
    let ours = &f.ours;
    let mut i = 0;
    // Each round writes one of the four values (rotating) with the write TTL, the batch built
    // in the measured closure on every side.
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (batch, value) = (&batches[i % batches.len()], &values[(i / 3) % 4]);
            let entries: Vec<(String, Bytes)> =
                batch.iter().map(|k| (k.clone(), value.clone())).collect();
            async move { ours.put_many(COLL, entries, Some(WRITE_TTL)).await.unwrap() }
        })
    });
    // moka has no batch write: a loop, as its users write it.
    let moka = &f.moka;
    g.bench_function("moka", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (batch, value) = (&batches[i % batches.len()], &values[(i / 3) % 4]);
            async move {
                for key in batch {
                    let val = Val {
                        bytes: value.clone(),
                        ttl: Some(WRITE_TTL),
                    };
                    moka.insert(key.clone(), val).await;
                }
            }
        })
    });
    let okv = &f.okv;
    let ttl_secs = Some(WRITE_TTL.as_secs_f64());
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (batch, value) = (&batches[i % batches.len()], &values[(i / 3) % 4]);
            let vals: Vec<Value> = batch.iter().map(|_| Value::binary(value.clone())).collect();
            async move {
                okv.put_many(batch, &vals, Some(COLL), ttl_secs)
                    .await
                    .unwrap()
            }
        })
    });
    g.finish();
}

fn take(c: &mut Criterion, rt: &Runtime, f: &Fixture) {
    let keys: &[String] = &f.takes;
    let values: &[Bytes] = &f.values;
    let mut g = group(c, "take", 1);
    let ours = &f.ours;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            support_take::our_takes(ours.as_ref(), COLL, keys, values, WRITE_TTL, iters).await
        })
    });
    let moka = &f.moka;
    g.bench_function("moka", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for n in take_rounds(iters, TAKE_CHUNK) {
                let round = &keys[..n];
                for (j, key) in round.iter().enumerate() {
                    let val = Val {
                        bytes: values[j % 4].clone(),
                        ttl: Some(WRITE_TTL),
                    };
                    moka.insert(key.clone(), val).await;
                }
                let mut hits = 0;
                let start = Instant::now();
                for key in round {
                    let taken = moka.remove(key.as_str()).await.map(|v| v.bytes);
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

impl Side for Mixed<Cache<String, Val>> {
    async fn read(&self, n: usize) {
        black_box(
            self.store
                .get(self.keys[n % KEYS].as_str())
                .await
                .map(|v| v.bytes),
        );
    }
    async fn write(&self, n: usize) {
        let val = Val {
            bytes: self.values[n % 4].clone(),
            ttl: Some(WRITE_TTL),
        };
        self.store.insert(self.keys[n % KEYS].clone(), val).await;
    }
}

impl Side for Mixed<openkeyv::store::memory::MemoryStore> {
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

fn mixed(c: &mut Criterion, rt: &Runtime, f: &Fixture) {
    let mut g = group(c, "mix 90/10 on 2 tasks", 1);
    let ours = Mixed::new(f.ours.clone(), f);
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, ours.clone()))
    });
    let moka = Mixed::new(f.moka.clone(), f);
    g.bench_function("moka", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, moka.clone()))
    });
    let okv = Mixed::new(f.okv.clone(), f);
    g.bench_function("openkeyv", |b| {
        b.to_async(rt).iter_custom(|iters| mix(iters, okv.clone()))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let f = Fixture::new(&rt);
    reads(c, &rt, &f, "get-hit", false);
    reads(c, &rt, &f, "get-miss", true);
    writes(c, &rt, &f, "put", None);
    writes(c, &rt, &f, "put-with-TTL", Some(WRITE_TTL));
    get_many(c, &rt, &f);
    put_many(c, &rt, &f);
    take(c, &rt, &f);
    mixed(c, &rt, &f);
}

criterion_group!(memory, benches);
criterion_main!(memory);

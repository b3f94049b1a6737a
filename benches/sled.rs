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
//! 10k keys, 1 KiB values, four rotating values in writes; reads hit entries written with a 1 h
//! TTL. Every database lives in its own temporary directory on disk.
//!
//! The `sled get: direct vs spawn_blocking` group is the measurement behind calling sled
//! directly in the async methods.
//!
//! Run: `cargo bench --bench sled --features sled -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mcp_kv_core::encoding::encode_pair;
use mcp_kv_core::KvStore;
use mcp_kv_sled::{Durability, SledStore};
use openkeyv::protocol::AsyncKeyValue;
use openkeyv::Value;
use tokio::runtime::Runtime;

const KEYS: usize = 10_000;
const VALUE_BYTES: usize = 1024;
const COLL: &str = "bench";
const BATCH: usize = 100;
const READ_TTL: Duration = Duration::from_secs(3600);

struct Fixture {
    _dirs: Vec<tempfile::TempDir>,
    ours: Arc<dyn KvStore>,
    ours_flush: Arc<dyn KvStore>,
    ours_db: sled::Db,
    raw: sled::Db,
    okv: openkeyv::store::disk::DiskStore,
    keys: Vec<String>,
    values: Vec<Bytes>,
    batches: Vec<Vec<String>>,
}

impl Fixture {
    fn new(rt: &Runtime) -> Self {
        let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i:05}")).collect();
        let values: Vec<Bytes> = (0..4u8)
            .map(|n| Bytes::from(vec![n; VALUE_BYTES]))
            .collect();
        // Batches of 100 keys spread over the key space.
        let batches = (0..KEYS / BATCH)
            .map(|b| {
                (0..BATCH)
                    .map(|j| keys[(j * (KEYS / BATCH) + b) % KEYS].clone())
                    .collect()
            })
            .collect();
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
        let okv = openkeyv::store::disk::DiskStore::new(dirs[3].path().join("db")).unwrap();
        rt.block_on(async {
            for chunk in keys.chunks(BATCH) {
                let entries: Vec<(String, Bytes)> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.clone(), values[i % 4].clone()))
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

fn group<'a>(c: &'a mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements));
    g
}

fn get(c: &mut Criterion, rt: &Runtime, f: &Fixture) {
    let keys: &[String] = &f.keys;
    let mut g = group(c, "sled get", 1);
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

fn put(c: &mut Criterion, rt: &Runtime, f: &Fixture, flush: bool) {
    let keys: &[String] = &f.keys;
    let values: &[Bytes] = &f.values;
    let name = if flush {
        "sled put (flush)"
    } else {
        "sled put (periodic)"
    };
    let mut g = group(c, name, 1);
    if flush {
        g.sample_size(20);
    }
    let ours = if flush { &f.ours_flush } else { &f.ours };
    let mut i = 0;
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (key, value) = (&keys[i], values[(i / 7) % 4].clone());
            async move { ours.put(COLL, key, value, None).await.unwrap() }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (key, value) = (&keys[i], &values[(i / 7) % 4]);
            async move {
                raw.insert(key.as_bytes(), &value[..]).unwrap();
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
                i = (i + 1) % KEYS;
                let (key, value) = (&keys[i], Value::binary(values[(i / 7) % 4].clone()));
                async move { okv.put(key, value, Some(COLL), None).await.unwrap() }
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
    // Each round writes a different one of the four values (rotating), the batch built in the
    // measured closure on every side.
    g.bench_function("mcp-kv", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (batch, value) = (&batches[i % batches.len()], &values[(i / 3) % 4]);
            let entries: Vec<(String, Bytes)> =
                batch.iter().map(|k| (k.clone(), value.clone())).collect();
            async move { ours.put_many(COLL, entries, None).await.unwrap() }
        })
    });
    let raw = &f.raw;
    g.bench_function("raw sled", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (batch, value) = (&batches[i % batches.len()], &values[(i / 3) % 4]);
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
                let (batch, value) = (&batches[i % batches.len()], &values[(i / 3) % 4]);
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

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let f = Fixture::new(&rt);
    get(c, &rt, &f);
    get_many(c, &rt, &f);
    put(c, &rt, &f, false);
    put_many(c, &rt, &f, false);
    put(c, &rt, &f, true);
    put_many(c, &rt, &f, true);
    blocking(c, &rt, &f);
}

criterion_group!(sled_benches, benches);
criterion_main!(sled_benches);

//! The Redis backend side by side with the raw `redis` crate doing the same commands on the
//! same kind of connection, and with openkeyv 0.4's Redis store, against one real server
//! (`MCP_KV_REDIS_URL`, started by `scripts/redis.sh start`).
//!
//! - `mcp-kv` — our `RedisStore` through `Arc<dyn KvStore>`: name checks, key encoding,
//!   per-call deadline and error mapping included;
//! - `raw-redis` — a `redis::aio::ConnectionManager` (redis 1.x) with the same timeouts, sending
//!   the bare commands our store sends, on pre-built keys: `GET`, `MGET` of 100, `SET`,
//!   `SET … PX`, one pipeline of 100 `SET … PX`, `GETDEL` (or the store's Lua get-and-delete
//!   script on a server older than 6.2, as the store does);
//! - `openkeyv` — openkeyv 0.4's `RedisStore` (its own redis 0.29 `ConnectionManager`): values
//!   in its envelope, `put` through a Lua script that also appends to a change stream,
//!   `put_many` a loop of `put`s.
//!
//! Groups (throughput per operation or per key): `redis/get` (hit), `redis/get_miss` (keys never
//! written), `redis/get_many_100`, `redis/put` (no TTL), `redis/put_ttl`,
//! `redis/put_many_100_ttl`, `redis/take` (get-and-delete of a present key; the keys of each
//! chunk of 200 takes are written untimed before the chunk, and every take is asserted to hit),
//! `redis/mix_90_10_2_tasks` (two Tokio tasks at once on the one client, each 90 % `get` / 10 %
//! `put` with the TTL on random present keys). openkeyv 0.4 has no get-and-delete (its
//! `compare_and_delete` needs a versioned read first: two round trips, another operation), so
//! `redis/take` compares `mcp-kv` with `raw-redis` only.
//!
//! 1 000 keys, 128-byte values (four rotating values in writes), one collection, TTL 300 s. A
//! single-threaded Tokio runtime drives every client (the two tasks of the mix included: they
//! interleave on it, with two requests in flight on the one connection).
//!
//! For repeatable figures pin the client and the server to one core (round trips swing
//! between ~18 and ~60 µs across cores on these VMs):
//!
//! ```sh
//! scripts/redis.sh start && source .services/env
//! taskset -cp 0 "$(cat .services/redis/standalone.pid)"
//! taskset -c 0 cargo bench --bench redis --features redis -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mcp_kv_core::KvStore;
use mcp_kv_redis::{RedisConfig, RedisStore};
use openkeyv::AsyncKeyValue;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::runtime::Runtime;

#[path = "support/mix.rs"]
mod support_mix;
use support_mix::{mix, Side};
#[path = "support/interleave.rs"]
mod support_interleave;
use support_interleave::{interleave, timed, Contender};

const KEYS: usize = 1000;
const VALUE_BYTES: usize = 128;
const COLL: &str = "bench";
const BATCH: usize = 100;
const TTL: Duration = Duration::from_secs(300);
const PREFIX: &str = "mcp-kv-bench:";
/// Keys written (untimed) before each chunk of timed takes.
const TAKE_CHUNK: usize = 200;

struct Fixture {
    ours: Arc<dyn KvStore>,
    raw: ConnectionManager,
    okv: openkeyv::store::redis::RedisStore,
    keys: Vec<String>,
    /// The keys as our store encodes them, for the raw client.
    raw_keys: Vec<Vec<u8>>,
    /// Keys never written (get miss), plain and encoded.
    miss_keys: Vec<String>,
    raw_miss_keys: Vec<Vec<u8>>,
    /// The keys of one chunk of takes, plain and encoded.
    take_keys: Vec<String>,
    raw_take_keys: Vec<Vec<u8>>,
    /// The raw take: `GETDEL`, or (server older than 6.2, where the store falls back to it) the
    /// store's get-and-delete Lua script.
    raw_take_script: Option<redis::Script>,
    values: Vec<Bytes>,
}

fn key(i: usize) -> String {
    format!("key-{i:05}")
}

async fn fixture(url: &str) -> Fixture {
    let config = RedisConfig::builder()
        .url(url)
        .prefix(PREFIX)
        .build()
        .expect("config");
    let store = RedisStore::connect(config.clone()).await.expect("connect");
    // The raw twin: same connection kind, same timeouts as the store's defaults.
    let raw = redis::Client::open(url)
        .expect("url")
        .get_connection_manager_with_config(
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.connect_timeout()))
                .set_response_timeout(Some(config.timeout()))
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(20))
                .set_max_delay(Duration::from_millis(200)),
        )
        .await
        .expect("raw connect");
    let okv = openkeyv::store::redis::RedisStore::new(url)
        .await
        .expect("openkeyv connect");
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let encode = |keys: &[String]| -> Vec<Vec<u8>> {
        keys.iter()
            .map(|k| mcp_kv_redis::encoding::CollectionKeys::new(PREFIX, COLL).key(k))
            .collect()
    };
    let raw_keys = encode(&keys);
    let miss_keys: Vec<String> = (0..KEYS).map(|i| format!("never-written-{i:05}")).collect();
    let raw_miss_keys = encode(&miss_keys);
    let take_keys: Vec<String> = (0..TAKE_CHUNK).map(|i| format!("take-{i:05}")).collect();
    let raw_take_keys = encode(&take_keys);
    // The store sends GETDEL and switches to its script when the server does not know it.
    let probe: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GETDEL")
        .arg(&raw_miss_keys[0])
        .query_async(&mut raw.clone())
        .await;
    let raw_take_script = match probe {
        Ok(_) => None,
        Err(e) if e.to_string().contains("unknown command") => Some(redis::Script::new(
            "local v = redis.call('GET', KEYS[1])\n\
             if v then redis.call('DEL', KEYS[1]) end\n\
             return v",
        )),
        Err(e) => panic!("GETDEL probe: {e}"),
    };
    let values: Vec<Bytes> = (0..4u8)
        .map(|n| Bytes::from(vec![b'a' + n; VALUE_BYTES]))
        .collect();
    let ours: Arc<dyn KvStore> = Arc::new(store);
    ours.clear(COLL).await.expect("clear");
    for chunk in keys.chunks(BATCH) {
        let entries = chunk
            .iter()
            .map(|k| (k.clone(), values[0].clone()))
            .collect();
        ours.put_many(COLL, entries, Some(TTL)).await.expect("load");
    }
    for k in &keys {
        okv.put(
            k,
            openkeyv::Value::binary(values[0].clone()),
            Some(COLL),
            Some(TTL.as_secs_f64()),
        )
        .await
        .expect("openkeyv load");
    }
    Fixture {
        ours,
        raw,
        okv,
        keys,
        raw_keys,
        miss_keys,
        raw_miss_keys,
        take_keys,
        raw_take_keys,
        raw_take_script,
        values,
    }
}

fn bench(c: &mut Criterion) {
    let Ok(url) = std::env::var("MCP_KV_REDIS_URL") else {
        eprintln!("SKIPPED redis bench: MCP_KV_REDIS_URL not set (scripts/redis.sh start && source .services/env)");
        return;
    };
    let rt = Runtime::new_current_thread();
    let f = &rt.block_on(fixture(&url));
    let ttl_ms = TTL.as_millis() as u64;
    interleaved(&rt, f);

    let mut g = c.benchmark_group("redis/get");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k) = (f.ours.clone(), &f.keys[i]);
            async move { black_box(s.get(COLL, k).await.unwrap()) }
        })
    });
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (mut con, k) = (f.raw.clone(), &f.raw_keys[i]);
            async move {
                let v: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(k)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                black_box(v.map(Bytes::from))
            }
        })
    });
    g.bench_function("openkeyv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k) = (&f.okv, &f.keys[i]);
            async move { black_box(s.get(k, Some(COLL)).await.unwrap()) }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis/get_miss");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k) = (f.ours.clone(), &f.miss_keys[i]);
            async move { assert!(black_box(s.get(COLL, k).await.unwrap()).is_none()) }
        })
    });
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (mut con, k) = (f.raw.clone(), &f.raw_miss_keys[i]);
            async move {
                let v: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(k)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                assert!(black_box(v.map(Bytes::from)).is_none())
            }
        })
    });
    g.bench_function("openkeyv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k) = (&f.okv, &f.miss_keys[i]);
            async move { assert!(black_box(s.get(k, Some(COLL)).await.unwrap()).is_none()) }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis/get_many_100");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut w = 0usize;
    let window = |w: usize| (w * BATCH) % KEYS..(w * BATCH) % KEYS + BATCH;
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            w += 1;
            let s = f.ours.clone();
            let keys: Vec<&str> = f.keys[window(w)].iter().map(String::as_str).collect();
            async move { black_box(s.get_many(COLL, &keys).await.unwrap()) }
        })
    });
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter(|| {
            w += 1;
            let mut con = f.raw.clone();
            let keys = &f.raw_keys[window(w)];
            async move {
                let v: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                    .arg(keys)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                black_box(
                    v.into_iter()
                        .map(|v| v.map(Bytes::from))
                        .collect::<Vec<_>>(),
                )
            }
        })
    });
    g.bench_function("openkeyv", |b| {
        b.to_async(&rt).iter(|| {
            w += 1;
            let s = &f.okv;
            let keys = f.keys[window(w)].to_vec();
            async move { black_box(s.get_many(&keys, Some(COLL)).await.unwrap()) }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis/put");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k, v) = (f.ours.clone(), &f.keys[i], f.values[i % 4].clone());
            async move { s.put(COLL, k, v, None).await.unwrap() }
        })
    });
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (mut con, k, v) = (f.raw.clone(), &f.raw_keys[i], &f.values[i % 4]);
            async move {
                let _: () = redis::cmd("SET")
                    .arg(k)
                    .arg(&v[..])
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
        })
    });
    g.bench_function("openkeyv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k) = (&f.okv, &f.keys[i]);
            let v = openkeyv::Value::binary(f.values[i % 4].clone());
            async move { s.put(k, v, Some(COLL), None).await.unwrap() }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis/put_ttl");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k, v) = (f.ours.clone(), &f.keys[i], f.values[i % 4].clone());
            async move { s.put(COLL, k, v, Some(TTL)).await.unwrap() }
        })
    });
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (mut con, k, v) = (f.raw.clone(), &f.raw_keys[i], &f.values[i % 4]);
            async move {
                let _: () = redis::cmd("SET")
                    .arg(k)
                    .arg(&v[..])
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
        })
    });
    g.bench_function("openkeyv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let (s, k) = (&f.okv, &f.keys[i]);
            let v = openkeyv::Value::binary(f.values[i % 4].clone());
            async move {
                s.put(k, v, Some(COLL), Some(TTL.as_secs_f64()))
                    .await
                    .unwrap()
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis/put_many_100_ttl");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            w += 1;
            let s = f.ours.clone();
            let entries: Vec<(String, Bytes)> = f.keys[window(w)]
                .iter()
                .enumerate()
                .map(|(j, k)| (k.clone(), f.values[(w + j) % 4].clone()))
                .collect();
            async move { s.put_many(COLL, entries, Some(TTL)).await.unwrap() }
        })
    });
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter(|| {
            w += 1;
            let mut con = f.raw.clone();
            let mut pipe = redis::pipe();
            for (j, k) in f.raw_keys[window(w)].iter().enumerate() {
                pipe.cmd("SET")
                    .arg(k)
                    .arg(&f.values[(w + j) % 4][..])
                    .arg("PX")
                    .arg(ttl_ms)
                    .ignore();
            }
            async move { pipe.exec_async(&mut con).await.unwrap() }
        })
    });
    g.sample_size(10);
    g.bench_function("openkeyv", |b| {
        b.to_async(&rt).iter(|| {
            w += 1;
            let s = &f.okv;
            let keys = f.keys[window(w)].to_vec();
            let values: Vec<openkeyv::Value> = (0..BATCH)
                .map(|j| openkeyv::Value::binary(f.values[(w + j) % 4].clone()))
                .collect();
            async move {
                s.put_many(&keys, &values, Some(COLL), Some(TTL.as_secs_f64()))
                    .await
                    .unwrap()
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis/take");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(TAKE_CHUNK);
                load_take_chunk(f, n).await;
                let t = Instant::now();
                for k in &f.take_keys[..n] {
                    assert!(black_box(f.ours.take(COLL, k).await.unwrap()).is_some());
                }
                timed += t.elapsed();
                left -= n;
            }
            timed
        })
    });
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            let mut left = iters as usize;
            let mut con = f.raw.clone();
            while left > 0 {
                let n = left.min(TAKE_CHUNK);
                load_take_chunk(f, n).await;
                let t = Instant::now();
                for k in &f.raw_take_keys[..n] {
                    let v: Option<Vec<u8>> = match &f.raw_take_script {
                        None => redis::cmd("GETDEL")
                            .arg(k)
                            .query_async(&mut con)
                            .await
                            .unwrap(),
                        Some(script) => script.key(k).invoke_async(&mut con).await.unwrap(),
                    };
                    assert!(black_box(v.map(Bytes::from)).is_some());
                }
                timed += t.elapsed();
                left -= n;
            }
            timed
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis/mix_90_10_2_tasks");
    g.throughput(Throughput::Elements(1));
    let ours = Mixed::new(f.ours.clone(), f.keys.clone(), f);
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| mix(iters, ours.clone()))
    });
    let raw = Mixed::new(f.raw.clone(), f.raw_keys.clone(), f);
    g.bench_function("raw-redis", |b| {
        b.to_async(&rt).iter_custom(|iters| mix(iters, raw.clone()))
    });
    let okv = Mixed::new(f.okv.clone(), f.keys.clone(), f);
    g.bench_function("openkeyv", |b| {
        b.to_async(&rt).iter_custom(|iters| mix(iters, okv.clone()))
    });
    g.finish();

    rt.block_on(async {
        let _ = f.ours.clear(COLL).await;
        for k in &f.keys {
            let _ = f.okv.delete(k, Some(COLL)).await;
        }
    });
}

/// Writes (untimed) the first `n` take keys, with the TTL, so the next `n` takes all hit.
async fn load_take_chunk(f: &Fixture, n: usize) {
    let entries = f.take_keys[..n]
        .iter()
        .enumerate()
        .map(|(j, k)| (k.clone(), f.values[j % 4].clone()))
        .collect();
    f.ours
        .put_many(COLL, entries, Some(TTL))
        .await
        .expect("load the take keys");
}

/// A client and the keys (in the form it takes) and values, shared by the tasks of the mix.
struct Mixed<T, K> {
    client: T,
    keys: Vec<K>,
    values: Vec<Bytes>,
}

impl Mixed<(), ()> {
    fn new<T, K>(client: T, keys: Vec<K>, f: &Fixture) -> Arc<Mixed<T, K>> {
        Arc::new(Mixed {
            client,
            keys,
            values: f.values.clone(),
        })
    }
}

impl Side for Mixed<Arc<dyn KvStore>, String> {
    async fn read(&self, n: usize) {
        let k = &self.keys[n % KEYS];
        assert!(black_box(self.client.get(COLL, k).await.unwrap()).is_some());
    }
    async fn write(&self, n: usize) {
        let (k, v) = (&self.keys[n % KEYS], self.values[n % 4].clone());
        self.client.put(COLL, k, v, Some(TTL)).await.unwrap();
    }
}

impl Side for Mixed<ConnectionManager, Vec<u8>> {
    async fn read(&self, n: usize) {
        let mut con = self.client.clone();
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&self.keys[n % KEYS])
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(black_box(v.map(Bytes::from)).is_some());
    }
    async fn write(&self, n: usize) {
        let mut con = self.client.clone();
        let _: () = redis::cmd("SET")
            .arg(&self.keys[n % KEYS])
            .arg(&self.values[n % 4][..])
            .arg("PX")
            .arg(TTL.as_millis() as u64)
            .query_async(&mut con)
            .await
            .unwrap();
    }
}

impl Side for Mixed<openkeyv::store::redis::RedisStore, String> {
    async fn read(&self, n: usize) {
        let k = &self.keys[n % KEYS];
        assert!(black_box(self.client.get(k, Some(COLL)).await.unwrap()).is_some());
    }
    async fn write(&self, n: usize) {
        let v = openkeyv::Value::binary(self.values[n % 4].clone());
        self.client
            .put(&self.keys[n % KEYS], v, Some(COLL), Some(TTL.as_secs_f64()))
            .await
            .unwrap();
    }
}

/// Ours and raw redis taking turns round by round (`support/interleave.rs`), so load drifting
/// on a shared machine hits both alike, on get, get_many(100), put with TTL and put_many(100)
/// with TTL; both sides walk the same keys.
fn interleaved(rt: &Runtime, f: &Fixture) {
    const ROUNDS: usize = 40;
    const OPS: usize = 50;
    for name in ["get", "get_many_100", "put_ttl", "put_many_100_ttl"] {
        let mut sides: Vec<Contender<'_>> = ["mcp-kv", "raw-redis"]
            .into_iter()
            .enumerate()
            .map(|(side, label)| {
                let mut round = 0;
                let run = move || {
                    let first = round * OPS;
                    round += 1;
                    timed(rt, async move {
                        for w in first..first + OPS {
                            one_op(f, name, side, w).await;
                        }
                    })
                };
                (label, Box::new(run) as Box<dyn FnMut() -> Duration + '_>)
            })
            .collect();
        interleave(&format!("redis/{name}"), OPS, ROUNDS, &mut sides);
    }
}

/// Operation `w` of workload `name` on side 0 (ours) or 1 (raw redis).
async fn one_op(f: &Fixture, name: &str, side: usize, w: usize) {
    let ttl_ms = TTL.as_millis() as u64;
    let window = |w: usize| (w * BATCH) % KEYS..(w * BATCH) % KEYS + BATCH;
    let i = w % KEYS;
    let mut con = f.raw.clone();
    match (name, side) {
        ("get", 0) => drop(black_box(f.ours.get(COLL, &f.keys[i]).await.unwrap())),
        ("get", _) => {
            let v: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&f.raw_keys[i])
                .query_async(&mut con)
                .await
                .unwrap();
            drop(black_box(v.map(Bytes::from)));
        }
        ("get_many_100", 0) => {
            let keys: Vec<&str> = f.keys[window(w)].iter().map(String::as_str).collect();
            drop(black_box(f.ours.get_many(COLL, &keys).await.unwrap()));
        }
        ("get_many_100", _) => {
            let v: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(&f.raw_keys[window(w)])
                .query_async(&mut con)
                .await
                .unwrap();
            drop(black_box(
                v.into_iter()
                    .map(|v| v.map(Bytes::from))
                    .collect::<Vec<_>>(),
            ));
        }
        ("put_ttl", 0) => f
            .ours
            .put(COLL, &f.keys[i], f.values[i % 4].clone(), Some(TTL))
            .await
            .unwrap(),
        ("put_ttl", _) => {
            let _: () = redis::cmd("SET")
                .arg(&f.raw_keys[i])
                .arg(&f.values[i % 4][..])
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut con)
                .await
                .unwrap();
        }
        (_, 0) => {
            let entries: Vec<(String, Bytes)> = f.keys[window(w)]
                .iter()
                .enumerate()
                .map(|(j, k)| (k.clone(), f.values[(w + j) % 4].clone()))
                .collect();
            f.ours.put_many(COLL, entries, Some(TTL)).await.unwrap();
        }
        (_, _) => {
            let mut pipe = redis::pipe();
            for (j, k) in f.raw_keys[window(w)].iter().enumerate() {
                pipe.cmd("SET")
                    .arg(k)
                    .arg(&f.values[(w + j) % 4][..])
                    .arg("PX")
                    .arg(ttl_ms)
                    .ignore();
            }
            pipe.exec_async(&mut con).await.unwrap();
        }
    }
}

/// A single-threaded runtime (client and connection tasks on one core when pinned).
trait CurrentThread {
    fn new_current_thread() -> Runtime;
}

impl CurrentThread for Runtime {
    fn new_current_thread() -> Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The response cache's two paths on the memory backend.
//!
//! - `cache_hit`: a hit for a ~1 KiB `tools/call` result (canonicalize + hash + memory get +
//!   decode), beside its parts (`params_hash`, a raw memory `get`, a JSON decode).
//! - `cache_miss_200us`: a handler that busy-waits 200 µs called directly, and through the
//!   cache with a miss every time (unique params), so the overhead is read from one run.
//!
//! `cargo bench -p mcp-kv-cache --bench cache -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mcp_kv_cache::{params_hash, CacheConfig, Method, Partition, ResponseCache};
use mcp_kv_core::{DynStore, KvStore};
use mcp_kv_memory::MemoryStore;
use serde_json::{json, Value};

fn result_1kib() -> Value {
    // A typical tool result: one text block; ~1 KiB of JSON in total.
    json!({"content": [{"type": "text", "text": "x".repeat(980)}], "isError": false})
}

fn params(i: u64) -> Value {
    json!({"name": "search", "arguments": {"query": "weather in oslo", "limit": 10, "page": i, "filters": {"lang": "en", "safe": true}}})
}

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cache(rt: &tokio::runtime::Runtime) -> ResponseCache {
    let _guard = rt.enter();
    let store: DynStore = Arc::new(
        MemoryStore::builder()
            .max_entries_per_collection(4096)
            .build(),
    );
    ResponseCache::builder(store)
        .config(CacheConfig::builder().include_tool("search").build())
        .build()
}

fn hit(c: &mut Criterion) {
    let rt = runtime();
    let cache = cache(&rt);
    let p = params(0);
    let partition = Partition::principal("alice", b"");
    let result = result_1kib();
    assert!(serde_json::to_vec(&result).unwrap().len() >= 1000);
    rt.block_on(async {
        cache
            .get_or_compute(Method::ToolsCall, &p, &partition, || async {
                Ok::<_, ()>(result.clone())
            })
            .await
            .unwrap();
    });
    let collection = cache.collection(Method::ToolsCall, &partition);
    let key = params_hash(&p);
    let bytes = rt
        .block_on(cache.store().get(&collection, &key))
        .unwrap()
        .unwrap();

    let mut g = c.benchmark_group("cache_hit");
    g.bench_function("get_or_compute_hit_1kib", |b| {
        b.to_async(&rt).iter(|| async {
            let v = cache
                .get_or_compute(Method::ToolsCall, black_box(&p), &partition, || async {
                    Err::<Value, ()>(())
                })
                .await
                .unwrap();
            black_box(v)
        })
    });
    g.bench_function("part_params_hash", |b| {
        b.iter(|| params_hash(black_box(&p)))
    });
    g.bench_function("part_memory_get", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cache.store().get(&collection, &key).await.unwrap()) })
    });
    g.bench_function("part_decode_1kib", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&bytes)).unwrap()))
    });
    g.finish();
    assert!(cache.stats().method(Method::ToolsCall).hits > 0);
}

fn miss(c: &mut Criterion) {
    let rt = runtime();
    let cache = cache(&rt);
    let partition = Partition::principal("alice", b"");
    let result = result_1kib();
    let next = AtomicU64::new(1);
    let work = Duration::from_micros(200);

    let mut g = c.benchmark_group("cache_miss_200us");
    g.bench_function("handler_direct", |b| {
        b.to_async(&rt).iter(|| async {
            let p = params(next.fetch_add(1, Ordering::Relaxed));
            black_box(&p);
            let v = async {
                spin(work);
                Ok::<_, ()>(result.clone())
            }
            .await
            .unwrap();
            black_box(v)
        })
    });
    g.bench_function("through_cache_miss", |b| {
        b.to_async(&rt).iter(|| async {
            let p = params(next.fetch_add(1, Ordering::Relaxed));
            let v = cache
                .get_or_compute(Method::ToolsCall, &p, &partition, || async {
                    spin(work);
                    Ok::<_, ()>(result.clone())
                })
                .await
                .unwrap();
            black_box(v)
        })
    });
    // The cache's own cost on a miss, without the handler's 200 µs of noise around it.
    g.bench_function("handler_direct_0us", |b| {
        b.to_async(&rt).iter(|| async {
            let p = params(next.fetch_add(1, Ordering::Relaxed));
            black_box(&p);
            black_box(async { Ok::<_, ()>(result.clone()) }.await.unwrap())
        })
    });
    g.bench_function("through_cache_miss_0us", |b| {
        b.to_async(&rt).iter(|| async {
            let p = params(next.fetch_add(1, Ordering::Relaxed));
            let v = cache
                .get_or_compute(Method::ToolsCall, &p, &partition, || async {
                    Ok::<_, ()>(result.clone())
                })
                .await
                .unwrap();
            black_box(v)
        })
    });
    g.finish();
    let s = cache.stats().method(Method::ToolsCall);
    assert!(s.misses > 0 && s.hits == 0);

    // Interleaved A/B (direct, cached, direct, cached, …) so load drift on a shared machine
    // hits both sides alike; medians of 3000 pairs.
    let (mut direct, mut cached) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for _ in 0..3000 {
            let p = params(next.fetch_add(1, Ordering::Relaxed));
            let t = Instant::now();
            black_box(
                async {
                    spin(work);
                    Ok::<_, ()>(result.clone())
                }
                .await
                .unwrap(),
            );
            direct.push(t.elapsed());
            let p2 = params(next.fetch_add(1, Ordering::Relaxed));
            let t = Instant::now();
            let v = cache
                .get_or_compute(Method::ToolsCall, &p2, &partition, || async {
                    spin(work);
                    Ok::<_, ()>(result.clone())
                })
                .await
                .unwrap();
            cached.push(t.elapsed());
            black_box((v, p));
        }
    });
    direct.sort();
    cached.sort();
    let (d, c) = (direct[direct.len() / 2], cached[cached.len() / 2]);
    println!(
        "cache_miss_200us interleaved medians (n=3000): direct {d:?}  through cache {c:?}  overhead {:+.2}%",
        (c.as_secs_f64() / d.as_secs_f64() - 1.0) * 100.0
    );
}

fn p50_hit(_c: &mut Criterion) {
    // Per-operation p50 (criterion reports per-batch means): 20k timed hits.
    const N: usize = 20_000;
    let rt = runtime();
    let cache = cache(&rt);
    let p = params(0);
    let partition = Partition::principal("alice", b"");
    let result = result_1kib();
    let mut samples = rt.block_on(async {
        cache
            .get_or_compute(Method::ToolsCall, &p, &partition, || async {
                Ok::<_, &'static str>(result.clone())
            })
            .await
            .unwrap();
        // Every timed call must be a hit: a miss would run this compute, whose error fails
        // the bench (as in `cache_hit/get_or_compute_hit_1kib`) instead of timing a miss.
        let not_a_hit = || async { Err::<Value, _>("p50_hit: a timed call was not a hit") };
        let mut samples = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            let v = cache
                .get_or_compute(Method::ToolsCall, &p, &partition, not_a_hit)
                .await
                .unwrap();
            samples.push(t.elapsed());
            black_box(v);
        }
        samples
    });
    // And the cache agrees: one miss (the warm-up), then N hits.
    let s = cache.stats().method(Method::ToolsCall);
    assert_eq!(
        (s.hits, s.misses, s.coalesced, s.errors, s.store_errors),
        (N as u64, 1, 0, 0, 0),
        "p50_hit: not every timed call was a hit: {s:?}"
    );
    samples.sort();
    let q = |f: f64| samples[((samples.len() as f64) * f) as usize];
    println!(
        "cache_hit per-op (n={N}, Instant-timed, all hits): p50 {:?}  p90 {:?}  p99 {:?}",
        q(0.5),
        q(0.9),
        q(0.99)
    );
}

criterion_group!(benches, hit, miss, p50_hit);
criterion_main!(benches);

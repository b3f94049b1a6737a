//! The wrappers over the memory backend, each next to its baseline in the same group:
//!
//! - `get-hit`: bare `MemoryStore` vs namespace + statistics over it (target ≤ 1.10×), plus
//!   each of them alone and a disabled tracing layer, for the breakdown;
//! - `encrypt-1KiB-put` / `encrypt-1KiB-get`: the `Encryption` wrapper vs the raw AEAD call
//!   (XChaCha20-Poly1305 with a fresh OS-random nonce and the same associated data) plus the
//!   bare memory store (target ≤ 1.3×);
//! - `compress-4KiB-put` / `get`, for information: the bare memory store (uncompressed), the
//!   `Compression` wrapper, and the full stack namespace → compression → encryption →
//!   statistics.
//!
//! Every store is an `Arc<dyn KvStore>`, as users hold them. 10k keys, one collection, values
//! rotated among four in writes.
//!
//! Run: `cargo bench --bench wrappers --features memory,wrappers -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mcp_kv_core::encoding::encode_pair;
use mcp_kv_core::{DynStore, KvStore};
use mcp_kv_memory::MemoryStore;
use mcp_kv_wrappers::encryption::__aead::aead::OsRng;
use mcp_kv_wrappers::encryption::__aead::{
    AeadCore, AeadInPlace, KeyInit, XChaCha20Poly1305, XNonce,
};
use mcp_kv_wrappers::encryption::{EncryptionKey, Keyring, FORMAT_V1};
use mcp_kv_wrappers::{CompressionConfig, StoreBuilder, TracingConfig};
use tokio::runtime::Runtime;

#[path = "support/interleave.rs"]
mod support_interleave;
use support_interleave::{interleave, our_gets, Contender};

const KEYS: usize = 10_000;
const COLL: &str = "bench";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("key-{i:05}")).collect()
}

fn values(len: usize) -> Vec<Bytes> {
    (0..4u8)
        .map(|n| {
            // Compressible but not trivially: a repeated 64-byte pattern per value.
            let pattern: Vec<u8> = (0..64u8)
                .map(|j| j.wrapping_mul(31).wrapping_add(n))
                .collect();
            Bytes::from(
                pattern
                    .iter()
                    .copied()
                    .cycle()
                    .take(len)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect()
}

async fn fill(store: &DynStore, keys: &[String], values: &[Bytes]) {
    for (i, k) in keys.iter().enumerate() {
        store
            .put(COLL, k, values[i % 4].clone(), None)
            .await
            .unwrap();
    }
}

fn bench_get(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    store: &DynStore,
    keys: &[String],
) {
    let mut i = 0;
    g.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let key = &keys[i];
            async move { black_box(store.get(COLL, key).await.unwrap()) }
        })
    });
}

fn get_hit(c: &mut Criterion, rt: &Runtime) {
    let keys = keys();
    let vals = values(128);
    let stores: Vec<(&str, DynStore)> = rt.block_on(async {
        let mk = |b: StoreBuilder| b.build().unwrap();
        let all = vec![
            ("memory", Arc::new(MemoryStore::new()) as DynStore),
            (
                "namespace+statistics",
                mk(StoreBuilder::new(MemoryStore::new())
                    .namespace("tenant")
                    .statistics()),
            ),
            (
                "namespace",
                mk(StoreBuilder::new(MemoryStore::new()).namespace("tenant")),
            ),
            (
                "statistics",
                mk(StoreBuilder::new(MemoryStore::new()).statistics()),
            ),
            (
                "tracing (no subscriber)",
                mk(StoreBuilder::new(MemoryStore::new()).tracing(TracingConfig::default())),
            ),
        ];
        for (_, s) in &all {
            fill(s, &keys, &vals).await;
        }
        all
    });
    let mut g = group(c, "wrappers/get-hit");
    for (name, store) in &stores {
        bench_get(&mut g, rt, name, store, &keys);
    }
    g.finish();
}

/// The raw baseline: one AEAD call with a fresh nonce and the same associated data, plus the
/// bare memory store.
struct RawAead {
    cipher: XChaCha20Poly1305,
    store: DynStore,
}

impl RawAead {
    fn aad(collection: &str, key: &str) -> Vec<u8> {
        let mut aad = vec![FORMAT_V1, 0, 0, 0, 1];
        aad.extend_from_slice(&encode_pair(collection, key));
        aad
    }

    async fn put(&self, key: &str, value: &[u8]) {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = Vec::with_capacity(value.len() + 45);
        out.extend_from_slice(&[FORMAT_V1, 0, 0, 0, 1]);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(value);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, &Self::aad(COLL, key), &mut out[29..])
            .unwrap();
        out.extend_from_slice(&tag);
        self.store
            .put(COLL, key, Bytes::from(out), None)
            .await
            .unwrap();
    }

    async fn get(&self, key: &str) -> Bytes {
        let stored = self.store.get(COLL, key).await.unwrap().unwrap();
        let nonce = XNonce::from_slice(&stored[5..29]);
        let (ct, tag) = stored[29..].split_at(stored.len() - 29 - 16);
        let mut plain = ct.to_vec();
        self.cipher
            .decrypt_in_place_detached(nonce, &Self::aad(COLL, key), &mut plain, tag.into())
            .unwrap();
        Bytes::from(plain)
    }
}

fn encryption(c: &mut Criterion, rt: &Runtime) {
    let keys = keys();
    let vals = values(1024);
    let key_bytes = [0x42u8; 32];
    let (raw, ours) = rt.block_on(async {
        let raw = RawAead {
            cipher: XChaCha20Poly1305::new((&key_bytes).into()),
            store: Arc::new(MemoryStore::new()),
        };
        let ours = StoreBuilder::new(MemoryStore::new())
            .encrypt(Keyring::new(
                EncryptionKey::from_bytes(1, &key_bytes).unwrap(),
            ))
            .build()
            .unwrap();
        for (i, k) in keys.iter().enumerate() {
            raw.put(k, &vals[i % 4]).await;
        }
        fill(&ours, &keys, &vals).await;
        (raw, ours)
    });
    let (raw, ours) = (&raw, &ours);
    let (keys, vals) = (&keys, &vals);

    let mut g = group(c, "wrappers/encrypt-1KiB-put");
    let mut i = 0;
    g.bench_function("raw AEAD + memory", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (key, value) = (&keys[i], &vals[(i / 7) % 4]);
            async move { raw.put(key, value).await }
        })
    });
    g.bench_function("Encryption wrapper", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let (key, value) = (&keys[i], vals[(i / 7) % 4].clone());
            async move { ours.put(COLL, key, value, None).await.unwrap() }
        })
    });
    g.finish();

    let mut g = group(c, "wrappers/encrypt-1KiB-get");
    g.bench_function("raw AEAD + memory", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let key = &keys[i];
            async move { black_box(raw.get(key).await) }
        })
    });
    g.bench_function("Encryption wrapper", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % KEYS;
            let key = &keys[i];
            async move { black_box(ours.get(COLL, key).await.unwrap()) }
        })
    });
    g.finish();
}

fn compression_and_stack(c: &mut Criterion, rt: &Runtime) {
    let keys = keys();
    let vals = values(4096);
    let (raw, ours, stack) = rt.block_on(async {
        let raw: DynStore = Arc::new(MemoryStore::new());
        let ours = StoreBuilder::new(MemoryStore::new())
            .compress(CompressionConfig::default())
            .build()
            .unwrap();
        let stack = StoreBuilder::new(MemoryStore::new())
            .namespace("tenant")
            .compress(CompressionConfig::default())
            .encrypt(Keyring::new(EncryptionKey::generate(1)))
            .statistics()
            .build()
            .unwrap();
        fill(&raw, &keys, &vals).await;
        fill(&ours, &keys, &vals).await;
        fill(&stack, &keys, &vals).await;
        (raw, ours, stack)
    });
    let (raw, ours, stack) = (&raw, &ours, &stack);
    let (keys, vals) = (&keys, &vals);

    let mut g = group(c, "wrappers/compress-4KiB-put");
    let mut i = 0;
    for (name, store) in [
        ("memory (uncompressed)", raw),
        ("Compression wrapper", ours),
        ("full stack", stack),
    ] {
        g.bench_function(name, |b| {
            b.to_async(rt).iter(|| {
                i = (i + 1) % KEYS;
                let (key, value) = (&keys[i], vals[(i / 7) % 4].clone());
                async move { store.put(COLL, key, value, None).await.unwrap() }
            })
        });
    }
    g.finish();

    let mut g = group(c, "wrappers/compress-4KiB-get");
    for (name, store) in [
        ("memory (uncompressed)", raw),
        ("Compression wrapper", ours),
        ("full stack", stack),
    ] {
        g.bench_function(name, |b| {
            b.to_async(rt).iter(|| {
                i = (i + 1) % KEYS;
                let key = &keys[i];
                async move { black_box(store.get(COLL, key).await.unwrap()) }
            })
        });
    }
    g.finish();
}

/// On a shared machine, load changes between criterion's sequential measurements skew a ratio.
/// This check has the stores take turns round by round (see `support/interleave.rs`) and prints
/// each one's cost against bare memory. Printed before the criterion groups.
fn interleaved_get_hit(rt: &Runtime) {
    const ROUNDS: usize = 40;
    const PER_ROUND: usize = 20_000;
    let keys = keys();
    let vals = values(128);
    let mk = |b: StoreBuilder| b.build().unwrap();
    let stores: Vec<(&str, DynStore)> = rt.block_on(async {
        let all = vec![
            ("memory", Arc::new(MemoryStore::new()) as DynStore),
            (
                "namespace+statistics",
                mk(StoreBuilder::new(MemoryStore::new())
                    .namespace("tenant")
                    .statistics()),
            ),
            (
                "namespace",
                mk(StoreBuilder::new(MemoryStore::new()).namespace("tenant")),
            ),
            (
                "statistics",
                mk(StoreBuilder::new(MemoryStore::new()).statistics()),
            ),
            (
                "tracing (no subscriber)",
                mk(StoreBuilder::new(MemoryStore::new()).tracing(TracingConfig::default())),
            ),
        ];
        for (_, s) in &all {
            fill(s, &keys, &vals).await;
        }
        all
    });
    let mut sides: Vec<Contender<'_>> = stores
        .iter()
        .map(|(name, store)| our_gets(name, rt, store.as_ref(), COLL, &keys, 1, PER_ROUND))
        .collect();
    interleave("get-hit", PER_ROUND, ROUNDS, &mut sides);
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    interleaved_get_hit(&rt);
    get_hit(c, &rt);
    encryption(c, &rt);
    compression_and_stack(c, &rt);
}

criterion_group!(wrappers, benches);
criterion_main!(wrappers);

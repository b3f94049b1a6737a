//! The DynamoDB backend side by side with the raw `aws-sdk-dynamodb` client doing the same
//! calls, against a local emulator (moto, started by `scripts/dynamodb.sh start`; endpoint from
//! `MCP_KV_DYNAMODB_ENDPOINT`).
//!
//! - `mcp-kv` — our `DynamoStore` through `Arc<dyn KvStore>`: validation, name encoding,
//!   expiry checks, chunking, ordering and unprocessed-item retries included;
//! - `raw-sdk` — the same SDK client (same HTTP pool) sending the requests our store sends, with
//!   the same attributes (`pk`, `sk`, `v`; with a TTL also `exp` in epoch ms and `ttl` in epoch
//!   seconds rounded up): GetItem, PutItem, one BatchGetItem of 100 keys, four concurrent
//!   BatchWriteItem of 25, and for take a DeleteItem with ReturnValues ALL_OLD under the store's
//!   condition (the item exists and has not expired: `attribute_exists(pk) AND
//!   (attribute_not_exists(exp) OR exp >= :now)`). Our take also installs a per-request retry
//!   classifier (no blind retry of a non-idempotent call); the raw twin sends the plain request,
//!   so that cost is counted as ours.
//!
//! Groups (throughput per operation or per key): `dynamodb/get` (hit), `dynamodb/get_miss`
//! (keys never written), `dynamodb/put` (no TTL), `dynamodb/put_ttl`, `dynamodb/get_many(100)`,
//! `dynamodb/put_many(100)`, `dynamodb/take` (the keys of each chunk of 20 takes are written
//! untimed, in one BatchWriteItem, before the chunk; every take is asserted to hit),
//! `dynamodb/mix 90_10 on 2 tasks` (two Tokio tasks at once, each 90 % get / 10 % put with the
//! TTL on random present keys). openkeyv 0.4 is built here without its DynamoDB store, so there
//! is no peer in these groups.
//!
//! 1 000 keys, 256-byte values (four rotating values in writes), TTL 300 s, one collection, a
//! fresh table deleted at the end. Both sides read strongly consistently. An interceptor counts
//! the HTTP requests of one call of each operation; they are printed before the groups run. The
//! emulator handles one request at a time, so these figures measure mostly moto (~ms per
//! request); the ratio shows what the backend adds on top of the SDK. Every group takes 10
//! samples (criterion's least), so a whole run at warm-up 1 s / measurement 3 s takes about
//! 2.5 minutes.
//!
//! Run: `scripts/dynamodb.sh start && source .services/env &&
//! cargo bench --bench dynamodb --features dynamodb -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mcp_kv_core::KvStore;
use mcp_kv_dynamodb::aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use mcp_kv_dynamodb::aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use mcp_kv_dynamodb::aws_sdk_dynamodb::error::BoxError;
use mcp_kv_dynamodb::aws_sdk_dynamodb::primitives::Blob;
use mcp_kv_dynamodb::aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, ReturnValue, WriteRequest,
};
use mcp_kv_dynamodb::aws_sdk_dynamodb::Client;
use mcp_kv_dynamodb::{DynamoStore, ENDPOINT_ENV};
use tokio::runtime::Runtime;

const KEYS: usize = 1000;
const VALUE_BYTES: usize = 256;
const COLL: &str = "bench";
const BATCH: usize = 100;
const TTL: Duration = Duration::from_secs(300);
/// Keys written (untimed) before each chunk of timed takes.
const TAKE_CHUNK: usize = 20;
/// Samples per benchmark: criterion's least (moto answers in milliseconds).
const SAMPLES: usize = 10;
/// The store's take condition: the item exists and has not expired.
const LIVE: &str = "attribute_exists(#pk) AND (attribute_not_exists(#e) OR #e >= :now)";

/// Counts HTTP requests (one per attempt).
#[derive(Debug, Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "Counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

struct Fixture {
    ours: Arc<dyn KvStore>,
    store: DynamoStore,
    raw: Client,
    table: String,
    keys: Vec<String>,
    /// Keys never written (get miss).
    miss_keys: Vec<String>,
    /// The keys of one chunk of takes.
    take_keys: Vec<String>,
    values: Vec<Bytes>,
    counter: Counter,
}

fn key(i: usize) -> String {
    format!("key-{i:05}")
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

impl Fixture {
    async fn new(endpoint: &str) -> Fixture {
        let table = format!("mcpkv-bench-{}", std::process::id());
        let counter = Counter::default();
        let store = DynamoStore::builder(&table)
            .region("us-east-1")
            .endpoint(endpoint)
            .credentials("test", "test")
            .auto_create(true)
            .interceptor(counter.clone())
            .build()
            .await
            .expect("DynamoStore on the emulator");
        let values: Vec<Bytes> = (0..4u8)
            .map(|i| Bytes::from(vec![b'a' + i; VALUE_BYTES]))
            .collect();
        let keys: Vec<String> = (0..KEYS).map(key).collect();
        let entries: Vec<(String, Bytes)> = keys
            .iter()
            .map(|k| (k.clone(), values[0].clone()))
            .collect();
        store.put_many(COLL, entries, None).await.expect("preload");
        Fixture {
            ours: Arc::new(store.clone()),
            raw: store.client().clone(),
            store,
            table,
            keys,
            miss_keys: (0..KEYS).map(|i| format!("never-written-{i:05}")).collect(),
            take_keys: (0..TAKE_CHUNK).map(|i| format!("take-{i:05}")).collect(),
            values,
            counter,
        }
    }

    fn raw_key(&self, k: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_string(), s(COLL)), ("sk".to_string(), s(k))])
    }

    fn raw_item(&self, k: &str, v: &Bytes) -> HashMap<String, AttributeValue> {
        let mut item = self.raw_key(k);
        item.insert("v".to_string(), AttributeValue::B(Blob::new(v.to_vec())));
        item
    }

    async fn raw_get(&self, k: &str) -> Option<Bytes> {
        let out = self
            .raw
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.raw_key(k)))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        match out.item.and_then(|mut i| i.remove("v")) {
            Some(AttributeValue::B(b)) => Some(Bytes::from(b.into_inner())),
            _ => None,
        }
    }

    async fn raw_put(&self, k: &str, v: &Bytes) {
        self.raw
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.raw_item(k, v)))
            .send()
            .await
            .expect("PutItem");
    }

    /// PutItem with the TTL: `exp` the expiry in epoch ms, `ttl` in epoch seconds rounded up.
    async fn raw_put_ttl(&self, k: &str, v: &Bytes) {
        let exp = now_ms() + TTL.as_millis() as u64;
        let mut item = self.raw_item(k, v);
        item.insert("exp".to_string(), n(exp));
        item.insert("ttl".to_string(), n(exp.div_ceil(1000)));
        self.raw
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }

    /// DeleteItem of a live item, returning it (ReturnValues ALL_OLD); `None`: absent or expired.
    async fn raw_take(&self, k: &str) -> Option<Bytes> {
        let out = self
            .raw
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.raw_key(k)))
            .condition_expression(LIVE)
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#e", "exp")
            .expression_attribute_values(":now", n(now_ms()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => match out.attributes.and_then(|mut i| i.remove("v")) {
                Some(AttributeValue::B(b)) => Some(Bytes::from(b.into_inner())),
                _ => None,
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                None
            }
            Err(e) => panic!("DeleteItem: {e:?}"),
        }
    }

    /// Writes (untimed) the first `count` take keys, with the TTL, so the next `count` takes hit.
    async fn load_take_chunk(&self, count: usize) {
        let entries = self.take_keys[..count]
            .iter()
            .enumerate()
            .map(|(j, k)| (k.clone(), self.values[j % 4].clone()))
            .collect();
        self.ours
            .put_many(COLL, entries, Some(TTL))
            .await
            .expect("load the take keys");
    }

    /// `iters` takes of present keys, in chunks whose keys are written untimed first; the
    /// time of the takes alone.
    async fn takes(&self, iters: u64, raw: bool) -> Duration {
        let mut timed = Duration::ZERO;
        let mut left = iters as usize;
        while left > 0 {
            let count = left.min(TAKE_CHUNK);
            self.load_take_chunk(count).await;
            let t = Instant::now();
            for k in &self.take_keys[..count] {
                let v = if raw {
                    self.raw_take(k).await
                } else {
                    self.ours.take(COLL, k).await.unwrap()
                };
                assert!(black_box(v).is_some(), "take missed");
            }
            timed += t.elapsed();
            left -= count;
        }
        timed
    }

    async fn raw_get_many(&self, keys: &[String]) -> usize {
        let ka = KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(|k| self.raw_key(k)).collect()))
            .consistent_read(true)
            .build()
            .expect("keys");
        let out = self
            .raw
            .batch_get_item()
            .request_items(&self.table, ka)
            .send()
            .await
            .expect("BatchGetItem");
        out.responses
            .and_then(|mut r| r.remove(&self.table))
            .map_or(0, |items| items.len())
    }

    async fn raw_put_many(&self, keys: &[String], v: &Bytes) {
        let calls = keys.chunks(25).map(|chunk| {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    let put = PutRequest::builder()
                        .set_item(Some(self.raw_item(k, v)))
                        .build()
                        .expect("put request");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect();
            self.raw
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
        });
        for out in futures::future::join_all(calls).await {
            out.expect("BatchWriteItem");
        }
    }

    /// HTTP requests of one call of each operation, both sides.
    async fn print_request_counts(&self) {
        let batch: Vec<String> = self.keys[..BATCH].to_vec();
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        let entries: Vec<(String, Bytes)> = batch
            .iter()
            .map(|k| (k.clone(), self.values[1].clone()))
            .collect();
        let c = &self.counter.0;
        let mut line = String::from("dynamodb requests per call:");
        macro_rules! count {
            ($name:expr, $call:expr) => {{
                c.store(0, Ordering::SeqCst);
                black_box($call);
                line.push_str(&format!(" {}={}", $name, c.load(Ordering::SeqCst)));
            }};
        }
        count!("mcp-kv/get", self.ours.get(COLL, &batch[0]).await.unwrap());
        count!("raw/get", self.raw_get(&batch[0]).await);
        count!(
            "mcp-kv/put",
            self.ours
                .put(COLL, &batch[0], self.values[1].clone(), None)
                .await
                .unwrap()
        );
        count!("raw/put", self.raw_put(&batch[0], &self.values[1]).await);
        count!(
            "mcp-kv/get_miss",
            self.ours.get(COLL, &self.miss_keys[0]).await.unwrap()
        );
        count!("raw/get_miss", self.raw_get(&self.miss_keys[0]).await);
        count!(
            "mcp-kv/put_ttl",
            self.ours
                .put(COLL, &batch[0], self.values[1].clone(), Some(TTL))
                .await
                .unwrap()
        );
        count!(
            "raw/put_ttl",
            self.raw_put_ttl(&batch[0], &self.values[1]).await
        );
        self.load_take_chunk(2).await;
        count!(
            "mcp-kv/take",
            assert!(self
                .ours
                .take(COLL, &self.take_keys[0])
                .await
                .unwrap()
                .is_some())
        );
        count!(
            "raw/take",
            assert!(self.raw_take(&self.take_keys[1]).await.is_some())
        );
        count!(
            "mcp-kv/get_many(100)",
            self.ours.get_many(COLL, &refs).await.unwrap()
        );
        count!("raw/get_many(100)", self.raw_get_many(&batch).await);
        count!(
            "mcp-kv/put_many(100)",
            self.ours.put_many(COLL, entries, None).await.unwrap()
        );
        count!(
            "raw/put_many(100)",
            self.raw_put_many(&batch, &self.values[1]).await
        );
        println!("{line}");
    }
}

fn bench(c: &mut Criterion) {
    let Ok(endpoint) = std::env::var(ENDPOINT_ENV) else {
        eprintln!(
            "SKIPPED dynamodb benchmark: {ENDPOINT_ENV} not set \
             (scripts/dynamodb.sh start && source .services/env)"
        );
        return;
    };
    let rt = Runtime::new().expect("runtime");
    let fixture = Arc::new(rt.block_on(Fixture::new(&endpoint)));
    let f = &*fixture;
    rt.block_on(f.print_request_counts());

    let mut g = c.benchmark_group("dynamodb/get");
    g.throughput(Throughput::Elements(1));
    g.sample_size(SAMPLES);
    let mut i = 0usize;
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let k = &f.keys[i];
            async move { black_box(f.ours.get(COLL, k).await.unwrap()) }
        })
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let k = &f.keys[i];
            async move { black_box(f.raw_get(k).await) }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dynamodb/get_miss");
    g.throughput(Throughput::Elements(1));
    g.sample_size(SAMPLES);
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let k = &f.miss_keys[i];
            async move { assert!(black_box(f.ours.get(COLL, k).await.unwrap()).is_none()) }
        })
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let k = &f.miss_keys[i];
            async move { assert!(black_box(f.raw_get(k).await).is_none()) }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dynamodb/put");
    g.throughput(Throughput::Elements(1));
    g.sample_size(SAMPLES);
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let (k, v) = (&f.keys[i], f.values[i % 4].clone());
            async move { f.ours.put(COLL, k, v, None).await.unwrap() }
        })
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let (k, v) = (&f.keys[i], &f.values[i % 4]);
            async move { f.raw_put(k, v).await }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dynamodb/put_ttl");
    g.throughput(Throughput::Elements(1));
    g.sample_size(SAMPLES);
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let (k, v) = (&f.keys[i], f.values[i % 4].clone());
            async move { f.ours.put(COLL, k, v, Some(TTL)).await.unwrap() }
        })
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % KEYS;
            let (k, v) = (&f.keys[i], &f.values[i % 4]);
            async move { f.raw_put_ttl(k, v).await }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dynamodb/get_many(100)");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(SAMPLES);
    let mut start = 0usize;
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            start = (start + BATCH) % KEYS;
            let refs: Vec<&str> = f.keys[start..start + BATCH]
                .iter()
                .map(String::as_str)
                .collect();
            async move { black_box(f.ours.get_many(COLL, &refs).await.unwrap()) }
        })
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt).iter(|| {
            start = (start + BATCH) % KEYS;
            let keys = &f.keys[start..start + BATCH];
            async move { black_box(f.raw_get_many(keys).await) }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dynamodb/put_many(100)");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(SAMPLES);
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter(|| {
            start = (start + BATCH) % KEYS;
            let v = f.values[(start / BATCH) % 4].clone();
            let entries: Vec<(String, Bytes)> = f.keys[start..start + BATCH]
                .iter()
                .map(|k| (k.clone(), v.clone()))
                .collect();
            async move { f.ours.put_many(COLL, entries, None).await.unwrap() }
        })
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt).iter(|| {
            start = (start + BATCH) % KEYS;
            let keys = &f.keys[start..start + BATCH];
            let v = &f.values[(start / BATCH) % 4];
            async move { f.raw_put_many(keys, v).await }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dynamodb/take");
    g.throughput(Throughput::Elements(1));
    g.sample_size(SAMPLES);
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt).iter_custom(|iters| f.takes(iters, false))
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt).iter_custom(|iters| f.takes(iters, true))
    });
    g.finish();

    let mut g = c.benchmark_group("dynamodb/mix 90_10 on 2 tasks");
    g.throughput(Throughput::Elements(1));
    g.sample_size(SAMPLES);
    g.bench_function("mcp-kv", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| mix(iters, fixture.clone(), false))
    });
    g.bench_function("raw-sdk", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| mix(iters, fixture.clone(), true))
    });
    g.finish();

    rt.block_on(f.store.delete_table())
        .expect("delete the bench table");
}

/// A 90/10 get/put (with the TTL) mix on 2 Tokio tasks over the preloaded keys (random keys,
/// xorshift), through our store or the raw SDK; `iters` operations in all.
async fn mix(iters: u64, f: Arc<Fixture>, raw: bool) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..2u64)
        .map(|t| {
            let f = f.clone();
            tokio::spawn(async move {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                for _ in 0..iters.div_ceil(2) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let n = (x >> 8) as usize;
                    let (k, v) = (&f.keys[n % KEYS], &f.values[n % 4]);
                    match (n % 10 == 0, raw) {
                        (true, false) => f.ours.put(COLL, k, v.clone(), Some(TTL)).await.unwrap(),
                        (true, true) => f.raw_put_ttl(k, v).await,
                        (false, false) => {
                            assert!(black_box(f.ours.get(COLL, k).await.unwrap()).is_some())
                        }
                        (false, true) => assert!(black_box(f.raw_get(k).await).is_some()),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

criterion_group!(benches, bench);
criterion_main!(benches);

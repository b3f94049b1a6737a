//! mcp-kv-oauth: the cost of each OAuth step, next to the raw store operations it is made of.
//!
//! Groups (each with its raw twin in the same group, so a ratio is read from one run):
//!
//! - `oauth-verify/<backend>` — `verify_access` of one of 1 000 live tokens: `encrypted` (the
//!   default: one `get` + XChaCha20-Poly1305 open + JSON decode + checks), `plaintext` (the
//!   tests-only unencrypted mode: the cost of encryption) and `raw-get` (one `get` of a value
//!   of the same size: the floor, one store read).
//! - `oauth-exchange/<backend>` — redeeming a code for tokens (`take` the code, write family,
//!   access and refresh records): `encrypted`, `plaintext`, and `raw-ops` (one `take` + three
//!   `put_if_absent` of same-sized values on the bare store). Codes are minted outside the
//!   timed section.
//! - `oauth-refresh/<backend>` — one rotation (read refresh + family, write two records,
//!   `compare_and_swap` the family, delete the old access token), chained.
//! - `oauth-flow/memory` — the whole authorize → subject → consent check → code → tokens.
//!
//! Backends: `memory` always; `redis` when `MCP_KV_REDIS_URL` is set (loopback server started
//! by `scripts/redis.sh`).
//!
//! Run: `cargo bench --bench oauth --features memory,redis -- --warm-up-time 1 --measurement-time 3`
//! (or, from the crate, `cargo bench -p mcp-kv-oauth --bench oauth -- …`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mcp_kv_core::{Bytes, DynStore, KvStore};
use mcp_kv_memory::MemoryStore;
use mcp_kv_oauth::{
    pkce_challenge, AuthorizationRequest, ClientMetadata, CodeExchange, EncryptionKey,
    RefreshRequest, Secret, TokenStore,
};
use tokio::runtime::Runtime;

const REDIRECT: &str = "http://127.0.0.1:33418/callback";
const MCP: &str = "https://mcp.example/mcp";
const VERIFIER: &str = "bench-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
const TOKENS: usize = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One token store over `backend` and the client it serves.
struct Side {
    store: TokenStore,
    client_id: String,
}

async fn side(backend: DynStore, encrypted: bool, prefix: &str) -> Side {
    let builder = TokenStore::builder(backend).collection_prefix(prefix);
    let store = if encrypted {
        builder.encryption_key(EncryptionKey::generate(1))
    } else {
        builder.insecure_plaintext_for_tests()
    }
    .build()
    .expect("token store");
    let client = store
        .register_client(ClientMetadata::new([REDIRECT]))
        .await
        .expect("register");
    let side = Side {
        store,
        client_id: client.client_id,
    };
    // Consent once, so every later authorization can complete.
    side.store
        .grant_consent("bench-user", &side.client_id, REDIRECT, MCP, &[], None)
        .await
        .expect("consent");
    side
}

impl Side {
    async fn code(&self) -> Secret {
        let req =
            AuthorizationRequest::new(&self.client_id, REDIRECT, pkce_challenge(VERIFIER), MCP);
        let pending = self.store.begin_authorization(req).await.expect("begin");
        let state = pending.state.expose_secret();
        self.store
            .attach_subject(state, "bench-user")
            .await
            .expect("subject");
        self.store
            .complete_authorization(state, None)
            .await
            .expect("complete")
            .code
    }

    fn exchange(&self, code: Secret) -> CodeExchange {
        CodeExchange::new(code, &self.client_id, REDIRECT, VERIFIER)
    }

    async fn tokens(&self) -> mcp_kv_oauth::TokenPair {
        let code = self.code().await;
        self.store
            .exchange_code(self.exchange(code))
            .await
            .expect("exchange")
    }
}

/// A record-sized value (an access record is ~500 bytes of JSON, ~545 sealed).
fn record_value(i: usize) -> Bytes {
    Bytes::from(format!("{i:0>545}"))
}

fn bench_backend(c: &mut Criterion, rt: &Runtime, name: &str, backend: DynStore) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tag = format!("{nanos:x}-{}", std::process::id());
    let (enc, plain) = rt.block_on(async {
        (
            side(backend.clone(), true, &format!("bench-enc-{tag}")).await,
            side(backend.clone(), false, &format!("bench-plain-{tag}")).await,
        )
    });

    // ---- verify_access ----
    let (enc_tokens, plain_tokens) = rt.block_on(async {
        let mut e = Vec::with_capacity(TOKENS);
        let mut p = Vec::with_capacity(TOKENS);
        for _ in 0..TOKENS {
            e.push(enc.tokens().await.access_token);
            p.push(plain.tokens().await.access_token);
        }
        (e, p)
    });
    let raw_coll = format!("bench-raw-{tag}");
    let raw_keys: Vec<String> = (0..TOKENS).map(|i| format!("{i:064x}")).collect();
    rt.block_on(async {
        for (i, k) in raw_keys.iter().enumerate() {
            backend
                .put(
                    &raw_coll,
                    k,
                    record_value(i),
                    Some(Duration::from_secs(3600)),
                )
                .await
                .expect("raw put");
        }
    });
    {
        let mut g = c.benchmark_group(format!("oauth-verify/{name}"));
        g.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        g.bench_function("encrypted", |b| {
            b.to_async(rt).iter(|| {
                i = (i + 1) % TOKENS;
                let t = enc_tokens[i].expose_secret();
                let s = &enc.store;
                async move { black_box(s.verify_access(t, MCP).await.expect("verify")) }
            })
        });
        g.bench_function("plaintext", |b| {
            b.to_async(rt).iter(|| {
                i = (i + 1) % TOKENS;
                let t = plain_tokens[i].expose_secret();
                let s = &plain.store;
                async move { black_box(s.verify_access(t, MCP).await.expect("verify")) }
            })
        });
        g.bench_function("raw-get", |b| {
            b.to_async(rt).iter(|| {
                i = (i + 1) % TOKENS;
                let k = &raw_keys[i];
                let (s, coll) = (&backend, &raw_coll);
                async move { black_box(s.get(coll, k).await.expect("get")) }
            })
        });
        g.finish();
    }

    // ---- code exchange (codes minted outside the timed section) ----
    {
        let mut g = c.benchmark_group(format!("oauth-exchange/{name}"));
        g.throughput(Throughput::Elements(1));
        for (label, s) in [("encrypted", &enc), ("plaintext", &plain)] {
            g.bench_function(label, |b| {
                b.to_async(rt).iter_custom(|iters| async move {
                    let mut codes = Vec::with_capacity(iters as usize);
                    for _ in 0..iters {
                        codes.push(s.code().await);
                    }
                    let start = Instant::now();
                    for code in codes {
                        black_box(s.store.exchange_code(s.exchange(code)).await.expect("x"));
                    }
                    start.elapsed()
                })
            });
        }
        let coll = format!("bench-raw-x-{tag}");
        let backend2 = &backend;
        g.bench_function("raw-ops", |b| {
            b.to_async(rt).iter_custom(|iters| {
                let coll = coll.clone();
                async move {
                    let mut n = 0u64;
                    for _ in 0..iters {
                        n += 1;
                        let k = format!("code-{n}-{iters}");
                        backend2
                            .put(&coll, &k, record_value(1), Some(Duration::from_secs(400)))
                            .await
                            .expect("put");
                    }
                    let start = Instant::now();
                    let ttl = Some(Duration::from_secs(3600));
                    for m in 1..=iters {
                        let k = format!("code-{m}-{iters}");
                        black_box(backend2.take(&coll, &k).await.expect("take"));
                        for part in ["fam", "acc", "ref"] {
                            let key = format!("{part}-{m}-{iters}");
                            backend2
                                .put_if_absent(&coll, &key, record_value(m as usize), ttl)
                                .await
                                .expect("put_if_absent");
                        }
                    }
                    let elapsed = start.elapsed();
                    backend2.clear(&coll).await.expect("clear");
                    elapsed
                }
            })
        });
        g.finish();
    }

    // ---- refresh rotation, chained ----
    {
        let mut g = c.benchmark_group(format!("oauth-refresh/{name}"));
        g.throughput(Throughput::Elements(1));
        for (label, s) in [("encrypted", &enc), ("plaintext", &plain)] {
            let mut current = rt.block_on(s.tokens()).refresh_token;
            g.bench_function(label, |b| {
                b.iter(|| {
                    let next = rt
                        .block_on(
                            s.store
                                .refresh(RefreshRequest::new(current.clone(), &s.client_id)),
                        )
                        .expect("refresh");
                    current = next.refresh_token;
                })
            });
        }
        g.finish();
    }

    // ---- the whole flow (memory only: on Redis it is a dozen round trips) ----
    if name == "memory" {
        let mut g = c.benchmark_group(format!("oauth-flow/{name}"));
        g.throughput(Throughput::Elements(1));
        for (label, s) in [("encrypted", &enc), ("plaintext", &plain)] {
            g.bench_function(label, |b| {
                b.to_async(rt)
                    .iter(|| async { black_box(s.tokens().await.expires_in) })
            });
        }
        g.finish();
    }

    // Leave nothing behind on a shared server.
    rt.block_on(async {
        for coll in backend.collections().await.unwrap_or_default() {
            if coll.contains(&tag) {
                let _ = backend.clear(&coll).await;
            }
        }
    });
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let memory: DynStore = rt.block_on(async { Arc::new(MemoryStore::new()) as DynStore });
    bench_backend(c, &rt, "memory", memory);
    match std::env::var("MCP_KV_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let redis: DynStore = rt.block_on(async {
                let config = mcp_kv_redis::RedisStore::builder()
                    .url(&url)
                    .prefix(format!("bench-oauth-{}:", std::process::id()))
                    .build()
                    .expect("redis config");
                Arc::new(
                    mcp_kv_redis::RedisStore::connect(config)
                        .await
                        .expect("redis connects"),
                ) as DynStore
            });
            bench_backend(c, &rt, "redis", redis);
        }
        _ => eprintln!(
            "SKIPPED oauth redis benchmarks: MCP_KV_REDIS_URL not set (run scripts/test.sh)"
        ),
    }
}

criterion_group!(oauth, benches);
criterion_main!(oauth);

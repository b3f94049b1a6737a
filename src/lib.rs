//! # mcp-kv
//!
//! One async key-value contract with TTL for MCP (Model Context Protocol) servers, real
//! backends behind it, composable wrappers around it, and the MCP parts servers need on top of
//! it: an OAuth token store and a response cache. This facade is the one dependency users add;
//! Cargo features pick the backends.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use mcp_kv::{Bytes, KvStore, KvStoreExt};
//!
//! // Once, when the server starts: the store lives as long as the server.
//! let store = mcp_kv::open("memory://").await?;
//!
//! store.put("greetings", "en", Bytes::from_static(b"hello"), Some(Duration::from_secs(60))).await?;
//! assert_eq!(store.get("greetings", "en").await?, Some(Bytes::from_static(b"hello")));
//!
//! // One-time values: of concurrent callers, exactly one takes it.
//! store.put("codes", "c1", Bytes::from_static(b"grant"), Some(Duration::from_secs(300))).await?;
//! assert!(store.take("codes", "c1").await?.is_some());
//!
//! // Per-client-session state, scoped and idle-expiring.
//! let session = store.session("mcp-session-1", Duration::from_secs(1800))?;
//! session.put_json("page", &2).await?;
//! assert_eq!(session.get_json::<u32>("page").await?, Some(2));
//! store.close().await?; // server shutdown
//! # Ok::<(), mcp_kv::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Features
//!
//! | feature | what it adds | `open()` URL |
//! |---|---|---|
//! | `memory` (default) | [`memory::MemoryStore`]: sharded map, TTL, optional LRU bound | `memory://` (`?max_entries_per_collection=N`) |
//! | `sqlite` (default) | `sqlite::SqliteStore`: one file, WAL, crash-safe | `sqlite://path/to.db`, `sqlite:///abs/path.db`, `sqlite://:memory:` (`?durability=full`) |
//! | `sled` | `sled::SledStore`: embedded log-structured tree | `sled://path` |
//! | `redis` | `redis::RedisStore`: standalone Redis, TLS with `rediss://` | `redis://[user:pass@]host:port[/db]`, `rediss://…` |
//! | `redis-cluster` | Redis Cluster through the same store | `redis+cluster://[user:pass@]h1:p1,h2:p2,…` |
//! | `dynamodb` | `dynamodb::DynamoStore` | `dynamodb://table?region=…&endpoint=…` |
//! | `wrappers` | `wrappers`: namespace, statistics, TTL policy, retry, timeout, read-only, size limit, tiers, fallback, routing, tracing | — |
//! | `encryption` | the encryption wrapper (XChaCha20-Poly1305, keyring, rekey) | — |
//! | `compression` | the compression wrapper (LZ4) | — |
//! | `metrics` | statistics exported through the `metrics` crate | — |
//! | `oauth` | `oauth`: the OAuth token store for MCP servers | — |
//! | `cache` | `cache`: the MCP response cache | — |
//! | `rmcp` | rmcp glue for the cache | — |
//! | `cli` | the `mcp-kv` command-line tool | — |
//! | `full` | all of the above | — |
//!
//! A URL whose backend is not compiled in is an [`ErrorKind::Config`] error that names the
//! feature to enable.
//!
//! ## One example per backend
//!
//! The embedded backends run anywhere (state survives restarts):
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = std::env::temp_dir().join(format!("mcp-kv-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! use mcp_kv::{Bytes, KvStore};
//!
//! let db = dir.join("state.db");
//! let sqlite = mcp_kv::open(&format!("sqlite://{}?durability=full", db.display())).await?;
//! sqlite.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! sqlite.close().await?;
//! let reopened = mcp_kv::open(&format!("sqlite://{}", db.display())).await?;
//! assert_eq!(reopened.get("c", "k").await?, Some(Bytes::from_static(b"v")));
//! # reopened.close().await?;
//!
//! # #[cfg(feature = "sled")] {
//! let sled = mcp_kv::open(&format!("sled://{}", dir.join("state.sled").display())).await?;
//! sled.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! sled.close().await?;
//! # }
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), mcp_kv::Error>(())
//! # }).unwrap();
//! ```
//!
//! The distributed backends need their server (see `scripts/` for local ones):
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcp_kv::Error> {
//! // Several replicas sharing state.
//! let redis = mcp_kv::open("redis://127.0.0.1:6379/0").await?;
//! let cluster = mcp_kv::open("redis+cluster://10.0.0.1:7000,10.0.0.2:7000").await?;
//! let dynamo = mcp_kv::open("dynamodb://mcp-state?region=eu-west-1").await?;
//! # Ok(()) }
//! ```
//!
//! ## Wrapper order
//!
//! Wrappers stack in any order, but some orders are right and others are not; the data flows
//! caller → outermost wrapper → … → backend:
//!
//! 1. **namespace** outermost: tenants are separated before anything else sees a name;
//! 2. **statistics / tracing** next, so they count what callers asked for;
//! 3. **compression before encryption** (compression outside, encryption inside): ciphertext
//!    is random and does not compress, and compressing plaintext after decryption would leak
//!    sizes anyway;
//! 4. **retry and timeout** innermost, right above the backend, so a retry repeats only the
//!    network call (and never a non-idempotent one: retry skips `put_if_absent`, `take` and
//!    `compare_and_swap`).
//!
//! The `wrappers` crate's `StoreBuilder` applies them in this order.

#![forbid(unsafe_code)]

mod open;

pub use mcp_kv_core::*;
pub use open::open;
#[doc(hidden)]
pub use open::StoreUrl;

/// The in-memory backend (feature `memory`).
#[cfg(feature = "memory")]
pub use mcp_kv_memory as memory;

/// The SQLite backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use mcp_kv_sqlite as sqlite;

/// The sled backend (feature `sled`).
#[cfg(feature = "sled")]
pub use mcp_kv_sled as sled;

/// The Redis and Redis Cluster backend (features `redis`, `redis-cluster`).
#[cfg(feature = "redis")]
pub use mcp_kv_redis as redis;

/// The DynamoDB backend (feature `dynamodb`).
#[cfg(feature = "dynamodb")]
pub use mcp_kv_dynamodb as dynamodb;

/// The wrappers (feature `wrappers`; `encryption`, `compression`, `metrics` add modules).
#[cfg(feature = "wrappers")]
pub use mcp_kv_wrappers as wrappers;

/// The OAuth token store for MCP servers (feature `oauth`).
#[cfg(feature = "oauth")]
pub use mcp_kv_oauth as oauth;

/// The MCP response cache (feature `cache`).
#[cfg(feature = "cache")]
pub use mcp_kv_cache as cache;

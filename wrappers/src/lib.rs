//! # mcp-kv-wrappers
//!
//! Composable wrappers of mcp-kv. Each wrapper holds an inner [`KvStore`] — any backend, an
//! `Arc<dyn KvStore>`, or another wrapper — and is a `KvStore` itself, so they stack in any
//! order (tower-style). Every wrapper forwards **every** operation: the batches go to the inner
//! batch operations (never a loop), the atomic operations stay atomic, `keys`, `collections`,
//! `clear`, `cull` and `close` reach the backend, and `capabilities()` tells what the stack
//! can do (a namespace shortens collection names, encryption and compression shorten values).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::compression::CompressionConfig;
//! use mcp_kv_wrappers::encryption::{EncryptionKey, Keyring};
//! use mcp_kv_wrappers::StoreBuilder;
//!
//! // The first call is the outermost layer: caller → namespace → compression → encryption
//! // → statistics → backend.
//! let builder = StoreBuilder::new(MemoryStore::new())
//!     .namespace("tenant-a")
//!     .compress(CompressionConfig::default())
//!     .encrypt(Keyring::new(EncryptionKey::generate(1)))
//!     .statistics();
//! let stats = builder.stats().unwrap();
//! let store = builder.build()?; // Arc<dyn KvStore>
//!
//! store.put("tokens", "t1", Bytes::from_static(b"secret"), Some(Duration::from_secs(60))).await?;
//! assert_eq!(store.get("tokens", "t1").await?.unwrap(), "secret");
//! assert!(store.take("tokens", "t1").await?.is_some()); // atomic ops go through every layer
//! assert_eq!(stats.snapshot().total().writes, 1);
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## The wrappers
//!
//! | module | wrapper | what it does | capabilities |
//! |---|---|---|---|
//! | [`namespace`] | [`Namespace`] | escaped prefix per tenant, no collisions, own `collections()` | `max_collection_bytes` − prefix |
//! | [`encryption`] (feature `encryption`) | `Encryption` | XChaCha20-Poly1305 bound to collection + key, keyring, `rekey()`, fails closed | `max_value_bytes` − 45 |
//! | [`compression`] (feature `compression`) | `Compression` | LZ4 above a threshold, 1-byte header, bomb guard | `max_value_bytes` − 1 |
//! | [`statistics`] | [`Statistics`] | counters per collection × operation, `snapshot()`, `reset()`, `metrics` export (feature `metrics`) | unchanged |
//! | [`ttl_policy`] | [`TtlPolicy`] | default TTL, min/max clamps | unchanged |
//! | [`retry`] | [`Retry`] | backoff + jitter; temporary errors of idempotent operations only | unchanged |
//! | [`timeout`] | [`Timeout`] | deadline per operation → temporary `Timeout` | unchanged |
//! | [`read_only`] | [`ReadOnly`] | refuses writes with `ReadOnly`, switchable at run time | unchanged |
//! | [`size_limit`] | [`SizeLimit`] | `ValueTooLarge` above a limit, batches all-or-nothing | `max_value_bytes` = limit |
//! | [`tiered`] | [`Tiered`] | local read-through copy in front of a remote store, bounded staleness | the remote's |
//! | [`fallback`] | [`Fallback`] | reads from a secondary on temporary primary errors | the primary's |
//! | [`routing`] | [`Router`] | collection (exact / prefix) → store | intersection |
//! | [`tracing`](mod@tracing) | [`Tracing`] | a span per operation: op, collection, outcome, latency — never keys or values | unchanged |
//!
//! Compose them by hand (`Statistics::new(Namespace::new(backend, "t")?)`) or with the
//! [`StoreBuilder`], which gives an `Arc<dyn KvStore>`.
//!
//! ## Choosing the order
//!
//! With the [`StoreBuilder`] the first layer added is the outermost (nearest the caller); by
//! hand, the outermost is the last constructor called.
//!
//! - **Compression before (outside) encryption.** Ciphertext is indistinguishable from random
//!   bytes and does not compress; compress the plaintext, then encrypt the result. (Do not
//!   compress secrets mixed with attacker-chosen data: compressed sizes can leak them.)
//! - **Namespace outside encryption** (the recommended default). The encryption layer then
//!   sees the prefixed collection name, so its associated data binds the tenant too: a
//!   ciphertext copied from one tenant's entry into another tenant's fails to decrypt, even
//!   under a shared keyring. With the namespace inside encryption, two tenants sharing a
//!   keyring could swap ciphertexts of identically named collections and keys. A namespace
//!   innermost (just above the backend) is only needed to make a whole stack a tenant of a
//!   shared backend — it then hides nothing from the layers above.
//! - **Statistics where you want to look.** Outermost, they count what callers asked for per
//!   caller-visible collection (hits and misses of the application, plaintext sizes).
//!   Innermost, next to the backend, they count what the backend really did: prefixed names,
//!   stored (compressed, encrypted) sizes, and every retry attempt.
//! - **Tracing outermost** (one span per caller operation, covering every layer's time), or
//!   innermost to time the backend alone.
//! - **Retry inside timeout** when the deadline is for the whole call, **timeout inside
//!   retry** when it is per attempt. Keep both below encryption and compression, so that a
//!   retry repeats only the backend call, not the CPU work above it.
//! - **TTL policy, size limit and read-only** anywhere above the backend; put a size limit
//!   outside compression to limit what callers send, inside to limit what is stored.
//! - **Tiered** wraps a remote backend with a local store; put encryption *outside* it if the
//!   local copies must be encrypted too, inside if plaintext in process memory is fine (it
//!   saves a decryption per cached read).
//!
//! ## Cost
//!
//! Counted with callgrind (instructions per `get` of a 128-byte value through an
//! `Arc<dyn KvStore>`, release build, steady state; repeatable on any x86-64 machine, unlike
//! times): a bare memory `get` is ~560 instructions. [`Namespace`] adds ~130 — one lookup in a
//! lock-free table of prefixed names, no allocation, and no boxed future of its own (it hands
//! back the inner store's). [`Statistics`] adds ~390: its boxed future (~135, `malloc` +
//! `free`), the counters' lookup (~90) and the counting itself (three relaxed atomic adds).
//! A layer that does nothing but forward through `#[async_trait]` — [`Tracing`] without a
//! subscriber — pays the boxed future alone. So namespace + statistics over memory is roughly
//! 1.9× the instructions of a bare memory `get`, about 2× its time in `benches/wrappers.rs`
//! (see `BENCHMARKS.md`) — above the 1.10× the project aims for, because each `async_trait`
//! layer that looks at a result must box a future; in absolute terms tens of nanoseconds,
//! negligible next to any disk or network backend. [`Encryption`] of 1 KiB values is within
//! noise of a raw XChaCha20-Poly1305 call plus the memory store. A layer holding an
//! `Arc<dyn KvStore>` pays no second boxed future: mcp-kv-core's `Arc` forwarding hands back
//! the inner store's future as is.

#![forbid(unsafe_code)]

pub mod builder;
#[cfg(any(feature = "encryption", feature = "compression"))]
mod cas;
#[cfg(feature = "compression")]
pub mod compression;
#[cfg(feature = "encryption")]
pub mod encryption;
pub mod fallback;
mod hook;
mod names;
pub mod namespace;
pub mod read_only;
pub mod retry;
pub mod routing;
pub mod size_limit;
pub mod statistics;
pub mod tiered;
pub mod timeout;
pub mod tracing;
pub mod ttl_policy;

#[cfg(test)]
mod test_support;

pub use builder::StoreBuilder;
pub use fallback::Fallback;
pub use namespace::Namespace;
pub use read_only::ReadOnly;
pub use retry::{Retry, RetryConfig};
pub use routing::Router;
pub use size_limit::SizeLimit;
pub use statistics::{Statistics, Stats, StatsSnapshot};
pub use tiered::{Tiered, TieredConfig};
pub use timeout::{Timeout, TimeoutConfig};
pub use tracing::{Tracing, TracingConfig};
pub use ttl_policy::{TtlPolicy, TtlPolicyConfig};

#[cfg(feature = "compression")]
pub use compression::{Compression, CompressionConfig};
#[cfg(feature = "encryption")]
pub use encryption::{Encryption, EncryptionConfig, EncryptionKey, Keyring};

/// The store every wrapper is generic over (re-exported for convenience).
pub use mcp_kv_core::KvStore;

#[cfg(test)]
mod static_checks {
    use super::*;
    use mcp_kv_core::DynStore;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn wrappers_are_send_sync() {
        send_sync::<Namespace<DynStore>>();
        send_sync::<Statistics<DynStore>>();
        send_sync::<Stats>();
        send_sync::<TtlPolicy<DynStore>>();
        send_sync::<Retry<DynStore>>();
        send_sync::<Timeout<DynStore>>();
        send_sync::<ReadOnly<DynStore>>();
        send_sync::<SizeLimit<DynStore>>();
        send_sync::<Tiered<DynStore, DynStore>>();
        send_sync::<Fallback<DynStore, DynStore>>();
        send_sync::<Router>();
        send_sync::<Tracing<DynStore>>();
        send_sync::<StoreBuilder>();
        #[cfg(feature = "compression")]
        send_sync::<Compression<DynStore>>();
        #[cfg(feature = "encryption")]
        {
            send_sync::<Encryption<DynStore>>();
            send_sync::<Keyring>();
        }
    }
}

//! # mcp-kv-memory
//!
//! The in-memory backend of mcp-kv: a sharded concurrent map with millisecond TTLs, every atomic
//! operation of the [`KvStore`](mcp_kv_core::KvStore) contract, an optional per-collection bound
//! with exact LRU eviction, and a background sweeper.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, DynStore, KvStore, ManualClock};
//! use mcp_kv_memory::MemoryStore;
//!
//! // Built once at server start, shared by every session (clones share the data).
//! let store: DynStore = Arc::new(MemoryStore::new());
//! store.put("tokens", "t1", Bytes::from_static(b"alice"), Some(Duration::from_secs(3600))).await?;
//! assert_eq!(store.get("tokens", "t1").await?, Some(Bytes::from_static(b"alice")));
//!
//! // Single-use values: exactly one caller wins.
//! assert!(store.put_if_absent("codes", "c1", Bytes::from_static(b"grant"), None).await?);
//! assert!(!store.put_if_absent("codes", "c1", Bytes::from_static(b"other"), None).await?);
//! assert_eq!(store.take("codes", "c1").await?, Some(Bytes::from_static(b"grant")));
//! assert_eq!(store.take("codes", "c1").await?, None);
//!
//! // Tests inject a manual clock instead of sleeping; collections can be bounded (LRU).
//! let clock = ManualClock::new();
//! let small = MemoryStore::builder().clock(clock.clone()).max_entries_per_collection(2).build();
//! small.put("c", "a", Bytes::from_static(b"1"), Some(Duration::from_secs(5))).await?;
//! small.put("c", "b", Bytes::from_static(b"2"), None).await?;
//! small.get("c", "a").await?;                                  // "a" is now the most recent
//! small.put("c", "z", Bytes::from_static(b"3"), None).await?;  // evicts "b"
//! assert_eq!(small.get("c", "b").await?, None);
//! clock.advance(Duration::from_secs(6));                        // "a" expires
//! assert_eq!(small.get("c", "a").await?, None);
//!
//! store.close().await?; // server shutdown: stops the sweeper, frees the memory
//! assert!(store.get("tokens", "t1").await.is_err());
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Capabilities
//!
//! | capability | value |
//! |---|---|
//! | `put_if_absent`, `take`, `compare_and_swap`, `touch` | yes — one shard lock per key, linearizable per key |
//! | `enumerate` (`keys`, `collections`, `clear`) | yes — `keys` in sorted order, cursor = last key returned |
//! | `native_ttl` | no — expiry checked on every read against the injected [`Clock`](mcp_kv_core::Clock), removed by the sweeper and [`cull`](mcp_kv_core::KvStore::cull) |
//! | `persistent` / `distributed` | no / no — one process, gone on restart |
//! | `max_entries_per_collection` | `None` unless set on the [builder](MemoryStoreBuilder) |
//! | names, values, batches | the contract's limits: collection ≤ 1024 B, key ≤ 4096 B, value ≤ 16 MiB (configurable), unbounded batches |
//!
//! ## Layout and design
//!
//! - **Sharded, no global lock.** The map is split into N shards (16 per CPU, a power of two),
//!   each a [`parking_lot::RwLock`] on its own cache lines. A `(collection, key)` pair is
//!   hashed once per name (foldhash, randomly seeded per store) and routed to a shard by the
//!   middle bits of the combined hash — bits hashbrown does not use inside the shard, so
//!   sharding costs no probe quality. Two tasks on two cores almost never meet on a lock, and
//!   reads of an unbounded store share the lock. One key is always in one shard, so every
//!   operation on it, atomic ones included, is linearizable under that shard's lock.
//! - **Inside a shard**, a hash table maps collection names to tables; a table holds that
//!   collection's entries as a dense slab of nodes (`key`, `value: Bytes`, `expires_at`) with
//!   a hash index of slab positions. Lookups borrow the caller's `&str` names: a read allocates
//!   nothing, and the returned [`Bytes`](mcp_kv_core::Bytes) is the stored buffer, shared, not
//!   copied. Stored values are kept the same way: a `put` keeps the caller's `Bytes` as is, so
//!   a small slice of a large buffer keeps the whole buffer alive (and only the slice's length
//!   counts against `max_value_bytes`); pass `Bytes::copy_from_slice(&slice)` to store just the
//!   slice. Deletion swaps the last node into the hole, so the slab stays dense for scans, and
//!   a table that shrinks to a quarter of its capacity gives the memory back.
//! - **Expiry** is epoch milliseconds from [`mcp_kv_core::expiry`]: live while
//!   `now <= expires_at`. The clock is read at most once per call and only when an entry has
//!   an expiry or the call sets one. Expired entries are invisible to every operation at once;
//!   they are physically removed by `cull()`, by the sweeper, by the atomic operations that
//!   meet them, and (bounded stores) by the read that meets them.
//! - **Bounded collections, exact LRU.** With `max_entries_per_collection(n)`, all entries of a
//!   collection are routed to one shard (by the collection's hash), where its table threads a
//!   doubly linked list through the slab by index. Every read or write of a key moves it to the
//!   front in O(1). Exactness needs one total order of accesses per collection, hence one lock
//!   per bounded collection (reads take it exclusively); different collections still spread
//!   over the shards. Expired entries count toward the bound until removed.
//! - **Eviction order.** Inserting a new key into a full collection (by `put`, `put_many`,
//!   `put_if_absent` or `compare_and_swap`; overwriting an existing key never evicts):
//!   1. every **expired** entry of the collection is removed first, wherever it sits in the
//!      LRU list;
//!   2. then, only if the collection is still full, the **least recently used** live entry
//!      (the tail) is evicted — exactly, not a sample.
//!
//!   So no live entry is evicted while an expired one holds a slot. Step 1 costs a scan of the
//!   collection only when it is full *and* one of its entries may have expired: each table
//!   keeps a lower bound of its entries' expiry instants, made exact by every scan, so a full
//!   collection of live entries is rescanned only once its earliest expiry has passed (or the
//!   entry holding it was rewritten or removed); inserts into a non-full collection and
//!   collections without TTLs never scan or read the clock.
//! - **Sweeper lifecycle.** [`MemoryStoreBuilder::build`] called inside a Tokio runtime (with
//!   its timer enabled) spawns one task that calls `cull` every
//!   [`sweep_interval`](MemoryStoreBuilder::sweep_interval) (30 s by default). It holds only a
//!   weak reference, upgraded for one sweep at a time, so it never keeps the store alive:
//!   dropping the last handle wakes it and it ends; `close()` wakes and ends it too. Outside a
//!   runtime no task starts; expired entries are still never returned. In a runtime built
//!   without its timer (no `enable_time`/`enable_all`), pass `sweep_interval(Duration::ZERO)`
//!   (no sweeper): Tokio panics the task at its first sleep (the store goes on working,
//!   unswept; with `panic = "abort"` the process would end).
//! - **Close.** `close()` is idempotent: it stops the sweeper and frees every entry; afterwards
//!   every operation fails with [`ErrorKind::Unavailable`](mcp_kv_core::ErrorKind::Unavailable).
//!   A write racing `close()` either landed before it (and was freed) or fails: each write
//!   checks the flag again after writing and, finding the store closed, clears it again.
//! - **`keys()` paging** returns live keys in byte order; the cursor is the last key returned,
//!   and the next page starts strictly after it, so a key that stays live throughout a listing
//!   is returned exactly once even while other keys come and go. A page costs one pass over the
//!   collection (a selection, not a full sort).

#![forbid(unsafe_code)]

mod config;
mod shards;
mod store;
mod sweeper;
mod table;

pub use config::{MemoryStoreBuilder, DEFAULT_SWEEP_INTERVAL};
pub use store::MemoryStore;

#[cfg(test)]
mod tests;

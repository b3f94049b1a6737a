//! # mcp-kv-sled
//!
//! The [sled](https://docs.rs/sled/0.34) backend of mcp-kv: an embedded, persistent
//! [`KvStore`](mcp_kv_core::KvStore) in one directory, with no server to run. Expiry is checked
//! on every read against an injectable [`Clock`](mcp_kv_core::Clock); `put_if_absent`, `take`,
//! `compare_and_swap` and `touch` are linearizable per key on sled's compare-and-swap.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_sled::{Durability, SledStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SledStore::builder()
//!     .path(dir.path().join("kv"))
//!     .durability(Durability::Flush) // acknowledged writes survive a crash
//!     .open()?;
//!
//! store.put("greetings", "en", Bytes::from_static(b"hello"), Some(Duration::from_secs(60))).await?;
//! assert_eq!(store.get("greetings", "en").await?, Some(Bytes::from_static(b"hello")));
//!
//! // One-time values: exactly one caller can take it, also under concurrency.
//! assert!(store.put_if_absent("codes", "abc", Bytes::from_static(b"grant"), None).await?);
//! assert!(store.take("codes", "abc").await?.is_some());
//! assert!(store.take("codes", "abc").await?.is_none());
//!
//! store.close().await?; // flushes; later operations are `Unavailable`
//! drop(store);
//!
//! // The data survives a reopen.
//! let store = SledStore::open(dir.path().join("kv"))?;
//! assert!(store.get("greetings", "en").await?.is_some());
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Capabilities
//!
//! | capability | value |
//! |---|---|
//! | `native_ttl` | `false`: expiry is checked on read, `cull()` (or the sweeper) removes expired entries |
//! | `put_if_absent`, `take`, `compare_and_swap`, `touch` | `true`, linearizable per key (sled CAS loops) |
//! | `enumerate` (`keys`, `collections`, `clear`) | `true` |
//! | `persistent` | `true` with a path; `false` for [`SledStore::temporary`] |
//! | `distributed` | `false`: sled locks its directory to one process (see below) |
//! | `max_value_bytes` | 16 MiB by default ([`SledStoreBuilder::max_value_bytes`]) |
//! | `max_batch` | unbounded; a `put_many` is one sled `Batch` (atomic) |
//!
//! ## Storage layout
//!
//! One sled database, one tree (the default one). Details and the decoder are in
//! [`encoding`]:
//!
//! - **key** = `len(collection) as u32 BE ‖ collection ‖ key` — injective, and each
//!   collection is one contiguous prefix range (`keys()` is a range scan, the cursor is the last
//!   key returned; `collections()` seeks from one prefix range to the next; `clear()` removes a
//!   prefix range in batches).
//! - **value** = `0x01 (format version) ‖ tag ‖ [expires_at: u64 BE epoch ms] ‖ bytes` — tag
//!   `0x00` for no expiry (2-byte header), `0x01` with expiry (10-byte header). An entry is live
//!   while `now <= expires_at`.
//! - Stored *values* that do not decode are [`ErrorKind::Corrupted`](mcp_kv_core::ErrorKind)
//!   for that key only; other keys stay readable. `keys()` still lists such a key (so the damage
//!   is visible), `put` overwrites it, `delete` removes it, `cull` leaves it alone.
//! - A stored *key* (name) that does not decode — written behind the store's back, through
//!   [`SledStore::db`] or another handle on the database — breaks a listing instead. A key that
//!   is not UTF-8 inside a collection's prefix range makes `keys()` of that collection fail
//!   with `Corrupted` on every page that reaches it (the cursor cannot step past it); no
//!   `delete` can name it, but `clear` of that collection removes it with the rest (it removes
//!   the prefix range, decoding nothing). A key whose collection prefix does not decode
//!   (shorter than its length prefix; an empty or non-UTF-8 collection name) makes
//!   `collections()` fail with `Corrupted`, and no call of the store removes it: remove it
//!   through [`SledStore::db`], e.g. every key of `db().iter().keys()` for which
//!   [`encoding::decode_collection`] fails, with `db().remove(key)`.
//! - Damage to sled's own files is **not** detected as `Corrupted`. sled 0.34 checks the CRC of
//!   each message of its log when it recovers, and stops at the first that fails: what was
//!   logged after it is lost, without an error. Measured (`tests/corruption.rs`): 4 KiB
//!   overwritten in the middle of the `db` file of a closed database of 2 000 entries — the
//!   database reopened without an error, and ~40 % of the entries read as absent. Nothing in
//!   this crate can notice; keep backups of what must not be lost. (For comparison, the SQLite
//!   backend reported the same damage to its file as `Corrupted` for the keys and listings it
//!   touched, but it checksums no values either: a changed byte inside a stored value reads
//!   back as a different value.)
//!
//! ## Atomic operations
//!
//! Each atomic operation reads the key's stored bytes, decides, and writes with sled's
//! `compare_and_swap` from those exact bytes, retrying on a conflict. An expired entry counts as
//! absent: `put_if_absent` replaces it from its exact old bytes, so two callers racing over an
//! expired entry still have one winner. `delete` and `delete_many` are one sled `remove` per
//! key; `put_many` is one sled `Batch`, validated whole before it is built.
//!
//! ## Durability
//!
//! | [`Durability`] | an acknowledged write | after SIGKILL | cost per write |
//! |---|---|---|---|
//! | `Periodic` (default) | is in sled's memory; sled flushes every `flush_every_ms` (500 ms) | up to the last interval's writes are lost | none |
//! | `Flush` | has been flushed and fsynced to sled's log | nothing acknowledged is lost (tested: `tests/crash.rs`) | one fsync (one per batch for `put_many`) |
//!
//! `close()` flushes in either mode; dropping the last handle flushes too. Atomic operations
//! that did not write (a lost `put_if_absent`) do not flush. A power loss can still lose what
//! the disk itself had cached after the fsync.
//!
//! In `Flush`, a write whose flush fails returns that error, but sled has already applied the
//! write in memory: later reads see it, and it may or may not survive a crash. For `take` this
//! means the entry is removed and its value is **not** returned — the error (permanent) says
//! the value was taken but the removal not flushed.
//!
//! ## Blocking calls
//!
//! sled's reads and writes are in-memory operations of a microsecond or two, so the store calls
//! them directly inside its async methods: moving each one to `spawn_blocking` costs a thread
//! hand-off many times the operation itself (measured: the `sled get: direct vs spawn_blocking`
//! group of `benches/sled.rs`). What can take long runs elsewhere:
//!
//! - flushes of `Durability::Flush` writes go to one **flusher thread**, which runs one
//!   blocking `flush` for every write waiting at that moment (group commit: concurrent writers
//!   share fsyncs) and answers each. Waking a sleeping thread costs tens of µs on an idle
//!   machine, so the thread polls for its next request for 50 µs before sleeping, and a caller
//!   polls for its answer for up to 500 µs — past a flush (~55–70 µs here, several hundred with
//!   a batch in the log) — yielding to its runtime between polls; at most (cores − 1) callers
//!   poll at once in the process ([`mcp_kv_core::handoff`]), so pollers never take every core
//!   from the threads they wait for. (Until `c42a0ec` callers polled only 50 µs: every flush
//!   outlasted the poll and paid a wake-up, `put` (flush) 0.37× raw sled in the interleaved
//!   check, now 1.38–1.80×; before the cap, 1 ms polls had made the flushed 2-task mix 3×
//!   slower.) `close()` flushes and
//!   then stops the thread (so does dropping the store); the `Periodic` setting's flushes and
//!   anything after a stop use Tokio's blocking pool. Never sled's `flush_async`: in sled 0.34
//!   concurrent `flush_async` calls deadlock (sled issues #1241, #1308) — reproduced here with 8
//!   concurrent writers, and covered by the `concurrent_flushing_writers_finish` test;
//! - `cull()` runs on the blocking pool; the sweeper is a thread of its own.
//!
//! Outside a Tokio runtime these run inline.
//!
//! One more sled 0.34 hang was seen once, in a benchmark with six databases open in one process
//! and one thread writing batches as fast as it could: `Tree::apply_batch` waited in
//! `SegmentAccountant::next` while every thread of sled's I/O pool (shared by all databases of
//! the process) was blocked in `IoBufs::write_to_log`. It was not seen with one database per
//! process, the use this crate documents; prefer one `SledStore` (cloned) per process, and
//! namespaces or collections over many databases.
//!
//! ## Performance
//!
//! `benches/sled.rs` (criterion; our store through `Arc<dyn KvStore>`, raw sled and openkeyv
//! 0.4's sled store in the same groups; 10k keys, 1 KiB values; every write stores bytes other
//! than the key's current ones, since sled skips an insert of an equal value), on the
//! project's 2-core VM (pass 7 of `BENCHMARKS.md` at the workspace root, which has every row
//! and the noise: single ratios move by ±15 % and more between back-to-back runs; the second
//! figure in brackets is the run before it). Raw time ÷ ours (above 1 we are faster):
//!
//! | group | ours vs raw sled | openkeyv vs raw sled |
//! |---|---|---|
//! | get | 0.65× (0.83×) | 0.64× |
//! | get-miss | 0.85× (0.83×) | 0.81× |
//! | get_many(100) | 0.86× (0.92×) | 0.79× |
//! | put, periodic flush / flush per write | 1.08× (0.82×) / 1.66× | — / 1.09× |
//! | put-with-TTL, periodic flush / flush per write | 1.11× (1.21×) / 1.86× | — / 0.57× |
//! | put_many(100), periodic / flush per write | 1.06× (pass 6; pass 7's raw side hung inside sled) / 0.93× (both one sled `Batch`) | — / 1.31× |
//! | take, periodic / flush per write | 1.03× / 1.10× | — (no get-and-delete) |
//! | 2-task 90/10 mix, periodic / flush per write | 0.83× / 1.42× | — / 0.87× |
//!
//! Where the gap goes, counted with callgrind (`examples/get_cost.rs`, which also counts
//! get-miss, get_many, put, put-with-TTL and put_many): ~4 000 instructions per `get` against
//! ~3 150 for raw sled — and raw sled costs the same on our length-prefixed keys as on plain
//! ones, so sled's own work is equal; our own code is ~630 of it: the `async_trait` boxed
//! future (~150), turning sled's `IVec` into the contract's `Bytes` (~100), the key encoding
//! (~100), the expiry header, the clock read (only for entries that have an expiry: a miss
//! never reads it) and name validation. A put's own code is ~1 350 instructions (against
//! ~10 700 of sled's): the boxed future, the key encoding, the checks, and the stored value
//! built in sled's buffer with its header (sled copies a slice to make its buffer, so that is
//! two copies of the value, against raw sled's one). In the flush-per-write groups raw sled blocks the benchmark thread for each
//! fsync (~55–70 µs here); ours waits on the flusher thread. Calling sled through
//! `spawn_blocking` instead of directly made a get ~28× slower (577 ns → 16 µs).
//!
//! The sled bench also runs the reads with the sides taking turns round by round, and adds raw
//! sled reading *our store's own database* with the same header decoding and expiry check:
//! against that floor a `get` is at ~0.77× (~150 ns more), while the plain raw twin, reading a
//! second database of the same keys, read ~20 % slower than raw sled on ours in most such runs
//! — part of criterion's get ratio is that difference between two sled trees (`BENCHMARKS.md`,
//! "Interleaved checks").

//! ## One process per database
//!
//! sled keeps an exclusive lock on its directory: a second process opening the same path gets an
//! [`ErrorKind::Unavailable`](mcp_kv_core::ErrorKind) error, so the store is not `distributed`
//! and cross-process races cannot arise. Within one process, share one store (clone it) — every
//! clone sees the same database and the atomic operations stay linearizable. To share state
//! between processes or machines use the SQLite, Redis or DynamoDB backends.
//!
//! ## sled 0.34 can hang inside itself
//!
//! sled 0.34.7, the last release of the 0.34 line, has an open report of its threads
//! deadlocking under write load (spacejam/sled#1412). We met it once, on 2026-11-27, in the
//! benchmark process, which opens four sled databases side by side: the *raw* sled twin's
//! `Tree::apply_batch` waited forever for a segment in sled's segment accountant while every
//! thread of sled's I/O pool (one pool per process, shared by all its databases) waited for a
//! lock in `write_to_log` — no mcp-kv code on any stack, and no error, only a call that never
//! returned. Nothing above sled can end such a call: sled runs inside the caller's poll, so a
//! timeout around it (`mcp_kv_wrappers::Timeout`, `tokio::time::timeout`) never gets to fire
//! and the runtime's worker thread is lost with it. Keep to one sled database per process
//! (the backend's model: one `SledStore`, cloned), and choose the SQLite backend where a hung
//! write is unacceptable. `scripts/bench-report.sh` bounds each bench's run time, so such a
//! hang is reported as a failed bench.
//!
//! ## Lifecycle
//!
//! Build the store once at server start, clone it freely. [`SledStore::builder`]'s
//! `sweep_interval` starts a background thread that culls expired entries; `close()` stops it,
//! flushes, and makes every later operation fail with `Unavailable`. `close()` is idempotent.
//! The directory lock is released when the last clone is dropped.

#![forbid(unsafe_code)]

pub mod config;
pub mod encoding;
mod flusher;
pub mod store;

pub use config::{Durability, SledStoreBuilder};
pub use store::SledStore;

/// The sled crate this backend is built on (for [`SledStoreBuilder::build_with_db`]).
pub use sled;

/// The backend name reported in errors.
pub const BACKEND: &str = "sled";

#[cfg(test)]
mod static_checks {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_sync() {
        send_sync::<crate::SledStore>();
        send_sync::<crate::SledStoreBuilder>();
        send_sync::<crate::Durability>();
    }

    #[test]
    fn usable_as_dyn_store() {
        let store = crate::SledStore::temporary().unwrap();
        let _: mcp_kv_core::DynStore = std::sync::Arc::new(store);
    }
}

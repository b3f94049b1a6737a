//! [`Statistics`]: counters per collection and per operation, on lock-free atomics.
//!
//! For every call the wrapper counts, under its collection (or under "store-wide" for
//! `collections`, `cull` and `close`) and its [`Operation`]:
//!
//! | counter | counts |
//! |---|---|
//! | `calls` | every call, failed or not |
//! | `errors` | calls that returned an error |
//! | `hits` / `misses` | per key read: `get`, `get_entry`, `take`, each key of `get_many` / `get_entries`; and `touch` (live / absent) |
//! | `writes` | values written: `put`, each entry of `put_many`, a `put_if_absent` that stored, a `compare_and_swap` that stored a new value |
//! | `deletes` | entries removed: `delete` that removed, `delete_many`'s count, a `take` that returned a value, a `compare_and_swap` that deleted, `clear`'s count |
//! | `bytes_in` | value bytes handed to the store by successful writes |
//! | `bytes_out` | value bytes returned by the store |
//!
//! Counters are `AtomicU64`s updated with relaxed ordering after the operation ends (a call
//! whose future is dropped before it ends — a `Timeout` outside, a cancelled request — is not
//! counted at all); the hot path finds the collection's counters in a lock-free table (one
//! hash, one acquire load — no lock). At most [`Stats::with_max_collections`] collections
//! (default 1024) get counters of their own, the first valid names seen, for the life of the
//! counters — the rest, and every name the contract or the inner store rejects (empty, or
//! longer than the inner store's `max_collection_bytes`, which a namespace below shortens: the
//! call failed), add up under [`StatsSnapshot::other`], so per-session collections or junk names
//! cannot grow memory without bound.
//!
//! [`Stats::snapshot`] copies the counters, [`Stats::reset`] zeroes them; with the `metrics`
//! feature, `Stats::export_metrics` publishes a snapshot through the `metrics` crate.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mcp_kv_core::{Bytes, KvStore, Operation};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::statistics::Statistics;
//!
//! let store = Statistics::new(MemoryStore::new());
//! let stats = store.stats();
//! store.put("users", "1", Bytes::from_static(b"ann"), None).await?;
//! store.get("users", "1").await?;
//! store.get("users", "2").await?;
//! let snap = stats.snapshot();
//! let gets = snap.collection("users").unwrap().operation(Operation::Get);
//! assert_eq!((gets.calls, gets.hits, gets.misses, gets.bytes_out), (2, 1, 1, 3));
//! assert_eq!(snap.total().writes, 1);
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{rules, Capabilities, Cursor, Entry, KvStore, Operation, Page, Result};

use crate::names::NameTable;

const OPS: usize = Operation::ALL.len();

fn op_index(op: Operation) -> usize {
    match op {
        Operation::Get => 0,
        Operation::GetEntry => 1,
        Operation::Put => 2,
        Operation::Delete => 3,
        Operation::GetMany => 4,
        Operation::GetEntries => 5,
        Operation::PutMany => 6,
        Operation::DeleteMany => 7,
        Operation::PutIfAbsent => 8,
        Operation::Take => 9,
        Operation::CompareAndSwap => 10,
        Operation::Touch => 11,
        Operation::Keys => 12,
        Operation::Collections => 13,
        Operation::Clear => 14,
        Operation::Cull => 15,
        Operation::Close => 16,
        // Not trait operations; never recorded by the wrapper.
        _ => 16,
    }
}

/// The counters of one operation, copied out by [`Stats::snapshot`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpStats {
    /// Calls, failed or not.
    pub calls: u64,
    /// Keys found live.
    pub hits: u64,
    /// Keys absent or expired.
    pub misses: u64,
    /// Values written.
    pub writes: u64,
    /// Entries removed.
    pub deletes: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Value bytes written.
    pub bytes_in: u64,
    /// Value bytes read.
    pub bytes_out: u64,
}

impl Add for OpStats {
    type Output = OpStats;
    fn add(self, o: OpStats) -> OpStats {
        OpStats {
            calls: self.calls + o.calls,
            hits: self.hits + o.hits,
            misses: self.misses + o.misses,
            writes: self.writes + o.writes,
            deletes: self.deletes + o.deletes,
            errors: self.errors + o.errors,
            bytes_in: self.bytes_in + o.bytes_in,
            bytes_out: self.bytes_out + o.bytes_out,
        }
    }
}

impl AddAssign for OpStats {
    fn add_assign(&mut self, o: OpStats) {
        *self = *self + o;
    }
}

/// What one finished call adds (besides `calls`).
#[derive(Default, Clone, Copy)]
struct Delta {
    hits: u64,
    misses: u64,
    writes: u64,
    deletes: u64,
    error: bool,
    bytes_in: u64,
    bytes_out: u64,
}

#[derive(Default)]
struct OpCounters {
    calls: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl OpCounters {
    fn add(&self, d: &Delta) {
        self.calls.fetch_add(1, Relaxed);
        let add = |c: &AtomicU64, n: u64| {
            if n != 0 {
                c.fetch_add(n, Relaxed);
            }
        };
        add(&self.hits, d.hits);
        add(&self.misses, d.misses);
        add(&self.writes, d.writes);
        add(&self.deletes, d.deletes);
        add(&self.errors, u64::from(d.error));
        add(&self.bytes_in, d.bytes_in);
        add(&self.bytes_out, d.bytes_out);
    }

    fn load(&self) -> OpStats {
        OpStats {
            calls: self.calls.load(Relaxed),
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            writes: self.writes.load(Relaxed),
            deletes: self.deletes.load(Relaxed),
            errors: self.errors.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
        }
    }

    fn zero(&self) {
        for c in [
            &self.calls,
            &self.hits,
            &self.misses,
            &self.writes,
            &self.deletes,
            &self.errors,
            &self.bytes_in,
            &self.bytes_out,
        ] {
            c.store(0, Relaxed);
        }
    }
}

#[derive(Default)]
struct Counters([OpCounters; OPS]);

impl Counters {
    fn snapshot(&self) -> CollectionStats {
        let mut operations = BTreeMap::new();
        for (i, op) in Operation::ALL.iter().enumerate() {
            let s = self.0[i].load();
            if s != OpStats::default() {
                operations.insert(op.as_str(), s);
            }
        }
        CollectionStats { operations }
    }

    fn zero(&self) {
        self.0.iter().for_each(OpCounters::zero);
    }
}

/// The counters of one collection (or of the store-wide operations), by operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectionStats {
    /// Counters by operation name (`"get"`, `"put_many"`, …); operations never called are
    /// absent.
    pub operations: BTreeMap<&'static str, OpStats>,
}

impl CollectionStats {
    /// The counters of `op` (zeros if never called).
    pub fn operation(&self, op: Operation) -> OpStats {
        self.operations
            .get(op.as_str())
            .copied()
            .unwrap_or_default()
    }

    /// The sum over every operation.
    pub fn total(&self) -> OpStats {
        self.operations
            .values()
            .fold(OpStats::default(), |a, b| a + *b)
    }
}

/// A copy of every counter at one moment (each counter read atomically, the set not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Counters of each collection that got counters of its own.
    pub collections: BTreeMap<String, CollectionStats>,
    /// Counters of collections beyond the `max_collections` bound, added up.
    pub other: CollectionStats,
    /// Counters of operations without a collection (`collections`, `cull`, `close`).
    pub store_wide: CollectionStats,
}

impl StatsSnapshot {
    /// The counters of `collection`, if it has counters of its own.
    pub fn collection(&self, collection: &str) -> Option<&CollectionStats> {
        self.collections.get(collection)
    }

    /// The counters of `op` summed over every collection and the store-wide operations.
    pub fn operation(&self, op: Operation) -> OpStats {
        self.all()
            .map(|c| c.operation(op))
            .fold(OpStats::default(), Add::add)
    }

    /// Every counter summed.
    pub fn total(&self) -> OpStats {
        self.all()
            .map(CollectionStats::total)
            .fold(OpStats::default(), Add::add)
    }

    fn all(&self) -> impl Iterator<Item = &CollectionStats> {
        self.collections
            .values()
            .chain([&self.other, &self.store_wide])
    }
}

struct Registry {
    collections: NameTable<Counters>,
    other: Counters,
    store_wide: Counters,
}

/// The most collections a [`Stats`] counts apart, whatever
/// [`Stats::with_max_collections`] asks for.
pub const MAX_COLLECTIONS: usize = 1 << 16;

/// A shared handle to the counters of a [`Statistics`] wrapper; clones share the counters.
#[derive(Clone)]
pub struct Stats(Arc<Registry>);

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats")
            .field("collections", &self.0.collections.len())
            .field("max_collections", &self.0.collections.max())
            .finish()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty counters, at most 1024 collections counted apart.
    pub fn new() -> Self {
        Self::with_max_collections(1024)
    }

    /// Empty counters, at most `max` collections counted apart (the rest under `other`).
    ///
    /// The table is allocated here, about 32 bytes per collection: a `max` above
    /// [`MAX_COLLECTIONS`] (`usize::MAX` for "no bound", say) counts [`MAX_COLLECTIONS`] apart.
    pub fn with_max_collections(max: usize) -> Self {
        Stats(Arc::new(Registry {
            collections: NameTable::new(max.min(MAX_COLLECTIONS)),
            other: Counters::default(),
            store_wide: Counters::default(),
        }))
    }

    /// A copy of every counter; collections with no count since the last [`reset`](Self::reset)
    /// are left out.
    pub fn snapshot(&self) -> StatsSnapshot {
        let collections = self
            .0
            .collections
            .iter()
            .map(|(name, c)| (name.to_string(), c.snapshot()))
            .filter(|(_, c)| !c.operations.is_empty())
            .collect();
        StatsSnapshot {
            collections,
            other: self.0.other.snapshot(),
            store_wide: self.0.store_wide.snapshot(),
        }
    }

    /// Zeroes every counter. (Collections keep the counters they were given: a collection that
    /// had counters of its own still has them; the `max_collections` bound is not reset.)
    pub fn reset(&self) {
        self.0.collections.iter().for_each(|(_, c)| c.zero());
        self.0.other.zero();
        self.0.store_wide.zero();
    }

    /// Counts `d` under `collection`; `max_collection_bytes` gives the inner store's limit
    /// (a namespace below has a shorter one than the contract), asked only for a name without
    /// counters yet.
    fn record(
        &self,
        collection: Option<&str>,
        op: Operation,
        d: Delta,
        max_collection_bytes: impl FnOnce() -> usize,
    ) {
        let i = op_index(op);
        let Some(name) = collection else {
            self.0.store_wide.0[i].add(&d);
            return;
        };
        // A name the contract or the inner store rejects (the call failed) counts under
        // `other`: it never takes a place in the table, whatever its length.
        let table = &self.0.collections;
        let counters = match table.get(name) {
            Some(counters) => counters,
            None if rules::check_collection(name).is_ok()
                && name.len() <= max_collection_bytes() =>
            {
                table
                    .get_or_insert_with(name, Counters::default)
                    .unwrap_or(&self.0.other)
            }
            None => &self.0.other,
        };
        counters.0[i].add(&d);
    }

    /// Publishes a snapshot through the `metrics` crate as absolute counters named
    /// `{prefix}_{counter}_total` (`calls`, `hits`, `misses`, `writes`, `deletes`, `errors`,
    /// `bytes_in`, `bytes_out`) with labels `collection` (the name, `"(other)"` or
    /// `"(store)"`) and `operation`. Call it periodically (e.g. before each scrape).
    ///
    /// Only what the snapshot holds is published: after [`reset`](Self::reset), an operation
    /// not called since keeps the value exported before it, so do not reset counters you
    /// export. A collection literally named `"(other)"` or `"(store)"` shares its series with
    /// that group.
    #[cfg(feature = "metrics")]
    pub fn export_metrics(&self, prefix: &str) {
        let snap = self.snapshot();
        let groups = snap
            .collections
            .iter()
            .map(|(n, c)| (n.as_str(), c))
            .chain([("(other)", &snap.other), ("(store)", &snap.store_wide)]);
        for (collection, stats) in groups {
            for (op, s) in &stats.operations {
                let fields = [
                    ("calls", s.calls),
                    ("hits", s.hits),
                    ("misses", s.misses),
                    ("writes", s.writes),
                    ("deletes", s.deletes),
                    ("errors", s.errors),
                    ("bytes_in", s.bytes_in),
                    ("bytes_out", s.bytes_out),
                ];
                for (field, value) in fields {
                    metrics::counter!(
                        format!("{prefix}_{field}_total"),
                        "collection" => collection.to_string(),
                        "operation" => *op
                    )
                    .absolute(value);
                }
            }
        }
    }
}

/// Counts the operations of `S`. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Statistics<S> {
    inner: S,
    stats: Stats,
}

impl<S: KvStore> Statistics<S> {
    /// Wraps `inner` with fresh counters.
    pub fn new(inner: S) -> Self {
        Self::with_stats(inner, Stats::new())
    }

    /// Wraps `inner`, counting into `stats` (which may be shared by several wrappers).
    pub fn with_stats(inner: S, stats: Stats) -> Self {
        Statistics { inner, stats }
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn done<T>(
        &self,
        collection: Option<&str>,
        op: Operation,
        result: Result<T>,
        delta: impl FnOnce(&T) -> Delta,
    ) -> Result<T> {
        let d = match &result {
            Ok(v) => delta(v),
            Err(_) => Delta {
                error: true,
                ..Delta::default()
            },
        };
        self.stats.record(collection, op, d, || {
            self.inner.capabilities().max_collection_bytes
        });
        result
    }
}

fn read_delta(len: Option<usize>) -> Delta {
    match len {
        Some(n) => Delta {
            hits: 1,
            bytes_out: n as u64,
            ..Delta::default()
        },
        None => Delta {
            misses: 1,
            ..Delta::default()
        },
    }
}

fn many_delta<'a>(lens: impl Iterator<Item = Option<usize>> + 'a) -> Delta {
    lens.fold(Delta::default(), |mut d, len| {
        match len {
            Some(n) => {
                d.hits += 1;
                d.bytes_out += n as u64;
            }
            None => d.misses += 1,
        }
        d
    })
}

#[async_trait]
impl<S: KvStore> KvStore for Statistics<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let r = self.inner.get(collection, key).await;
        self.done(Some(collection), Operation::Get, r, |v| {
            read_delta(v.as_ref().map(Bytes::len))
        })
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        let r = self.inner.get_entry(collection, key).await;
        self.done(Some(collection), Operation::GetEntry, r, |v| {
            read_delta(v.as_ref().map(|e| e.value.len()))
        })
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let n = value.len() as u64;
        let r = self.inner.put(collection, key, value, ttl).await;
        self.done(Some(collection), Operation::Put, r, |_| Delta {
            writes: 1,
            bytes_in: n,
            ..Delta::default()
        })
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        let r = self.inner.delete(collection, key).await;
        self.done(Some(collection), Operation::Delete, r, |removed| Delta {
            deletes: u64::from(*removed),
            ..Delta::default()
        })
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let r = self.inner.get_many(collection, keys).await;
        self.done(Some(collection), Operation::GetMany, r, |v| {
            many_delta(v.iter().map(|v| v.as_ref().map(Bytes::len)))
        })
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let r = self.inner.get_entries(collection, keys).await;
        self.done(Some(collection), Operation::GetEntries, r, |v| {
            many_delta(v.iter().map(|e| e.as_ref().map(|e| e.value.len())))
        })
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let count = entries.len() as u64;
        let bytes = entries.iter().map(|(_, v)| v.len() as u64).sum();
        let r = self.inner.put_many(collection, entries, ttl).await;
        self.done(Some(collection), Operation::PutMany, r, |_| Delta {
            writes: count,
            bytes_in: bytes,
            ..Delta::default()
        })
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        let r = self.inner.delete_many(collection, keys).await;
        self.done(Some(collection), Operation::DeleteMany, r, |n| Delta {
            deletes: *n,
            ..Delta::default()
        })
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let n = value.len() as u64;
        let r = self.inner.put_if_absent(collection, key, value, ttl).await;
        self.done(Some(collection), Operation::PutIfAbsent, r, |stored| {
            if *stored {
                Delta {
                    writes: 1,
                    bytes_in: n,
                    ..Delta::default()
                }
            } else {
                Delta::default()
            }
        })
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let r = self.inner.take(collection, key).await;
        self.done(Some(collection), Operation::Take, r, |v| {
            let mut d = read_delta(v.as_ref().map(Bytes::len));
            d.deletes = d.hits;
            d
        })
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let new_len = new.as_ref().map(|v| v.len() as u64);
        let r = self
            .inner
            .compare_and_swap(collection, key, current, new, ttl)
            .await;
        self.done(
            Some(collection),
            Operation::CompareAndSwap,
            r,
            |swapped| match (*swapped, new_len) {
                (false, _) => Delta::default(),
                (true, Some(n)) => Delta {
                    writes: 1,
                    bytes_in: n,
                    ..Delta::default()
                },
                (true, None) => Delta {
                    deletes: u64::from(current.is_some()),
                    ..Delta::default()
                },
            },
        )
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let r = self.inner.touch(collection, key, ttl).await;
        self.done(Some(collection), Operation::Touch, r, |live| {
            read_delta(live.then_some(0))
        })
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        let r = self.inner.keys(collection, cursor, limit).await;
        self.done(Some(collection), Operation::Keys, r, |_| Delta::default())
    }

    async fn collections(&self) -> Result<Vec<String>> {
        let r = self.inner.collections().await;
        self.done(None, Operation::Collections, r, |_| Delta::default())
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        let r = self.inner.clear(collection).await;
        self.done(Some(collection), Operation::Clear, r, |n| Delta {
            deletes: *n,
            ..Delta::default()
        })
    }

    async fn cull(&self) -> Result<u64> {
        let r = self.inner.cull().await;
        self.done(None, Operation::Cull, r, |n| Delta {
            deletes: *n,
            ..Delta::default()
        })
    }

    async fn close(&self) -> Result<()> {
        let r = self.inner.close().await;
        self.done(None, Operation::Close, r, |_| Delta::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{store, Flaky};

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn op_indexes_follow_all() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(op_index(*op), i);
        }
    }

    #[tokio::test]
    async fn scripted_workload_adds_up() {
        let s = Statistics::new(store());
        let stats = s.stats();
        s.put("a", "1", b("xx"), None).await.unwrap(); // write 2 B
        s.put("a", "2", b("yyy"), None).await.unwrap(); // write 3 B
        s.get("a", "1").await.unwrap(); // hit 2 B
        s.get("a", "nope").await.unwrap(); // miss
        s.get_many("a", &["1", "2", "3"]).await.unwrap(); // 2 hits 5 B, 1 miss
        s.put_many(
            "b",
            vec![("x".into(), b("1234")), ("y".into(), b("5"))],
            None,
        )
        .await
        .unwrap(); // 2 writes 5 B
        assert!(s.put_if_absent("b", "x", b("zz"), None).await.is_ok()); // not stored
        assert!(s.put_if_absent("b", "z", b("zz"), None).await.unwrap()); // write 2 B
        assert_eq!(s.take("b", "z").await.unwrap().unwrap(), "zz"); // hit+delete 2 B out
        assert!(s.take("b", "z").await.unwrap().is_none()); // miss
        assert!(s
            .compare_and_swap("b", "x", Some(b"1234"), Some(b("q")), None)
            .await
            .unwrap()); // write 1 B
        assert!(s
            .compare_and_swap("b", "x", Some(b"q"), None, None)
            .await
            .unwrap()); // delete
        assert!(s.delete("a", "1").await.unwrap()); // delete
        assert!(!s.delete("a", "1").await.unwrap());
        assert_eq!(s.delete_many("a", &["2", "9"]).await.unwrap(), 1); // delete
        assert!(!s.touch("a", "2", None).await.unwrap()); // miss
        assert!(s.get("", "k").await.is_err()); // error
        s.collections().await.unwrap();
        assert_eq!(s.clear("b").await.unwrap(), 1); // delete (y)

        let snap = stats.snapshot();
        let t = snap.total();
        assert_eq!(t.calls, 19);
        assert_eq!(t.errors, 1);
        assert_eq!(t.writes, 2 + 2 + 1 + 1);
        assert_eq!(t.bytes_in, 2 + 3 + 5 + 2 + 1);
        assert_eq!(t.hits, 1 + 2 + 1);
        assert_eq!(t.misses, 1 + 1 + 1 + 1);
        assert_eq!(t.bytes_out, 2 + 5 + 2);
        assert_eq!(t.deletes, 1 + 1 + 1 + 1 + 1);
        let a = snap.collection("a").unwrap();
        assert_eq!(a.operation(Operation::Get).calls, 2);
        assert_eq!(a.operation(Operation::GetMany).hits, 2);
        assert!(
            snap.collection("").is_none(),
            "a rejected name has no counters"
        );
        assert_eq!(snap.other.operation(Operation::Get).errors, 1);
        assert_eq!(snap.store_wide.operation(Operation::Collections).calls, 1);
        assert_eq!(snap.operation(Operation::Put).writes, 2);
        stats.reset();
        assert_eq!(stats.snapshot(), StatsSnapshot::default());
    }

    #[tokio::test]
    async fn collections_beyond_the_bound_go_to_other() {
        let s = Statistics::with_stats(store(), Stats::with_max_collections(2));
        for c in ["a", "b", "c", "d"] {
            s.get(c, "k").await.unwrap();
        }
        let snap = s.stats().snapshot();
        assert_eq!(snap.collections.len(), 2);
        assert_eq!(snap.other.total().misses, 2);
        assert_eq!(snap.total().calls, 4);
    }

    #[tokio::test]
    async fn rejected_names_take_no_place_in_the_table() {
        let s = Statistics::with_stats(store(), Stats::with_max_collections(2));
        let too_long = "x".repeat(rules::MAX_COLLECTION_BYTES + 1);
        for name in ["", too_long.as_str()] {
            assert!(s.get(name, "k").await.is_err());
        }
        s.put("real", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        let snap = s.stats().snapshot();
        assert_eq!(snap.collections.len(), 1, "{snap:?}");
        assert_eq!(snap.collection("real").unwrap().total().writes, 1);
        assert_eq!(snap.other.total().errors, 2);
    }

    #[tokio::test]
    async fn an_unbounded_max_is_capped_not_a_panic() {
        // `usize::MAX` as "no bound": the table cannot be allocated at that size.
        let s = Statistics::with_stats(store(), Stats::with_max_collections(usize::MAX));
        s.get("a", "k").await.unwrap();
        let snap = s.stats().snapshot();
        assert_eq!(snap.collection("a").unwrap().total().misses, 1);
        assert_eq!(s.stats().0.collections.max(), MAX_COLLECTIONS);
    }

    #[tokio::test]
    async fn names_too_long_for_the_inner_store_take_no_place_in_the_table() {
        // Outermost statistics over a namespace: the namespace's limit is below the contract's.
        let ns = crate::Namespace::new(store(), "tenant").unwrap();
        let max = ns.capabilities().max_collection_bytes;
        let s = Statistics::with_stats(ns, Stats::with_max_collections(2));
        for c in ['x', 'y', 'z'] {
            let long = c.to_string().repeat(max + 1);
            assert!(long.len() <= rules::MAX_COLLECTION_BYTES);
            assert!(s.get(&long, "k").await.is_err());
        }
        s.put("real", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        let snap = s.stats().snapshot();
        assert_eq!(snap.collections.len(), 1, "junk names took the places");
        assert_eq!(snap.collection("real").unwrap().total().writes, 1);
        assert_eq!(snap.other.total().errors, 3);
    }

    /// A `metrics` recorder that keeps the last absolute value of every counter, by name and
    /// labels.
    #[cfg(feature = "metrics")]
    mod recorder {
        use std::collections::BTreeMap;
        use std::sync::{Arc, Mutex};

        use metrics::{
            Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
            Unit,
        };

        type Values = Arc<Mutex<BTreeMap<String, u64>>>;

        #[derive(Default)]
        pub(super) struct Capture(pub(super) Values);

        struct Cell(Values, String);

        impl CounterFn for Cell {
            fn increment(&self, value: u64) {
                *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
            }
            fn absolute(&self, value: u64) {
                self.0.lock().unwrap().insert(self.1.clone(), value);
            }
        }

        impl Recorder for Capture {
            fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let id = format!("{}{{{}}}", key.name(), labels.join(","));
                Counter::from_arc(Arc::new(Cell(self.0.clone(), id)))
            }
            fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
                Gauge::noop()
            }
            fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
                Histogram::noop()
            }
        }
    }

    #[cfg(feature = "metrics")]
    #[tokio::test]
    async fn export_metrics_publishes_the_snapshot() {
        let s = Statistics::new(store());
        s.put("users", "1", b("abc"), None).await.unwrap();
        s.get("users", "1").await.unwrap();
        s.get("users", "2").await.unwrap();
        s.collections().await.unwrap();
        let capture = recorder::Capture::default();
        metrics::with_local_recorder(&capture, || s.stats().export_metrics("kv"));
        let values = capture.0.lock().unwrap().clone();
        let get = |name: &str, coll: &str, op: &str| {
            values
                .get(&format!("{name}{{collection={coll},operation={op}}}"))
                .copied()
        };
        assert_eq!(get("kv_calls_total", "users", "get"), Some(2));
        assert_eq!(get("kv_hits_total", "users", "get"), Some(1));
        assert_eq!(get("kv_misses_total", "users", "get"), Some(1));
        assert_eq!(get("kv_bytes_out_total", "users", "get"), Some(3));
        assert_eq!(get("kv_writes_total", "users", "put"), Some(1));
        assert_eq!(get("kv_bytes_in_total", "users", "put"), Some(3));
        assert_eq!(get("kv_calls_total", "(store)", "collections"), Some(1));
        // Absolute values: a second export after more calls replaces, never adds.
        s.get("users", "1").await.unwrap();
        metrics::with_local_recorder(&capture, || s.stats().export_metrics("kv"));
        let values = capture.0.lock().unwrap().clone();
        assert_eq!(
            values.get("kv_calls_total{collection=users,operation=get}"),
            Some(&3)
        );
        // Nothing but counts and names leaves: no value bytes in any metric name or label.
        assert!(values.keys().all(|k| !k.contains("abc")));
    }

    #[tokio::test]
    async fn errors_are_counted() {
        let flaky = Flaky::new(2);
        let s = Statistics::new(flaky);
        assert!(s.get("c", "k").await.is_err());
        assert!(s.put("c", "k", b("v"), None).await.is_err());
        let t = s.stats().snapshot().total();
        assert_eq!((t.calls, t.errors, t.writes, t.bytes_in), (2, 2, 0, 0));
    }
}

//! The sharded map behind [`MemoryStore`](crate::MemoryStore): routing a `(collection, key)` to
//! a shard, and every operation under that shard's lock.
//!
//! Each operation validates nothing (the store did it) and takes exactly one shard lock per key,
//! so every single-key operation — atomic ones included — is linearizable per key.

use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hashbrown::DefaultHashBuilder;
use mcp_kv_core::{expiry, Capabilities, Entry, SharedClock};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::table::{Node, Now, Shard, Table};

/// Batches at least this long are read shard by shard.
const GROUP_MIN: usize = 8;

/// A shard on its own cache lines, so two cores locking neighbouring shards don't contend.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> Deref for Padded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Where a `(collection, key)` lives: both hashes, computed once, and the shard.
pub(crate) struct Loc<'a> {
    coll: &'a str,
    key: &'a str,
    hc: u64,
    hk: u64,
    shard: usize,
}

/// Everything a store and its clones share.
pub(crate) struct Inner {
    shards: Box<[Padded<RwLock<Shard>>]>,
    mask: usize,
    hasher: DefaultHashBuilder,
    pub(crate) clock: SharedClock,
    pub(crate) bound: Option<usize>,
    pub(crate) caps: Capabilities,
    closed: AtomicBool,
    /// Wakes the sweeper to stop (on close and on drop).
    pub(crate) stop: Arc<Notify>,
    pub(crate) sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) sweep_interval: Option<Duration>,
}

/// The expiry instant of an entry written now with `ttl` (no clock read without a TTL).
#[inline]
pub(crate) fn deadline(now: &mut Now<'_>, ttl: Option<Duration>) -> Option<u64> {
    ttl.and_then(|t| expiry::expires_at(now.millis(), Some(t)))
}

impl Inner {
    pub(crate) fn new(
        shards: usize,
        clock: SharedClock,
        bound: Option<usize>,
        caps: Capabilities,
        sweep_interval: Option<Duration>,
    ) -> Self {
        let shards = shards.max(1).next_power_of_two();
        Inner {
            shards: (0..shards)
                .map(|_| Padded(RwLock::new(Shard::default())))
                .collect(),
            mask: shards - 1,
            hasher: DefaultHashBuilder::default(),
            clock,
            bound,
            caps,
            closed: AtomicBool::new(false),
            stop: Arc::new(Notify::new()),
            sweeper: Mutex::new(None),
            sweep_interval,
        }
    }

    pub(crate) fn now(&self) -> Now<'_> {
        Now::lazy(&*self.clock)
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the store closed, stops the sweeper and drops every entry. Idempotent.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.stop.notify_one();
        for shard in self.shards.iter() {
            shard.write().clear();
        }
    }

    #[inline]
    fn hash(&self, s: &str) -> u64 {
        self.hasher.hash_one(s)
    }

    /// Routes with a precomputed collection hash. Shard bits are taken from the middle of the
    /// hash (bits 32..), which hashbrown does not use inside a shard's tables (low bits pick the
    /// bucket, the top 7 bits are the tag), so sharding costs the tables no entropy.
    /// Bounded stores route by collection alone, so one lock orders a collection's LRU list.
    #[inline]
    pub(crate) fn route_in<'a>(&self, coll: &'a str, hc: u64, key: &'a str) -> Loc<'a> {
        let hk = self.hash(key);
        let mix = if self.bound.is_some() { hc } else { hc ^ hk };
        Loc {
            coll,
            key,
            hc,
            hk,
            shard: (mix >> 32) as usize & self.mask,
        }
    }

    #[inline]
    pub(crate) fn route<'a>(&self, coll: &'a str, key: &'a str) -> Loc<'a> {
        self.route_in(coll, self.hash(coll), key)
    }

    /// The shards that may hold entries of a collection.
    fn shards_of(&self, coll: &str) -> (u64, &[Padded<RwLock<Shard>>]) {
        let hc = self.hash(coll);
        if self.bound.is_some() {
            let i = (hc >> 32) as usize & self.mask;
            (hc, &self.shards[i..=i])
        } else {
            (hc, &self.shards)
        }
    }

    // ---- reads ----

    /// Applies `f` to the live node at `loc`. Unbounded stores read under a shared lock;
    /// bounded ones take the write lock to move the node to the front of the LRU list (and
    /// remove it if expired).
    #[inline]
    pub(crate) fn read<R>(
        &self,
        loc: &Loc<'_>,
        now: &mut Now<'_>,
        f: impl FnOnce(&Node, &mut Now<'_>) -> R,
    ) -> Option<R> {
        let shard = &self.shards[loc.shard];
        if self.bound.is_none() {
            read_shared(&shard.read(), loc, now, f)
        } else {
            read_bounded(&mut shard.write(), loc, now, f)
        }
    }

    /// Reads many keys of one collection, `f` per live key; results in input order.
    pub(crate) fn read_many<R>(
        &self,
        coll: &str,
        keys: &[&str],
        mut f: impl FnMut(&Node, &mut Now<'_>) -> R,
    ) -> Vec<Option<R>> {
        let hc = self.hash(coll);
        let mut now = self.now();
        let mut out = Vec::with_capacity(keys.len());
        if self.bound.is_some() {
            // Every key of the collection is in one shard: one lock for the batch.
            let Some(first) = keys.first() else {
                return out;
            };
            let shard = self.route_in(coll, hc, first).shard;
            let mut guard = self.shards[shard].write();
            for key in keys {
                let loc = self.route_in(coll, hc, key);
                out.push(read_bounded(&mut guard, &loc, &mut now, &mut f));
            }
        } else if keys.len() < GROUP_MIN || u32::try_from(keys.len()).is_err() {
            for key in keys {
                let loc = self.route_in(coll, hc, key);
                out.push(self.read(&loc, &mut now, &mut f));
            }
        } else {
            // Visit the keys shard by shard: one shared lock per shard touched, not per key.
            let locs: Vec<Loc<'_>> = keys.iter().map(|k| self.route_in(coll, hc, k)).collect();
            let mut order: Vec<u64> = locs
                .iter()
                .enumerate()
                .map(|(i, loc)| ((loc.shard as u64) << 32) | i as u64)
                .collect();
            order.sort_unstable();
            out.resize_with(keys.len(), || None);
            let mut run = order.as_slice();
            while let Some(&first) = run.first() {
                let shard = (first >> 32) as usize;
                let len = run
                    .iter()
                    .take_while(|&&o| (o >> 32) as usize == shard)
                    .count();
                let guard = self.shards[shard].read();
                for &o in &run[..len] {
                    let i = (o & u64::from(u32::MAX)) as usize;
                    out[i] = read_shared(&guard, &locs[i], &mut now, &mut f);
                }
                run = &run[len..];
            }
        }
        out
    }

    // ---- writes ----

    /// Runs `f` under the write lock of `loc`'s shard.
    #[inline]
    fn write<R>(&self, loc: &Loc<'_>, f: impl FnOnce(&mut Shard) -> R) -> R {
        f(&mut self.shards[loc.shard].write())
    }

    /// Stores `value` at `loc`, replacing any entry.
    #[inline]
    pub(crate) fn put(
        &self,
        loc: &Loc<'_>,
        now: &mut Now<'_>,
        value: Bytes,
        expires_at: Option<u64>,
    ) {
        self.write(loc, |shard| self.put_in(shard, loc, now, value, expires_at));
    }

    /// Stores many entries of one collection with one expiry.
    pub(crate) fn put_many(
        &self,
        coll: &str,
        now: &mut Now<'_>,
        entries: Vec<(String, Bytes)>,
        exp: Option<u64>,
    ) {
        let hc = self.hash(coll);
        for (key, value) in entries {
            let loc = self.route_in(coll, hc, &key);
            self.put(&loc, now, value, exp);
        }
    }

    fn put_in(
        &self,
        shard: &mut Shard,
        loc: &Loc<'_>,
        now: &mut Now<'_>,
        value: Bytes,
        exp: Option<u64>,
    ) {
        let table = shard.table_or_insert(loc.hc, loc.coll, self.bound.is_some());
        match table.find(loc.hk, loc.key) {
            Some(i) => table.set(i, value, exp),
            None => self.insert_new(table, loc, now, value, exp),
        }
    }

    /// Inserts a key that is not stored. In a bounded store whose collection is full, expired
    /// entries are reclaimed first (the whole table, only when full and only if one may have
    /// expired), then least recently used live entries are evicted until there is room.
    fn insert_new(
        &self,
        table: &mut Table,
        loc: &Loc<'_>,
        now: &mut Now<'_>,
        value: Bytes,
        exp: Option<u64>,
    ) {
        if let Some(max) = self.bound {
            // With no node carrying an expiry, the clock is not read.
            if table.len() >= max && table.has_expiries() {
                table.reclaim_expired(now.millis());
            }
            while table.len() >= max {
                match table.lru_victim() {
                    Some(victim) => drop(table.remove(victim)),
                    None => break,
                }
            }
        }
        table.insert(loc.hk, loc.key, value, exp);
    }

    /// Removes `loc`; returns the removed node if there was one (live or not).
    fn remove(&self, loc: &Loc<'_>) -> Option<Node> {
        self.write(loc, |shard| {
            let table = shard.table_mut(loc.hc, loc.coll)?;
            let node = table.remove(table.find(loc.hk, loc.key)?);
            shard.drop_if_empty(loc.hc, loc.coll);
            node
        })
    }

    /// Deletes `loc`; `true` if a live entry was removed.
    pub(crate) fn delete(&self, loc: &Loc<'_>, now: &mut Now<'_>) -> bool {
        self.remove(loc).is_some_and(|n| now.is_live(n.expires_at))
    }

    /// Removes `loc` and returns its value if it was live.
    pub(crate) fn take(&self, loc: &Loc<'_>, now: &mut Now<'_>) -> Option<Bytes> {
        self.remove(loc)
            .filter(|n| now.is_live(n.expires_at))
            .map(|n| n.value)
    }

    /// Stores `value` unless a live entry exists; `true` if stored.
    pub(crate) fn put_if_absent(
        &self,
        loc: &Loc<'_>,
        now: &mut Now<'_>,
        value: Bytes,
        exp: Option<u64>,
    ) -> bool {
        self.write(loc, |shard| {
            let table = shard.table_or_insert(loc.hc, loc.coll, self.bound.is_some());
            match table.find(loc.hk, loc.key) {
                Some(i) if table.node(i).is_some_and(|n| now.is_live(n.expires_at)) => false,
                Some(i) => {
                    table.set(i, value, exp);
                    true
                }
                None => {
                    self.insert_new(table, loc, now, value, exp);
                    true
                }
            }
        })
    }

    /// Replaces (or deletes, `new == None`) the entry at `loc` if its live value is `current`.
    pub(crate) fn compare_and_swap(
        &self,
        loc: &Loc<'_>,
        now: &mut Now<'_>,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        exp: Option<u64>,
    ) -> bool {
        self.write(loc, |shard| {
            let table = shard.table_or_insert(loc.hc, loc.coll, self.bound.is_some());
            let found = table.find(loc.hk, loc.key);
            let live = found
                .and_then(|i| table.node(i))
                .filter(|n| now.is_live(n.expires_at))
                .map(|n| &n.value[..]);
            let swapped = live == current;
            if swapped {
                match (found, new) {
                    (Some(i), Some(value)) => table.set(i, value, exp),
                    (None, Some(value)) => self.insert_new(table, loc, now, value, exp),
                    (Some(i), None) => drop(table.remove(i)),
                    (None, None) => {}
                }
            }
            shard.drop_if_empty(loc.hc, loc.coll);
            swapped
        })
    }

    /// Sets the expiry of a live entry; `true` if it was live.
    pub(crate) fn touch(&self, loc: &Loc<'_>, now: &mut Now<'_>, exp: Option<u64>) -> bool {
        self.write(loc, |shard| {
            let Some(table) = shard.table_mut(loc.hc, loc.coll) else {
                return false;
            };
            let Some(i) = table.find(loc.hk, loc.key) else {
                return false;
            };
            if table.node(i).is_some_and(|n| now.is_live(n.expires_at)) {
                table.set_expiry(i, exp);
                table.used(i);
                true
            } else {
                drop(table.remove(i));
                shard.drop_if_empty(loc.hc, loc.coll);
                false
            }
        })
    }

    // ---- maintenance ----

    /// Up to `limit` live keys of `coll` greater than `after`, sorted, and whether more exist.
    pub(crate) fn keys(
        &self,
        coll: &str,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<String>, bool) {
        let now = self.clock.now_millis();
        let (hc, shards) = self.shards_of(coll);
        let mut found: Vec<String> = Vec::new();
        let mut total = 0usize;
        for shard in shards {
            let guard = shard.read();
            let Some(table) = guard.table(hc, coll) else {
                continue;
            };
            let mut keys: Vec<&str> = table
                .nodes()
                .iter()
                .filter(|n| expiry::is_live(n.expires_at, now))
                .map(|n| &*n.key)
                .filter(|k| after.is_none_or(|a| *k > a))
                .collect();
            total += keys.len();
            smallest(&mut keys, limit);
            found.extend(keys.into_iter().map(String::from));
        }
        smallest(&mut found, limit);
        found.sort_unstable();
        (found, total > limit)
    }

    /// Names of collections with stored entries, sorted.
    pub(crate) fn collections(&self) -> Vec<String> {
        let mut names: Vec<Arc<str>> = Vec::new();
        for shard in self.shards.iter() {
            let guard = shard.read();
            names.extend(
                guard
                    .tables()
                    .filter(|t| t.len() > 0)
                    .map(|t| t.name.clone()),
            );
        }
        names.sort_unstable();
        names.dedup();
        names.into_iter().map(|n| n.to_string()).collect()
    }

    /// Removes every entry of `coll`; returns how many were live.
    pub(crate) fn clear(&self, coll: &str) -> u64 {
        let now = self.clock.now_millis();
        let (hc, shards) = self.shards_of(coll);
        shards
            .iter()
            .filter_map(|shard| shard.write().remove_table(hc, coll))
            .map(|table| table.live(now))
            .sum()
    }

    /// Removes every expired entry; returns how many.
    pub(crate) fn cull(&self) -> u64 {
        let now = self.clock.now_millis();
        self.shards
            .iter()
            .map(|shard| shard.write().remove_expired(now))
            .sum()
    }

    /// Stored entries, expired ones included until removed.
    pub(crate) fn stored(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// The LRU order of a bounded collection, least recently used first (tests).
    #[cfg(test)]
    pub(crate) fn lru_order(&self, coll: &str) -> Vec<String> {
        let (hc, shards) = self.shards_of(coll);
        shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .table(hc, coll)
                    .map(Table::lru_order)
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The sweeper holds only a Weak: wake it so it notices and ends now, not a tick later.
        self.stop.notify_one();
    }
}

/// A read in an unbounded store (under the shared lock).
#[inline]
fn read_shared<R>(
    shard: &Shard,
    loc: &Loc<'_>,
    now: &mut Now<'_>,
    f: impl FnOnce(&Node, &mut Now<'_>) -> R,
) -> Option<R> {
    let table = shard.table(loc.hc, loc.coll)?;
    let node = table.node(table.find(loc.hk, loc.key)?)?;
    if !now.is_live(node.expires_at) {
        return None;
    }
    Some(f(node, now))
}

/// A read in a bounded store (under the write lock): an expired node is removed, a live one
/// becomes the most recently used.
#[inline]
fn read_bounded<R>(
    shard: &mut Shard,
    loc: &Loc<'_>,
    now: &mut Now<'_>,
    f: impl FnOnce(&Node, &mut Now<'_>) -> R,
) -> Option<R> {
    let table = shard.table_mut(loc.hc, loc.coll)?;
    let i = table.find(loc.hk, loc.key)?;
    let node = table.node(i)?;
    if !now.is_live(node.expires_at) {
        drop(table.remove(i));
        shard.drop_if_empty(loc.hc, loc.coll);
        return None;
    }
    let out = f(node, now);
    table.used(i);
    Some(out)
}

/// Keeps the `limit` smallest items (unordered).
fn smallest<T: Ord>(items: &mut Vec<T>, limit: usize) {
    if items.len() > limit {
        items.select_nth_unstable(limit);
        items.truncate(limit);
    }
}

/// A node as an [`Entry`] (value and remaining TTL).
#[inline]
pub(crate) fn entry_of(node: &Node, now: &mut Now<'_>) -> Entry {
    let ttl = match node.expires_at {
        None => None,
        Some(_) => expiry::remaining(node.expires_at, now.millis()),
    };
    Entry {
        value: node.value.clone(),
        ttl,
    }
}

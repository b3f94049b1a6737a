//! The in-memory layout: shards of per-collection tables.
//!
//! A [`Shard`] maps a collection name to a [`Table`]; a table holds the collection's entries that
//! live in that shard as a dense `Vec<Node>` (the slab), a [`HashTable`] of slab indices keyed by
//! the key's hash, and — in bounded stores only — a doubly linked LRU list threaded through the
//! slab by index (`prev`/`next`), most recently used at `head`.
//!
//! Removal is `swap_remove`: the last node moves into the hole, and its index entry and LRU
//! neighbours are patched, so the slab stays dense (iteration for `keys`/`cull` touches only
//! stored nodes) and every operation is O(1).

use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashTable;
use mcp_kv_core::{expiry, Clock};

/// "No node" in the LRU links.
const NIL: usize = usize::MAX;

/// The current time, read from the clock at most once and only when an entry has an expiry.
pub(crate) struct Now<'a> {
    clock: &'a dyn Clock,
    at: Option<u64>,
}

impl<'a> Now<'a> {
    /// A lazy reading of `clock`.
    #[inline]
    pub(crate) fn lazy(clock: &'a dyn Clock) -> Self {
        Now { clock, at: None }
    }

    /// Epoch milliseconds, read once.
    #[inline]
    pub(crate) fn millis(&mut self) -> u64 {
        let clock = self.clock;
        *self.at.get_or_insert_with(|| clock.now_millis())
    }

    /// Whether an entry expiring at `expires_at` is live now (no clock read without expiry).
    #[inline]
    pub(crate) fn is_live(&mut self, expires_at: Option<u64>) -> bool {
        match expires_at {
            None => true,
            Some(_) => expiry::is_live(expires_at, self.millis()),
        }
    }
}

/// String equality without a call into libc for short names (most keys and collections):
/// two overlapping word compares; longer names go to `memcmp`.
#[inline(always)]
pub(crate) fn name_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8)
    } else if (4..8).contains(&n) {
        word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4)
    } else {
        a == b
    }
}

#[inline(always)]
fn word8(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_ne_bytes(w)
}

#[inline(always)]
fn word4(s: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[at..at + 4]);
    u32::from_ne_bytes(w)
}

/// One stored entry.
pub(crate) struct Node {
    /// The key (the collection is the table's).
    pub(crate) key: Box<str>,
    /// The key's hash, kept for rehashing and for patching the index on `swap_remove`.
    pub(crate) hash: u64,
    /// The value, shared with readers without copying.
    pub(crate) value: Bytes,
    /// Epoch milliseconds after which the entry is expired; `None`: never.
    pub(crate) expires_at: Option<u64>,
    prev: usize,
    next: usize,
}

/// One collection's entries within one shard.
pub(crate) struct Table {
    pub(crate) name: Arc<str>,
    pub(crate) name_hash: u64,
    index: HashTable<usize>,
    nodes: Vec<Node>,
    lru: bool,
    head: usize,
    tail: usize,
    /// How many nodes have an expiry: `cull` skips tables where this is 0.
    with_ttl: usize,
    /// A lower bound of every node's `expires_at` (`u64::MAX`: no node has an expiry). Lowered
    /// when an expiry is set, never raised by a removal, recomputed exactly by
    /// [`remove_expired`](Table::remove_expired); so while `now <= earliest` no node is
    /// expired, and [`reclaim_expired`](Table::reclaim_expired) skips its scan.
    earliest: u64,
}

impl Table {
    fn new(name: Arc<str>, name_hash: u64, lru: bool) -> Self {
        Table {
            name,
            name_hash,
            index: HashTable::new(),
            nodes: Vec::new(),
            lru,
            head: NIL,
            tail: NIL,
            with_ttl: 0,
            earliest: u64::MAX,
        }
    }

    /// Stored nodes (expired ones included until removed).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The stored nodes, in slab order.
    #[inline]
    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The slab index of `key`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &str) -> Option<usize> {
        let nodes = &self.nodes;
        self.index
            .find(hash, |&i| {
                nodes.get(i).is_some_and(|n| name_eq(&n.key, key))
            })
            .copied()
    }

    /// The node at slab index `i`.
    #[inline]
    pub(crate) fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    /// Adds a node for a key that is not stored yet, as the most recently used; returns its
    /// index.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: &str,
        value: Bytes,
        expires_at: Option<u64>,
    ) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            key: key.into(),
            hash,
            value,
            expires_at,
            prev: NIL,
            next: NIL,
        });
        let nodes = &self.nodes;
        self.index
            .insert_unique(hash, i, |&j| nodes.get(j).map_or(0, |n| n.hash));
        if let Some(at) = expires_at {
            self.with_ttl += 1;
            self.earliest = self.earliest.min(at);
        }
        if self.lru {
            self.push_front(i);
        }
        i
    }

    /// Replaces the value and expiry of node `i` and marks it used.
    pub(crate) fn set(&mut self, i: usize, value: Bytes, expires_at: Option<u64>) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.value = value;
        }
        self.set_expiry(i, expires_at);
        self.used(i);
    }

    /// Replaces the expiry of node `i`.
    pub(crate) fn set_expiry(&mut self, i: usize, expires_at: Option<u64>) {
        if let Some(node) = self.nodes.get_mut(i) {
            match (node.expires_at.is_some(), expires_at.is_some()) {
                (false, true) => self.with_ttl += 1,
                (true, false) => self.with_ttl -= 1,
                _ => {}
            }
            node.expires_at = expires_at;
            if let Some(at) = expires_at {
                self.earliest = self.earliest.min(at);
            }
        }
    }

    /// Marks node `i` as the most recently used (bounded tables only).
    #[inline]
    pub(crate) fn used(&mut self, i: usize) {
        if self.lru && self.head != i && i < self.nodes.len() {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// The least recently used node (bounded tables only).
    pub(crate) fn lru_victim(&self) -> Option<usize> {
        (self.lru && self.tail != NIL).then_some(self.tail)
    }

    /// Removes node `i` and returns it, giving memory back once the table has shrunk to a
    /// quarter of its capacity (a collection emptied by `delete`/`take` does not keep its peak
    /// size).
    pub(crate) fn remove(&mut self, i: usize) -> Option<Node> {
        if i >= self.nodes.len() {
            return None;
        }
        if self.lru {
            self.unlink(i);
        }
        let hash = self.nodes[i].hash;
        if let Ok(entry) = self.index.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        let node = self.nodes.swap_remove(i);
        if node.expires_at.is_some() {
            self.with_ttl -= 1;
        }
        let moved_from = self.nodes.len();
        if i < moved_from {
            // The last node now sits at `i`: repoint its index entry and its LRU neighbours.
            let moved_hash = self.nodes[i].hash;
            if let Some(slot) = self.index.find_mut(moved_hash, |&j| j == moved_from) {
                *slot = i;
            }
            if self.lru {
                let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
                match prev {
                    NIL => self.head = i,
                    p => self.nodes[p].next = i,
                }
                match next {
                    NIL => self.tail = i,
                    n => self.nodes[n].prev = i,
                }
            }
        }
        self.shrink();
        Some(node)
    }

    /// Removes every expired node; returns how many. Recomputes the earliest expiry.
    pub(crate) fn remove_expired(&mut self, now: u64) -> u64 {
        if self.with_ttl == 0 {
            self.earliest = u64::MAX;
            return 0;
        }
        let mut removed = 0;
        let mut earliest = u64::MAX;
        let mut i = 0;
        while i < self.nodes.len() {
            let expires_at = self.nodes[i].expires_at;
            if expiry::is_live(expires_at, now) {
                earliest = earliest.min(expires_at.unwrap_or(u64::MAX));
                i += 1;
            } else {
                // swap_remove moves an unvisited node into `i`: look at `i` again.
                self.remove(i);
                removed += 1;
            }
        }
        self.earliest = earliest;
        removed
    }

    /// Whether any node has an expiry (checked before reading the clock).
    #[inline]
    pub(crate) fn has_expiries(&self) -> bool {
        self.with_ttl > 0
    }

    /// Whether a node may be expired at `now` (`false`: certainly none is).
    #[inline]
    fn may_hold_expired(&self, now: u64) -> bool {
        self.with_ttl > 0 && !expiry::is_live(Some(self.earliest), now)
    }

    /// Removes every expired node, scanning only when one may be expired (see `earliest`);
    /// returns how many. A scan either removes an expired node or makes `earliest` exact, so
    /// a full table of live entries is not rescanned until its earliest expiry passes (or the
    /// node holding it is rewritten or removed).
    pub(crate) fn reclaim_expired(&mut self, now: u64) -> u64 {
        if self.may_hold_expired(now) {
            self.remove_expired(now)
        } else {
            0
        }
    }

    /// How many stored nodes are live at `now`.
    pub(crate) fn live(&self, now: u64) -> u64 {
        if self.with_ttl == 0 {
            return self.nodes.len() as u64;
        }
        self.nodes
            .iter()
            .filter(|n| expiry::is_live(n.expires_at, now))
            .count() as u64
    }

    /// Gives memory back after a table shrank to a quarter of its capacity (amortized O(1) per
    /// removal: the next shrink needs three quarters of what is left removed first).
    fn shrink(&mut self) {
        if self.nodes.capacity() > 64 && self.nodes.len() < self.nodes.capacity() / 4 {
            self.nodes.shrink_to_fit();
            let nodes = &self.nodes;
            self.index
                .shrink_to_fit(|&j| nodes.get(j).map_or(0, |n| n.hash));
        }
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n].prev = prev,
        }
        self.nodes[i].prev = NIL;
        self.nodes[i].next = NIL;
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].prev = NIL;
        self.nodes[i].next = self.head;
        match self.head {
            NIL => self.tail = i,
            h => self.nodes[h].prev = i,
        }
        self.head = i;
    }

    /// Keys from least to most recently used (bounded tables; for tests).
    #[cfg(test)]
    pub(crate) fn lru_order(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = self.tail;
        while i != NIL {
            out.push(self.nodes[i].key.to_string());
            i = self.nodes[i].prev;
        }
        out
    }
}

/// One shard: the tables of every collection with entries routed here.
#[derive(Default)]
pub(crate) struct Shard {
    tables: HashTable<Table>,
}

impl Shard {
    /// The table of `name`, if this shard holds entries of it.
    #[inline]
    pub(crate) fn table(&self, name_hash: u64, name: &str) -> Option<&Table> {
        self.tables.find(name_hash, |t| name_eq(&t.name, name))
    }

    /// The table of `name`, mutably.
    #[inline]
    pub(crate) fn table_mut(&mut self, name_hash: u64, name: &str) -> Option<&mut Table> {
        self.tables.find_mut(name_hash, |t| name_eq(&t.name, name))
    }

    /// The table of `name`, created empty if missing.
    pub(crate) fn table_or_insert(&mut self, name_hash: u64, name: &str, lru: bool) -> &mut Table {
        self.tables
            .entry(name_hash, |t| name_eq(&t.name, name), |t| t.name_hash)
            .or_insert_with(|| Table::new(Arc::from(name), name_hash, lru))
            .into_mut()
    }

    /// Drops the table of `name` if it holds no node any more.
    pub(crate) fn drop_if_empty(&mut self, name_hash: u64, name: &str) {
        if let Ok(entry) = self
            .tables
            .find_entry(name_hash, |t| name_eq(&t.name, name))
        {
            if entry.get().len() == 0 {
                entry.remove();
            }
        }
    }

    /// Removes the table of `name`.
    pub(crate) fn remove_table(&mut self, name_hash: u64, name: &str) -> Option<Table> {
        self.tables
            .find_entry(name_hash, |t| name_eq(&t.name, name))
            .ok()
            .map(|e| e.remove().0)
    }

    /// Every table.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter()
    }

    /// Removes every expired node and every table left empty; returns how many nodes.
    pub(crate) fn remove_expired(&mut self, now: u64) -> u64 {
        let mut removed = 0;
        self.tables.retain(|t| {
            removed += t.remove_expired(now);
            t.len() > 0
        });
        removed
    }

    /// Stored nodes in this shard.
    pub(crate) fn len(&self) -> usize {
        self.tables.iter().map(Table::len).sum()
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.tables = HashTable::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(lru: bool) -> Table {
        Table::new(Arc::from("c"), 1, lru)
    }

    fn h(key: &str) -> u64 {
        // A deliberately weak hash: collisions exercise the equality checks.
        key.len() as u64
    }

    fn put(t: &mut Table, key: &str) -> usize {
        match t.find(h(key), key) {
            Some(i) => {
                t.set(i, Bytes::from(key.to_string()), None);
                i
            }
            None => t.insert(h(key), key, Bytes::from(key.to_string()), None),
        }
    }

    #[test]
    fn name_eq_matches_str_eq() {
        let names = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abce",
            "bbcd",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "bbcdefgh",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "é",
            "éé",
            "key-00001",
            "key-00002",
            "kez-00001",
        ];
        for a in names {
            for b in names {
                assert_eq!(name_eq(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn lru_order_follows_use_and_survives_swap_remove() {
        let mut t = table(true);
        for k in ["a", "bb", "ccc", "dddd", "e"] {
            put(&mut t, k);
        }
        assert_eq!(t.lru_order(), ["a", "bb", "ccc", "dddd", "e"]);
        let i = t.find(h("bb"), "bb").unwrap();
        t.used(i);
        assert_eq!(t.lru_order(), ["a", "ccc", "dddd", "e", "bb"]);
        put(&mut t, "a"); // an overwrite is a use
        assert_eq!(t.lru_order(), ["ccc", "dddd", "e", "bb", "a"]);
        // Remove from the middle: the last slab node moves into the hole.
        let i = t.find(h("dddd"), "dddd").unwrap();
        assert_eq!(&*t.remove(i).unwrap().key, "dddd");
        assert_eq!(t.lru_order(), ["ccc", "e", "bb", "a"]);
        for k in ["ccc", "e", "bb", "a"] {
            let i = t.find(h(k), k).unwrap();
            assert_eq!(&*t.node(i).unwrap().key, k);
        }
        // Evict from the tail until empty.
        let mut evicted = Vec::new();
        while let Some(v) = t.lru_victim() {
            evicted.push(t.remove(v).unwrap().key.to_string());
        }
        assert_eq!(evicted, ["ccc", "e", "bb", "a"]);
        assert_eq!(t.len(), 0);
        assert_eq!(t.find(h("a"), "a"), None);
    }

    #[test]
    fn remove_expired_counts_and_keeps_index_consistent() {
        let mut t = table(false);
        for n in 0..100u64 {
            let key = format!("k{n}");
            let exp = (n % 3 == 0).then_some(10);
            t.insert(n, &key, Bytes::new(), exp);
        }
        assert_eq!(t.live(11), 66);
        assert_eq!(t.remove_expired(11), 34);
        assert_eq!(t.len(), 66);
        for n in 0..100u64 {
            let key = format!("k{n}");
            assert_eq!(t.find(n, &key).is_some(), n % 3 != 0, "{key}");
        }
        assert_eq!(t.remove_expired(11), 0);
        assert_eq!(t.lru_victim(), None);
    }

    #[test]
    fn reclaim_expired_sees_expiries_set_after_a_scan() {
        let mut t = table(true);
        t.insert(h("a"), "a", Bytes::new(), Some(100));
        t.insert(h("bb"), "bb", Bytes::new(), None);
        assert_eq!(t.reclaim_expired(100), 0); // live while now <= expires_at
        assert_eq!(t.reclaim_expired(101), 1);
        assert_eq!(t.earliest, u64::MAX);
        // Expiries set later (insert, overwrite, touch) lower the bound again.
        t.insert(h("ccc"), "ccc", Bytes::new(), Some(500));
        let i = t.find(h("bb"), "bb").unwrap();
        t.set_expiry(i, Some(200));
        assert_eq!(t.reclaim_expired(300), 1);
        assert_eq!(t.earliest, 500);
        // A rewrite of the earliest node leaves a stale (low) bound: still correct.
        let i = t.find(h("ccc"), "ccc").unwrap();
        t.set(i, Bytes::new(), Some(1000));
        assert_eq!(t.reclaim_expired(600), 0);
        assert_eq!(t.earliest, 1000);
        assert_eq!(t.reclaim_expired(1001), 1);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn removals_give_memory_back() {
        for lru in [false, true] {
            let mut t = table(lru);
            for n in 0..10_000u64 {
                t.insert(n, &format!("k{n}"), Bytes::new(), None);
            }
            for n in 0..9_990u64 {
                let i = t.find(n, &format!("k{n}")).unwrap();
                assert!(t.remove(i).is_some());
            }
            assert_eq!(t.len(), 10);
            assert!(
                t.nodes.capacity() <= 64,
                "slab keeps {} slots for 10 nodes",
                t.nodes.capacity()
            );
            assert!(
                t.index.capacity() <= 128,
                "index keeps {} slots for 10 nodes",
                t.index.capacity()
            );
            for n in 9_990..10_000u64 {
                let i = t.find(n, &format!("k{n}")).unwrap();
                assert_eq!(&*t.node(i).unwrap().key, format!("k{n}"));
            }
            if lru {
                assert_eq!(t.lru_order().len(), 10);
            }
        }
    }
}

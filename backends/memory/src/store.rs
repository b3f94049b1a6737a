//! [`MemoryStore`] and its [`KvStore`] implementation: one short method per operation.
//!
//! Each method checks its input with [`mcp_kv_core::rules`] (a batch as a whole), then that the
//! store is open, then runs under the lock of the key's shard (see [`crate::shards`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{
    rules, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation, Page, Result,
};

use crate::config::MemoryStoreBuilder;
use crate::shards::{deadline, entry_of, Inner};
use crate::sweeper;

/// The backend name in errors.
const BACKEND: &str = "memory";

/// The in-memory store: a sharded concurrent map with TTLs, an optional per-collection LRU
/// bound and a background sweeper. Cloning is cheap (one `Arc`); clones share the data.
///
/// See the [crate docs](crate) for the design, the capability table and an example.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl MemoryStore {
    /// An unbounded store on the system clock; inside a Tokio runtime, with a sweeper every
    /// 30 s.
    pub fn new() -> Self {
        MemoryStoreBuilder::default().build()
    }

    /// A builder: clock, per-collection bound, sweeper interval, shards.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    pub(crate) fn from_builder(b: MemoryStoreBuilder) -> Self {
        let mut caps = Capabilities::default().with_atomic(true);
        caps.enumerate = true;
        caps.max_entries_per_collection = b.max_entries_per_collection;
        caps.max_value_bytes = b.max_value_bytes;
        let inner = Arc::new(Inner::new(
            b.shards,
            b.clock,
            b.max_entries_per_collection,
            caps,
            b.sweep_interval,
        ));
        sweeper::start(&inner);
        MemoryStore { inner }
    }

    /// How many entries are held in memory, expired ones included until a read, the sweeper
    /// or [`cull`](KvStore::cull) removes them.
    pub fn stored_entries(&self) -> usize {
        self.inner.stored()
    }

    /// Whether [`close`](KvStore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether a background sweeper task was started and is still running.
    pub fn sweeper_running(&self) -> bool {
        self.inner
            .sweeper
            .lock()
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }

    #[cfg(test)]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// After a write: if `close()` ran meanwhile (it may have cleared this shard before the
    /// write landed), clears again — `close` is idempotent — and fails the write, so a closed
    /// store holds nothing and no write that raced `close()` reports success.
    ///
    /// A write whose check here finds the store open landed before `close()` set its flag, and
    /// `close()` clears every shard after setting it (the shard lock orders the two).
    #[inline]
    fn still_open<T>(&self, op: Operation, answer: T) -> Result<T> {
        if self.inner.is_closed() {
            self.inner.close();
            return self.open(op).map(|()| answer);
        }
        Ok(answer)
    }

    /// `Ok` while the store is open.
    #[inline]
    fn open(&self, op: Operation) -> Result<()> {
        if self.inner.is_closed() {
            return Err(Error::new(ErrorKind::Unavailable, "the store is closed")
                .set_temporary(false)
                .with_operation(op)
                .with_backend(BACKEND));
        }
        Ok(())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_entries_per_collection", &self.inner.bound)
            .field("closed", &self.inner.is_closed())
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// Tags a validation error with the operation and the backend.
#[inline]
fn tag(op: Operation) -> impl FnOnce(Error) -> Error {
    move |e| e.with_operation(op).with_backend(BACKEND)
}

#[async_trait]
impl KvStore for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        rules::check_name(collection, key).map_err(tag(Operation::Get))?;
        self.open(Operation::Get)?;
        let loc = self.inner.route(collection, key);
        Ok(self
            .inner
            .read(&loc, &mut self.inner.now(), |n, _| n.value.clone()))
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        rules::check_name(collection, key).map_err(tag(Operation::GetEntry))?;
        self.open(Operation::GetEntry)?;
        let loc = self.inner.route(collection, key);
        Ok(self.inner.read(&loc, &mut self.inner.now(), entry_of))
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_put(&self.inner.caps, collection, key, value.len(), ttl)
            .map_err(tag(Operation::Put))?;
        self.open(Operation::Put)?;
        let mut now = self.inner.now();
        let exp = deadline(&mut now, ttl);
        self.inner
            .put(&self.inner.route(collection, key), &mut now, value, exp);
        self.still_open(Operation::Put, ())
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        rules::check_name(collection, key).map_err(tag(Operation::Delete))?;
        self.open(Operation::Delete)?;
        let loc = self.inner.route(collection, key);
        Ok(self.inner.delete(&loc, &mut self.inner.now()))
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        rules::check_keys(&self.inner.caps, collection, keys).map_err(tag(Operation::GetMany))?;
        self.open(Operation::GetMany)?;
        Ok(self
            .inner
            .read_many(collection, keys, |n, _| n.value.clone()))
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        rules::check_keys(&self.inner.caps, collection, keys)
            .map_err(tag(Operation::GetEntries))?;
        self.open(Operation::GetEntries)?;
        Ok(self.inner.read_many(collection, keys, entry_of))
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_entries(&self.inner.caps, collection, &entries, ttl)
            .map_err(tag(Operation::PutMany))?;
        self.open(Operation::PutMany)?;
        let mut now = self.inner.now();
        let exp = deadline(&mut now, ttl);
        self.inner.put_many(collection, &mut now, entries, exp);
        self.still_open(Operation::PutMany, ())
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        rules::check_keys(&self.inner.caps, collection, keys)
            .map_err(tag(Operation::DeleteMany))?;
        self.open(Operation::DeleteMany)?;
        let mut now = self.inner.now();
        let deleted = keys
            .iter()
            .filter(|key| {
                self.inner
                    .delete(&self.inner.route(collection, key), &mut now)
            })
            .count();
        Ok(deleted as u64)
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        rules::check_put(&self.inner.caps, collection, key, value.len(), ttl)
            .map_err(tag(Operation::PutIfAbsent))?;
        self.open(Operation::PutIfAbsent)?;
        let mut now = self.inner.now();
        let exp = deadline(&mut now, ttl);
        let loc = self.inner.route(collection, key);
        let stored = self.inner.put_if_absent(&loc, &mut now, value, exp);
        self.still_open(Operation::PutIfAbsent, stored)
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        rules::check_name(collection, key).map_err(tag(Operation::Take))?;
        self.open(Operation::Take)?;
        let loc = self.inner.route(collection, key);
        Ok(self.inner.take(&loc, &mut self.inner.now()))
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let op = Operation::CompareAndSwap;
        rules::check_name(collection, key).map_err(tag(op))?;
        rules::check_ttl(ttl).map_err(tag(op))?;
        if let Some(value) = &new {
            rules::check_value(value.len(), self.inner.caps.max_value_bytes).map_err(tag(op))?;
        }
        self.open(op)?;
        let mut now = self.inner.now();
        let exp = deadline(&mut now, ttl);
        let loc = self.inner.route(collection, key);
        let swapped = self
            .inner
            .compare_and_swap(&loc, &mut now, current, new, exp);
        self.still_open(op, swapped)
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        rules::check_name(collection, key).map_err(tag(Operation::Touch))?;
        rules::check_ttl(ttl).map_err(tag(Operation::Touch))?;
        self.open(Operation::Touch)?;
        let mut now = self.inner.now();
        let exp = deadline(&mut now, ttl);
        let loc = self.inner.route(collection, key);
        Ok(self.inner.touch(&loc, &mut now, exp))
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        rules::check_collection(collection).map_err(tag(Operation::Keys))?;
        rules::check_limit(limit).map_err(tag(Operation::Keys))?;
        self.open(Operation::Keys)?;
        let after = cursor.as_ref().map(Cursor::as_str);
        let (keys, more) = self.inner.keys(collection, after, limit);
        // The cursor is the last key returned: the next page starts strictly after it.
        let next = if more {
            keys.last().map(|k| Cursor::new(k.clone()))
        } else {
            None
        };
        Ok(Page { keys, next })
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.open(Operation::Collections)?;
        Ok(self.inner.collections())
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        rules::check_collection(collection).map_err(tag(Operation::Clear))?;
        self.open(Operation::Clear)?;
        Ok(self.inner.clear(collection))
    }

    async fn cull(&self) -> Result<u64> {
        self.open(Operation::Cull)?;
        Ok(self.inner.cull())
    }

    async fn close(&self) -> Result<()> {
        self.inner.close();
        Ok(())
    }
}

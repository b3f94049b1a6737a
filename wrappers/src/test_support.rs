//! Helpers of the unit tests: a small, complete in-memory store with an injectable clock, and
//! a store that fails on demand.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::expiry;
use mcp_kv_core::{
    rules, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, ManualClock, Operation, Page,
    Result, SharedClock,
};
use parking_lot::Mutex;

type Map = BTreeMap<(String, String), (Bytes, Option<u64>)>;

/// A complete, simple in-memory store (one mutex), for unit tests.
#[derive(Debug)]
pub(crate) struct TestStore {
    map: Mutex<Map>,
    clock: SharedClock,
    max_value_bytes: usize,
}

/// A fresh shared test store on the system clock.
pub(crate) fn store() -> Arc<TestStore> {
    Arc::new(TestStore::with_clock(mcp_kv_core::system_clock()))
}

/// A fresh shared test store on a manual clock.
pub(crate) fn manual_store() -> (Arc<TestStore>, ManualClock) {
    let clock = ManualClock::new();
    (
        Arc::new(TestStore::with_clock(Arc::new(clock.clone()))),
        clock,
    )
}

impl TestStore {
    pub(crate) fn with_clock(clock: SharedClock) -> Self {
        TestStore {
            map: Mutex::new(Map::new()),
            clock,
            max_value_bytes: 1024 * 1024,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    fn live(&self, map: &Map, c: &str, k: &str) -> Option<(Bytes, Option<u64>)> {
        let now = self.now();
        map.get(&(c.to_string(), k.to_string()))
            .filter(|(_, at)| expiry::is_live(*at, now))
            .cloned()
    }
}

#[async_trait]
impl KvStore for TestStore {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default().with_atomic(true);
        caps.enumerate = true;
        caps.max_value_bytes = self.max_value_bytes;
        caps
    }

    async fn get_entry(&self, c: &str, k: &str) -> Result<Option<Entry>> {
        rules::check_name(c, k)?;
        let map = self.map.lock();
        let now = self.now();
        Ok(self.live(&map, c, k).map(|(value, at)| Entry {
            value,
            ttl: expiry::remaining(at, now),
        }))
    }

    async fn put(&self, c: &str, k: &str, v: Bytes, ttl: Option<Duration>) -> Result<()> {
        rules::check_put(&self.capabilities(), c, k, v.len(), ttl)?;
        let at = expiry::expires_at(self.now(), ttl);
        self.map.lock().insert((c.into(), k.into()), (v, at));
        Ok(())
    }

    async fn delete(&self, c: &str, k: &str) -> Result<bool> {
        rules::check_name(c, k)?;
        let mut map = self.map.lock();
        let was = self.live(&map, c, k).is_some();
        map.remove(&(c.into(), k.into()));
        Ok(was)
    }

    async fn put_if_absent(
        &self,
        c: &str,
        k: &str,
        v: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        rules::check_put(&self.capabilities(), c, k, v.len(), ttl)?;
        let mut map = self.map.lock();
        if self.live(&map, c, k).is_some() {
            return Ok(false);
        }
        let at = expiry::expires_at(self.now(), ttl);
        map.insert((c.into(), k.into()), (v, at));
        Ok(true)
    }

    async fn take(&self, c: &str, k: &str) -> Result<Option<Bytes>> {
        rules::check_name(c, k)?;
        let mut map = self.map.lock();
        let live = self.live(&map, c, k);
        map.remove(&(c.into(), k.into()));
        Ok(live.map(|(v, _)| v))
    }

    async fn compare_and_swap(
        &self,
        c: &str,
        k: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        rules::check_name(c, k)?;
        rules::check_ttl(ttl)?;
        if let Some(n) = &new {
            rules::check_value(n.len(), self.max_value_bytes)?;
        }
        let mut map = self.map.lock();
        let live = self.live(&map, c, k);
        if live.as_ref().map(|(v, _)| v.as_ref()) != current {
            return Ok(false);
        }
        match new {
            Some(v) => {
                let at = expiry::expires_at(self.now(), ttl);
                map.insert((c.into(), k.into()), (v, at));
            }
            None => {
                map.remove(&(c.into(), k.into()));
            }
        }
        Ok(true)
    }

    async fn touch(&self, c: &str, k: &str, ttl: Option<Duration>) -> Result<bool> {
        rules::check_name(c, k)?;
        rules::check_ttl(ttl)?;
        let mut map = self.map.lock();
        let Some((v, _)) = self.live(&map, c, k) else {
            return Ok(false);
        };
        let at = expiry::expires_at(self.now(), ttl);
        map.insert((c.into(), k.into()), (v, at));
        Ok(true)
    }

    async fn keys(&self, c: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        rules::check_collection(c)?;
        rules::check_limit(limit)?;
        let map = self.map.lock();
        let now = self.now();
        let after = cursor.map(Cursor::into_string);
        let mut keys: Vec<String> = map
            .iter()
            .filter(|((cc, k), (_, at))| {
                cc == c && expiry::is_live(*at, now) && after.as_ref().is_none_or(|a| k > a)
            })
            .map(|((_, k), _)| k.clone())
            .take(limit + 1)
            .collect();
        let next = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().cloned().map(Cursor::new)
        } else {
            None
        };
        Ok(Page { keys, next })
    }

    async fn collections(&self) -> Result<Vec<String>> {
        let map = self.map.lock();
        let mut out: Vec<String> = map.keys().map(|(c, _)| c.clone()).collect();
        out.dedup();
        Ok(out)
    }

    async fn clear(&self, c: &str) -> Result<u64> {
        rules::check_collection(c)?;
        let mut map = self.map.lock();
        let before = map.len();
        map.retain(|(cc, _), _| cc != c);
        Ok((before - map.len()) as u64)
    }

    async fn cull(&self) -> Result<u64> {
        let now = self.now();
        let mut map = self.map.lock();
        let before = map.len();
        map.retain(|_, (_, at)| expiry::is_live(*at, now));
        Ok((before - map.len()) as u64)
    }
}

/// A store whose next `failures` calls fail with a temporary `Unavailable` error, then forward
/// to an inner test store; counts calls per operation.
#[derive(Debug)]
pub(crate) struct Flaky {
    pub(crate) inner: Arc<TestStore>,
    pub(crate) failures: AtomicUsize,
    pub(crate) calls: Mutex<Vec<Operation>>,
    pub(crate) kind: ErrorKind,
}

impl Flaky {
    pub(crate) fn new(failures: usize) -> Arc<Self> {
        Self::with_kind(failures, ErrorKind::Unavailable)
    }

    pub(crate) fn with_kind(failures: usize, kind: ErrorKind) -> Arc<Self> {
        Arc::new(Flaky {
            inner: store(),
            failures: AtomicUsize::new(failures),
            calls: Mutex::new(Vec::new()),
            kind,
        })
    }

    pub(crate) fn calls_of(&self, op: Operation) -> usize {
        self.calls.lock().iter().filter(|o| **o == op).count()
    }

    fn gate(&self, op: Operation) -> Result<()> {
        self.calls.lock().push(op);
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(Error::new(self.kind, "injected failure").with_operation(op));
        }
        Ok(())
    }
}

#[async_trait]
impl KvStore for Flaky {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn get_entry(&self, c: &str, k: &str) -> Result<Option<Entry>> {
        self.gate(Operation::GetEntry)?;
        self.inner.get_entry(c, k).await
    }
    async fn get(&self, c: &str, k: &str) -> Result<Option<Bytes>> {
        self.gate(Operation::Get)?;
        self.inner.get(c, k).await
    }
    async fn put(&self, c: &str, k: &str, v: Bytes, ttl: Option<Duration>) -> Result<()> {
        self.gate(Operation::Put)?;
        self.inner.put(c, k, v, ttl).await
    }
    async fn delete(&self, c: &str, k: &str) -> Result<bool> {
        self.gate(Operation::Delete)?;
        self.inner.delete(c, k).await
    }
    async fn put_if_absent(
        &self,
        c: &str,
        k: &str,
        v: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.gate(Operation::PutIfAbsent)?;
        self.inner.put_if_absent(c, k, v, ttl).await
    }
    async fn take(&self, c: &str, k: &str) -> Result<Option<Bytes>> {
        self.gate(Operation::Take)?;
        self.inner.take(c, k).await
    }
    async fn compare_and_swap(
        &self,
        c: &str,
        k: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.gate(Operation::CompareAndSwap)?;
        self.inner.compare_and_swap(c, k, current, new, ttl).await
    }
    async fn touch(&self, c: &str, k: &str, ttl: Option<Duration>) -> Result<bool> {
        self.gate(Operation::Touch)?;
        self.inner.touch(c, k, ttl).await
    }
    async fn keys(&self, c: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.gate(Operation::Keys)?;
        self.inner.keys(c, cursor, limit).await
    }
    async fn collections(&self) -> Result<Vec<String>> {
        self.gate(Operation::Collections)?;
        self.inner.collections().await
    }
    async fn clear(&self, c: &str) -> Result<u64> {
        self.gate(Operation::Clear)?;
        self.inner.clear(c).await
    }
}

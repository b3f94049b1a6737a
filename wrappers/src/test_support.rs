//! Helpers of the unit tests: the memory backend on a system or manual clock, and a store
//! that fails on demand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{
    Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, ManualClock, Operation, Page, Result,
    SharedClock,
};
use mcp_kv_memory::MemoryStore;
use parking_lot::Mutex;

/// The store of the unit tests.
pub(crate) type TestStore = MemoryStore;

/// A memory store on `clock`.
pub(crate) fn with_clock(clock: SharedClock) -> MemoryStore {
    MemoryStore::builder().shared_clock(clock).build()
}

/// A fresh shared memory store on the system clock.
pub(crate) fn store() -> Arc<TestStore> {
    Arc::new(MemoryStore::new())
}

/// A fresh shared memory store on a manual clock.
pub(crate) fn manual_store() -> (Arc<TestStore>, ManualClock) {
    let clock = ManualClock::new();
    (Arc::new(with_clock(Arc::new(clock.clone()))), clock)
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
    async fn cull(&self) -> Result<u64> {
        self.gate(Operation::Cull)?;
        self.inner.cull().await
    }
}

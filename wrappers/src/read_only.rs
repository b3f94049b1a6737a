//! [`ReadOnly`]: refuses every write with [`ErrorKind::ReadOnly`].
//!
//! Writes are `put`, `delete`, `put_many`, `delete_many`, `put_if_absent`, `take`,
//! `compare_and_swap`, `touch` and `clear`; they fail before reaching the inner store. `cull`
//! returns 0 without touching the store (it changes nothing visible, and a read-only replica
//! must not write). Reads, `keys`, `collections` and `close` are forwarded.
//!
//! The switch can be flipped at run time through a [`ReadOnlySwitch`] (maintenance windows,
//! draining a primary): [`ReadOnly::new`] starts read-only.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mcp_kv_core::{Bytes, ErrorKind, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::read_only::ReadOnly;
//!
//! let store = ReadOnly::new(MemoryStore::new());
//! let err = store.put("c", "k", Bytes::from_static(b"v"), None).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ReadOnly);
//! store.switch().set(false); // writable again
//! store.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{
    Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation, Page, Result,
};

/// A shared on/off switch of a [`ReadOnly`] wrapper; clones control the same wrapper.
#[derive(Debug, Clone)]
pub struct ReadOnlySwitch(Arc<AtomicBool>);

impl ReadOnlySwitch {
    /// Turns read-only mode on (`true`) or off.
    pub fn set(&self, read_only: bool) {
        self.0.store(read_only, Ordering::Release);
    }

    /// Whether writes are refused.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Refuses writes to `S` while its switch is on. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct ReadOnly<S> {
    inner: S,
    switch: ReadOnlySwitch,
}

impl<S> ReadOnly<S> {
    /// Wraps `inner`, read-only from the start.
    pub fn new(inner: S) -> Self {
        Self::with_switch(inner, true)
    }

    /// Wraps `inner`, read-only when `read_only` is `true`.
    pub fn with_switch(inner: S, read_only: bool) -> Self {
        ReadOnly {
            inner,
            switch: ReadOnlySwitch(Arc::new(AtomicBool::new(read_only))),
        }
    }

    /// The switch that turns read-only mode on and off.
    pub fn switch(&self) -> ReadOnlySwitch {
        self.switch.clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn check(&self, op: Operation) -> Result<()> {
        if self.switch.is_on() {
            return Err(
                Error::new(ErrorKind::ReadOnly, "the store is read-only").with_operation(op)
            );
        }
        Ok(())
    }
}

#[async_trait]
impl<S: KvStore> KvStore for ReadOnly<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.inner.get(collection, key).await
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        self.inner.get_entry(collection, key).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.check(Operation::Put)?;
        self.inner.put(collection, key, value, ttl).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.check(Operation::Delete)?;
        self.inner.delete(collection, key).await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.inner.get_many(collection, keys).await
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.inner.get_entries(collection, keys).await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.check(Operation::PutMany)?;
        self.inner.put_many(collection, entries, ttl).await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.check(Operation::DeleteMany)?;
        self.inner.delete_many(collection, keys).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.check(Operation::PutIfAbsent)?;
        self.inner.put_if_absent(collection, key, value, ttl).await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.check(Operation::Take)?;
        self.inner.take(collection, key).await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.check(Operation::CompareAndSwap)?;
        self.inner
            .compare_and_swap(collection, key, current, new, ttl)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.check(Operation::Touch)?;
        self.inner.touch(collection, key, ttl).await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.inner.keys(collection, cursor, limit).await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.inner.collections().await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.check(Operation::Clear)?;
        self.inner.clear(collection).await
    }

    async fn cull(&self) -> Result<u64> {
        if self.switch.is_on() {
            return Ok(0);
        }
        self.inner.cull().await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store;

    #[tokio::test]
    async fn every_write_is_refused_and_nothing_changes() {
        let inner = store();
        inner
            .put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        let ro = ReadOnly::new(inner.clone());
        let v = || Bytes::from_static(b"x");
        let kinds = [
            ro.put("c", "k", v(), None).await.map(|_| ()),
            ro.delete("c", "k").await.map(|_| ()),
            ro.put_many("c", vec![("k".into(), v())], None).await,
            ro.delete_many("c", &["k"]).await.map(|_| ()),
            ro.put_if_absent("c", "n", v(), None).await.map(|_| ()),
            ro.take("c", "k").await.map(|_| ()),
            ro.compare_and_swap("c", "k", Some(b"v"), None, None)
                .await
                .map(|_| ()),
            ro.touch("c", "k", None).await.map(|_| ()),
            ro.clear("c").await.map(|_| ()),
        ];
        for r in kinds {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::ReadOnly);
        }
        assert_eq!(ro.get("c", "k").await.unwrap().unwrap(), "v");
        assert_eq!(ro.get_many("c", &["k", "n"]).await.unwrap()[1], None);
        assert_eq!(
            ro.keys("c", None, 10).await.unwrap().keys,
            vec!["k".to_string()]
        );
        assert_eq!(ro.cull().await.unwrap(), 0);
        ro.switch().set(false);
        assert!(ro.delete("c", "k").await.unwrap());
    }
}

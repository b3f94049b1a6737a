//! [`SizeLimit`]: a smaller value limit than the backend's.
//!
//! Values larger than the limit are refused with [`ErrorKind::ValueTooLarge`](mcp_kv_core::ErrorKind::ValueTooLarge) before anything
//! reaches the inner store: a `put_many` with one oversized value writes nothing.
//! `put_if_absent` and the new value of `compare_and_swap` are checked too.
//! [`Capabilities::max_value_bytes`] reports the smaller of the limit and the inner store's.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mcp_kv_core::{Bytes, ErrorKind, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::size_limit::SizeLimit;
//!
//! let store = SizeLimit::new(MemoryStore::new(), 4);
//! store.put("c", "k", Bytes::from_static(b"1234"), None).await?;
//! let err = store.put("c", "k", Bytes::from_static(b"12345"), None).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{rules, Capabilities, Cursor, Entry, KvStore, Operation, Page, Result};

/// Refuses values above a size limit. See the [module docs](self).
///
/// [`ErrorKind::ValueTooLarge`]: mcp_kv_core::ErrorKind::ValueTooLarge
#[derive(Debug, Clone)]
pub struct SizeLimit<S> {
    inner: S,
    max_value_bytes: usize,
}

impl<S: KvStore> SizeLimit<S> {
    /// Wraps `inner`, refusing values over `max_value_bytes` bytes.
    pub fn new(inner: S, max_value_bytes: usize) -> Self {
        SizeLimit {
            inner,
            max_value_bytes,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn limit(&self) -> usize {
        self.max_value_bytes
            .min(self.inner.capabilities().max_value_bytes)
    }

    fn check(&self, len: usize, op: Operation) -> Result<()> {
        rules::check_value(len, self.limit()).map_err(|e| e.with_operation(op))
    }
}

#[async_trait]
impl<S: KvStore> KvStore for SizeLimit<S> {
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        caps.max_value_bytes = caps.max_value_bytes.min(self.max_value_bytes);
        caps
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
        self.check(value.len(), Operation::Put)?;
        self.inner.put(collection, key, value, ttl).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
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
        rules::check_entries(&self.capabilities(), collection, &entries, ttl)
            .map_err(|e| e.with_operation(Operation::PutMany))?;
        self.inner.put_many(collection, entries, ttl).await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.inner.delete_many(collection, keys).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.check(value.len(), Operation::PutIfAbsent)?;
        self.inner.put_if_absent(collection, key, value, ttl).await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
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
        if let Some(new) = &new {
            self.check(new.len(), Operation::CompareAndSwap)?;
        }
        self.inner
            .compare_and_swap(collection, key, current, new, ttl)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.inner.touch(collection, key, ttl).await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.inner.keys(collection, cursor, limit).await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.inner.collections().await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.inner.clear(collection).await
    }

    async fn cull(&self) -> Result<u64> {
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
    use mcp_kv_core::ErrorKind;

    #[tokio::test]
    async fn oversized_values_write_nothing() {
        let inner = store();
        let s = SizeLimit::new(inner.clone(), 3);
        assert_eq!(s.capabilities().max_value_bytes, 3);
        let big = Bytes::from_static(b"1234");
        let ok = Bytes::from_static(b"123");
        assert_eq!(
            s.put("c", "k", big.clone(), None).await.unwrap_err().kind(),
            ErrorKind::ValueTooLarge
        );
        let batch = vec![
            ("a".to_string(), ok.clone()),
            ("b".to_string(), big.clone()),
        ];
        assert_eq!(
            s.put_many("c", batch, None).await.unwrap_err().kind(),
            ErrorKind::ValueTooLarge
        );
        assert_eq!(inner.get("c", "a").await.unwrap(), None);
        assert_eq!(
            s.put_if_absent("c", "k", big.clone(), None)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::ValueTooLarge
        );
        assert_eq!(
            s.compare_and_swap("c", "k", None, Some(big), None)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::ValueTooLarge
        );
        assert!(s
            .compare_and_swap("c", "k", None, Some(ok), None)
            .await
            .unwrap());
        assert!(inner.collections().await.unwrap().len() == 1);
    }
}

//! [`Fallback`]: reads go to a secondary store when the primary fails temporarily.
//!
//! `get`, `get_entry`, `get_many` and `get_entries` go to the primary; when it returns a
//! **temporary** error (unreachable, timeout) they are answered by the secondary instead. A
//! permanent error (corrupted data, decryption failure, invalid key) is returned as is — the
//! secondary would only hide it. If the secondary fails too, the primary's error is returned.
//!
//! Everything else — writes, atomic operations, `keys` (its cursors belong to one store),
//! `collections`, `clear` — goes to the primary only. `cull` and `close` go to both. The
//! secondary is typically a replica or a cache that something else keeps filled (a
//! [`Tiered`](crate::tiered) store, a read replica); it may be stale, and reads from it may
//! return values the primary has since changed or deleted.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::fallback::Fallback;
//!
//! let replica = Arc::new(MemoryStore::new());
//! let store = Fallback::new(MemoryStore::new(), replica.clone());
//! store.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! assert_eq!(replica.get("c", "k").await?, None); // writes go to the primary only
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{Capabilities, Cursor, Entry, KvStore, Page, Result};

/// Reads from `F` when `P` fails temporarily. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Fallback<P, F> {
    primary: P,
    secondary: F,
}

impl<P: KvStore, F: KvStore> Fallback<P, F> {
    /// Reads from `secondary` when `primary` fails temporarily.
    pub fn new(primary: P, secondary: F) -> Self {
        Fallback { primary, secondary }
    }

    /// The primary store.
    pub fn primary(&self) -> &P {
        &self.primary
    }

    /// The secondary store.
    pub fn secondary(&self) -> &F {
        &self.secondary
    }
}

/// Returns `first` unless it is a temporary error and `second` succeeds.
async fn or_else<T, Fut>(first: Result<T>, second: impl FnOnce() -> Fut) -> Result<T>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    match first {
        Err(e) if e.is_temporary() => match second().await {
            Ok(v) => {
                ::tracing::debug!(error = %e, "kv fallback: primary failed, read from secondary");
                Ok(v)
            }
            Err(_) => Err(e),
        },
        other => other,
    }
}

#[async_trait]
impl<P: KvStore, F: KvStore> KvStore for Fallback<P, F> {
    fn capabilities(&self) -> Capabilities {
        self.primary.capabilities()
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let first = self.primary.get(collection, key).await;
        or_else(first, || self.secondary.get(collection, key)).await
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        let first = self.primary.get_entry(collection, key).await;
        or_else(first, || self.secondary.get_entry(collection, key)).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.primary.put(collection, key, value, ttl).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.primary.delete(collection, key).await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let first = self.primary.get_many(collection, keys).await;
        or_else(first, || self.secondary.get_many(collection, keys)).await
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let first = self.primary.get_entries(collection, keys).await;
        or_else(first, || self.secondary.get_entries(collection, keys)).await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.primary.put_many(collection, entries, ttl).await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.primary.delete_many(collection, keys).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.primary
            .put_if_absent(collection, key, value, ttl)
            .await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.primary.take(collection, key).await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.primary
            .compare_and_swap(collection, key, current, new, ttl)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.primary.touch(collection, key, ttl).await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.primary.keys(collection, cursor, limit).await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.primary.collections().await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.primary.clear(collection).await
    }

    /// Culls both stores, the secondary even when the primary fails; the primary's count (or
    /// error) is the answer.
    async fn cull(&self) -> Result<u64> {
        let n = self.primary.cull().await;
        let _ = self.secondary.cull().await;
        n
    }

    async fn close(&self) -> Result<()> {
        let first = self.primary.close().await;
        let second = self.secondary.close().await;
        first.and(second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{store, Flaky};
    use mcp_kv_core::ErrorKind;

    #[tokio::test]
    async fn temporary_primary_errors_read_from_secondary() {
        let primary = Flaky::new(0);
        let secondary = store();
        secondary
            .put("c", "k", Bytes::from_static(b"replica"), None)
            .await
            .unwrap();
        let f = Fallback::new(primary.clone(), secondary.clone());
        f.put("c", "k", Bytes::from_static(b"primary"), None)
            .await
            .unwrap();
        assert_eq!(f.get("c", "k").await.unwrap().unwrap(), "primary");
        primary
            .failures
            .store(4, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(f.get("c", "k").await.unwrap().unwrap(), "replica");
        assert_eq!(
            f.get_entry("c", "k").await.unwrap().unwrap().value,
            "replica"
        );
        assert_eq!(
            f.get_many("c", &["k"]).await.unwrap()[0].as_ref().unwrap(),
            "replica"
        );
        // Writes never fall back.
        assert!(f.put("c", "k", Bytes::new(), None).await.is_err());
        assert_eq!(secondary.get("c", "k").await.unwrap().unwrap(), "replica");
    }

    #[tokio::test]
    async fn cull_reaches_the_secondary_when_the_primary_fails() {
        let (secondary, clock) = crate::test_support::manual_store();
        secondary
            .put(
                "c",
                "k",
                Bytes::from_static(b"v"),
                Some(std::time::Duration::from_secs(1)),
            )
            .await
            .unwrap();
        clock.advance(std::time::Duration::from_secs(2));
        let f = Fallback::new(Flaky::new(1), secondary.clone());
        assert_eq!(f.cull().await.unwrap_err().kind(), ErrorKind::Unavailable);
        assert_eq!(secondary.cull().await.unwrap(), 0, "already culled");
    }

    #[tokio::test]
    async fn permanent_errors_do_not_fall_back() {
        let primary = Flaky::with_kind(1, ErrorKind::Corrupted);
        let secondary = store();
        secondary
            .put("c", "k", Bytes::from_static(b"replica"), None)
            .await
            .unwrap();
        let f = Fallback::new(primary, secondary);
        assert_eq!(
            f.get("c", "k").await.unwrap_err().kind(),
            ErrorKind::Corrupted
        );
    }
}

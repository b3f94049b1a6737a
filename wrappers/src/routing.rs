//! [`Router`]: each collection goes to the store chosen for it.
//!
//! A collection goes to the store of its exact name if one was given; else to the store of its
//! longest matching prefix; else to the default store. Collection names are passed unchanged.
//! A typical split: one-time OAuth codes and sessions to Redis, long-lived registrations to
//! SQLite, caches to memory.
//!
//! Capabilities are the intersection of the stores': an operation is reported supported only
//! if every store supports it, limits are the smallest, `native_ttl`, `persistent` and
//! `distributed` hold only if they hold for all. `collections()` lists, of each store, only
//! the collections that route to it; `cull` and `close` reach every store once, even when
//! an earlier store fails (the first error is returned).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::routing::Router;
//!
//! let codes = Arc::new(MemoryStore::new());
//! let rest = Arc::new(MemoryStore::new());
//! let store = Router::builder(rest.clone())
//!     .exact("oauth.codes", codes.clone())
//!     .prefix("cache.", Arc::new(MemoryStore::new()))
//!     .build();
//! store.put("oauth.codes", "c1", Bytes::from_static(b"grant"), None).await?;
//! assert!(codes.get("oauth.codes", "c1").await?.is_some());
//! assert!(rest.get("oauth.codes", "c1").await?.is_none());
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{Capabilities, Cursor, DynStore, Entry, KvStore, Page, Result};

/// Builds a [`Router`].
#[derive(Debug)]
pub struct RouterBuilder {
    stores: Vec<DynStore>,
    exact: HashMap<String, usize>,
    prefixes: Vec<(String, usize)>,
}

impl RouterBuilder {
    /// Sends the collection named `name` to `store`.
    pub fn exact(mut self, name: impl Into<String>, store: DynStore) -> Self {
        self.stores.push(store);
        self.exact.insert(name.into(), self.stores.len() - 1);
        self
    }

    /// Sends collections starting with `prefix` to `store` (the longest prefix wins).
    pub fn prefix(mut self, prefix: impl Into<String>, store: DynStore) -> Self {
        self.stores.push(store);
        self.prefixes.push((prefix.into(), self.stores.len() - 1));
        self
    }

    /// The router.
    pub fn build(mut self) -> Router {
        self.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Router {
            stores: self.stores,
            exact: self.exact,
            prefixes: self.prefixes,
        }
    }
}

/// Sends each collection to its store. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Router {
    /// Index 0 is the default store.
    stores: Vec<DynStore>,
    exact: HashMap<String, usize>,
    prefixes: Vec<(String, usize)>,
}

impl Router {
    /// A router whose collections all go to `default` until routes are added.
    pub fn builder(default: DynStore) -> RouterBuilder {
        RouterBuilder {
            stores: vec![default],
            exact: HashMap::new(),
            prefixes: Vec::new(),
        }
    }

    fn index(&self, collection: &str) -> usize {
        if let Some(i) = self.exact.get(collection) {
            return *i;
        }
        self.prefixes
            .iter()
            .find(|(p, _)| collection.starts_with(p.as_str()))
            .map_or(0, |(_, i)| *i)
    }

    /// The store `collection` goes to.
    pub fn route(&self, collection: &str) -> &DynStore {
        &self.stores[self.index(collection)]
    }

    /// Each distinct store once (a store given for several routes is one store).
    fn distinct(&self) -> Vec<&DynStore> {
        let mut out: Vec<&DynStore> = Vec::new();
        for s in &self.stores {
            if !out.iter().any(|o| Arc::ptr_eq(o, s)) {
                out.push(s);
            }
        }
        out
    }
}

fn merge(a: Capabilities, b: Capabilities) -> Capabilities {
    let mut c = a;
    c.native_ttl &= b.native_ttl;
    c.put_if_absent &= b.put_if_absent;
    c.take &= b.take;
    c.compare_and_swap &= b.compare_and_swap;
    c.touch &= b.touch;
    c.enumerate &= b.enumerate;
    c.persistent &= b.persistent;
    c.distributed &= b.distributed;
    c.max_collection_bytes = a.max_collection_bytes.min(b.max_collection_bytes);
    c.max_key_bytes = a.max_key_bytes.min(b.max_key_bytes);
    c.max_value_bytes = a.max_value_bytes.min(b.max_value_bytes);
    c.max_batch = a.max_batch.min(b.max_batch);
    c.max_entries_per_collection =
        match (a.max_entries_per_collection, b.max_entries_per_collection) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    c
}

#[async_trait]
impl KvStore for Router {
    fn capabilities(&self) -> Capabilities {
        self.stores
            .iter()
            .map(|s| s.capabilities())
            .reduce(merge)
            .unwrap_or_default()
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.route(collection).get(collection, key).await
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        self.route(collection).get_entry(collection, key).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.route(collection)
            .put(collection, key, value, ttl)
            .await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.route(collection).delete(collection, key).await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.route(collection).get_many(collection, keys).await
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.route(collection).get_entries(collection, keys).await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.route(collection)
            .put_many(collection, entries, ttl)
            .await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.route(collection).delete_many(collection, keys).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.route(collection)
            .put_if_absent(collection, key, value, ttl)
            .await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.route(collection).take(collection, key).await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.route(collection)
            .compare_and_swap(collection, key, current, new, ttl)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.route(collection).touch(collection, key, ttl).await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.route(collection).keys(collection, cursor, limit).await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for store in self.distinct() {
            for c in store.collections().await? {
                if Arc::ptr_eq(self.route(&c), store) {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.route(collection).clear(collection).await
    }

    /// Culls every distinct store, the others even when one fails; the sum of the counts, or
    /// the first error.
    async fn cull(&self) -> Result<u64> {
        let mut n = 0;
        let mut first_err = None;
        for store in self.distinct() {
            match store.cull().await {
                Ok(c) => n += c,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(n), Err)
    }

    async fn close(&self) -> Result<()> {
        let mut first_err = None;
        for store in self.distinct() {
            if let Err(e) = store.close().await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store;

    #[tokio::test]
    async fn exact_then_longest_prefix_then_default() {
        let (d, e, p, pp) = (store(), store(), store(), store());
        let r = Router::builder(d.clone())
            .exact("auth", e.clone())
            .prefix("cache.", p.clone())
            .prefix("cache.long.", pp.clone())
            .build();
        let v = || Bytes::from_static(b"v");
        r.put("auth", "k", v(), None).await.unwrap();
        r.put("cache.x", "k", v(), None).await.unwrap();
        r.put("cache.long.x", "k", v(), None).await.unwrap();
        r.put("other", "k", v(), None).await.unwrap();
        r.put("authx", "k", v(), None).await.unwrap();
        assert_eq!(e.collections().await.unwrap(), vec!["auth".to_string()]);
        assert_eq!(p.collections().await.unwrap(), vec!["cache.x".to_string()]);
        assert_eq!(
            pp.collections().await.unwrap(),
            vec!["cache.long.x".to_string()]
        );
        let mut all = r.collections().await.unwrap();
        all.sort();
        assert_eq!(all, ["auth", "authx", "cache.long.x", "cache.x", "other"]);
        // A collection sitting in a store it does not route to is not listed.
        d.put("cache.stray", "k", v(), None).await.unwrap();
        assert!(!r
            .collections()
            .await
            .unwrap()
            .contains(&"cache.stray".to_string()));
    }

    #[tokio::test]
    async fn capabilities_intersect() {
        let mut small = Capabilities::default();
        small.max_value_bytes = 10;
        let r = Router::builder(store()).prefix("x", store()).build();
        assert!(r.capabilities().take && r.capabilities().enumerate);
        let merged = merge(r.capabilities(), small);
        assert!(!merged.take);
        assert_eq!(merged.max_value_bytes, 10);
    }

    #[tokio::test]
    async fn cull_reaches_every_store_when_one_fails() {
        let (s, clock) = crate::test_support::manual_store();
        let r = Router::builder(crate::test_support::Flaky::new(1))
            .prefix("a", s.clone())
            .build();
        r.put("a1", "k", Bytes::new(), Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            r.cull().await.unwrap_err().kind(),
            mcp_kv_core::ErrorKind::Unavailable
        );
        assert_eq!(s.cull().await.unwrap(), 0, "already culled");
    }

    #[tokio::test]
    async fn shared_stores_are_culled_once() {
        let s = store();
        let r = Router::builder(s.clone()).prefix("a", s.clone()).build();
        r.put("a1", "k", Bytes::new(), Some(Duration::from_millis(1)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(r.cull().await.unwrap(), 1);
        r.close().await.unwrap();
    }
}

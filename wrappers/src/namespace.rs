//! [`Namespace`]: one store, many tenants, no collisions.
//!
//! Every collection `c` seen by the caller is stored in the inner store as
//! `escape(namespace) ":" c`, where `escape` percent-escapes `%` and `:` in the namespace
//! ([`mcp_kv_core::encoding::escape`]). The escaped namespace contains no `:`, so the first `:`
//! always ends it: namespace `"a"` + collection `"b:c"` is `a:b:c`, namespace `"a:b"` +
//! collection `"c"` is `a%3Ab:c` — they never collide, and namespaces nest (an inner
//! `Namespace` prefixes again).
//!
//! Keys are not touched. [`KvStore::collections`] lists only the namespace's own collections,
//! with the prefix removed. Because the prefix takes room in the inner store's collection
//! names, [`Capabilities::max_collection_bytes`] is reduced by the prefix length.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::namespace::Namespace;
//!
//! let shared = Arc::new(MemoryStore::new());
//! let a = Namespace::new(shared.clone(), "tenant-a")?;
//! let b = Namespace::new(shared.clone(), "tenant-b")?;
//! a.put("users", "1", Bytes::from_static(b"ann"), None).await?;
//! assert_eq!(b.get("users", "1").await?, None);
//! assert_eq!(a.collections().await?, vec!["users".to_string()]);
//! assert_eq!(shared.collections().await?, vec!["tenant-a:users".to_string()]);
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::encoding::escape;
use mcp_kv_core::{Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Page, Result};

/// The character that ends the escaped namespace in a stored collection name.
pub const SEPARATOR: char = ':';

/// A view of `S` in which every collection lives under one namespace. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct Namespace<S> {
    inner: S,
    namespace: String,
    prefix: String,
    max_collection_bytes: usize,
}

impl<S: KvStore> Namespace<S> {
    /// Wraps `inner` so that every collection lives under `namespace`.
    ///
    /// `namespace` must be non-empty and its escaped form must leave room for at least one
    /// byte of collection name in the inner store; otherwise [`ErrorKind::Config`].
    pub fn new(inner: S, namespace: impl Into<String>) -> Result<Self> {
        let namespace = namespace.into();
        if namespace.is_empty() {
            return Err(Error::new(ErrorKind::Config, "namespace is empty"));
        }
        let mut prefix = escape(&namespace, &[SEPARATOR]).into_owned();
        prefix.push(SEPARATOR);
        let inner_max = inner.capabilities().max_collection_bytes;
        if prefix.len() >= inner_max {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "escaped namespace is {} bytes; the inner store accepts collection names of {inner_max}",
                    prefix.len()
                ),
            ));
        }
        let max_collection_bytes = inner_max - prefix.len();
        Ok(Namespace {
            inner,
            namespace,
            prefix,
            max_collection_bytes,
        })
    }

    /// The namespace, as given.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The prefix put in front of every collection name in the inner store.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The name of `collection` in the inner store, after checking its length.
    fn full(&self, collection: &str) -> Result<String> {
        if collection.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "collection name is empty",
            ));
        }
        if collection.len() > self.max_collection_bytes {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                format!(
                    "collection name is {} bytes; the limit in this namespace is {}",
                    collection.len(),
                    self.max_collection_bytes
                ),
            ));
        }
        let mut full = String::with_capacity(self.prefix.len() + collection.len());
        full.push_str(&self.prefix);
        full.push_str(collection);
        Ok(full)
    }
}

#[async_trait]
impl<S: KvStore> KvStore for Namespace<S> {
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        caps.max_collection_bytes = self.max_collection_bytes;
        caps
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.inner.get(&self.full(collection)?, key).await
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        self.inner.get_entry(&self.full(collection)?, key).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.inner
            .put(&self.full(collection)?, key, value, ttl)
            .await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.inner.delete(&self.full(collection)?, key).await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.inner.get_many(&self.full(collection)?, keys).await
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.inner.get_entries(&self.full(collection)?, keys).await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.inner
            .put_many(&self.full(collection)?, entries, ttl)
            .await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.inner.delete_many(&self.full(collection)?, keys).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.inner
            .put_if_absent(&self.full(collection)?, key, value, ttl)
            .await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.inner.take(&self.full(collection)?, key).await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.inner
            .compare_and_swap(&self.full(collection)?, key, current, new, ttl)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.inner.touch(&self.full(collection)?, key, ttl).await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.inner
            .keys(&self.full(collection)?, cursor, limit)
            .await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        let all = self.inner.collections().await?;
        Ok(all
            .into_iter()
            .filter_map(|c| c.strip_prefix(self.prefix.as_str()).map(str::to_string))
            .filter(|c| !c.is_empty())
            .collect())
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.inner.clear(&self.full(collection)?).await
    }

    /// Culls the whole inner store (expired entries of other namespaces too): expiry is not
    /// namespaced.
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

    #[tokio::test]
    async fn namespaces_never_collide() {
        let shared = store();
        let a = Namespace::new(shared.clone(), "a").unwrap();
        let ab = Namespace::new(shared.clone(), "a:b").unwrap();
        a.put("b:c", "k", Bytes::from_static(b"1"), None)
            .await
            .unwrap();
        ab.put("c", "k", Bytes::from_static(b"2"), None)
            .await
            .unwrap();
        assert_eq!(a.get("b:c", "k").await.unwrap().unwrap(), "1");
        assert_eq!(ab.get("c", "k").await.unwrap().unwrap(), "2");
        let mut inner = shared.collections().await.unwrap();
        inner.sort();
        assert_eq!(inner, vec!["a%3Ab:c".to_string(), "a:b:c".to_string()]);
        assert_eq!(a.collections().await.unwrap(), vec!["b:c".to_string()]);
        assert_eq!(ab.collections().await.unwrap(), vec!["c".to_string()]);
    }

    #[tokio::test]
    async fn percent_in_namespace_is_escaped() {
        let shared = store();
        let p = Namespace::new(shared.clone(), "x%3Ay").unwrap();
        let c = Namespace::new(shared.clone(), "x:y").unwrap();
        assert_ne!(p.prefix(), c.prefix());
        p.put("c", "k", Bytes::from_static(b"1"), None)
            .await
            .unwrap();
        assert_eq!(c.get("c", "k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn limits_shrink_by_the_prefix() {
        let shared = store();
        let ns = Namespace::new(shared, "tenant").unwrap();
        let max = ns.capabilities().max_collection_bytes;
        assert_eq!(
            max,
            mcp_kv_core::rules::MAX_COLLECTION_BYTES - "tenant:".len()
        );
        ns.put(&"c".repeat(max), "k", Bytes::new(), None)
            .await
            .unwrap();
        let err = ns
            .put(&"c".repeat(max + 1), "k", Bytes::new(), None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert_eq!(
            ns.get("", "k").await.unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
    }

    #[test]
    fn bad_namespaces_are_config_errors() {
        assert_eq!(
            Namespace::new(store(), "").unwrap_err().kind(),
            ErrorKind::Config
        );
        let long = "n".repeat(2000);
        assert_eq!(
            Namespace::new(store(), long).unwrap_err().kind(),
            ErrorKind::Config
        );
    }

    #[tokio::test]
    async fn nested_namespaces_stack() {
        let shared = store();
        let outer = Namespace::new(Namespace::new(shared.clone(), "t").unwrap(), "u").unwrap();
        outer
            .put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        assert_eq!(
            shared.collections().await.unwrap(),
            vec!["t:u:c".to_string()]
        );
        assert_eq!(outer.collections().await.unwrap(), vec!["c".to_string()]);
        assert_eq!(outer.clear("c").await.unwrap(), 1);
    }
}

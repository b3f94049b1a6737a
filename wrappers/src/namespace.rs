//! [`Namespace`]: one store, many tenants, no collisions.
//!
//! Every collection `c` seen by the caller is stored in the inner store as
//! `escape(namespace) ":" c`, where `escape` percent-escapes `%` and `:` in the namespace
//! ([`mcp_kv_core::encoding::escape`]). The escaped namespace contains no `:`, so the first `:`
//! always ends it: namespace `"a"` + collection `"b:c"` is `a:b:c`, namespace `"a:b"` +
//! collection `"c"` is `a%3Ab:c` — two namespaces never collide.
//!
//! Namespaces nest like paths: `Namespace::new(Namespace::new(s, "a")?, "b")?` stores
//! collection `"c"` as `a:b:c`, which is the same collection as `"b:c"` seen through
//! `Namespace::new(s, "a")?` alone — the nested namespace `a`/`b` is a part of namespace `a`,
//! as a subfolder is part of its folder. Code given namespace `a` can reach its sub-namespaces;
//! tenants that must not see each other get sibling namespaces, never nested ones.
//!
//! The prefixed names of the first [`INTERNED_NAMES`] collections are kept in a lock-free
//! table, so a call costs one lookup and no allocation, and the inner store's future is
//! returned as is (no second boxed future).
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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::encoding::escape;
use mcp_kv_core::{Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Page, Result};

use crate::names::NameTable;

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
    /// Collection → prefixed name, shared by clones.
    names: Arc<NameTable<Box<str>>>,
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
            names: Arc::new(NameTable::new(INTERNED_NAMES)),
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

    /// The name of `collection` in the inner store, after checking its length: interned in
    /// the table for the first [`INTERNED_NAMES`] collections, built on each call past that.
    fn inner_name(&self, collection: &str) -> Result<InnerName<'_>> {
        if let Some(full) = self.names.get(collection) {
            return Ok(InnerName::Interned(full));
        }
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
        let build = || {
            let mut full = String::with_capacity(self.prefix.len() + collection.len());
            full.push_str(&self.prefix);
            full.push_str(collection);
            full
        };
        Ok(
            match self
                .names
                .get_or_insert_with(collection, || build().into_boxed_str())
            {
                Some(full) => InnerName::Interned(full),
                None => InnerName::Owned(build()),
            },
        )
    }
}

/// How many collection names a [`Namespace`] keeps prefixed (and so renames without allocating).
pub const INTERNED_NAMES: usize = 1024;

/// A collection's name in the inner store.
enum InnerName<'a> {
    Interned(&'a str),
    Owned(String),
}

/// The boxed future every trait method returns (what `async_trait` desugars to).
type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Calls `$call` with `$c` bound to the inner name of `$collection`. An interned name is
/// borrowed from `self`, so the inner store's future is returned as is, with no second boxed
/// future around it; otherwise (a bad name, or more names than the table holds) one is built.
macro_rules! with_inner_name {
    ($self:ident, $collection:ident, |$c:ident| $call:expr) => {
        match $self.inner_name($collection) {
            Ok(InnerName::Interned($c)) => $call,
            Ok(InnerName::Owned(owned)) => Box::pin(async move {
                let $c: &str = &owned;
                $call.await
            }),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    };
}

// Written without `#[async_trait]` where a collection is only renamed, so that the namespace
// costs one table lookup per call and no allocation (see `with_inner_name!`).
#[async_trait]
impl<S: KvStore> KvStore for Namespace<S> {
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        caps.max_collection_bytes = self.max_collection_bytes;
        caps
    }

    fn get<'s, 'c, 'k, 'f>(&'s self, collection: &'c str, key: &'k str) -> BoxFut<'f, Option<Bytes>>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.get(c, key))
    }

    fn get_entry<'s, 'c, 'k, 'f>(
        &'s self,
        collection: &'c str,
        key: &'k str,
    ) -> BoxFut<'f, Option<Entry>>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.get_entry(c, key))
    }

    fn put<'s, 'c, 'k, 'f>(
        &'s self,
        collection: &'c str,
        key: &'k str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> BoxFut<'f, ()>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.put(c, key, value, ttl))
    }

    fn delete<'s, 'c, 'k, 'f>(&'s self, collection: &'c str, key: &'k str) -> BoxFut<'f, bool>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.delete(c, key))
    }

    fn get_many<'s, 'c, 'k, 'kk, 'f>(
        &'s self,
        collection: &'c str,
        keys: &'k [&'kk str],
    ) -> BoxFut<'f, Vec<Option<Bytes>>>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        'kk: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.get_many(c, keys))
    }

    fn get_entries<'s, 'c, 'k, 'kk, 'f>(
        &'s self,
        collection: &'c str,
        keys: &'k [&'kk str],
    ) -> BoxFut<'f, Vec<Option<Entry>>>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        'kk: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.get_entries(c, keys))
    }

    fn put_many<'s, 'c, 'f>(
        &'s self,
        collection: &'c str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> BoxFut<'f, ()>
    where
        's: 'f,
        'c: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.put_many(c, entries, ttl))
    }

    fn delete_many<'s, 'c, 'k, 'kk, 'f>(
        &'s self,
        collection: &'c str,
        keys: &'k [&'kk str],
    ) -> BoxFut<'f, u64>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        'kk: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.delete_many(c, keys))
    }

    fn put_if_absent<'s, 'c, 'k, 'f>(
        &'s self,
        collection: &'c str,
        key: &'k str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> BoxFut<'f, bool>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self
            .inner
            .put_if_absent(c, key, value, ttl))
    }

    fn take<'s, 'c, 'k, 'f>(
        &'s self,
        collection: &'c str,
        key: &'k str,
    ) -> BoxFut<'f, Option<Bytes>>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.take(c, key))
    }

    fn compare_and_swap<'s, 'c, 'k, 'v, 'f>(
        &'s self,
        collection: &'c str,
        key: &'k str,
        current: Option<&'v [u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> BoxFut<'f, bool>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        'v: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self
            .inner
            .compare_and_swap(c, key, current, new, ttl))
    }

    fn touch<'s, 'c, 'k, 'f>(
        &'s self,
        collection: &'c str,
        key: &'k str,
        ttl: Option<Duration>,
    ) -> BoxFut<'f, bool>
    where
        's: 'f,
        'c: 'f,
        'k: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.touch(c, key, ttl))
    }

    fn keys<'s, 'c, 'f>(
        &'s self,
        collection: &'c str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> BoxFut<'f, Page>
    where
        's: 'f,
        'c: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.keys(c, cursor, limit))
    }

    async fn collections(&self) -> Result<Vec<String>> {
        let all = self.inner.collections().await?;
        Ok(all
            .into_iter()
            .filter_map(|c| c.strip_prefix(self.prefix.as_str()).map(str::to_string))
            .filter(|c| !c.is_empty())
            .collect())
    }

    fn clear<'s, 'c, 'f>(&'s self, collection: &'c str) -> BoxFut<'f, u64>
    where
        's: 'f,
        'c: 'f,
        Self: 'f,
    {
        with_inner_name!(self, collection, |c| self.inner.clear(c))
    }

    /// Culls the whole inner store (expired entries of other namespaces too): expiry is not
    /// namespaced.
    fn cull<'s, 'f>(&'s self) -> BoxFut<'f, u64>
    where
        's: 'f,
        Self: 'f,
    {
        self.inner.cull()
    }

    fn close<'s, 'f>(&'s self) -> BoxFut<'f, ()>
    where
        's: 'f,
        Self: 'f,
    {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store;

    #[tokio::test]
    async fn collections_past_the_interned_ones_work_the_same() {
        let shared = store();
        let ns = Namespace::new(shared.clone(), "t").unwrap();
        let n = INTERNED_NAMES + 50;
        for i in 0..n {
            let c = format!("c{i}");
            ns.put(&c, "k", Bytes::from(c.clone()), None).await.unwrap();
        }
        for i in 0..n {
            let c = format!("c{i}");
            assert_eq!(ns.get(&c, "k").await.unwrap().unwrap(), c.as_bytes());
            assert_eq!(
                shared.get(&format!("t:{c}"), "k").await.unwrap().unwrap(),
                c.as_bytes()
            );
        }
        assert_eq!(ns.collections().await.unwrap().len(), n);
        assert_eq!(ns.names.len(), INTERNED_NAMES);
        // Bad names are refused whether or not the table has room.
        assert!(ns.get("", "k").await.is_err());
        let long = "x".repeat(ns.capabilities().max_collection_bytes + 1);
        assert!(ns.get(&long, "k").await.is_err());
    }

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

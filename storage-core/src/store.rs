//! The [`KvStore`] trait and the small types of its signature.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{rules, Capabilities, Error, Operation, Result};

/// A value with its remaining TTL (`None`: no expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes.
    pub value: Bytes,
    /// The time left before the entry expires, `None` if it never does.
    pub ttl: Option<Duration>,
}

/// An opaque position in a `keys()` listing, returned by one page and passed to the next.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps a backend's cursor token.
    pub fn new(token: impl Into<String>) -> Self {
        Cursor(token.into())
    }

    /// The backend's token.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the backend's token.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Cursor {
    // A cursor may hold a key name: show only its length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({} bytes)", self.0.len())
    }
}

/// One page of a `keys()` listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// Live keys of the page, in the backend's order.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` when the listing is complete.
    pub next: Option<Cursor>,
}

/// The one async key-value contract of mcp-kv.
///
/// Every operation names a collection (a namespace) and a key; values are bytes. Object-safe:
/// stores are shared as `Arc<dyn KvStore>`. See the crate docs for the rules every
/// implementation obeys (TTL, names, values, batches, atomicity, errors), and
/// [`testkit`](crate) (feature `testkit`) for the suite that checks them.
///
/// Only [`capabilities`](KvStore::capabilities), [`get_entry`](KvStore::get_entry),
/// [`put`](KvStore::put) and [`delete`](KvStore::delete) are required. The batch methods have
/// defaults that validate the whole batch first and then loop; the atomic methods default to
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) — never a read-then-write
/// emulation; `keys`, `collections` and `clear` default to `Unsupported`; `cull` and `close`
/// default to doing nothing.
///
/// **Dropped futures.** Dropping an operation's future (a timeout, a cancelled request)
/// abandons the wait, not necessarily the operation: a write may still be applied (a backend's
/// worker thread or the server runs it anyway), a batch or `clear` partly applied, a `take`'s
/// value removed and lost. A store is left consistent and usable; `close` called again
/// finishes what a dropped `close` left.
#[async_trait]
pub trait KvStore: Send + Sync + fmt::Debug {
    /// What this store supports and its limits.
    fn capabilities(&self) -> Capabilities;

    /// The value of `key`, or `None` if absent or expired.
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        Ok(self.get_entry(collection, key).await?.map(|e| e.value))
    }

    /// The value of `key` and its remaining TTL, or `None` if absent or expired.
    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>>;

    /// Stores `value` under `key`, replacing any value and any earlier TTL (`None`: no expiry).
    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()>;

    /// Deletes `key`; `true` if a live entry was removed.
    async fn delete(&self, collection: &str, key: &str) -> Result<bool>;

    /// Values of `keys` in input order, `None` for absent or expired keys.
    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        rules::check_keys(&self.capabilities(), collection, keys)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(collection, key).await?);
        }
        Ok(out)
    }

    /// Entries of `keys` in input order, `None` for absent or expired keys.
    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        rules::check_keys(&self.capabilities(), collection, keys)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get_entry(collection, key).await?);
        }
        Ok(out)
    }

    /// Stores every entry with the same TTL; the last duplicate of a key wins. The batch is
    /// validated whole before anything is written.
    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_entries(&self.capabilities(), collection, &entries, ttl)?;
        for (key, value) in entries {
            self.put(collection, &key, value, ttl).await?;
        }
        Ok(())
    }

    /// Deletes every key; returns how many distinct live keys were removed.
    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        rules::check_keys(&self.capabilities(), collection, keys)?;
        let mut removed = 0;
        for key in keys {
            if self.delete(collection, key).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Stores `value` only if `key` is absent or expired; `true` if it was stored. Atomic.
    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let _ = (collection, key, value, ttl);
        Err(Error::unsupported(Operation::PutIfAbsent))
    }

    /// Removes `key` and returns its value if it was live. Atomic: of concurrent callers, one
    /// gets the value.
    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let _ = (collection, key);
        Err(Error::unsupported(Operation::Take))
    }

    /// Replaces the value of `key` with `new` (or deletes it when `new` is `None`) only if the
    /// live value equals `current` (`None`: absent or expired). `true` if swapped. Atomic.
    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let _ = (collection, key, current, new, ttl);
        Err(Error::unsupported(Operation::CompareAndSwap))
    }

    /// Resets the TTL of a live `key` (`None`: no expiry) without touching its value; `true` if
    /// the key was live.
    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let _ = (collection, key, ttl);
        Err(Error::unsupported(Operation::Touch))
    }

    /// One page of at most `limit` live keys of `collection`, starting at `cursor`. Paging to
    /// the end returns every key that stayed live throughout exactly once.
    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        let _ = (collection, cursor, limit);
        Err(Error::unsupported(Operation::Keys))
    }

    /// Names of the collections that hold at least one entry (possibly expired ones, until
    /// culled).
    async fn collections(&self) -> Result<Vec<String>> {
        Err(Error::unsupported(Operation::Collections))
    }

    /// Removes every entry of `collection`; returns how many were removed.
    async fn clear(&self, collection: &str) -> Result<u64> {
        let _ = collection;
        Err(Error::unsupported(Operation::Clear))
    }

    /// Physically removes expired entries; returns how many. Stores that expire natively return
    /// 0.
    async fn cull(&self) -> Result<u64> {
        Ok(0)
    }

    /// Flushes and releases resources. Idempotent; after it, operations may fail with
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable).
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// The boxed future every trait method returns (what `async_trait` desugars to).
type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>;

// `Arc<S>` and `Box<S>` forward to `S` by returning the inner store's boxed future as is:
// written without `#[async_trait]`, which would box a second future around it on every call of
// an `Arc<dyn KvStore>`.
macro_rules! forward_kv_store {
    ($ty:ident) => {
        impl<S: KvStore + ?Sized> KvStore for $ty<S> {
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            fn get<'s, 'c, 'k, 'f>(
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
                (**self).get(collection, key)
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
                (**self).get_entry(collection, key)
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
                (**self).put(collection, key, value, ttl)
            }
            fn delete<'s, 'c, 'k, 'f>(
                &'s self,
                collection: &'c str,
                key: &'k str,
            ) -> BoxFut<'f, bool>
            where
                's: 'f,
                'c: 'f,
                'k: 'f,
                Self: 'f,
            {
                (**self).delete(collection, key)
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
                (**self).get_many(collection, keys)
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
                (**self).get_entries(collection, keys)
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
                (**self).put_many(collection, entries, ttl)
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
                (**self).delete_many(collection, keys)
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
                (**self).put_if_absent(collection, key, value, ttl)
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
                (**self).take(collection, key)
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
                (**self).compare_and_swap(collection, key, current, new, ttl)
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
                (**self).touch(collection, key, ttl)
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
                (**self).keys(collection, cursor, limit)
            }
            fn collections<'s, 'f>(&'s self) -> BoxFut<'f, Vec<String>>
            where
                's: 'f,
                Self: 'f,
            {
                (**self).collections()
            }
            fn clear<'s, 'c, 'f>(&'s self, collection: &'c str) -> BoxFut<'f, u64>
            where
                's: 'f,
                'c: 'f,
                Self: 'f,
            {
                (**self).clear(collection)
            }
            fn cull<'s, 'f>(&'s self) -> BoxFut<'f, u64>
            where
                's: 'f,
                Self: 'f,
            {
                (**self).cull()
            }
            fn close<'s, 'f>(&'s self) -> BoxFut<'f, ()>
            where
                's: 'f,
                Self: 'f,
            {
                (**self).close()
            }
        }
    };
}

forward_kv_store!(Arc);
forward_kv_store!(Box);

/// A shared, type-erased store: what servers hold and wrappers accept.
pub type DynStore = Arc<dyn KvStore>;

/// Resets the TTL of `key` (which held `current` when it was read) without writing over a
/// concurrent delete or replace: the store's `touch` when it has one, else a
/// `compare_and_swap` of `current` with itself. `Some(false)` when the entry is gone (or,
/// through the swap, changed) since the read; `None` when the store can do neither, so that
/// the caller chooses its fallback.
pub async fn refresh_ttl(
    store: &dyn KvStore,
    collection: &str,
    key: &str,
    current: &Bytes,
    ttl: Option<Duration>,
) -> Result<Option<bool>> {
    let caps = store.capabilities();
    if caps.touch {
        store.touch(collection, key, ttl).await.map(Some)
    } else if caps.compare_and_swap {
        store
            .compare_and_swap(collection, key, Some(current), Some(current.clone()), ttl)
            .await
            .map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::ErrorKind;

    /// A store with only the required methods and keys of at most 8 bytes, as a third-party
    /// store over a service with shorter names declares through its capabilities.
    #[derive(Debug, Default)]
    struct ShortKeys(Mutex<HashMap<(String, String), Bytes>>);

    fn short_caps() -> Capabilities {
        Capabilities {
            max_key_bytes: 8,
            max_collection_bytes: 8,
            ..Capabilities::default()
        }
    }

    /// The store's own name check (not the rules'), as a service would answer.
    fn check(collection: &str, key: &str) -> Result<()> {
        if collection.len() > 8 || key.len() > 8 {
            return Err(Error::new(ErrorKind::InvalidKey, "name too long"));
        }
        Ok(())
    }

    #[async_trait]
    impl KvStore for ShortKeys {
        fn capabilities(&self) -> Capabilities {
            short_caps()
        }
        async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
            check(collection, key)?;
            let map = self.0.lock().unwrap();
            Ok(map
                .get(&(collection.to_string(), key.to_string()))
                .map(|v| Entry {
                    value: v.clone(),
                    ttl: None,
                }))
        }
        async fn put(
            &self,
            collection: &str,
            key: &str,
            value: Bytes,
            ttl: Option<Duration>,
        ) -> Result<()> {
            let _ = ttl;
            check(collection, key)?;
            let mut map = self.0.lock().unwrap();
            map.insert((collection.to_string(), key.to_string()), value);
            Ok(())
        }
        async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
            check(collection, key)?;
            let mut map = self.0.lock().unwrap();
            Ok(map
                .remove(&(collection.to_string(), key.to_string()))
                .is_some())
        }
    }

    #[tokio::test]
    async fn default_batches_hold_names_to_the_stores_own_limits_before_any_write() {
        let store = ShortKeys::default();
        let v = Bytes::from_static(b"v");
        let long = "k".repeat(9);
        let err = store
            .put_many(
                "c",
                vec![("a".to_string(), v.clone()), (long.clone(), v.clone())],
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert_eq!(store.get("c", "a").await.unwrap(), None, "nothing written");

        store.put("c", "a", v.clone(), None).await.unwrap();
        let err = store.delete_many("c", &["a", &long]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert_eq!(
            store.get("c", "a").await.unwrap(),
            Some(v.clone()),
            "nothing deleted"
        );

        let long_coll = "c".repeat(9);
        let err = store
            .put_many(&long_coll, vec![("a".to_string(), v)], None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert!(store.get_many("c", &["a", &long]).await.is_err());
    }
}

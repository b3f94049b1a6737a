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

macro_rules! forward_kv_store {
    ($($ty:tt)*) => {
        #[async_trait]
        impl<S: KvStore + ?Sized> KvStore for $($ty)*<S> {
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
                (**self).get(collection, key).await
            }
            async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
                (**self).get_entry(collection, key).await
            }
            async fn put(
                &self,
                collection: &str,
                key: &str,
                value: Bytes,
                ttl: Option<Duration>,
            ) -> Result<()> {
                (**self).put(collection, key, value, ttl).await
            }
            async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
                (**self).delete(collection, key).await
            }
            async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
                (**self).get_many(collection, keys).await
            }
            async fn get_entries(
                &self,
                collection: &str,
                keys: &[&str],
            ) -> Result<Vec<Option<Entry>>> {
                (**self).get_entries(collection, keys).await
            }
            async fn put_many(
                &self,
                collection: &str,
                entries: Vec<(String, Bytes)>,
                ttl: Option<Duration>,
            ) -> Result<()> {
                (**self).put_many(collection, entries, ttl).await
            }
            async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
                (**self).delete_many(collection, keys).await
            }
            async fn put_if_absent(
                &self,
                collection: &str,
                key: &str,
                value: Bytes,
                ttl: Option<Duration>,
            ) -> Result<bool> {
                (**self).put_if_absent(collection, key, value, ttl).await
            }
            async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
                (**self).take(collection, key).await
            }
            async fn compare_and_swap(
                &self,
                collection: &str,
                key: &str,
                current: Option<&[u8]>,
                new: Option<Bytes>,
                ttl: Option<Duration>,
            ) -> Result<bool> {
                (**self).compare_and_swap(collection, key, current, new, ttl).await
            }
            async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
                (**self).touch(collection, key, ttl).await
            }
            async fn keys(
                &self,
                collection: &str,
                cursor: Option<Cursor>,
                limit: usize,
            ) -> Result<Page> {
                (**self).keys(collection, cursor, limit).await
            }
            async fn collections(&self) -> Result<Vec<String>> {
                (**self).collections().await
            }
            async fn clear(&self, collection: &str) -> Result<u64> {
                (**self).clear(collection).await
            }
            async fn cull(&self) -> Result<u64> {
                (**self).cull().await
            }
            async fn close(&self) -> Result<()> {
                (**self).close().await
            }
        }
    };
}

forward_kv_store!(Arc);
forward_kv_store!(Box);

/// A shared, type-erased store: what servers hold and wrappers accept.
pub type DynStore = Arc<dyn KvStore>;

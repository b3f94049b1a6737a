//! [`Collection<T>`]: a typed view of one collection, values as JSON (serde_json).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, ErrorKind, KvStore, Operation, Result};

/// How many times [`Collection::update`] retries after losing a compare-and-swap race.
pub const UPDATE_RETRIES: usize = 64;

/// A typed view of one collection of a store: values of `T` stored as JSON.
///
/// A stored value that does not decode as `T` is an [`ErrorKind::Corrupted`] error — never a
/// silent `None`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use mcp_kv_core::{Collection, DynStore};
/// use mcp_kv_memory::MemoryStore;
///
/// let store: DynStore = Arc::new(MemoryStore::new());
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Profile { name: String, visits: u32 }
///
/// let profiles: Collection<Profile> = Collection::new(store, "profiles");
/// profiles.put("ada", &Profile { name: "Ada".into(), visits: 1 }, None).await?;
/// let updated = profiles
///     .update("ada", None, |p| p.map(|p| Profile { visits: p.visits + 1, ..p }))
///     .await?;
/// assert_eq!(updated.unwrap().visits, 2);
/// # Ok::<(), mcp_kv_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Collection<T> {
    store: Arc<dyn KvStore>,
    name: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection {
            store: self.store.clone(),
            name: self.name.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .field("store", &self.store)
            .finish()
    }
}

/// Serializes a value as JSON bytes ([`ErrorKind::Serialization`] on failure).
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| {
        Error::new(ErrorKind::Serialization, "value does not serialize").with_source(e)
    })
}

/// Decodes stored JSON bytes ([`ErrorKind::Corrupted`] when they do not decode as `T`).
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        // Only the kind of failure and its position: serde_json's own message quotes the
        // offending input (`invalid type: string "…"`), which may be a secret, so it is not
        // kept as the source either.
        let kind = match e.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated",
        };
        Error::new(
            ErrorKind::Corrupted,
            format!(
                "stored value does not decode as {} ({kind} at line {}, column {})",
                std::any::type_name::<T>(),
                e.line(),
                e.column()
            ),
        )
    })
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// A typed view of collection `name` of `store`.
    pub fn new(store: Arc<dyn KvStore>, name: impl Into<String>) -> Self {
        Collection {
            store,
            name: name.into(),
            _type: PhantomData,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    /// The value of `key`, decoded.
    pub async fn get(&self, key: &str) -> Result<Option<T>> {
        self.store
            .get(&self.name, key)
            .await?
            .map(|b| decode_json(&b))
            .transpose()
    }

    /// The value of `key` and its remaining TTL.
    pub async fn get_with_ttl(&self, key: &str) -> Result<Option<(T, Option<Duration>)>> {
        match self.store.get_entry(&self.name, key).await? {
            Some(e) => Ok(Some((decode_json(&e.value)?, e.ttl))),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key`.
    pub async fn put(&self, key: &str, value: &T, ttl: Option<Duration>) -> Result<()> {
        self.store
            .put(&self.name, key, encode_json(value)?, ttl)
            .await
    }

    /// Deletes `key`; `true` if it was live.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        self.store.delete(&self.name, key).await
    }

    /// Values of `keys`, in input order.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        self.store
            .get_many(&self.name, keys)
            .await?
            .into_iter()
            .map(|b| b.map(|b| decode_json(&b)).transpose())
            .collect()
    }

    /// Stores every `(key, value)` with one TTL. Serialization of the whole batch happens first.
    pub async fn put_many(&self, entries: &[(&str, T)], ttl: Option<Duration>) -> Result<()> {
        let encoded = entries
            .iter()
            .map(|(k, v)| Ok((k.to_string(), encode_json(v)?)))
            .collect::<Result<Vec<_>>>()?;
        self.store.put_many(&self.name, encoded, ttl).await
    }

    /// Deletes every key; returns how many were live.
    pub async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.store.delete_many(&self.name, keys).await
    }

    /// Removes `key` and returns its decoded value, atomically.
    pub async fn take(&self, key: &str) -> Result<Option<T>> {
        self.store
            .take(&self.name, key)
            .await?
            .map(|b| decode_json(&b))
            .transpose()
    }

    /// Stores `value` only if `key` is absent; `true` if stored. Atomic.
    pub async fn put_if_absent(&self, key: &str, value: &T, ttl: Option<Duration>) -> Result<bool> {
        self.store
            .put_if_absent(&self.name, key, encode_json(value)?, ttl)
            .await
    }

    /// Reads, transforms with `f` and writes back with compare-and-swap, retrying when a
    /// concurrent writer got there first (up to [`UPDATE_RETRIES`] times, with a randomized
    /// exponential backoff from the third try, then [`ErrorKind::Conflict`]). `f` returning
    /// `None` deletes the key. Returns the new value.
    ///
    /// The written value gets `ttl`, as a `put` would: `None` means no expiry, so an update
    /// with `None` clears a TTL the value had (read it with `get_entry` and pass it on to keep
    /// it). Requires `compare_and_swap` support.
    pub async fn update<F>(&self, key: &str, ttl: Option<Duration>, mut f: F) -> Result<Option<T>>
    where
        F: FnMut(Option<T>) -> Option<T> + Send,
    {
        for attempt in 0..UPDATE_RETRIES {
            let current = self.store.get(&self.name, key).await?;
            let decoded = current.as_deref().map(decode_json::<T>).transpose()?;
            let next = f(decoded);
            let next_bytes = next.as_ref().map(encode_json).transpose()?;
            if self
                .store
                .compare_and_swap(&self.name, key, current.as_deref(), next_bytes, ttl)
                .await?
            {
                return Ok(next);
            }
            backoff(attempt).await;
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("update lost {UPDATE_RETRIES} compare-and-swap races in a row"),
        )
        .with_operation(Operation::CompareAndSwap))
    }
}

/// Waits before retry `attempt + 1` of a lost compare-and-swap: nothing for the first two, then
/// a random time up to 100 µs × 2^attempt, capped at 50 ms ("full jitter"), so contending
/// writers spread out instead of colliding again.
async fn backoff(attempt: usize) {
    use std::hash::{BuildHasher, Hasher};
    if attempt < 2 {
        tokio::task::yield_now().await;
        return;
    }
    let cap_micros = (100u64 << attempt.min(20)).min(50_000);
    // RandomState is seeded per instance from the OS: enough randomness for jitter.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(attempt);
    let wait = h.finish() % (cap_micros + 1);
    tokio::time::sleep(Duration::from_micros(wait)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Token {
        #[allow(dead_code)]
        expires: u64,
    }

    #[test]
    fn a_decode_error_never_quotes_the_stored_bytes() {
        let err = decode_json::<Token>(br#"{"expires":"SECRET-token-value"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupted);
        let shown = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("wrong shape at line 1"), "{shown}");
        let truncated = decode_json::<Token>(br#"{"expires":1"#).unwrap_err();
        assert!(truncated.to_string().contains("truncated"), "{truncated}");
    }
}

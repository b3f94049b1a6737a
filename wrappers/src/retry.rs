//! [`Retry`]: exponential backoff with jitter, for temporary errors of idempotent operations.
//!
//! An operation is retried only when both hold:
//!
//! - the error is temporary ([`Error::is_temporary`]: timeouts, unreachable backends, and
//!   whatever a backend marks so);
//! - the operation is idempotent ([`Operation::is_idempotent`]): `get`, `get_entry`, `put`,
//!   `delete`, the batches, `touch`, `keys`, `collections`, `clear`, `cull`, `close`.
//!
//! `put_if_absent`, `take` and `compare_and_swap` are **never** retried: after a lost reply
//! the first attempt may have won, and a retry would report a loss for a call that won, or
//! consume a one-time value twice. Their errors go straight to the caller.
//!
//! The retried operations leave the store as one call would, but their *answers* describe the
//! last attempt: a `delete` whose first attempt removed the entry and lost its reply answers
//! `false` on the retry, `delete_many` and `clear` count only what the last attempt removed,
//! and `touch` answers for the last attempt too. Code that acts on those answers (rather than
//! on the store's state) needs `take` or `compare_and_swap`, which are never retried.
//!
//! Attempt `n` (from 1) that fails is followed by a sleep of
//! `min(initial_backoff × multiplier^(n-1), max_backoff)`, with "equal jitter" (a uniformly
//! random duration between half of it and all of it) unless jitter is off.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::retry::{Retry, RetryConfig};
//!
//! let config = RetryConfig::new().max_attempts(4).initial_backoff(Duration::from_millis(20));
//! let store = Retry::new(MemoryStore::new(), config);
//! store.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`Error::is_temporary`]: mcp_kv_core::Error::is_temporary

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{Capabilities, Cursor, Entry, KvStore, Operation, Page, Result};

/// How a [`Retry`] retries.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 3; 1 disables retries).
    pub max_attempts: u32,
    /// Sleep after the first failed attempt (default 20 ms).
    pub initial_backoff: Duration,
    /// Longest sleep between attempts (default 1 s).
    pub max_backoff: Duration,
    /// Growth of the sleep per attempt (default 2).
    pub multiplier: f64,
    /// Randomize each sleep between half of it and all of it (default on).
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: true,
        }
    }
}

impl RetryConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of attempts in all (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first sleep.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets the longest sleep.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Sets the growth factor (at least 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = if m.is_finite() { m.max(1.0) } else { 1.0 };
        self
    }

    /// Turns jitter on or off.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The sleep after failed attempt `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
        let base = self.initial_backoff.as_secs_f64() * exp;
        let base = base.min(self.max_backoff.as_secs_f64());
        let secs = if self.jitter {
            base * (0.5 + 0.5 * rand::random::<f64>())
        } else {
            base
        };
        Duration::try_from_secs_f64(secs).unwrap_or(self.max_backoff)
    }
}

/// Retries temporary failures of idempotent operations of `S`. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    config: RetryConfig,
}

impl<S: KvStore> Retry<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: RetryConfig) -> Self {
        Retry { inner, config }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Runs `attempt(last)` until it succeeds, fails permanently, or attempts run out. `last`
    /// tells the closure no further attempt follows (so it may move instead of clone).
    async fn run<T, F, Fut>(&self, op: Operation, mut attempt: F) -> Result<T>
    where
        F: FnMut(bool) -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        if !op.is_idempotent() || self.config.max_attempts <= 1 {
            return attempt(true).await;
        }
        let mut n = 1;
        loop {
            let last = n >= self.config.max_attempts;
            match attempt(last).await {
                Err(e) if e.is_temporary() && !last => {
                    tokio::time::sleep(self.config.backoff(n)).await;
                    n += 1;
                }
                result => return result,
            }
        }
    }
}

#[async_trait]
impl<S: KvStore> KvStore for Retry<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.run(Operation::Get, |_| self.inner.get(collection, key))
            .await
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        self.run(Operation::GetEntry, |_| {
            self.inner.get_entry(collection, key)
        })
        .await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.run(Operation::Put, |_| {
            self.inner.put(collection, key, value.clone(), ttl)
        })
        .await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.run(Operation::Delete, |_| self.inner.delete(collection, key))
            .await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.run(Operation::GetMany, |_| {
            self.inner.get_many(collection, keys)
        })
        .await
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.run(Operation::GetEntries, |_| {
            self.inner.get_entries(collection, keys)
        })
        .await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let mut slot = Some(entries);
        self.run(Operation::PutMany, |last| {
            let batch = if last {
                slot.take().unwrap_or_default()
            } else {
                slot.clone().unwrap_or_default()
            };
            self.inner.put_many(collection, batch, ttl)
        })
        .await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.run(Operation::DeleteMany, |_| {
            self.inner.delete_many(collection, keys)
        })
        .await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
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
        self.inner
            .compare_and_swap(collection, key, current, new, ttl)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.run(Operation::Touch, |_| self.inner.touch(collection, key, ttl))
            .await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.run(Operation::Keys, |_| {
            self.inner.keys(collection, cursor.clone(), limit)
        })
        .await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.run(Operation::Collections, |_| self.inner.collections())
            .await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.run(Operation::Clear, |_| self.inner.clear(collection))
            .await
    }

    async fn cull(&self) -> Result<u64> {
        self.run(Operation::Cull, |_| self.inner.cull()).await
    }

    async fn close(&self) -> Result<()> {
        self.run(Operation::Close, |_| self.inner.close()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Flaky;
    use mcp_kv_core::ErrorKind;

    fn fast() -> RetryConfig {
        RetryConfig::new()
            .max_attempts(3)
            .initial_backoff(Duration::from_millis(1))
    }

    #[tokio::test]
    async fn temporary_errors_of_idempotent_ops_are_retried() {
        let flaky = Flaky::new(2);
        let store = Retry::new(flaky.clone(), fast());
        store
            .put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        assert_eq!(flaky.calls_of(Operation::Put), 3);
        flaky.failures.store(3, std::sync::atomic::Ordering::SeqCst);
        let err = store.get("c", "k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(flaky.calls_of(Operation::Get), 3);
        let mut batch = vec![("a".to_string(), Bytes::from_static(b"1"))];
        batch.push(("b".to_string(), Bytes::from_static(b"2")));
        flaky.failures.store(1, std::sync::atomic::Ordering::SeqCst);
        store.put_many("c", batch, None).await.unwrap();
        assert_eq!(store.get("c", "b").await.unwrap().unwrap(), "2");
    }

    #[tokio::test]
    async fn retry_never_repeats_take_or_other_atomics() {
        let flaky = Flaky::new(1);
        let store = Retry::new(flaky.clone(), fast());
        flaky
            .inner
            .put("c", "k", Bytes::from_static(b"once"), None)
            .await
            .unwrap();
        assert!(store.take("c", "k").await.is_err());
        assert_eq!(flaky.calls_of(Operation::Take), 1);
        flaky.failures.store(1, std::sync::atomic::Ordering::SeqCst);
        assert!(store
            .put_if_absent("c", "n", Bytes::new(), None)
            .await
            .is_err());
        assert_eq!(flaky.calls_of(Operation::PutIfAbsent), 1);
        flaky.failures.store(1, std::sync::atomic::Ordering::SeqCst);
        assert!(store
            .compare_and_swap("c", "n", None, Some(Bytes::new()), None)
            .await
            .is_err());
        assert_eq!(flaky.calls_of(Operation::CompareAndSwap), 1);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let flaky = Flaky::with_kind(1, ErrorKind::Corrupted);
        let store = Retry::new(flaky.clone(), fast());
        assert_eq!(
            store.get("c", "k").await.unwrap_err().kind(),
            ErrorKind::Corrupted
        );
        assert_eq!(flaky.calls_of(Operation::Get), 1);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = RetryConfig::new()
            .initial_backoff(Duration::from_millis(10))
            .max_backoff(Duration::from_millis(50))
            .jitter(false);
        assert_eq!(c.backoff(1), Duration::from_millis(10));
        assert_eq!(c.backoff(2), Duration::from_millis(20));
        assert_eq!(c.backoff(10), Duration::from_millis(50));
        let j = c.jitter(true);
        for _ in 0..100 {
            let d = j.backoff(2);
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
        }
    }
}

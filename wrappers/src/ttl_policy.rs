//! [`TtlPolicy`]: a default TTL and min/max clamps.
//!
//! Applied to every TTL the caller gives — `put`, `put_many`, `put_if_absent`,
//! `compare_and_swap` (when it writes) and `touch`:
//!
//! 1. An invalid TTL (zero, beyond 100 years) stays an [`ErrorKind::InvalidTtl`] error: it is
//!    never silently "clamped" into a valid one.
//! 2. No TTL (`None`) becomes [`TtlPolicyConfig::default_ttl`]; without a default, it becomes
//!    [`TtlPolicyConfig::max_ttl`] when a maximum is set (nothing outlives the maximum), else it
//!    stays "no expiry".
//! 3. A TTL is then clamped into `min_ttl..=max_ttl`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::ttl_policy::{TtlPolicy, TtlPolicyConfig};
//!
//! let policy = TtlPolicyConfig::new()
//!     .default_ttl(Duration::from_secs(3600))
//!     .max_ttl(Duration::from_secs(86_400));
//! let store = TtlPolicy::new(MemoryStore::new(), policy)?;
//! store.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! assert!(store.get_entry("c", "k").await?.unwrap().ttl.unwrap() <= Duration::from_secs(3600));
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`ErrorKind::InvalidTtl`]: mcp_kv_core::ErrorKind::InvalidTtl

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{
    rules, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation, Page, Result,
};

/// The TTL rules of a [`TtlPolicy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TtlPolicyConfig {
    /// TTL of writes that give none.
    pub default_ttl: Option<Duration>,
    /// Shortest TTL written; shorter ones are raised to it.
    pub min_ttl: Option<Duration>,
    /// Longest TTL written; longer ones (and "no expiry" without a default) are lowered to it.
    pub max_ttl: Option<Duration>,
}

impl TtlPolicyConfig {
    /// No default, no clamps (a no-op policy).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the TTL of writes that give none.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// Sets the shortest TTL written.
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.min_ttl = Some(ttl);
        self
    }

    /// Sets the longest TTL written.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = Some(ttl);
        self
    }

    /// Checks the policy itself: every duration a valid TTL, `min <= max`.
    pub fn validate(&self) -> Result<()> {
        for ttl in [self.default_ttl, self.min_ttl, self.max_ttl] {
            rules::check_ttl(ttl).map_err(|e| {
                Error::new(ErrorKind::Config, format!("ttl policy: {}", e.context()))
            })?;
        }
        if let (Some(min), Some(max)) = (self.min_ttl, self.max_ttl) {
            if min > max {
                return Err(Error::new(
                    ErrorKind::Config,
                    "ttl policy: min_ttl > max_ttl",
                ));
            }
        }
        Ok(())
    }

    /// The TTL actually written for a caller's `ttl` (already checked valid).
    pub fn apply(&self, ttl: Option<Duration>) -> Option<Duration> {
        let ttl = ttl.or(self.default_ttl).or(self.max_ttl)?;
        let ttl = self.min_ttl.map_or(ttl, |min| ttl.max(min));
        Some(self.max_ttl.map_or(ttl, |max| ttl.min(max)))
    }
}

/// Applies a [`TtlPolicyConfig`] to every write of `S`. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TtlPolicy<S> {
    inner: S,
    policy: TtlPolicyConfig,
}

impl<S: KvStore> TtlPolicy<S> {
    /// Wraps `inner`; [`ErrorKind::Config`] if the policy is invalid.
    pub fn new(inner: S, policy: TtlPolicyConfig) -> Result<Self> {
        policy.validate()?;
        Ok(TtlPolicy { inner, policy })
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn ttl(&self, ttl: Option<Duration>, op: Operation) -> Result<Option<Duration>> {
        rules::check_ttl(ttl).map_err(|e| e.with_operation(op))?;
        Ok(self.policy.apply(ttl))
    }
}

#[async_trait]
impl<S: KvStore> KvStore for TtlPolicy<S> {
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
        let ttl = self.ttl(ttl, Operation::Put)?;
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
        let ttl = self.ttl(ttl, Operation::PutMany)?;
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
        let ttl = self.ttl(ttl, Operation::PutIfAbsent)?;
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
        let ttl = if new.is_some() {
            self.ttl(ttl, Operation::CompareAndSwap)?
        } else {
            ttl
        };
        self.inner
            .compare_and_swap(collection, key, current, new, ttl)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let ttl = self.ttl(ttl, Operation::Touch)?;
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

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn apply_rules() {
        let p = TtlPolicyConfig::new()
            .default_ttl(S(60))
            .min_ttl(S(10))
            .max_ttl(S(120));
        assert_eq!(p.apply(None), Some(S(60)));
        assert_eq!(p.apply(Some(S(1))), Some(S(10)));
        assert_eq!(p.apply(Some(S(1000))), Some(S(120)));
        assert_eq!(p.apply(Some(S(30))), Some(S(30)));
        let max_only = TtlPolicyConfig::new().max_ttl(S(5));
        assert_eq!(max_only.apply(None), Some(S(5)));
        assert_eq!(TtlPolicyConfig::new().apply(None), None);
        let bad = TtlPolicyConfig::new().min_ttl(S(10)).max_ttl(S(5));
        assert_eq!(bad.validate().unwrap_err().kind(), ErrorKind::Config);
        assert!(TtlPolicyConfig::new()
            .default_ttl(Duration::ZERO)
            .validate()
            .is_err());
    }

    #[tokio::test]
    async fn writes_get_the_policy() {
        let inner = store();
        let p = TtlPolicy::new(
            inner.clone(),
            TtlPolicyConfig::new().default_ttl(S(60)).max_ttl(S(120)),
        )
        .unwrap();
        p.put("c", "a", Bytes::from_static(b"1"), None)
            .await
            .unwrap();
        let ttl = inner
            .get_entry("c", "a")
            .await
            .unwrap()
            .unwrap()
            .ttl
            .unwrap();
        assert!(ttl <= S(60) && ttl > S(55));
        p.put_many("c", vec![("b".into(), Bytes::new())], Some(S(9999)))
            .await
            .unwrap();
        let ttl = inner
            .get_entry("c", "b")
            .await
            .unwrap()
            .unwrap()
            .ttl
            .unwrap();
        assert!(ttl <= S(120) && ttl > S(115));
        assert!(p.touch("c", "b", None).await.unwrap());
        let ttl = inner
            .get_entry("c", "b")
            .await
            .unwrap()
            .unwrap()
            .ttl
            .unwrap();
        assert!(ttl <= S(60));
        assert!(p.put_if_absent("c", "d", Bytes::new(), None).await.unwrap());
        assert!(inner
            .get_entry("c", "d")
            .await
            .unwrap()
            .unwrap()
            .ttl
            .is_some());
        assert!(p
            .compare_and_swap("c", "e", None, Some(Bytes::new()), None)
            .await
            .unwrap());
        assert!(inner
            .get_entry("c", "e")
            .await
            .unwrap()
            .unwrap()
            .ttl
            .is_some());
        let err = p
            .put("c", "z", Bytes::new(), Some(Duration::ZERO))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidTtl);
    }
}

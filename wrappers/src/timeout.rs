//! [`Timeout`]: a deadline per operation.
//!
//! An operation that does not finish within its deadline is abandoned (its future dropped) and
//! fails with a **temporary** [`ErrorKind::Timeout`] error, which a [`Retry`](crate::retry)
//! placed outside may retry (idempotent operations only). For `put_if_absent`, `take` and
//! `compare_and_swap` a timeout leaves the outcome unknown — the backend may have applied the
//! operation — which is why they are never retried.
//!
//! Needs a Tokio runtime with the time driver enabled.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, KvStore, Operation};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::timeout::{Timeout, TimeoutConfig};
//!
//! let config = TimeoutConfig::new(Duration::from_millis(250))
//!     .operation(Operation::Clear, Duration::from_secs(5));
//! let store = Timeout::new(MemoryStore::new(), config);
//! store.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use mcp_kv_core::{Error, ErrorKind, Operation, Result};

use crate::hook::{hooked_kv_store, BoxFut};

/// Deadlines of a [`Timeout`]: a default and per-operation overrides.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TimeoutConfig {
    /// Deadline of every operation without an override (`None`: no deadline).
    pub default: Option<Duration>,
    /// Per-operation overrides (`None`: no deadline for that operation).
    pub per_operation: Vec<(Operation, Option<Duration>)>,
}

impl TimeoutConfig {
    /// Every operation gets `default` as its deadline.
    pub fn new(default: Duration) -> Self {
        TimeoutConfig {
            default: Some(default),
            per_operation: Vec::new(),
        }
    }

    /// `operation` gets `deadline` instead of the default.
    pub fn operation(mut self, operation: Operation, deadline: Duration) -> Self {
        self.per_operation.push((operation, Some(deadline)));
        self
    }

    /// `operation` gets no deadline.
    pub fn unlimited(mut self, operation: Operation) -> Self {
        self.per_operation.push((operation, None));
        self
    }

    fn deadline(&self, op: Operation) -> Option<Duration> {
        self.per_operation
            .iter()
            .rev()
            .find(|(o, _)| *o == op)
            .map(|(_, d)| *d)
            .unwrap_or(self.default)
    }
}

/// Gives every operation of `S` a deadline. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    config: TimeoutConfig,
}

impl<S> Timeout<S> {
    /// Wraps `inner` with the deadlines of `config`.
    pub fn new(inner: S, config: TimeoutConfig) -> Self {
        Timeout { inner, config }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn hook<T>(
        &self,
        op: Operation,
        _collection: Option<&str>,
        fut: BoxFut<'_, T>,
    ) -> Result<T> {
        match self.config.deadline(op) {
            None => fut.await,
            Some(deadline) => match tokio::time::timeout(deadline, fut).await {
                Ok(result) => result,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no answer within {} ms", deadline.as_millis()),
                )
                .with_operation(op)
                .set_temporary(true)),
            },
        }
    }
}

hooked_kv_store!(Timeout);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store;
    use async_trait::async_trait;
    use bytes::Bytes;
    use mcp_kv_core::{Capabilities, Entry, KvStore};

    #[derive(Debug)]
    struct Slow;

    #[async_trait]
    impl KvStore for Slow {
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        async fn get_entry(&self, _: &str, _: &str) -> Result<Option<Entry>> {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(None)
        }
        async fn put(&self, _: &str, _: &str, _: Bytes, _: Option<Duration>) -> Result<()> {
            Ok(())
        }
        async fn delete(&self, _: &str, _: &str) -> Result<bool> {
            Ok(false)
        }
    }

    #[tokio::test]
    async fn slow_operations_time_out_as_temporary() {
        let store = Timeout::new(Slow, TimeoutConfig::new(Duration::from_millis(20)));
        let err = store.get_entry("c", "k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.is_temporary());
        assert_eq!(err.operation(), Some(Operation::GetEntry));
        store.put("c", "k", Bytes::new(), None).await.unwrap();
    }

    #[tokio::test]
    async fn overrides_apply() {
        let config = TimeoutConfig::new(Duration::from_millis(10))
            .unlimited(Operation::Put)
            .operation(Operation::Get, Duration::from_secs(1));
        assert_eq!(config.deadline(Operation::Put), None);
        assert_eq!(
            config.deadline(Operation::Get),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            config.deadline(Operation::Take),
            Some(Duration::from_millis(10))
        );
        let store = Timeout::new(store(), config);
        store
            .put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        assert_eq!(store.get("c", "k").await.unwrap().unwrap(), "v");
    }
}

//! [`Tracing`]: a `tracing` span per operation.
//!
//! Each operation runs inside a span named `kv` (level `DEBUG`) with the fields
//!
//! | field | value |
//! |---|---|
//! | `op` | the operation, e.g. `"get"`, `"put_if_absent"` |
//! | `collection` | the collection name (unless [`TracingConfig::record_collections`] is off) |
//! | `outcome` | `"ok"`, or the error kind (`"timeout"`, `"decryption"`, …) |
//! | `latency_us` | the operation's wall time in microseconds |
//!
//! Keys and values are never recorded: a key may be derived from a token, a value may be a
//! secret. Turn `record_collections` off when collection names themselves are sensitive (for
//! example per-session collections named after session ids). When no subscriber listens at
//! `DEBUG`, the wrapper costs one disabled-span check per operation.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::tracing::{Tracing, TracingConfig};
//!
//! let store = Tracing::new(MemoryStore::new(), TracingConfig::default());
//! store.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::time::Instant;

use ::tracing::field::Empty;
use ::tracing::Instrument;
use mcp_kv_core::{Operation, Result};

use crate::hook::{hooked_kv_store, BoxFut};

/// What [`Tracing`] records.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TracingConfig {
    /// Record collection names in spans (default `true`).
    pub record_collections: bool,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            record_collections: true,
        }
    }
}

impl TracingConfig {
    /// Whether collection names are recorded.
    pub fn record_collections(mut self, on: bool) -> Self {
        self.record_collections = on;
        self
    }
}

/// Runs every operation of `S` in a `tracing` span. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Tracing<S> {
    inner: S,
    config: TracingConfig,
}

impl<S> Tracing<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: TracingConfig) -> Self {
        Tracing { inner, config }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn hook<T>(
        &self,
        op: Operation,
        collection: Option<&str>,
        fut: BoxFut<'_, T>,
    ) -> Result<T> {
        let span = ::tracing::debug_span!(
            "kv",
            op = op.as_str(),
            collection = Empty,
            outcome = Empty,
            latency_us = Empty
        );
        if span.is_disabled() {
            return fut.await;
        }
        if self.config.record_collections {
            if let Some(c) = collection {
                span.record("collection", c);
            }
        }
        let started = Instant::now();
        let result = fut.instrument(span.clone()).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind().as_str(),
        };
        span.record("outcome", outcome);
        span.record(
            "latency_us",
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
        result
    }
}

hooked_kv_store!(Tracing);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store;
    use bytes::Bytes;
    use mcp_kv_core::KvStore;

    #[tokio::test]
    async fn forwards_without_a_subscriber() {
        let store = Tracing::new(store(), TracingConfig::default().record_collections(false));
        store
            .put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        assert_eq!(store.take("c", "k").await.unwrap().unwrap(), "v");
        assert_eq!(store.get("c", "k").await.unwrap(), None);
    }
}

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

    use std::sync::{Arc, Mutex};

    use ::tracing::field::{Field, Visit};
    use ::tracing::span::{Attributes, Id, Record};
    use ::tracing::{Event, Metadata, Subscriber};

    /// Records every span field as `name=value` text.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);

    struct Fields<'a>(&'a Mutex<Vec<String>>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if let Ok(mut v) = self.0.lock() {
                v.push(format!("{}={:?}", field.name(), value));
            }
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            span.record(&mut Fields(&self.0));
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Fields(&self.0));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            event.record(&mut Fields(&self.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[tokio::test]
    async fn spans_carry_op_collection_outcome_latency_never_keys_or_values() {
        let capture = Capture::default();
        let _guard = ::tracing::subscriber::set_default(capture.clone());
        let store = Tracing::new(store(), TracingConfig::default());
        store
            .put(
                "tokens",
                "KEY-alice",
                Bytes::from_static(b"VALUE-secret"),
                None,
            )
            .await
            .unwrap();
        store.get("tokens", "KEY-alice").await.unwrap();
        assert!(store.get("", "KEY-bad").await.is_err());
        let fields = capture.0.lock().unwrap().join(" ");
        for needle in [
            "op=\"put\"",
            "op=\"get\"",
            "collection=\"tokens\"",
            "outcome=\"ok\"",
            "outcome=\"invalid key\"",
            "latency_us=",
        ] {
            assert!(fields.contains(needle), "{needle} missing in {fields}");
        }
        assert!(
            !fields.contains("KEY-") && !fields.contains("VALUE-"),
            "{fields}"
        );

        let hidden = Tracing::new(
            store.inner().clone(),
            TracingConfig::default().record_collections(false),
        );
        capture.0.lock().unwrap().clear();
        hidden.get("tokens", "KEY-alice").await.unwrap();
        let fields = capture.0.lock().unwrap().join(" ");
        assert!(!fields.contains("tokens"), "{fields}");
    }

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

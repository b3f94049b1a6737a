//! [`StoreBuilder`]: stacks wrappers around a backend, in the order you read them.
//!
//! **The first call is the outermost layer.** A caller's operation goes through the layers in
//! the order they were added, then reaches the backend:
//!
//! ```text
//! StoreBuilder::new(backend).namespace("t").compress(c).encrypt(k).statistics().build()
//!
//! caller ─▶ namespace ─▶ compression ─▶ encryption ─▶ statistics ─▶ backend
//! ```
//!
//! so here values are compressed, then encrypted, and the statistics count what the backend
//! stores (prefixed collection names, ciphertext sizes). See the
//! [crate docs](crate#choosing-the-order) for which orders are right.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mcp_kv_core::{Bytes, KvStore, Operation};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::compression::CompressionConfig;
//! use mcp_kv_wrappers::encryption::{EncryptionKey, Keyring};
//! use mcp_kv_wrappers::StoreBuilder;
//!
//! let builder = StoreBuilder::new(MemoryStore::new())
//!     .statistics() // outermost: counts what callers ask for
//!     .namespace("tenant-a")
//!     .compress(CompressionConfig::default())
//!     .encrypt(Keyring::new(EncryptionKey::generate(1)));
//! let stats = builder.stats().unwrap();
//! let store = builder.build()?;
//! store.put("notes", "n1", Bytes::from_static(b"hello"), None).await?;
//! assert_eq!(store.get("notes", "n1").await?.unwrap(), "hello");
//! assert_eq!(stats.snapshot().collection("notes").unwrap().operation(Operation::Get).hits, 1);
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::Arc;

use mcp_kv_core::{DynStore, KvStore, Result};

use crate::namespace::Namespace;
use crate::read_only::ReadOnly;
use crate::retry::{Retry, RetryConfig};
use crate::size_limit::SizeLimit;
use crate::statistics::{Statistics, Stats};
use crate::timeout::{Timeout, TimeoutConfig};
use crate::tracing::{Tracing, TracingConfig};
use crate::ttl_policy::{TtlPolicy, TtlPolicyConfig};

type Custom = Box<dyn FnOnce(DynStore) -> Result<DynStore> + Send + Sync>;

enum Layer {
    Namespace(String),
    #[cfg(feature = "compression")]
    Compress(crate::compression::CompressionConfig),
    #[cfg(feature = "encryption")]
    Encrypt(
        crate::encryption::Keyring,
        crate::encryption::EncryptionConfig,
    ),
    Statistics(Stats),
    TtlPolicy(TtlPolicyConfig),
    Retry(RetryConfig),
    Timeout(TimeoutConfig),
    ReadOnly,
    SizeLimit(usize),
    Tracing(TracingConfig),
    Custom(Custom),
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Layer::Namespace(_) => "namespace",
            #[cfg(feature = "compression")]
            Layer::Compress(_) => "compression",
            #[cfg(feature = "encryption")]
            Layer::Encrypt(..) => "encryption",
            Layer::Statistics(_) => "statistics",
            Layer::TtlPolicy(_) => "ttl_policy",
            Layer::Retry(_) => "retry",
            Layer::Timeout(_) => "timeout",
            Layer::ReadOnly => "read_only",
            Layer::SizeLimit(_) => "size_limit",
            Layer::Tracing(_) => "tracing",
            Layer::Custom(_) => "custom",
        };
        f.write_str(name)
    }
}

impl Layer {
    fn wrap(self, inner: DynStore) -> Result<DynStore> {
        // `Arc<dyn KvStore>` forwards the inner store's future as is (mcp-kv-core), so each
        // layer costs one boxed future.
        Ok(match self {
            Layer::Namespace(ns) => Arc::new(Namespace::new(inner, ns)?),
            #[cfg(feature = "compression")]
            Layer::Compress(c) => Arc::new(crate::compression::Compression::new(inner, c)),
            #[cfg(feature = "encryption")]
            Layer::Encrypt(k, c) => Arc::new(crate::encryption::Encryption::new(inner, k, c)),
            Layer::Statistics(s) => Arc::new(Statistics::with_stats(inner, s)),
            Layer::TtlPolicy(p) => Arc::new(TtlPolicy::new(inner, p)?),
            Layer::Retry(c) => Arc::new(Retry::new(inner, c)),
            Layer::Timeout(c) => Arc::new(Timeout::new(inner, c)),
            Layer::ReadOnly => Arc::new(ReadOnly::new(inner)),
            Layer::SizeLimit(n) => Arc::new(SizeLimit::new(inner, n)),
            Layer::Tracing(c) => Arc::new(Tracing::new(inner, c)),
            Layer::Custom(f) => f(inner)?,
        })
    }
}

/// Stacks wrappers around a backend; the first added is the outermost. See the
/// [module docs](self).
#[derive(Debug)]
pub struct StoreBuilder {
    backend: DynStore,
    layers: Vec<Layer>,
}

impl StoreBuilder {
    /// Starts from `backend`.
    pub fn new<S: KvStore + 'static>(backend: S) -> Self {
        Self::from_dyn(Arc::new(backend))
    }

    /// Starts from a shared backend.
    pub fn from_dyn(backend: DynStore) -> Self {
        StoreBuilder {
            backend,
            layers: Vec::new(),
        }
    }

    fn push(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    /// Adds a [`Namespace`] layer.
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        self.push(Layer::Namespace(namespace.into()))
    }

    /// Adds a [`Compression`](crate::compression::Compression) layer.
    #[cfg(feature = "compression")]
    pub fn compress(self, config: crate::compression::CompressionConfig) -> Self {
        self.push(Layer::Compress(config))
    }

    /// Adds an [`Encryption`](crate::encryption::Encryption) layer that fails closed.
    #[cfg(feature = "encryption")]
    pub fn encrypt(self, keyring: crate::encryption::Keyring) -> Self {
        self.encrypt_with(keyring, crate::encryption::EncryptionConfig::default())
    }

    /// Adds an [`Encryption`](crate::encryption::Encryption) layer with options.
    #[cfg(feature = "encryption")]
    pub fn encrypt_with(
        self,
        keyring: crate::encryption::Keyring,
        config: crate::encryption::EncryptionConfig,
    ) -> Self {
        self.push(Layer::Encrypt(keyring, config))
    }

    /// Adds a [`Statistics`] layer with fresh counters (get them with
    /// [`StoreBuilder::stats`]).
    pub fn statistics(self) -> Self {
        self.statistics_into(Stats::new())
    }

    /// Adds a [`Statistics`] layer counting into `stats`.
    pub fn statistics_into(self, stats: Stats) -> Self {
        self.push(Layer::Statistics(stats))
    }

    /// Adds a [`TtlPolicy`] layer.
    pub fn ttl_policy(self, policy: TtlPolicyConfig) -> Self {
        self.push(Layer::TtlPolicy(policy))
    }

    /// Adds a [`Retry`] layer.
    pub fn retry(self, config: RetryConfig) -> Self {
        self.push(Layer::Retry(config))
    }

    /// Adds a [`Timeout`] layer.
    pub fn timeout(self, config: TimeoutConfig) -> Self {
        self.push(Layer::Timeout(config))
    }

    /// Adds a [`ReadOnly`] layer (read-only from the start).
    pub fn read_only(self) -> Self {
        self.push(Layer::ReadOnly)
    }

    /// Adds a [`SizeLimit`] layer.
    pub fn size_limit(self, max_value_bytes: usize) -> Self {
        self.push(Layer::SizeLimit(max_value_bytes))
    }

    /// Adds a [`Tracing`] layer.
    pub fn tracing(self, config: TracingConfig) -> Self {
        self.push(Layer::Tracing(config))
    }

    /// Adds any layer: `wrap` gets the store below and returns the store above (for
    /// [`Tiered`](crate::tiered::Tiered), [`Fallback`](crate::fallback::Fallback) or your own
    /// wrapper).
    pub fn layer<F>(self, wrap: F) -> Self
    where
        F: FnOnce(DynStore) -> Result<DynStore> + Send + Sync + 'static,
    {
        self.push(Layer::Custom(Box::new(wrap)))
    }

    /// The counters of the last statistics layer added, if any.
    pub fn stats(&self) -> Option<Stats> {
        self.layers.iter().rev().find_map(|l| match l {
            Layer::Statistics(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// The stacked store. Fails with [`ErrorKind::Config`](mcp_kv_core::ErrorKind::Config)
    /// if a layer's configuration is invalid (an empty namespace, a TTL policy with
    /// `min > max`, …).
    pub fn build(self) -> Result<DynStore> {
        let mut store = self.backend;
        for layer in self.layers.into_iter().rev() {
            store = layer.wrap(store)?;
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store;
    use bytes::Bytes;
    use mcp_kv_core::{ErrorKind, Operation};

    #[tokio::test]
    async fn first_call_is_outermost() {
        let backend = store();
        let builder = StoreBuilder::from_dyn(backend.clone())
            .namespace("t")
            .statistics();
        let stats = builder.stats().unwrap();
        let s = builder.build().unwrap();
        s.put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        // Statistics sit below the namespace: they see the prefixed name.
        assert!(stats.snapshot().collection("t:c").is_some());
        assert_eq!(
            backend.collections().await.unwrap(),
            vec!["t:c".to_string()]
        );

        let builder = StoreBuilder::from_dyn(backend.clone())
            .statistics()
            .namespace("t");
        let stats = builder.stats().unwrap();
        let s = builder.build().unwrap();
        s.get("c", "k").await.unwrap();
        assert_eq!(
            stats
                .snapshot()
                .collection("c")
                .unwrap()
                .operation(Operation::Get)
                .hits,
            1
        );
    }

    #[test]
    fn invalid_layers_fail_at_build() {
        let err = StoreBuilder::new(crate::test_support::with_clock(mcp_kv_core::system_clock()))
            .namespace("")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let b = StoreBuilder::from_dyn(store())
            .tracing(TracingConfig::default())
            .read_only();
        assert_eq!(format!("{b:?}").matches("tracing").count(), 1);
        assert!(b.build().is_ok());
    }
}

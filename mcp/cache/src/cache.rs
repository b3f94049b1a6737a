//! [`ResponseCache`]: lookup, single-flight compute, store, invalidate.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::rules::MAX_TTL;
use mcp_kv_core::{Bytes, DynStore, Error, Operation, Result};
use serde_json::Value;

use crate::flight::{Flights, Role};
use crate::key::{params_hash, Partition};
use crate::stats::{CacheStats, Counter, StatsTable};
use crate::value::{CacheValue, HintScope};
use crate::{CacheConfig, Method};

/// A response cache for MCP methods over any [`KvStore`](mcp_kv_core::KvStore).
///
/// Cheap to clone (one `Arc`); build it once with the store at server start.
///
/// # Storage layout
///
/// One collection per method and partition, `<prefix>/<method>/<partition>` (e.g.
/// `mcp-kv.cache/tools/call/p-3f…`), keyed by the SHA-256 hex of the canonical JSON of the
/// request params (see [`params_hash`]); values are the result's JSON, with the store's TTL.
///
/// # Invalidation
///
/// Invalidating clears collections ([`KvStore::clear`](mcp_kv_core::KvStore::clear)): one for
/// a method and partition, one per partition for a method (found with `collections()`), one
/// per method for a partition. It needs a store with `enumerate`; others get `Unsupported`.
/// Each invalidation also bumps an in-process generation, so a result being computed while its
/// method or partition is invalidated is served to its callers but not stored (other replicas
/// of a shared store can still store such a result: their window is one computation, their
/// bound the TTL).
#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    config: CacheConfig,
    salt: Vec<u8>,
    max_item_bytes: usize,
    stats: StatsTable,
    flights: Flights,
    method_generation: [AtomicU64; 6],
    partition_generation: AtomicU64,
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .field("salt", &format_args!("<{} bytes>", self.inner.salt.len()))
            .field("flights", &self.inner.flights)
            .finish()
    }
}

/// Builds a [`ResponseCache`].
pub struct ResponseCacheBuilder {
    store: DynStore,
    config: CacheConfig,
    salt: Vec<u8>,
}

impl fmt::Debug for ResponseCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCacheBuilder")
            .field("store", &self.store)
            .field("config", &self.config)
            .field("salt", &format_args!("<{} bytes>", self.salt.len()))
            .finish()
    }
}

impl ResponseCacheBuilder {
    /// Sets the configuration (default: [`CacheConfig::default`]).
    pub fn config(mut self, config: CacheConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets a secret mixed into principal hashes, so partition names in the store cannot be
    /// matched to identities by hashing guesses. Every replica sharing the store must use the
    /// same salt.
    pub fn principal_salt(mut self, salt: impl Into<Vec<u8>>) -> Self {
        self.salt = salt.into();
        self
    }

    /// The cache.
    pub fn build(self) -> ResponseCache {
        let max_item_bytes = self
            .config
            .max_item_bytes
            .min(self.store.capabilities().max_value_bytes);
        ResponseCache {
            inner: Arc::new(Inner {
                store: self.store,
                config: self.config,
                salt: self.salt,
                max_item_bytes,
                stats: StatsTable::default(),
                flights: Flights::default(),
                method_generation: Default::default(),
                partition_generation: AtomicU64::new(0),
            }),
        }
    }
}

/// The generations a leader saw before computing.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Generation(u64, u64);

impl ResponseCache {
    /// A cache over `store` with the default configuration.
    pub fn new(store: DynStore) -> Self {
        Self::builder(store).build()
    }

    /// A builder over `store`.
    pub fn builder(store: DynStore) -> ResponseCacheBuilder {
        ResponseCacheBuilder {
            store,
            config: CacheConfig::default(),
            salt: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// The partition a request of `method` with `params` by `principal` uses: the public one
    /// when the method or item is marked public, else the principal's own (or the anonymous
    /// one without a principal). An empty principal is no identity: anonymous, where private
    /// results are never stored (an auth layer that marks unauthenticated callers with `""`
    /// would otherwise give them one shared partition holding each other's private results).
    pub fn partition(&self, method: Method, params: &Value, principal: Option<&str>) -> Partition {
        if self
            .inner
            .config
            .is_public(method, method.item_name(params))
        {
            return Partition::Public;
        }
        match principal.filter(|id| !id.is_empty()) {
            Some(id) => Partition::principal(id, &self.inner.salt),
            None => Partition::Anonymous,
        }
    }

    /// The collection holding `method`'s results in `partition`.
    pub fn collection(&self, method: Method, partition: &Partition) -> String {
        let prefix = &self.inner.config.collection_prefix;
        let mut out = String::with_capacity(prefix.len() + 48);
        out.push_str(prefix);
        out.push('/');
        out.push_str(method.as_str());
        out.push('/');
        partition.write_name(&mut out);
        out
    }

    /// A snapshot of the per-method statistics.
    pub fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }

    /// Resets every counter to zero.
    pub fn reset_stats(&self) {
        self.inner.stats.reset();
    }

    /// [`get_or_compute`](Self::get_or_compute) in the partition of `principal` (see
    /// [`partition`](Self::partition)).
    pub async fn get_or_compute_as<T, E, F, Fut>(
        &self,
        method: Method,
        params: &Value,
        principal: Option<&str>,
        compute: F,
    ) -> std::result::Result<T, E>
    where
        T: CacheValue,
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let partition = self.partition(method, params, principal);
        self.get_or_compute(method, params, &partition, compute)
            .await
    }

    /// The cached result of `method` with `params` in `partition`, or `compute`'s.
    ///
    /// - Not cached by configuration: runs `compute` (counted as bypassed).
    /// - A live entry: decoded and returned (a hit); an entry that does not decode is deleted
    ///   and counted as a store error.
    /// - A miss: if an identical request is in flight, waits for its result (an incomplete
    ///   one — a task handle, an input request — is the other call's own: the waiter then runs
    ///   `compute` itself); otherwise runs
    ///   `compute` once and stores an `Ok` result unless it is an error result, incomplete,
    ///   above the size limit, hinted private in the public partition, hinted with a zero TTL,
    ///   or invalidated meanwhile. `Err` results are returned (to every waiter) and never
    ///   stored.
    /// - Store failures never fail the request: they are counted and the handler answers.
    /// - Dropped midway (a cancelled request, a timeout): before the result is computed, the
    ///   waiters start over and one of them runs `compute`; after, they already have it, and
    ///   the store write goes on in a task of its own (with a Tokio runtime), still taken back
    ///   if an invalidation lands meanwhile. Nothing is left registered in memory.
    pub async fn get_or_compute<T, E, F, Fut>(
        &self,
        method: Method,
        params: &Value,
        partition: &Partition,
        compute: F,
    ) -> std::result::Result<T, E>
    where
        T: CacheValue,
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let inner = &*self.inner;
        let item = method.item_name(params);
        if !inner.config.is_cached(method, item) {
            inner.stats.bump(method, Counter::Bypass);
            return compute().await;
        }
        let ttl = inner.config.ttl(method, item);
        let collection = self.collection(method, partition);
        let key = params_hash(params);
        let mut flight_key = String::with_capacity(collection.len() + key.len() + 1);
        flight_key.push_str(&collection);
        flight_key.push('\n');
        flight_key.push_str(&key);

        loop {
            if let Some(hit) = self.lookup::<T>(method, &collection, &key).await {
                inner.stats.bump(method, Counter::Hit);
                return Ok(hit);
            }
            match inner.flights.join::<T, E>(&flight_key) {
                Role::Wait(mut rx) => {
                    let shared = match rx.wait_for(Option::is_some).await {
                        Ok(outcome) => outcome.clone(),
                        Err(_) => None,
                    };
                    match shared {
                        // An incomplete result (a task handle, an input request) belongs to
                        // the call that made it: this caller makes its own.
                        Some(Ok(v)) if v.hints().incomplete => {
                            inner.stats.bump(method, Counter::Bypass);
                            return compute().await;
                        }
                        Some(outcome) => {
                            inner.stats.bump(method, Counter::Coalesced);
                            return outcome;
                        }
                        // The leader panicked or was cancelled: start over.
                        None => {}
                    }
                }
                Role::Lead(leader) => {
                    // A previous flight may have stored the result between our lookup and
                    // our registration.
                    if let Some(hit) = self.lookup::<T>(method, &collection, &key).await {
                        inner.stats.bump(method, Counter::Hit);
                        leader.publish(&Ok(hit.clone()));
                        return Ok(hit);
                    }
                    // Published as soon as computed; the flight stays registered until the
                    // result is stored (the leader is dropped on return).
                    return self
                        .compute_and_store(
                            method,
                            partition,
                            &collection,
                            &key,
                            ttl,
                            compute,
                            |o| leader.publish(o),
                        )
                        .await;
                }
                Role::Alone => {
                    return self
                        .compute_and_store(
                            method,
                            partition,
                            &collection,
                            &key,
                            ttl,
                            compute,
                            |_| {},
                        )
                        .await;
                }
            }
        }
    }

    /// Runs `compute`, hands its outcome to `publish`, then stores it if it is `Ok`.
    #[allow(clippy::too_many_arguments)]
    async fn compute_and_store<T, E, F, Fut>(
        &self,
        method: Method,
        partition: &Partition,
        collection: &str,
        key: &str,
        ttl: Duration,
        compute: F,
        publish: impl FnOnce(&std::result::Result<T, E>),
    ) -> std::result::Result<T, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let inner = &*self.inner;
        inner.stats.bump(method, Counter::Miss);
        let generation = self.generation(method);
        let outcome = compute().await;
        // Before the store's round trip: the waiters get the result at once, and also if this
        // call is dropped while storing (they would run the handler again).
        publish(&outcome);
        match &outcome {
            Ok(value) => {
                self.store_result(method, partition, collection, key, ttl, value, generation)
                    .await
            }
            Err(_) => inner.stats.bump(method, Counter::Error),
        }
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_result<T: CacheValue>(
        &self,
        method: Method,
        partition: &Partition,
        collection: &str,
        key: &str,
        ttl: Duration,
        value: &T,
        generation: Generation,
    ) {
        let inner = &*self.inner;
        let hints = value.hints();
        if hints.is_error {
            inner.stats.bump(method, Counter::Error);
            return;
        }
        let mut ttl = ttl.min(MAX_TTL);
        if inner.config.honor_hints {
            if let Some(hint) = hints.ttl {
                ttl = ttl.min(hint);
            }
            // Private: only the caller who asked — never a partition callers share (the public
            // one, or the anonymous one every caller without an identity lands in).
            if hints.scope == Some(HintScope::Private)
                && matches!(partition, Partition::Public | Partition::Anonymous)
            {
                inner.stats.bump(method, Counter::Skip);
                return;
            }
        }
        if hints.incomplete || ttl.is_zero() {
            inner.stats.bump(method, Counter::Skip);
            return;
        }
        let bytes = match serde_json::to_vec(value) {
            Ok(b) => b,
            Err(_) => {
                tracing::debug!(method = method.as_str(), "cache: result does not serialize");
                inner.stats.bump(method, Counter::StoreError);
                return;
            }
        };
        if bytes.len() > inner.max_item_bytes || generation != self.generation(method) {
            inner.stats.bump(method, Counter::Skip);
            return;
        }
        let bytes = Bytes::from(bytes);
        let cache = self.clone();
        let (collection, key) = (collection.to_owned(), key.to_owned());
        let write = async move {
            cache
                .write_result(method, &collection, &key, bytes, ttl, generation)
                .await
        };
        // A task of its own: dropping this call (a cancelled request, a timeout) abandons only
        // the wait. The put may still land (a store thread or the server runs it anyway), and
        // the check that follows it takes it back if an invalidation came meanwhile — had it
        // been dropped with the call, the invalidated result would be served until its TTL.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let _ = runtime.spawn(write).await;
            }
            Err(_) => write.await,
        }
    }

    /// Puts a serialized result, then takes it back if an invalidation landed meanwhile.
    async fn write_result(
        &self,
        method: Method,
        collection: &str,
        key: &str,
        bytes: Bytes,
        ttl: Duration,
        generation: Generation,
    ) {
        let inner = &*self.inner;
        match inner
            .store
            .put(collection, key, bytes.clone(), Some(ttl))
            .await
        {
            Ok(()) if generation != self.generation(method) => {
                // An invalidation landed while the put was in flight (it may have cleared the
                // collection before the put did land): take the entry back — only if it is
                // still this one, where the store can tell — so the invalidation holds.
                let store = &inner.store;
                let _ = if store.capabilities().compare_and_swap {
                    store
                        .compare_and_swap(collection, key, Some(&bytes), None, None)
                        .await
                        .map(drop)
                } else {
                    store.delete(collection, key).await.map(drop)
                };
                inner.stats.bump(method, Counter::Skip);
            }
            Ok(()) => inner.stats.bump(method, Counter::Store),
            Err(e) => {
                tracing::warn!(method = method.as_str(), error = %e, "cache: store failed");
                inner.stats.bump(method, Counter::StoreError);
            }
        }
    }

    async fn lookup<T: CacheValue>(
        &self,
        method: Method,
        collection: &str,
        key: &str,
    ) -> Option<T> {
        let inner = &*self.inner;
        match inner.store.get(collection, key).await {
            Ok(Some(bytes)) => match serde_json::from_slice::<T>(&bytes) {
                // What the cache never stores is never served either (an entry written by
                // another version, or behind the cache's back).
                Ok(v)
                    if {
                        let hints = v.hints();
                        !hints.is_error && !hints.incomplete
                    } =>
                {
                    Some(v)
                }
                _ => {
                    tracing::warn!(
                        method = method.as_str(),
                        "cache: stored entry does not decode, or is an error or incomplete \
                         result; deleted"
                    );
                    inner.stats.bump(method, Counter::StoreError);
                    let _ = inner.store.delete(collection, key).await;
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(method = method.as_str(), error = %e, "cache: lookup failed");
                inner.stats.bump(method, Counter::StoreError);
                None
            }
        }
    }

    fn generation(&self, method: Method) -> Generation {
        Generation(
            self.inner.method_generation[method.index()].load(Ordering::Acquire),
            self.inner.partition_generation.load(Ordering::Acquire),
        )
    }

    fn bump_method(&self, method: Method) {
        self.inner.method_generation[method.index()].fetch_add(1, Ordering::AcqRel);
    }

    /// Drops every cached result of `method` in `partition`; returns how many entries went.
    pub async fn invalidate(&self, method: Method, partition: &Partition) -> Result<u64> {
        self.bump_method(method);
        self.inner
            .store
            .clear(&self.collection(method, partition))
            .await
    }

    /// Drops every cached result of `method` in every partition (e.g. on a
    /// `notifications/tools/list_changed`); returns how many entries went. It clears one
    /// partition's collection after another: if it fails or is dropped midway, the partitions
    /// not reached yet keep their entries — call it again (the same holds for
    /// [`invalidate_all`](Self::invalidate_all) and
    /// [`invalidate_partition`](Self::invalidate_partition)).
    pub async fn invalidate_method(&self, method: Method) -> Result<u64> {
        self.bump_method(method);
        let store = &self.inner.store;
        if !store.capabilities().enumerate {
            return Err(Error::unsupported(Operation::Collections));
        }
        let prefix = format!(
            "{}/{}/",
            self.inner.config.collection_prefix,
            method.as_str()
        );
        let mut removed = 0;
        for collection in store.collections().await? {
            if collection.starts_with(&prefix) {
                removed += store.clear(&collection).await?;
            }
        }
        Ok(removed)
    }

    /// Drops every cached result of `partition` (e.g. when a principal's permissions change);
    /// returns how many entries went.
    pub async fn invalidate_partition(&self, partition: &Partition) -> Result<u64> {
        self.inner
            .partition_generation
            .fetch_add(1, Ordering::AcqRel);
        let mut removed = 0;
        for method in Method::ALL {
            removed += self
                .inner
                .store
                .clear(&self.collection(method, partition))
                .await?;
        }
        Ok(removed)
    }

    /// Drops every cached result; returns how many entries went.
    pub async fn invalidate_all(&self) -> Result<u64> {
        self.inner
            .partition_generation
            .fetch_add(1, Ordering::AcqRel);
        let mut removed = 0;
        for method in Method::ALL {
            removed += self.invalidate_method(method).await?;
        }
        Ok(removed)
    }
}

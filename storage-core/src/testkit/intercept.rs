//! [`Intercept`]: a store that forwards every operation to another one, with hooks a test sets
//! to inject what real deployments do to a caller — a slow or failing operation, a reply lost
//! after the store applied the write, a call that never answers, another replica's write landing
//! between two steps.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Capabilities, Cursor, Entry, KvStore, Operation, Page, Result};

/// One call that reaches an [`Intercept`]: the operation, its collection (none for
/// `collections`, `cull` and `close`) and its key (single-key operations only).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Call {
    /// The operation of the contract.
    pub op: Operation,
    /// The collection it names, if any.
    pub collection: Option<String>,
    /// The key it names, for single-key operations.
    pub key: Option<String>,
}

impl Call {
    fn new(op: Operation, collection: Option<&str>, key: Option<&str>) -> Call {
        Call {
            op,
            collection: collection.map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }

    /// Whether the call names collection `name`.
    pub fn in_collection(&self, name: &str) -> bool {
        self.collection.as_deref() == Some(name)
    }
}

type HookFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type Before = Arc<dyn Fn(Call) -> HookFuture + Send + Sync>;
type After = Arc<dyn Fn(Call, bool) -> HookFuture + Send + Sync>;

/// Forwards every operation of the [`KvStore`] contract to an inner store, running a test's
/// hooks around each one:
///
/// - [`before`](Intercept::before) runs first; an error it returns is the call's answer and the
///   inner store is never called (an outage, a refused write), and what it awaits delays the
///   call (a slow store);
/// - [`after`](Intercept::after) runs once the inner store answered, told whether it succeeded;
///   an error it returns replaces the answer (the store applied the write, its reply was lost),
///   and a hook that never completes leaves the caller waiting (a request the server ran but
///   never answered);
/// - [`with_capabilities`](Intercept::with_capabilities) reports other capabilities than the inner
///   store's (a backend without `touch`, say), so callers take their other code paths.
///
/// Hooks get the [`Call`] by value and may hold a handle on the inner store to write behind
/// the caller's back (another replica's write between two of its steps).
///
/// ```
/// # async fn demo() -> mcp_kv_core::Result<()> {
/// use std::sync::Arc;
/// use mcp_kv_core::testkit::Intercept;
/// use mcp_kv_core::{Bytes, Error, ErrorKind, KvStore, Operation};
/// use mcp_kv_memory::MemoryStore;
///
/// // Every delete fails as an unreachable server would; everything else works.
/// let store = Intercept::new(Arc::new(MemoryStore::new())).before(|call| async move {
///     match call.op {
///         Operation::Delete => Err(Error::new(ErrorKind::Unavailable, "injected").set_temporary(true)),
///         _ => Ok(()),
///     }
/// });
/// store.put("c", "k", Bytes::from_static(b"v"), None).await?;
/// assert_eq!(store.delete("c", "k").await.unwrap_err().kind(), ErrorKind::Unavailable);
/// assert!(store.get("c", "k").await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Intercept {
    inner: Arc<dyn KvStore>,
    before: Option<Before>,
    after: Option<After>,
    caps: Option<Capabilities>,
}

impl fmt::Debug for Intercept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intercept")
            .field("inner", &self.inner)
            .field("before", &self.before.is_some())
            .field("after", &self.after.is_some())
            .field("caps", &self.caps)
            .finish()
    }
}

impl Intercept {
    /// Forwards to `inner`, with no hooks yet.
    pub fn new(inner: Arc<dyn KvStore>) -> Intercept {
        Intercept {
            inner,
            before: None,
            after: None,
            caps: None,
        }
    }

    /// Runs `hook` before every call (replacing an earlier `before` hook); its error is the
    /// call's answer, and the inner store is not called.
    pub fn before<F, Fut>(mut self, hook: F) -> Intercept
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.before = Some(Arc::new(move |call| Box::pin(hook(call))));
        self
    }

    /// Runs `hook` after every call the inner store answered, with whether it succeeded
    /// (replacing an earlier `after` hook); its error replaces the answer.
    pub fn after<F, Fut>(mut self, hook: F) -> Intercept
    where
        F: Fn(Call, bool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.after = Some(Arc::new(move |call, ok| Box::pin(hook(call, ok))));
        self
    }

    /// Reports `caps` instead of the inner store's capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Intercept {
        self.caps = Some(caps);
        self
    }

    /// Delays every call to operation `op` by `delay` (a `before` hook, replacing an earlier
    /// one).
    pub fn delay(self, op: Operation, delay: Duration) -> Intercept {
        self.before(move |call| async move {
            if call.op == op {
                tokio::time::sleep(delay).await;
            }
            Ok(())
        })
    }

    /// The store the calls are forwarded to.
    pub fn inner(&self) -> &Arc<dyn KvStore> {
        &self.inner
    }

    /// Runs the hooks around `fut`, the inner store's (lazy) answer to `call`.
    async fn around<T>(
        &self,
        op: Operation,
        collection: Option<&str>,
        key: Option<&str>,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if self.before.is_none() && self.after.is_none() {
            return fut.await;
        }
        let call = Call::new(op, collection, key);
        if let Some(before) = &self.before {
            before(call.clone()).await?;
        }
        let answer = fut.await;
        if let Some(after) = &self.after {
            after(call, answer.is_ok()).await?;
        }
        answer
    }
}

#[async_trait]
impl KvStore for Intercept {
    fn capabilities(&self) -> Capabilities {
        self.caps.unwrap_or_else(|| self.inner.capabilities())
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let fut = self.inner.get(collection, key);
        self.around(Operation::Get, Some(collection), Some(key), fut)
            .await
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        let fut = self.inner.get_entry(collection, key);
        self.around(Operation::GetEntry, Some(collection), Some(key), fut)
            .await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let fut = self.inner.put(collection, key, value, ttl);
        self.around(Operation::Put, Some(collection), Some(key), fut)
            .await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        let fut = self.inner.delete(collection, key);
        self.around(Operation::Delete, Some(collection), Some(key), fut)
            .await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let fut = self.inner.get_many(collection, keys);
        self.around(Operation::GetMany, Some(collection), None, fut)
            .await
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let fut = self.inner.get_entries(collection, keys);
        self.around(Operation::GetEntries, Some(collection), None, fut)
            .await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let fut = self.inner.put_many(collection, entries, ttl);
        self.around(Operation::PutMany, Some(collection), None, fut)
            .await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        let fut = self.inner.delete_many(collection, keys);
        self.around(Operation::DeleteMany, Some(collection), None, fut)
            .await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let fut = self.inner.put_if_absent(collection, key, value, ttl);
        self.around(Operation::PutIfAbsent, Some(collection), Some(key), fut)
            .await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let fut = self.inner.take(collection, key);
        self.around(Operation::Take, Some(collection), Some(key), fut)
            .await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let fut = self
            .inner
            .compare_and_swap(collection, key, current, new, ttl);
        self.around(Operation::CompareAndSwap, Some(collection), Some(key), fut)
            .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let fut = self.inner.touch(collection, key, ttl);
        self.around(Operation::Touch, Some(collection), Some(key), fut)
            .await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        let fut = self.inner.keys(collection, cursor, limit);
        self.around(Operation::Keys, Some(collection), None, fut)
            .await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        let fut = self.inner.collections();
        self.around(Operation::Collections, None, None, fut).await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        let fut = self.inner.clear(collection);
        self.around(Operation::Clear, Some(collection), None, fut)
            .await
    }

    async fn cull(&self) -> Result<u64> {
        let fut = self.inner.cull();
        self.around(Operation::Cull, None, None, fut).await
    }

    async fn close(&self) -> Result<()> {
        let fut = self.inner.close();
        self.around(Operation::Close, None, None, fut).await
    }
}

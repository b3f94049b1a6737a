//! [`Shared`]: an `Arc<dyn KvStore>` whose methods hand back the inner store's future as is.
//!
//! `mcp-kv-core`'s own `impl KvStore for Arc<S>` forwards through `async fn`s, which box a
//! second future around the inner one on every call. The builder holds each layer's inner
//! store as a `Shared` instead, so a stack of wrappers pays one boxed future per layer, not
//! two.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use mcp_kv_core::{Capabilities, Cursor, DynStore, Entry, KvStore, Page, Result};

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A shared store forwarded without an extra boxed future per call.
#[derive(Debug, Clone)]
pub(crate) struct Shared(pub(crate) DynStore);

#[allow(clippy::type_complexity)]
impl KvStore for Shared {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    fn get<'a, 'b, 'c, 'f>(&'a self, c: &'b str, k: &'c str) -> Fut<'f, Option<Bytes>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (*self.0).get(c, k)
    }

    fn get_entry<'a, 'b, 'c, 'f>(&'a self, c: &'b str, k: &'c str) -> Fut<'f, Option<Entry>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (*self.0).get_entry(c, k)
    }

    fn put<'a, 'b, 'c, 'f>(
        &'a self,
        c: &'b str,
        k: &'c str,
        v: Bytes,
        ttl: Option<Duration>,
    ) -> Fut<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (*self.0).put(c, k, v, ttl)
    }

    fn delete<'a, 'b, 'c, 'f>(&'a self, c: &'b str, k: &'c str) -> Fut<'f, bool>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (*self.0).delete(c, k)
    }

    fn get_many<'a, 'b, 'c, 'd, 'f>(
        &'a self,
        c: &'b str,
        keys: &'c [&'d str],
    ) -> Fut<'f, Vec<Option<Bytes>>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        'd: 'f,
        Self: 'f,
    {
        (*self.0).get_many(c, keys)
    }

    fn get_entries<'a, 'b, 'c, 'd, 'f>(
        &'a self,
        c: &'b str,
        keys: &'c [&'d str],
    ) -> Fut<'f, Vec<Option<Entry>>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        'd: 'f,
        Self: 'f,
    {
        (*self.0).get_entries(c, keys)
    }

    fn put_many<'a, 'b, 'f>(
        &'a self,
        c: &'b str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Fut<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        (*self.0).put_many(c, entries, ttl)
    }

    fn delete_many<'a, 'b, 'c, 'd, 'f>(&'a self, c: &'b str, keys: &'c [&'d str]) -> Fut<'f, u64>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        'd: 'f,
        Self: 'f,
    {
        (*self.0).delete_many(c, keys)
    }

    fn put_if_absent<'a, 'b, 'c, 'f>(
        &'a self,
        c: &'b str,
        k: &'c str,
        v: Bytes,
        ttl: Option<Duration>,
    ) -> Fut<'f, bool>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (*self.0).put_if_absent(c, k, v, ttl)
    }

    fn take<'a, 'b, 'c, 'f>(&'a self, c: &'b str, k: &'c str) -> Fut<'f, Option<Bytes>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (*self.0).take(c, k)
    }

    fn compare_and_swap<'a, 'b, 'c, 'd, 'f>(
        &'a self,
        c: &'b str,
        k: &'c str,
        current: Option<&'d [u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Fut<'f, bool>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        'd: 'f,
        Self: 'f,
    {
        (*self.0).compare_and_swap(c, k, current, new, ttl)
    }

    fn touch<'a, 'b, 'c, 'f>(
        &'a self,
        c: &'b str,
        k: &'c str,
        ttl: Option<Duration>,
    ) -> Fut<'f, bool>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (*self.0).touch(c, k, ttl)
    }

    fn keys<'a, 'b, 'f>(&'a self, c: &'b str, cursor: Option<Cursor>, limit: usize) -> Fut<'f, Page>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        (*self.0).keys(c, cursor, limit)
    }

    fn collections<'a, 'f>(&'a self) -> Fut<'f, Vec<String>>
    where
        'a: 'f,
        Self: 'f,
    {
        (*self.0).collections()
    }

    fn clear<'a, 'b, 'f>(&'a self, c: &'b str) -> Fut<'f, u64>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        (*self.0).clear(c)
    }

    fn cull<'a, 'f>(&'a self) -> Fut<'f, u64>
    where
        'a: 'f,
        Self: 'f,
    {
        (*self.0).cull()
    }

    fn close<'a, 'f>(&'a self) -> Fut<'f, ()>
    where
        'a: 'f,
        Self: 'f,
    {
        (*self.0).close()
    }
}

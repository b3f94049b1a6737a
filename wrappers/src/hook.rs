//! A macro for wrappers that treat every operation alike: each method of the trait builds the
//! inner store's future and hands it, with the operation and the collection, to the wrapper's
//! `hook` method, which awaits it (or not) around its own logic.

use std::future::Future;
use std::pin::Pin;

/// The boxed future of one inner operation, as `async_trait` returns it.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = mcp_kv_core::Result<T>> + Send + 'a>>;

/// Implements `KvStore` for `$ty<S>` by sending every operation through
/// `self.hook(op, collection, inner_future)`. `capabilities()` forwards to `self.inner`.
macro_rules! hooked_kv_store {
    ($ty:ident) => {
        #[async_trait::async_trait]
        impl<S: mcp_kv_core::KvStore> mcp_kv_core::KvStore for $ty<S> {
            fn capabilities(&self) -> mcp_kv_core::Capabilities {
                self.inner.capabilities()
            }

            async fn get(
                &self,
                collection: &str,
                key: &str,
            ) -> mcp_kv_core::Result<Option<bytes::Bytes>> {
                self.hook(
                    mcp_kv_core::Operation::Get,
                    Some(collection),
                    self.inner.get(collection, key),
                )
                .await
            }

            async fn get_entry(
                &self,
                collection: &str,
                key: &str,
            ) -> mcp_kv_core::Result<Option<mcp_kv_core::Entry>> {
                self.hook(
                    mcp_kv_core::Operation::GetEntry,
                    Some(collection),
                    self.inner.get_entry(collection, key),
                )
                .await
            }

            async fn put(
                &self,
                collection: &str,
                key: &str,
                value: bytes::Bytes,
                ttl: Option<std::time::Duration>,
            ) -> mcp_kv_core::Result<()> {
                self.hook(
                    mcp_kv_core::Operation::Put,
                    Some(collection),
                    self.inner.put(collection, key, value, ttl),
                )
                .await
            }

            async fn delete(&self, collection: &str, key: &str) -> mcp_kv_core::Result<bool> {
                self.hook(
                    mcp_kv_core::Operation::Delete,
                    Some(collection),
                    self.inner.delete(collection, key),
                )
                .await
            }

            async fn get_many(
                &self,
                collection: &str,
                keys: &[&str],
            ) -> mcp_kv_core::Result<Vec<Option<bytes::Bytes>>> {
                self.hook(
                    mcp_kv_core::Operation::GetMany,
                    Some(collection),
                    self.inner.get_many(collection, keys),
                )
                .await
            }

            async fn get_entries(
                &self,
                collection: &str,
                keys: &[&str],
            ) -> mcp_kv_core::Result<Vec<Option<mcp_kv_core::Entry>>> {
                self.hook(
                    mcp_kv_core::Operation::GetEntries,
                    Some(collection),
                    self.inner.get_entries(collection, keys),
                )
                .await
            }

            async fn put_many(
                &self,
                collection: &str,
                entries: Vec<(String, bytes::Bytes)>,
                ttl: Option<std::time::Duration>,
            ) -> mcp_kv_core::Result<()> {
                self.hook(
                    mcp_kv_core::Operation::PutMany,
                    Some(collection),
                    self.inner.put_many(collection, entries, ttl),
                )
                .await
            }

            async fn delete_many(
                &self,
                collection: &str,
                keys: &[&str],
            ) -> mcp_kv_core::Result<u64> {
                self.hook(
                    mcp_kv_core::Operation::DeleteMany,
                    Some(collection),
                    self.inner.delete_many(collection, keys),
                )
                .await
            }

            async fn put_if_absent(
                &self,
                collection: &str,
                key: &str,
                value: bytes::Bytes,
                ttl: Option<std::time::Duration>,
            ) -> mcp_kv_core::Result<bool> {
                self.hook(
                    mcp_kv_core::Operation::PutIfAbsent,
                    Some(collection),
                    self.inner.put_if_absent(collection, key, value, ttl),
                )
                .await
            }

            async fn take(
                &self,
                collection: &str,
                key: &str,
            ) -> mcp_kv_core::Result<Option<bytes::Bytes>> {
                self.hook(
                    mcp_kv_core::Operation::Take,
                    Some(collection),
                    self.inner.take(collection, key),
                )
                .await
            }

            async fn compare_and_swap(
                &self,
                collection: &str,
                key: &str,
                current: Option<&[u8]>,
                new: Option<bytes::Bytes>,
                ttl: Option<std::time::Duration>,
            ) -> mcp_kv_core::Result<bool> {
                self.hook(
                    mcp_kv_core::Operation::CompareAndSwap,
                    Some(collection),
                    self.inner
                        .compare_and_swap(collection, key, current, new, ttl),
                )
                .await
            }

            async fn touch(
                &self,
                collection: &str,
                key: &str,
                ttl: Option<std::time::Duration>,
            ) -> mcp_kv_core::Result<bool> {
                self.hook(
                    mcp_kv_core::Operation::Touch,
                    Some(collection),
                    self.inner.touch(collection, key, ttl),
                )
                .await
            }

            async fn keys(
                &self,
                collection: &str,
                cursor: Option<mcp_kv_core::Cursor>,
                limit: usize,
            ) -> mcp_kv_core::Result<mcp_kv_core::Page> {
                self.hook(
                    mcp_kv_core::Operation::Keys,
                    Some(collection),
                    self.inner.keys(collection, cursor, limit),
                )
                .await
            }

            async fn collections(&self) -> mcp_kv_core::Result<Vec<String>> {
                self.hook(
                    mcp_kv_core::Operation::Collections,
                    None,
                    self.inner.collections(),
                )
                .await
            }

            async fn clear(&self, collection: &str) -> mcp_kv_core::Result<u64> {
                self.hook(
                    mcp_kv_core::Operation::Clear,
                    Some(collection),
                    self.inner.clear(collection),
                )
                .await
            }

            async fn cull(&self) -> mcp_kv_core::Result<u64> {
                self.hook(mcp_kv_core::Operation::Cull, None, self.inner.cull())
                    .await
            }

            async fn close(&self) -> mcp_kv_core::Result<()> {
                self.hook(mcp_kv_core::Operation::Close, None, self.inner.close())
                    .await
            }
        }
    };
}

pub(crate) use hooked_kv_store;

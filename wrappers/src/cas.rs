//! `compare_and_swap` and `take` for wrappers that change the stored bytes (compression,
//! encryption): the caller's `current` is a decoded value, the inner store holds an encoded one,
//! and a stored value that does not decode must not be destroyed by a failed read.

use std::time::Duration;

use bytes::Bytes;
use mcp_kv_core::{Error, ErrorKind, KvStore, Operation, Result};

/// How many times the read-compare-swap loop runs before giving up with a temporary
/// [`ErrorKind::Conflict`]. Each lost round means another writer changed the key meanwhile.
const ROUNDS: usize = 64;

/// Reads the stored bytes, decodes them and compares with `current`; on a match swaps the
/// *stored bytes* for `new` with the inner store's own `compare_and_swap`, so the swap is
/// atomic. If the inner swap loses (the stored bytes changed — maybe to another encoding of
/// the same value, as a re-key does), it reads again.
pub(crate) async fn swap_decoded<S, D>(
    inner: &S,
    collection: &str,
    key: &str,
    current: &[u8],
    new: Option<Bytes>,
    ttl: Option<Duration>,
    decode: D,
) -> Result<bool>
where
    S: KvStore + ?Sized,
    D: Fn(&Bytes) -> Result<Bytes> + Send + Sync,
{
    for _ in 0..ROUNDS {
        let Some(stored) = inner.get(collection, key).await? else {
            return Ok(false);
        };
        if decode(&stored)? != current {
            return Ok(false);
        }
        if inner
            .compare_and_swap(collection, key, Some(&stored), new.clone(), ttl)
            .await?
        {
            return Ok(true);
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        "the value kept changing during compare_and_swap",
    )
    .with_operation(Operation::CompareAndSwap)
    .set_temporary(true))
}

/// `take` through a decoding wrapper: reads the stored bytes, decodes them, then swaps *those
/// exact bytes* for nothing with the inner store's own `compare_and_swap`, so a value that does
/// not decode is an error and **stays stored**, and one taker wins (the swap succeeds only for
/// the bytes read). If the swap loses (taken or rewritten meanwhile), it reads again, up to
/// [`ROUNDS`] times, then gives up with a temporary [`ErrorKind::Conflict`].
///
/// Without `compare_and_swap` on the inner store, the inner `take`, then the decode: the entry
/// is gone before it is decoded (the only atomic get-and-delete there is).
pub(crate) async fn take_decoded<S, D>(
    inner: &S,
    collection: &str,
    key: &str,
    decode: D,
) -> Result<Option<Bytes>>
where
    S: KvStore + ?Sized,
    D: Fn(&Bytes) -> Result<Bytes> + Send + Sync,
{
    if !inner.capabilities().compare_and_swap {
        return inner
            .take(collection, key)
            .await?
            .as_ref()
            .map(decode)
            .transpose();
    }
    for _ in 0..ROUNDS {
        let Some(stored) = inner.get(collection, key).await? else {
            return Ok(None);
        };
        let value = decode(&stored)?;
        if inner
            .compare_and_swap(collection, key, Some(&stored), None, None)
            .await?
        {
            return Ok(Some(value));
        }
    }
    Err(
        Error::new(ErrorKind::Conflict, "the value kept changing during take")
            .with_operation(Operation::Take)
            .set_temporary(true),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use mcp_kv_core::{Capabilities, Entry};

    use super::*;
    use crate::test_support::{store, TestStore};

    /// Decodes `b"ok:…"` to the rest; anything else is `Corrupted`.
    fn decode(stored: &Bytes) -> Result<Bytes> {
        stored
            .strip_prefix(b"ok:")
            .map(Bytes::copy_from_slice)
            .ok_or_else(|| Error::corrupted("not ok"))
    }

    /// The test store, with `compare_and_swap` hidden (`None`) or always losing (`Some(false)`).
    #[derive(Debug)]
    struct Cas(Arc<TestStore>, Option<bool>);

    #[async_trait]
    impl KvStore for Cas {
        fn capabilities(&self) -> Capabilities {
            let mut caps = self.0.capabilities();
            caps.compare_and_swap = self.1.is_some();
            caps
        }
        async fn get_entry(&self, c: &str, k: &str) -> Result<Option<Entry>> {
            self.0.get_entry(c, k).await
        }
        async fn put(&self, c: &str, k: &str, v: Bytes, ttl: Option<Duration>) -> Result<()> {
            self.0.put(c, k, v, ttl).await
        }
        async fn delete(&self, c: &str, k: &str) -> Result<bool> {
            self.0.delete(c, k).await
        }
        async fn take(&self, c: &str, k: &str) -> Result<Option<Bytes>> {
            self.0.take(c, k).await
        }
        async fn compare_and_swap(
            &self,
            _: &str,
            _: &str,
            _: Option<&[u8]>,
            _: Option<Bytes>,
            _: Option<Duration>,
        ) -> Result<bool> {
            Ok(self.1.unwrap_or(false))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn take_decoded_keeps_what_does_not_decode_and_one_taker_wins() {
        let inner = store();
        inner
            .put("c", "bad", Bytes::from_static(b"??"), None)
            .await
            .unwrap();
        let err = take_decoded(&*inner, "c", "bad", decode).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupted);
        assert_eq!(inner.get("c", "bad").await.unwrap().unwrap(), "??");
        assert_eq!(
            take_decoded(&*inner, "c", "none", decode).await.unwrap(),
            None
        );

        inner
            .put("c", "k", Bytes::from_static(b"ok:v"), None)
            .await
            .unwrap();
        let takers = (0..8).map(|_| {
            let inner = inner.clone();
            tokio::spawn(async move { take_decoded(&*inner, "c", "k", decode).await.unwrap() })
        });
        let mut won = Vec::new();
        for t in takers {
            won.extend(t.await.unwrap());
        }
        assert_eq!(won, [Bytes::from_static(b"v")]);
        assert_eq!(inner.get("c", "k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn take_decoded_without_cas_takes_then_decodes() {
        let inner = store();
        let bare = Cas(inner.clone(), None);
        inner
            .put("c", "k", Bytes::from_static(b"ok:v"), None)
            .await
            .unwrap();
        assert_eq!(
            take_decoded(&bare, "c", "k", decode)
                .await
                .unwrap()
                .unwrap(),
            "v"
        );
        assert_eq!(inner.get("c", "k").await.unwrap(), None);
        // The only atomic get-and-delete there is: gone before it is decoded.
        inner
            .put("c", "bad", Bytes::from_static(b"??"), None)
            .await
            .unwrap();
        assert!(take_decoded(&bare, "c", "bad", decode).await.is_err());
        assert_eq!(inner.get("c", "bad").await.unwrap(), None);
    }

    #[tokio::test]
    async fn take_decoded_gives_up_with_a_temporary_conflict() {
        let inner = store();
        inner
            .put("c", "k", Bytes::from_static(b"ok:v"), None)
            .await
            .unwrap();
        let err = take_decoded(&Cas(inner.clone(), Some(false)), "c", "k", decode)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.is_temporary());
        assert_eq!(err.operation(), Some(Operation::Take));
        assert_eq!(inner.get("c", "k").await.unwrap().unwrap(), "ok:v");
    }
}

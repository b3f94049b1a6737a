//! `compare_and_swap` for wrappers that change the stored bytes (compression, encryption): the
//! caller's `current` is a decoded value, the inner store holds an encoded one.

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

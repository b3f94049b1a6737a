//! [`Compression`]: LZ4 compression of values above a size threshold (feature `compression`).
//!
//! # Frame
//!
//! Every stored value starts with a one-byte header:
//!
//! | header | rest |
//! |---|---|
//! | `0x00` (raw) | the value as is |
//! | `0x01` (LZ4) | the value's length as a 4-byte big-endian `u32`, then an LZ4 block (`lz4_flex`) |
//!
//! Values shorter than the threshold (default 256 bytes), and values that LZ4 does not shrink,
//! are stored raw, so a value never grows by more than one byte:
//! [`Capabilities::max_value_bytes`] is the inner store's minus one.
//!
//! Reading a frame that does not decode — unknown header, truncated length, bad LZ4 block, a
//! length that does not match — is [`ErrorKind::Corrupted`]. A frame is refused before any
//! allocation when it claims a length above the wrapper's `max_value_bytes`, or more than
//! [`MAX_EXPANSION`] times its own LZ4 block (more than LZ4 can expand): a decompression bomb
//! cannot make the reader allocate more than a legitimate value, nor a few bytes a large one.
//!
//! `compare_and_swap` compares the *decompressed* stored value with `current`, then swaps the
//! stored frame with the inner store's own `compare_and_swap`, so it stays atomic whatever
//! frame an older writer chose. `take` reads, decompresses, then swaps the exact frame it read
//! for nothing (the inner `compare_and_swap` again), so a frame that does not decode is
//! `Corrupted` and stays stored; it costs a round trip more than the inner `take`, which it
//! uses only when the inner store has no `compare_and_swap`.
//!
//! **Adding compression to a store that already holds values changes how they read**: a
//! value written without the wrapper has no header, so one starting with `0x00` comes back
//! without its first byte, one starting with `0x01` is read as an LZ4 frame (usually
//! `Corrupted`), any other is `Corrupted`. Turn compression on for new collections only, or
//! copy existing data through the wrapper first: walk `keys()` of the bare store, `get_entry`
//! each entry there and `put` it through the wrapper with its remaining TTL.
//!
//! Place compression **outside** (before) encryption: ciphertext does not compress. Note that
//! compressing secrets next to attacker-chosen data can leak them through the compressed size
//! (CRIME/BREACH); leave compression off for such collections.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::compression::{Compression, CompressionConfig};
//!
//! let backend = Arc::new(MemoryStore::new());
//! let store = Compression::new(backend.clone(), CompressionConfig::new().threshold(64));
//! let text = Bytes::from("all work and no play ".repeat(100));
//! store.put("docs", "jack", text.clone(), None).await?;
//! assert_eq!(store.get("docs", "jack").await?, Some(text.clone()));
//! assert!(backend.get("docs", "jack").await?.unwrap().len() < text.len() / 4);
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`ErrorKind::Corrupted`]: mcp_kv_core::ErrorKind::Corrupted

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{rules, Capabilities, Cursor, Entry, Error, KvStore, Operation, Page, Result};

/// Header of a value stored as is.
pub const RAW: u8 = 0x00;
/// Header of an LZ4-compressed value.
pub const LZ4: u8 = 0x01;

/// How a [`Compression`] wrapper compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompressionConfig {
    /// Values shorter than this are stored raw (default 256 bytes).
    pub threshold: usize,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig { threshold: 256 }
    }
}

impl CompressionConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the size from which values are compressed.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }
}

/// Encodes `value` as a frame: LZ4 when it is at least `threshold` bytes long and shrinks,
/// raw otherwise.
pub fn encode(value: &[u8], threshold: usize) -> Bytes {
    if value.len() >= threshold {
        if let Ok(len) = u32::try_from(value.len()) {
            let max = lz4_flex::block::get_maximum_output_size(value.len());
            let mut out = vec![0u8; 5 + max];
            out[0] = LZ4;
            out[1..5].copy_from_slice(&len.to_be_bytes());
            if let Ok(n) = lz4_flex::block::compress_into(value, &mut out[5..]) {
                if 5 + n < value.len() + 1 {
                    out.truncate(5 + n);
                    return Bytes::from(out);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(value.len() + 1);
    out.push(RAW);
    out.extend_from_slice(value);
    Bytes::from(out)
}

/// The most an LZ4 block expands: each byte of a match length adds at most 255 bytes of
/// output, so a block of `n` bytes decodes to less than `255 × n`. A frame claiming more is
/// refused unread.
pub const MAX_EXPANSION: usize = 255;

/// Decodes a frame written by [`encode`]; anything else, or a value longer than `max_len`, is
/// [`ErrorKind::Corrupted`](mcp_kv_core::ErrorKind::Corrupted). Never panics.
pub fn decode(frame: &Bytes, max_len: usize) -> Result<Bytes> {
    match frame.first() {
        Some(&RAW) => Ok(frame.slice(1..)),
        Some(&LZ4) => {
            let len = frame
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| Error::corrupted("compressed frame shorter than its header"))?;
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > max_len {
                return Err(Error::corrupted(
                    "compressed frame claims a value above the size limit",
                ));
            }
            let block = frame.len() - 5;
            if len > block.saturating_mul(MAX_EXPANSION) {
                return Err(Error::corrupted(
                    "compressed frame claims more than LZ4 can expand its block to",
                ));
            }
            let mut out = vec![0u8; len];
            match lz4_flex::block::decompress_into(&frame[5..], &mut out) {
                Ok(n) if n == len => Ok(Bytes::from(out)),
                Ok(_) => Err(Error::corrupted("compressed frame length mismatch")),
                Err(_) => Err(Error::corrupted("compressed frame does not decode")),
            }
        }
        Some(_) => Err(Error::corrupted("unknown compression header")),
        None => Err(Error::corrupted("empty compressed frame")),
    }
}

/// Compresses the values of `S`. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Compression<S> {
    inner: S,
    config: CompressionConfig,
}

impl<S: KvStore> Compression<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: CompressionConfig) -> Self {
        Compression { inner, config }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn max_value(&self) -> usize {
        self.inner.capabilities().max_value_bytes.saturating_sub(1)
    }

    fn enc(&self, value: &[u8], op: Operation) -> Result<Bytes> {
        rules::check_value(value.len(), self.max_value()).map_err(|e| e.with_operation(op))?;
        Ok(encode(value, self.config.threshold))
    }

    fn dec(&self, frame: &Bytes, op: Operation) -> Result<Bytes> {
        decode(frame, self.max_value()).map_err(|e| e.with_operation(op))
    }
}

#[async_trait]
impl<S: KvStore> KvStore for Compression<S> {
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        caps.max_value_bytes = caps.max_value_bytes.saturating_sub(1);
        caps
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        match self.inner.get(collection, key).await? {
            Some(f) => Ok(Some(self.dec(&f, Operation::Get)?)),
            None => Ok(None),
        }
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        match self.inner.get_entry(collection, key).await? {
            Some(e) => Ok(Some(Entry {
                value: self.dec(&e.value, Operation::GetEntry)?,
                ttl: e.ttl,
            })),
            None => Ok(None),
        }
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let frame = self.enc(&value, Operation::Put)?;
        self.inner.put(collection, key, frame, ttl).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.inner.delete(collection, key).await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let frames = self.inner.get_many(collection, keys).await?;
        frames
            .iter()
            .map(|f| {
                f.as_ref()
                    .map(|f| self.dec(f, Operation::GetMany))
                    .transpose()
            })
            .collect()
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let entries = self.inner.get_entries(collection, keys).await?;
        entries
            .into_iter()
            .map(|e| {
                e.map(|e| {
                    Ok(Entry {
                        value: self.dec(&e.value, Operation::GetEntries)?,
                        ttl: e.ttl,
                    })
                })
                .transpose()
            })
            .collect()
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_entries(&self.capabilities(), collection, &entries, ttl)
            .map_err(|e| e.with_operation(Operation::PutMany))?;
        let frames = entries
            .into_iter()
            .map(|(k, v)| (k, encode(&v, self.config.threshold)))
            .collect();
        self.inner.put_many(collection, frames, ttl).await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.inner.delete_many(collection, keys).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let frame = self.enc(&value, Operation::PutIfAbsent)?;
        self.inner.put_if_absent(collection, key, frame, ttl).await
    }

    /// Over an inner store with `compare_and_swap`, a read, a decode, then the stored frame
    /// swapped for nothing: a frame that does not decode is [`ErrorKind::Corrupted`] and
    /// **stays** stored. One taker wins: the swap succeeds only for the exact frame read.
    /// Without `compare_and_swap`, the inner `take` (the entry is gone before it is decoded).
    ///
    /// [`ErrorKind::Corrupted`]: mcp_kv_core::ErrorKind::Corrupted
    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        crate::cas::take_decoded(&self.inner, collection, key, |f| {
            self.dec(f, Operation::Take)
        })
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
        let op = Operation::CompareAndSwap;
        let new = new.map(|v| self.enc(&v, op)).transpose()?;
        let Some(current) = current else {
            return self
                .inner
                .compare_and_swap(collection, key, None, new, ttl)
                .await;
        };
        crate::cas::swap_decoded(&self.inner, collection, key, current, new, ttl, |f| {
            self.dec(f, op)
        })
        .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.inner.touch(collection, key, ttl).await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.inner.keys(collection, cursor, limit).await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.inner.collections().await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.inner.clear(collection).await
    }

    async fn cull(&self) -> Result<u64> {
        self.inner.cull().await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store;
    use mcp_kv_core::ErrorKind;

    #[test]
    fn frames_round_trip() {
        for v in [
            &b""[..],
            b"short",
            &vec![7u8; 10_000],
            "abc".repeat(500).as_bytes(),
        ] {
            let f = encode(v, 16);
            assert_eq!(decode(&f, 1 << 20).unwrap(), v);
            assert!(f.len() <= v.len() + 1);
        }
        assert_eq!(encode(&vec![1u8; 1000], 16)[0], LZ4);
        assert_eq!(encode(&vec![1u8; 1000], 2000)[0], RAW);
    }

    #[test]
    fn bad_frames_are_corrupted() {
        let bad: [&[u8]; 5] = [
            b"",
            b"\x02abc",
            b"\x01\x00\x00",
            b"\x01\x00\x00\x00\x10\xff\xff",
            b"\x01\x00\x00\x00\x01",
        ];
        for f in bad {
            assert_eq!(
                decode(&Bytes::copy_from_slice(f), 1 << 20)
                    .unwrap_err()
                    .kind(),
                ErrorKind::Corrupted
            );
        }
        // A bomb: a frame claiming 4 GiB is refused before allocating.
        let bomb = Bytes::from_static(b"\x01\xff\xff\xff\xff\x00");
        assert_eq!(
            decode(&bomb, 1 << 20).unwrap_err().kind(),
            ErrorKind::Corrupted
        );
        // A small frame claiming more than LZ4 can expand it to: refused unread, even under a
        // large limit.
        let small_bomb = Bytes::from_static(b"\x01\x00\xff\xff\xff\x00");
        let err = decode(&small_bomb, 1 << 30).unwrap_err();
        assert!(
            err.to_string().contains("more than LZ4 can expand"),
            "{err}"
        );
        // The most compressible values stay within the bound.
        for len in [1 << 10, 1 << 16, 1 << 22] {
            let zeros = vec![0u8; len];
            let f = encode(&zeros, 16);
            assert!((f.len() - 5) * MAX_EXPANSION >= len);
            assert_eq!(decode(&f, 1 << 23).unwrap(), zeros);
        }
        // A real frame above the reader's limit is refused too.
        let big = encode(&vec![0u8; 100_000], 16);
        assert!(big.len() < 1000);
        assert_eq!(
            decode(&big, 50_000).unwrap_err().kind(),
            ErrorKind::Corrupted
        );
    }

    #[tokio::test]
    async fn store_round_trip_and_cas_on_plain_values() {
        let inner = store();
        let s = Compression::new(inner.clone(), CompressionConfig::new().threshold(8));
        let long = Bytes::from("x".repeat(1000));
        s.put("c", "k", long.clone(), None).await.unwrap();
        assert!(inner.get("c", "k").await.unwrap().unwrap().len() < 100);
        assert!(s
            .compare_and_swap("c", "k", Some(&long), Some(Bytes::from_static(b"s")), None)
            .await
            .unwrap());
        assert!(!s
            .compare_and_swap("c", "k", Some(&long), None, None)
            .await
            .unwrap());
        assert_eq!(s.get("c", "k").await.unwrap().unwrap(), "s");
        inner
            .put("c", "bad", Bytes::from_static(b"\x09"), None)
            .await
            .unwrap();
        assert_eq!(
            s.get("c", "bad").await.unwrap_err().kind(),
            ErrorKind::Corrupted
        );
        assert_eq!(
            s.get_many("c", &["k", "bad"]).await.unwrap_err().kind(),
            ErrorKind::Corrupted
        );
        assert_eq!(
            s.capabilities().max_value_bytes,
            inner.capabilities().max_value_bytes - 1
        );
    }

    #[tokio::test]
    async fn take_of_an_undecodable_frame_is_corrupted_and_leaves_it_stored() {
        let inner = store();
        let s = Compression::new(inner.clone(), CompressionConfig::new().threshold(8));
        // An unknown header and a bad LZ4 block.
        for bad in [&b"\x09"[..], b"\x01\x00\x00\x00\x10\xff\xff"] {
            let bad = Bytes::copy_from_slice(bad);
            inner.put("c", "bad", bad.clone(), None).await.unwrap();
            assert_eq!(
                s.take("c", "bad").await.unwrap_err().kind(),
                ErrorKind::Corrupted
            );
            assert_eq!(inner.get("c", "bad").await.unwrap(), Some(bad), "kept");
        }
        // A good frame is taken once.
        let long = Bytes::from("y".repeat(1000));
        s.put("c", "k", long.clone(), None).await.unwrap();
        assert_eq!(s.take("c", "k").await.unwrap(), Some(long));
        assert_eq!(inner.get("c", "k").await.unwrap(), None);
        assert_eq!(s.take("c", "k").await.unwrap(), None);
    }
}

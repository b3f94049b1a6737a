//! [`Tiered`]: a read-through local store (usually memory) in front of a remote one.
//!
//! Reads look in the local store first; on a miss they read the remote store and keep a copy
//! locally for at most [`TieredConfig::local_ttl`] (default 1 s) — never longer than the remote
//! entry's own remaining TTL, which the copy carries so that `get_entry` reports the remote
//! TTL, not the local one.
//!
//! Every write through the wrapper (`put`, `delete`, the batches, the atomic operations,
//! `touch`, `clear`) removes the local copy, goes to the remote store, and then removes the
//! local copy again. Each key also has a write generation (one of 1024 counters, shared by
//! the keys that hash to it), bumped before and after every write — the second bump also when
//! the write's future is dropped midway (by a [`Timeout`](crate::timeout) or a cancelled
//! request, after the remote store may have applied it). A read notes the generation before it
//! reads the remote store and tags its local copy with it; a copy is served only while its tag
//! is still the key's generation. So a read racing a write can never have its (old) copy
//! served once the write has returned or was abandoned, not even for a moment, and within one
//! process a read through the wrapper that starts after a write through it returned sees that
//! write. A write to another key of the same counter, or a `clear` of any collection, turns
//! copies into misses early: a cost in hit rate, never in freshness.
//!
//! # Staleness across replicas
//!
//! Writes made **elsewhere** — another process or replica, or this process writing to the
//! remote store without going through this wrapper — are not seen until the local copy expires:
//! a read may return a value up to `local_ttl` old, and a deleted or taken value may still be
//! read for up to `local_ttl`. Choose `local_ttl` as the staleness you can accept; never put a
//! tier in front of collections whose reads must be exact across replicas (one-time codes,
//! refresh-token rotation — those use `take` / `compare_and_swap`, which always go to the remote
//! store, but a plain `get` there could be stale).
//!
//! `keys` and `collections` come from the remote store. Errors of the local store are ignored
//! (a failed local read is a miss); errors of the remote store are returned.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::tiered::{Tiered, TieredConfig};
//!
//! let remote = Arc::new(MemoryStore::new()); // a Redis or DynamoDB store in real life
//! let store = Tiered::new(
//!     MemoryStore::new(),
//!     remote.clone(),
//!     TieredConfig::new().local_ttl(Duration::from_millis(500)),
//! );
//! store.put("c", "k", Bytes::from_static(b"v"), None).await?;
//! assert_eq!(store.get("c", "k").await?.unwrap(), "v"); // now cached locally
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::{expiry, rules};
use mcp_kv_core::{system_clock, Capabilities, Cursor, Entry, KvStore, Page, Result, SharedClock};

/// Write-generation counters (8 KiB per tier): few enough to stay small, many enough that a
/// write rarely turns another key's copy into a miss.
const STRIPES: usize = 1024;
/// Bytes in front of the value in a local copy: expiry, epoch, generation.
const HEADER: usize = 24;
const NO_EXPIRY: u64 = u64::MAX;

/// Options of a [`Tiered`] store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TieredConfig {
    /// Longest time a local copy is used (default 1 s): the staleness bound across replicas.
    pub local_ttl: Duration,
    /// The clock used to carry remote TTLs in local copies (default: the system clock; give
    /// the local store the same clock).
    pub clock: SharedClock,
}

impl Default for TieredConfig {
    fn default() -> Self {
        TieredConfig {
            local_ttl: Duration::from_secs(1),
            clock: system_clock(),
        }
    }
}

impl TieredConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the longest time a local copy is used (at least 1 ms; longer than the longest
    /// valid TTL, 100 years, counts as 100 years).
    pub fn local_ttl(mut self, ttl: Duration) -> Self {
        self.local_ttl = ttl.clamp(Duration::from_millis(1), rules::MAX_TTL);
        self
    }

    /// Sets the clock (tests inject a `ManualClock` here and in the local store).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
}

/// A local read-through tier `L` in front of a remote store `R`. See the [module docs](self).
#[derive(Debug)]
pub struct Tiered<L, R> {
    local: L,
    remote: R,
    config: TieredConfig,
    generations: Box<[AtomicU64]>,
    epoch: AtomicU64,
    hasher: hashbrown::DefaultHashBuilder,
}

/// A read's view of the write generations of one key.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Gen(u64, u64);

impl<L: KvStore, R: KvStore> Tiered<L, R> {
    /// `local` in front of `remote`.
    pub fn new(local: L, remote: R, config: TieredConfig) -> Self {
        Tiered {
            local,
            remote,
            config,
            generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// The local store.
    pub fn local(&self) -> &L {
        &self.local
    }

    /// The remote store.
    pub fn remote(&self) -> &R {
        &self.remote
    }

    fn stripe(&self, collection: &str, key: &str) -> &AtomicU64 {
        let h = self.hasher.hash_one((collection, key));
        &self.generations[(h as usize) % STRIPES]
    }

    fn generation(&self, collection: &str, key: &str) -> Gen {
        Gen(
            self.epoch.load(Ordering::Acquire),
            self.stripe(collection, key).load(Ordering::Acquire),
        )
    }

    fn now(&self) -> u64 {
        self.config.clock.now_millis()
    }

    /// A local copy: the remote expiry (epoch ms, `u64::MAX` for none), the generation the
    /// read saw before it read the remote store (epoch, then the key's counter), then the
    /// value; all big-endian.
    fn encode(&self, entry: &Entry, seen: Gen) -> Bytes {
        let at = expiry::expires_at(self.now(), entry.ttl).unwrap_or(NO_EXPIRY);
        let mut out = Vec::with_capacity(HEADER + entry.value.len());
        for n in [at, seen.0, seen.1] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&entry.value);
        Bytes::from(out)
    }

    /// The entry of a local copy, if it is unexpired and tagged with `current`, the key's
    /// generation now; anything else (a copy filled before a write, bytes not ours) is a miss.
    fn decode(&self, copy: &Bytes, current: Gen) -> Option<Entry> {
        let field = |i: usize| -> Option<u64> {
            Some(u64::from_be_bytes(
                copy.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        if Gen(field(1)?, field(2)?) != current {
            return None;
        }
        let at = field(0)?;
        let at = (at != NO_EXPIRY).then_some(at);
        let now = self.now();
        expiry::is_live(at, now).then(|| Entry {
            value: copy.slice(HEADER..),
            ttl: expiry::remaining(at, now),
        })
    }

    async fn local_get(&self, collection: &str, key: &str) -> Option<Entry> {
        let copy = self.local.get(collection, key).await.ok()??;
        self.decode(&copy, self.generation(collection, key))
    }

    async fn fill(&self, collection: &str, key: &str, entry: &Entry, seen: Gen) {
        let ttl = entry
            .ttl
            .map_or(self.config.local_ttl, |t| t.min(self.config.local_ttl));
        let copy = self.encode(entry, seen);
        if self
            .local
            .put(collection, key, copy, Some(ttl))
            .await
            .is_ok()
            && self.generation(collection, key) != seen
        {
            let _ = self.local.delete(collection, key).await;
        }
    }

    async fn read(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        if let Some(e) = self.local_get(collection, key).await {
            return Ok(Some(e));
        }
        let seen = self.generation(collection, key);
        let entry = self.remote.get_entry(collection, key).await?;
        if let Some(e) = &entry {
            self.fill(collection, key, e, seen).await;
        }
        Ok(entry)
    }

    async fn read_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let copies = match self.local.get_many(collection, keys).await {
            Ok(c) => c,
            Err(_) => vec![None; keys.len()],
        };
        let mut out: Vec<Option<Entry>> = copies
            .iter()
            .zip(keys)
            .map(|(c, k)| {
                let c = c.as_ref()?;
                self.decode(c, self.generation(collection, k))
            })
            .collect();
        let missing: Vec<usize> = (0..keys.len()).filter(|i| out[*i].is_none()).collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let missing_keys: Vec<&str> = missing.iter().map(|i| keys[*i]).collect();
        let seen: Vec<Gen> = missing_keys
            .iter()
            .map(|k| self.generation(collection, k))
            .collect();
        let fetched = self.remote.get_entries(collection, &missing_keys).await?;
        for ((i, entry), seen) in missing.into_iter().zip(fetched).zip(seen) {
            if let Some(e) = &entry {
                self.fill(collection, keys[i], e, seen).await;
            }
            out[i] = entry;
        }
        Ok(out)
    }

    /// Runs `write` (a remote write of `keys`) between two invalidations of their local
    /// copies: the first one so that no old copy survives if the future is dropped mid-write,
    /// the second one for copies that reads filled meanwhile. The second generation bump
    /// happens even if the future is dropped during `write`: copies filled meanwhile are then
    /// never served.
    async fn write<T>(
        &self,
        collection: &str,
        keys: &[&str],
        write: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if keys.is_empty() {
            return write.await;
        }
        let stripes: Vec<&AtomicU64> = keys.iter().map(|k| self.stripe(collection, k)).collect();
        for stripe in &stripes {
            stripe.fetch_add(1, Ordering::AcqRel);
        }
        let _ = self.local.delete_many(collection, keys).await;
        let bump = BumpOnDrop(stripes);
        let r = write.await;
        drop(bump);
        let _ = self.local.delete_many(collection, keys).await;
        r
    }

    /// Clears `collection` locally: bumps the epoch (no copy filled before is served again)
    /// and clears the local store.
    async fn invalidate_collection(&self, collection: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let _ = self.local.clear(collection).await;
    }
}

/// Bumps generation counters when dropped: at the end of a write, or when its future is
/// dropped midway.
struct BumpOnDrop<'a>(Vec<&'a AtomicU64>);

impl Drop for BumpOnDrop<'_> {
    fn drop(&mut self) {
        for counter in &self.0 {
            counter.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[async_trait]
impl<L: KvStore, R: KvStore> KvStore for Tiered<L, R> {
    fn capabilities(&self) -> Capabilities {
        self.remote.capabilities()
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        Ok(self.read(collection, key).await?.map(|e| e.value))
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        self.read(collection, key).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.write(
            collection,
            &[key],
            self.remote.put(collection, key, value, ttl),
        )
        .await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.write(collection, &[key], self.remote.delete(collection, key))
            .await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let entries = self.read_many(collection, keys).await?;
        Ok(entries.into_iter().map(|e| e.map(|e| e.value)).collect())
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.read_many(collection, keys).await
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.write(
            collection,
            &keys,
            self.remote.put_many(collection, entries, ttl),
        )
        .await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.write(collection, keys, self.remote.delete_many(collection, keys))
            .await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.write(
            collection,
            &[key],
            self.remote.put_if_absent(collection, key, value, ttl),
        )
        .await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.write(collection, &[key], self.remote.take(collection, key))
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
        self.write(
            collection,
            &[key],
            self.remote
                .compare_and_swap(collection, key, current, new, ttl),
        )
        .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.write(collection, &[key], self.remote.touch(collection, key, ttl))
            .await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.remote.keys(collection, cursor, limit).await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.remote.collections().await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.invalidate_collection(collection).await;
        let bump = BumpOnDrop(vec![&self.epoch]);
        let r = self.remote.clear(collection).await;
        drop(bump);
        let _ = self.local.clear(collection).await;
        r
    }

    async fn cull(&self) -> Result<u64> {
        let _ = self.local.cull().await;
        self.remote.cull().await
    }

    async fn close(&self) -> Result<()> {
        let _ = self.local.close().await;
        self.remote.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{manual_store, store, with_clock, TestStore};
    use std::sync::Arc;

    fn tier(
        remote: Arc<TestStore>,
        clock: mcp_kv_core::ManualClock,
    ) -> (Tiered<Arc<TestStore>, Arc<TestStore>>, Arc<TestStore>) {
        let local = Arc::new(with_clock(Arc::new(clock.clone())));
        let config = TieredConfig::new()
            .local_ttl(Duration::from_secs(2))
            .clock(Arc::new(clock));
        (Tiered::new(local.clone(), remote, config), local)
    }

    #[tokio::test]
    async fn an_unbounded_local_ttl_still_caches() {
        let remote = store();
        let local = store();
        let config = TieredConfig::new().local_ttl(Duration::MAX);
        let t = Tiered::new(local.clone(), remote, config);
        t.put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "v");
        assert!(local.get("c", "k").await.unwrap().is_some(), "cached");
    }

    #[tokio::test]
    async fn reads_are_cached_with_the_remote_ttl_and_bounded() {
        let (remote, clock) = manual_store();
        let (t, local) = tier(remote.clone(), clock.clone());
        remote
            .put(
                "c",
                "k",
                Bytes::from_static(b"v1"),
                Some(Duration::from_secs(60)),
            )
            .await
            .unwrap();
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "v1");
        assert!(local.get("c", "k").await.unwrap().is_some());
        // Written elsewhere: stale until the local copy expires (2 s).
        remote
            .put("c", "k", Bytes::from_static(b"v2"), None)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(1));
        let e = t.get_entry("c", "k").await.unwrap().unwrap();
        assert_eq!(e.value, "v1");
        assert_eq!(
            e.ttl,
            Some(Duration::from_secs(59)),
            "the remote TTL, carried"
        );
        clock.advance(Duration::from_millis(1001));
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "v2");
    }

    #[tokio::test]
    async fn local_writes_invalidate() {
        let (remote, clock) = manual_store();
        let (t, local) = tier(remote.clone(), clock);
        t.put("c", "k", Bytes::from_static(b"v1"), None)
            .await
            .unwrap();
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "v1");
        t.put("c", "k", Bytes::from_static(b"v2"), None)
            .await
            .unwrap();
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "v2");
        assert_eq!(t.take("c", "k").await.unwrap().unwrap(), "v2");
        assert_eq!(t.get("c", "k").await.unwrap(), None);
        t.put_many("c", vec![("a".into(), Bytes::from_static(b"1"))], None)
            .await
            .unwrap();
        assert_eq!(
            t.get_many("c", &["a", "b"]).await.unwrap()[0]
                .as_ref()
                .unwrap(),
            "1"
        );
        assert_eq!(t.clear("c").await.unwrap(), 1);
        assert_eq!(t.get_many("c", &["a"]).await.unwrap()[0], None);
        assert!(local.collections().await.unwrap().is_empty());
    }

    /// A remote store whose writes, once `hang` is set, are applied and then never answer (the
    /// reply is lost).
    #[derive(Debug)]
    struct LostReply {
        inner: Arc<TestStore>,
        hang: std::sync::atomic::AtomicBool,
    }

    impl LostReply {
        async fn hang_if_set(&self) {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
        }
    }

    #[async_trait]
    impl KvStore for LostReply {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        async fn get_entry(&self, c: &str, k: &str) -> Result<Option<Entry>> {
            self.inner.get_entry(c, k).await
        }
        async fn put(&self, c: &str, k: &str, v: Bytes, ttl: Option<Duration>) -> Result<()> {
            self.inner.put(c, k, v, ttl).await?;
            self.hang_if_set().await;
            Ok(())
        }
        async fn delete(&self, c: &str, k: &str) -> Result<bool> {
            let r = self.inner.delete(c, k).await?;
            self.hang_if_set().await;
            Ok(r)
        }
        async fn take(&self, c: &str, k: &str) -> Result<Option<Bytes>> {
            let r = self.inner.take(c, k).await?;
            self.hang_if_set().await;
            Ok(r)
        }
    }

    #[tokio::test]
    async fn a_write_dropped_midway_leaves_no_old_copy() {
        let remote = Arc::new(LostReply {
            inner: store(),
            hang: false.into(),
        });
        let t = Tiered::new(store(), remote.clone(), TieredConfig::new());
        let deadline = Duration::from_millis(20);
        t.put("c", "k", Bytes::from_static(b"old"), None)
            .await
            .unwrap();
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "old"); // cached locally
        remote.hang.store(true, Ordering::SeqCst);
        let put = t.put("c", "k", Bytes::from_static(b"new"), None);
        assert!(tokio::time::timeout(deadline, put).await.is_err());
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "new");
        assert!(tokio::time::timeout(deadline, t.take("c", "k"))
            .await
            .is_err());
        assert_eq!(t.get("c", "k").await.unwrap(), None, "taken");
    }

    /// A remote store that can hold a read after it has read (so the value it returns is older
    /// than a write that lands meanwhile), hold a put before it applies, and lose a put's reply.
    #[derive(Debug, Default)]
    struct Gated {
        inner: Arc<TestStore>,
        hold_read: std::sync::atomic::AtomicBool,
        read_taken: tokio::sync::Notify,
        release_read: tokio::sync::Notify,
        hold_put: std::sync::atomic::AtomicBool,
        put_waiting: tokio::sync::Notify,
        release_put: tokio::sync::Notify,
        put_landed: tokio::sync::Notify,
    }

    #[async_trait]
    impl KvStore for Gated {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        async fn get_entry(&self, c: &str, k: &str) -> Result<Option<Entry>> {
            let e = self.inner.get_entry(c, k).await?;
            if self.hold_read.swap(false, Ordering::SeqCst) {
                self.read_taken.notify_one();
                self.release_read.notified().await;
            }
            Ok(e)
        }
        async fn put(&self, c: &str, k: &str, v: Bytes, ttl: Option<Duration>) -> Result<()> {
            let held = self.hold_put.swap(false, Ordering::SeqCst);
            if held {
                self.put_waiting.notify_one();
                self.release_put.notified().await;
            }
            self.inner.put(c, k, v, ttl).await?;
            if held {
                // Applied; the reply is lost.
                self.put_landed.notify_one();
                std::future::pending::<()>().await;
            }
            Ok(())
        }
        async fn delete(&self, c: &str, k: &str) -> Result<bool> {
            self.inner.delete(c, k).await
        }
    }

    /// A local store that can pause right after it stored a copy.
    #[derive(Debug, Default)]
    struct Pausing {
        inner: Arc<TestStore>,
        hold: std::sync::atomic::AtomicBool,
        filled: tokio::sync::Notify,
        resume: tokio::sync::Notify,
    }

    #[async_trait]
    impl KvStore for Pausing {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        async fn get_entry(&self, c: &str, k: &str) -> Result<Option<Entry>> {
            self.inner.get_entry(c, k).await
        }
        async fn put(&self, c: &str, k: &str, v: Bytes, ttl: Option<Duration>) -> Result<()> {
            self.inner.put(c, k, v, ttl).await?;
            if self.hold.swap(false, Ordering::SeqCst) {
                self.filled.notify_one();
                self.resume.notified().await;
            }
            Ok(())
        }
        async fn delete(&self, c: &str, k: &str) -> Result<bool> {
            self.inner.delete(c, k).await
        }
    }

    type GatedTier = Arc<Tiered<Arc<Pausing>, Arc<Gated>>>;

    async fn gated_tier() -> (GatedTier, Arc<Pausing>, Arc<Gated>) {
        let remote = Arc::new(Gated::default());
        let local = Arc::new(Pausing::default());
        let t = Arc::new(Tiered::new(
            local.clone(),
            remote.clone(),
            TieredConfig::new(),
        ));
        t.put("c", "k", Bytes::from_static(b"old"), None)
            .await
            .unwrap();
        (t, local, remote)
    }

    /// A read that fetched the old value before a write landed stores its copy after the write
    /// returned; until that read notices and deletes it, another read must not be served it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_copy_filled_by_a_read_racing_a_write_is_never_served_after_the_write() {
        let (t, local, remote) = gated_tier().await;
        remote.hold_read.store(true, Ordering::SeqCst);
        let racing = tokio::spawn({
            let t = t.clone();
            async move { t.get("c", "k").await.unwrap() }
        });
        remote.read_taken.notified().await; // it read "old" from the remote store
        t.put("c", "k", Bytes::from_static(b"new"), None)
            .await
            .unwrap();
        local.hold.store(true, Ordering::SeqCst);
        remote.release_read.notify_one();
        local.filled.notified().await; // its "old" copy is in the local store now
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "new");
        local.resume.notify_one();
        // The racing read overlapped the write: the old value is a fine answer for it.
        assert_eq!(racing.await.unwrap().unwrap(), "old");
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "new");
    }

    /// The same race when the write's future is dropped after the remote store applied it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_copy_filled_during_a_dropped_write_is_never_served() {
        let (t, _local, remote) = gated_tier().await;
        remote.hold_put.store(true, Ordering::SeqCst);
        let write = tokio::spawn({
            let t = t.clone();
            async move { t.put("c", "k", Bytes::from_static(b"new"), None).await }
        });
        remote.put_waiting.notified().await; // the write has invalidated and is in flight
        remote.hold_read.store(true, Ordering::SeqCst);
        let racing = tokio::spawn({
            let t = t.clone();
            async move { t.get("c", "k").await.unwrap() }
        });
        remote.read_taken.notified().await; // it read "old"
        remote.release_put.notify_one();
        remote.put_landed.notified().await; // "new" is in the remote store, the reply is lost
        write.abort(); // e.g. a Timeout around the write
        assert!(write.await.unwrap_err().is_cancelled());
        remote.release_read.notify_one();
        assert_eq!(racing.await.unwrap().unwrap(), "old");
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "new");
    }

    #[tokio::test]
    async fn a_racing_read_never_reinserts_an_old_value() {
        let remote = store();
        let t = Tiered::new(store(), remote.clone(), TieredConfig::new());
        remote
            .put("c", "k", Bytes::from_static(b"old"), None)
            .await
            .unwrap();
        let seen = t.generation("c", "k");
        let old = remote.get_entry("c", "k").await.unwrap().unwrap();
        t.put("c", "k", Bytes::from_static(b"new"), None)
            .await
            .unwrap(); // write between
        t.fill("c", "k", &old, seen).await;
        assert_eq!(t.get("c", "k").await.unwrap().unwrap(), "new");
    }
}

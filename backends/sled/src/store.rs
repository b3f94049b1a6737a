//! [`SledStore`]: the [`KvStore`] implementation over one sled tree.

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mcp_kv_core::encoding::decode_key_after_prefix;
use mcp_kv_core::expiry::{expires_at, is_live, remaining};
use mcp_kv_core::{
    rules, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation, Page, Result,
    SharedClock,
};
use parking_lot::Mutex;
use sled::IVec;

use crate::config::{Durability, SledStoreBuilder};
use crate::encoding::{
    collection_prefix, decode_collection, decode_expiry, decode_value, encode_ivec, encode_pair,
    prefix_successor, with_encoded_pair,
};
use crate::flusher::Flusher;
use crate::BACKEND;

/// Values up to this size are copied out of sled's buffer; larger ones are shared with it.
const COPY_THRESHOLD: usize = 256;
/// Keys removed per sled batch by `clear`.
const CLEAR_CHUNK: usize = 1024;

/// A [`KvStore`] over one embedded sled database.
///
/// Cheap to clone (clones share the database). See the [crate docs](crate) for the storage
/// layout, the capabilities and the durability settings.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    clock: SharedClock,
    durability: Durability,
    caps: Capabilities,
    path: Option<PathBuf>,
    closed: AtomicBool,
    sweeper: Mutex<Option<Sweeper>>,
    /// The flush-per-write setting's flusher thread.
    flusher: Option<Flusher>,
}

/// The background sweeper thread: it stops when `stop` is dropped (by `close()` or when the
/// store itself is dropped).
struct Sweeper {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

/// A live entry found by [`read_live`].
struct LiveEntry {
    stored: IVec,
    /// Header length: where the value starts in `stored`.
    offset: usize,
    expires_at: Option<u64>,
    /// The clock when it was checked; 0 when the entry has no expiry and the clock was not read
    /// (`remaining(None, _)` does not look at it).
    now: u64,
}

/// What an atomic operation decides after looking at the current stored bytes.
enum Step<T> {
    /// Answer without writing.
    Done(T),
    /// Replace the current bytes with these (`None`: remove) if they are still current, then
    /// answer.
    Write(Option<IVec>, T),
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.inner.path)
            .field("durability", &self.inner.durability)
            .field("clock", &self.inner.clock)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .field("sweeper", &self.inner.sweeper.lock().is_some())
            .finish()
    }
}

/// Maps a sled error to an mcp-kv error of `op`. sled's messages describe the failure (an I/O
/// error, a file offset), never stored keys or values.
pub(crate) fn sled_error(op: Operation, e: sled::Error) -> Error {
    let (kind, context) = match &e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => (
            ErrorKind::Unavailable,
            "the database is open in another process (sled allows one process per database)",
        ),
        sled::Error::Io(_) => (ErrorKind::Backend, "sled I/O error"),
        sled::Error::Corruption { .. } => (ErrorKind::Corrupted, "sled found corrupted data"),
        sled::Error::Unsupported(_) => (ErrorKind::Unsupported, "sled does not support this use"),
        _ => (ErrorKind::Backend, "sled failed"),
    };
    Error::new(kind, context)
        .with_operation(op)
        .with_backend(BACKEND)
        .with_source(e)
}

/// A blocking task that did not finish (panicked or cancelled at runtime shutdown).
fn task_failed(op: Operation) -> Error {
    Error::new(ErrorKind::Backend, "a blocking sled task did not finish")
        .with_operation(op)
        .with_backend(BACKEND)
}

/// The error of a `take` whose removal succeeded but whose flush (`Durability::Flush`) failed:
/// the entry is gone from sled's memory and its value is dropped, so retrying cannot return
/// it (permanent), yet the removal may not survive a crash.
fn taken_not_flushed(flush: Error) -> Error {
    Error::new(
        flush.kind(),
        "the entry was taken (removed, its value dropped) but flushing the removal failed: the \
         value is lost, and the entry may reappear after a crash",
    )
    .set_temporary(false)
    .with_operation(Operation::Take)
    .with_backend(BACKEND)
    .with_source(flush)
}

/// Tags an error from the rules or the decoder with the operation and the backend.
fn tag(op: Operation) -> impl Fn(Error) -> Error {
    move |e| e.with_operation(op).with_backend(BACKEND)
}

/// Stored bytes past their header: the owner a large value's `Bytes` shares sled's buffer
/// through. Being the value itself, it spares the `slice` (a reference-count increment and
/// decrement) that `Bytes::from_owner(stored).slice(offset..)` would cost.
struct StoredValue {
    stored: IVec,
    offset: usize,
}

impl AsRef<[u8]> for StoredValue {
    fn as_ref(&self) -> &[u8] {
        self.stored.get(self.offset..).unwrap_or_default()
    }
}

/// The caller's value out of sled's stored bytes.
fn value_bytes(stored: IVec, offset: usize) -> Bytes {
    if stored.len() - offset <= COPY_THRESHOLD {
        Bytes::copy_from_slice(&stored[offset..])
    } else {
        Bytes::from_owner(StoredValue { stored, offset })
    }
}

impl SledStore {
    /// A builder: path, clock, durability, sweeper, flush interval.
    pub fn builder() -> SledStoreBuilder {
        SledStoreBuilder::default()
    }

    /// Opens (or creates) the database at `path` with the default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore> {
        Self::builder().path(path).open()
    }

    /// A temporary database (under `/dev/shm` on Linux), deleted when the last clone of the
    /// store is dropped. Not persistent.
    pub fn temporary() -> Result<SledStore> {
        Self::builder().open()
    }

    /// The underlying sled database, for inspection, export, tests and repairs. Bytes written
    /// through it bypass the layout described in [`encoding`](crate::encoding): a value that
    /// does not follow it reads back as [`ErrorKind::Corrupted`] for its key; a key that does
    /// not makes `keys()` or `collections()` fail with `Corrupted` until it is removed (see
    /// the [crate docs](crate#storage-layout) for which call removes what, and how to remove
    /// the rest through this handle).
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    pub(crate) fn from_parts(
        db: sled::Db,
        config: SledStoreBuilder,
        persistent: bool,
    ) -> Result<Self> {
        let mut caps = Capabilities::default().with_atomic(true);
        caps.enumerate = true;
        caps.persistent = persistent;
        caps.distributed = false;
        caps.native_ttl = false;
        caps.max_value_bytes = config.max_value_bytes;
        let flusher = match config.durability {
            Durability::Flush => Some(Flusher::start(db.clone()).map_err(|e| {
                Error::new(ErrorKind::Backend, "could not start the flusher thread")
                    .with_operation(Operation::Open)
                    .with_backend(BACKEND)
                    .with_source(e)
            })?),
            Durability::Periodic => None,
        };
        let inner = Arc::new(Inner {
            db,
            clock: config.clock,
            durability: config.durability,
            caps,
            path: config.path,
            closed: AtomicBool::new(false),
            sweeper: Mutex::new(None),
            flusher,
        });
        if let Some(interval) = config.sweep_interval {
            let sweeper = Sweeper::start(Arc::downgrade(&inner), interval).map_err(|e| {
                Error::new(ErrorKind::Backend, "could not start the sweeper thread")
                    .with_operation(Operation::Open)
                    .with_backend(BACKEND)
                    .with_source(e)
            })?;
            *inner.sweeper.lock() = Some(sweeper);
        }
        Ok(SledStore { inner })
    }

    fn db_open(&self, op: Operation) -> Result<&sled::Db> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Unavailable, "the store is closed")
                .set_temporary(false)
                .with_operation(op)
                .with_backend(BACKEND));
        }
        Ok(&self.inner.db)
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    /// The expiry of an entry written now with `ttl`: the clock is read only for a TTL.
    fn expiry(&self, ttl: Option<Duration>) -> Option<u64> {
        ttl.and_then(|_| expires_at(self.now(), ttl))
    }

    /// After a write: flushes sled's log when the durability setting asks for it.
    ///
    /// The flush future is boxed: it is only awaited in the flush-per-write setting, where a
    /// flush costs far more than the allocation, and held inline it would make the future of
    /// every write (which `async_trait` boxes and moves) several times larger.
    async fn settle(&self, op: Operation, wrote: bool) -> Result<()> {
        if wrote && self.inner.durability == Durability::Flush {
            Box::pin(self.flush(op)).await?;
        }
        Ok(())
    }

    /// Flushes (and fsyncs) sled's log without blocking an async worker thread: through the
    /// flusher thread in the flush-per-write setting (group commit, see `flusher.rs`), else —
    /// and once the flusher has stopped — on Tokio's blocking pool; outside a Tokio runtime
    /// inline.
    ///
    /// Never sled's `flush_async`: in sled 0.34 concurrent `flush_async` calls deadlock (sled
    /// issues #1241 and #1308 — every sled I/O thread blocks in a flush waiting for a log write
    /// queued behind them on the same pool; reproduced here with 8 concurrent writers).
    async fn flush(&self, op: Operation) -> Result<()> {
        let runtime = tokio::runtime::Handle::try_current();
        if let (Some(flusher), Ok(_)) = (&self.inner.flusher, &runtime) {
            if let Some(flushed) = flusher.flush().await {
                return flushed.map(drop).map_err(|e| sled_error(op, e));
            }
        }
        let db = self.inner.db.clone();
        let flushed = match runtime {
            Ok(runtime) => runtime
                .spawn_blocking(move || db.flush())
                .await
                .map_err(|_| task_failed(op))?,
            Err(_) => db.flush(),
        };
        flushed.map(drop).map_err(|e| sled_error(op, e))
    }

    /// The live entries of `keys` (checked by the caller), each through `found`. The clock is
    /// read once, for the first entry that has an expiry, and that time decides every entry
    /// of the batch.
    fn read_many<T>(
        &self,
        op: Operation,
        collection: &str,
        keys: &[&str],
        found: impl Fn(LiveEntry) -> T,
    ) -> Result<Vec<Option<T>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.db_open(op)?;
        let mut now = None;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(with_encoded_pair(collection, key, |name| {
                let clock = || *now.get_or_insert_with(|| self.now());
                read_live(db, op, name, clock, &found)
            })?);
        }
        Ok(out)
    }

    /// The compare-and-swap loop under every atomic operation: `decide` looks at the current
    /// stored bytes and either answers or names the bytes to write; the write happens only if
    /// the stored bytes are still the ones `decide` saw, otherwise `decide` runs again on the
    /// new ones. Linearizable per key. Returns the answer and whether anything was written.
    fn cas_loop<T>(
        &self,
        op: Operation,
        key: &[u8],
        mut decide: impl FnMut(Option<&IVec>) -> Result<Step<T>>,
    ) -> Result<(T, bool)> {
        let db = self.db_open(op)?;
        let mut current = db.get(key).map_err(|e| sled_error(op, e))?;
        loop {
            match decide(current.as_ref())? {
                Step::Done(answer) => return Ok((answer, false)),
                Step::Write(new, answer) => {
                    match db
                        .compare_and_swap(key, current.as_ref(), new)
                        .map_err(|e| sled_error(op, e))?
                    {
                        Ok(()) => return Ok((answer, true)),
                        Err(conflict) => current = conflict.current,
                    }
                }
            }
        }
    }
}

/// Reads `key` and hands its stored entry to `found` if it is live. `now()` gives the clock and
/// is called only when the entry has an expiry: a miss or an entry without expiry never reads
/// it (a system clock read is a good part of a cached point read). Batches pass a time read
/// once.
#[inline]
fn read_live<T>(
    db: &sled::Db,
    op: Operation,
    key: &[u8],
    now: impl FnOnce() -> u64,
    found: impl FnOnce(LiveEntry) -> T,
) -> Result<Option<T>> {
    let Some(stored) = db.get(key).map_err(|e| sled_error(op, e))? else {
        return Ok(None);
    };
    let decoded = decode_value(&stored).map_err(tag(op))?;
    let (offset, at) = (decoded.offset, decoded.expires_at);
    let now = at.map_or(0, |_| now());
    Ok(is_live(at, now).then(|| {
        found(LiveEntry {
            stored,
            offset,
            expires_at: at,
            now,
        })
    }))
}

/// A live entry's value as the caller gets it.
fn entry_value(e: LiveEntry) -> Bytes {
    value_bytes(e.stored, e.offset)
}

/// A live entry with its remaining TTL.
fn entry(e: LiveEntry) -> Entry {
    Entry {
        ttl: remaining(e.expires_at, e.now),
        value: value_bytes(e.stored, e.offset),
    }
}

/// Decodes the live value of stored bytes at `now` (`None`: absent or expired).
fn live_value(op: Operation, stored: Option<&IVec>, now: u64) -> Result<Option<&[u8]>> {
    let Some(stored) = stored else {
        return Ok(None);
    };
    let decoded = decode_value(stored).map_err(tag(op))?;
    Ok(is_live(decoded.expires_at, now).then_some(decoded.value))
}

#[async_trait]
impl KvStore for SledStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let op = Operation::Get;
        rules::check_name(collection, key).map_err(tag(op))?;
        let db = self.db_open(op)?;
        with_encoded_pair(collection, key, |name| {
            read_live(db, op, name, || self.now(), entry_value)
        })
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        let op = Operation::GetEntry;
        rules::check_name(collection, key).map_err(tag(op))?;
        let db = self.db_open(op)?;
        with_encoded_pair(collection, key, |name| {
            read_live(db, op, name, || self.now(), entry)
        })
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let op = Operation::Put;
        rules::check_put(&self.inner.caps, collection, key, value.len(), ttl).map_err(tag(op))?;
        let db = self.db_open(op)?;
        let stored = encode_ivec(&value, self.expiry(ttl));
        with_encoded_pair(collection, key, |name| db.insert(name, stored))
            .map_err(|e| sled_error(op, e))?;
        self.settle(op, true).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        let op = Operation::Delete;
        rules::check_name(collection, key).map_err(tag(op))?;
        let db = self.db_open(op)?;
        let now = self.now();
        let old = with_encoded_pair(collection, key, |name| db.remove(name))
            .map_err(|e| sled_error(op, e))?;
        // An entry whose header does not decode counts as live: it was there, now it is gone.
        let was_live = old
            .as_deref()
            .is_some_and(|old| decode_expiry(old).map_or(true, |at| is_live(at, now)));
        self.settle(op, old.is_some()).await?;
        Ok(was_live)
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let op = Operation::GetMany;
        rules::check_keys(&self.inner.caps, collection, keys).map_err(tag(op))?;
        self.read_many(op, collection, keys, entry_value)
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let op = Operation::GetEntries;
        rules::check_keys(&self.inner.caps, collection, keys).map_err(tag(op))?;
        self.read_many(op, collection, keys, entry)
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let op = Operation::PutMany;
        rules::check_entries(&self.inner.caps, collection, &entries, ttl).map_err(tag(op))?;
        let db = self.db_open(op)?;
        if entries.is_empty() {
            return Ok(());
        }
        let at = self.expiry(ttl);
        // Inserts of one batch apply in order: the last duplicate of a key wins.
        let mut batch = sled::Batch::default();
        for (key, value) in &entries {
            with_encoded_pair(collection, key, |name| {
                batch.insert(name, encode_ivec(value, at))
            });
        }
        db.apply_batch(batch).map_err(|e| sled_error(op, e))?;
        self.settle(op, true).await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        let op = Operation::DeleteMany;
        rules::check_keys(&self.inner.caps, collection, keys).map_err(tag(op))?;
        let db = self.db_open(op)?;
        let now = self.now();
        let (mut removed, mut wrote) = (0, false);
        for key in keys {
            // A duplicate finds nothing the second time: distinct live keys are counted once.
            let old = with_encoded_pair(collection, key, |name| db.remove(name))
                .map_err(|e| sled_error(op, e))?;
            if let Some(old) = old {
                wrote = true;
                if decode_expiry(&old).map_or(true, |at| is_live(at, now)) {
                    removed += 1;
                }
            }
        }
        self.settle(op, wrote).await?;
        Ok(removed)
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let op = Operation::PutIfAbsent;
        rules::check_put(&self.inner.caps, collection, key, value.len(), ttl).map_err(tag(op))?;
        let now = self.now();
        let new = encode_ivec(&value, expires_at(now, ttl));
        let (stored, wrote) = self.cas_loop(op, &encode_pair(collection, key), |current| {
            // An expired entry counts as absent: it is replaced from its exact old bytes.
            Ok(match live_value(op, current, now)? {
                Some(_) => Step::Done(false),
                None => Step::Write(Some(new.clone()), true),
            })
        })?;
        self.settle(op, wrote).await?;
        Ok(stored)
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let op = Operation::Take;
        rules::check_name(collection, key).map_err(tag(op))?;
        let now = self.now();
        let (taken, wrote) = self.cas_loop(op, &encode_pair(collection, key), |current| {
            Ok(match live_value(op, current, now)? {
                Some(value) => Step::Write(None, Some(Bytes::copy_from_slice(value))),
                None => Step::Done(None),
            })
        })?;
        // The entry is already removed: a failed flush cannot put it back, and returning the
        // value with an error is not possible, so the error says the value is gone.
        self.settle(op, wrote).await.map_err(taken_not_flushed)?;
        Ok(taken)
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
        rules::check_name(collection, key).map_err(tag(op))?;
        rules::check_ttl(ttl).map_err(tag(op))?;
        if let Some(new) = &new {
            rules::check_value(new.len(), self.inner.caps.max_value_bytes).map_err(tag(op))?;
        }
        let now = self.now();
        let new = new.map(|v| encode_ivec(&v, expires_at(now, ttl)));
        let (swapped, wrote) = self.cas_loop(op, &encode_pair(collection, key), |stored| {
            Ok(if live_value(op, stored, now)? == current {
                Step::Write(new.clone(), true)
            } else {
                Step::Done(false)
            })
        })?;
        self.settle(op, wrote).await?;
        Ok(swapped)
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let op = Operation::Touch;
        rules::check_name(collection, key).map_err(tag(op))?;
        rules::check_ttl(ttl).map_err(tag(op))?;
        let now = self.now();
        let at = expires_at(now, ttl);
        let (touched, wrote) = self.cas_loop(op, &encode_pair(collection, key), |current| {
            Ok(match live_value(op, current, now)? {
                Some(value) => Step::Write(Some(encode_ivec(value, at)), true),
                None => Step::Done(false),
            })
        })?;
        self.settle(op, wrote).await?;
        Ok(touched)
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        let op = Operation::Keys;
        rules::check_collection(collection).map_err(tag(op))?;
        rules::check_limit(limit).map_err(tag(op))?;
        let db = self.db_open(op)?;
        let now = self.now();
        let prefix = collection_prefix(collection);
        let start = match &cursor {
            None => Bound::Included(prefix.clone()),
            Some(after) => Bound::Excluded(encode_pair(collection, after.as_str())),
        };
        let end = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        let mut page = Page::default();
        for item in db.range::<Vec<u8>, _>((start, end)) {
            let (name, stored) = item.map_err(|e| sled_error(op, e))?;
            // Expired entries are skipped; an entry whose header does not decode is listed (its
            // `get` reports it Corrupted), so damage is visible rather than hidden.
            if decode_expiry(&stored).is_ok_and(|at| !is_live(at, now)) {
                continue;
            }
            if page.keys.len() == limit {
                page.next = page.keys.last().map(Cursor::new);
                break;
            }
            // A key that is not UTF-8 (written behind the store's back) fails this page and
            // every later one: the cursor cannot step past it. `clear` removes it.
            page.keys
                .push(decode_key_after_prefix(&name, prefix.len()).map_err(tag(op))?);
        }
        Ok(page)
    }

    async fn collections(&self) -> Result<Vec<String>> {
        let op = Operation::Collections;
        let db = self.db_open(op)?;
        let mut names = Vec::new();
        let mut from = Bound::Unbounded;
        // One seek per collection: read the first key at or after `from`, then jump past its
        // collection's prefix range.
        while let Some(item) = db.range::<Vec<u8>, _>((from, Bound::Unbounded)).next() {
            let (name, _) = item.map_err(|e| sled_error(op, e))?;
            // A prefix that does not decode fails the whole listing; only `db()` can remove it.
            let (collection, prefix_len) = decode_collection(&name).map_err(tag(op))?;
            names.push(collection);
            match prefix_successor(&name[..prefix_len]) {
                Some(next) => from = Bound::Included(next),
                None => break,
            }
        }
        Ok(names)
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        let op = Operation::Clear;
        rules::check_collection(collection).map_err(tag(op))?;
        let db = self.db_open(op)?;
        let mut removed = 0u64;
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0usize;
            for item in db
                .scan_prefix(collection_prefix(collection))
                .keys()
                .take(CLEAR_CHUNK)
            {
                batch.remove(item.map_err(|e| sled_error(op, e))?);
                n += 1;
            }
            if n == 0 {
                break;
            }
            db.apply_batch(batch).map_err(|e| sled_error(op, e))?;
            removed += n as u64;
        }
        self.settle(op, removed > 0).await?;
        Ok(removed)
    }

    async fn cull(&self) -> Result<u64> {
        let op = Operation::Cull;
        self.db_open(op)?;
        // A full scan: off the async worker threads when a tokio runtime is there.
        let inner = self.inner.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(move || inner.cull_sync())
                .await
                .map_err(|_| task_failed(op))?,
            Err(_) => inner.cull_sync(),
        }
    }

    /// Stops the sweeper, flushes, stops the flusher. Idempotent, and every call does each
    /// step (a second flush is cheap): a call dropped midway (a timeout) leaves nothing
    /// undone once the next call returns.
    async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        let sweeper = self.inner.sweeper.lock().take();
        if let Some(sweeper) = sweeper {
            sweeper.stop();
        }
        let flushed = self.flush(Operation::Close).await;
        // Its pending requests are answered first; a write still finishing flushes on the
        // blocking pool instead.
        if let Some(flusher) = &self.inner.flusher {
            flusher.stop();
        }
        flushed
    }
}

impl Inner {
    /// Removes every expired entry, each only if its stored bytes are unchanged since they were
    /// read (a concurrent rewrite wins). Entries whose header does not decode are left alone.
    /// Stops early when the store is closed.
    fn cull_sync(&self) -> Result<u64> {
        let op = Operation::Cull;
        let now = self.clock.now_millis();
        let mut culled = 0;
        for item in self.db.iter() {
            if self.closed.load(Ordering::Relaxed) {
                break;
            }
            let (name, stored) = item.map_err(|e| sled_error(op, e))?;
            if decode_expiry(&stored).is_ok_and(|at| !is_live(at, now))
                && self
                    .db
                    .compare_and_swap(&name, Some(&stored), None::<IVec>)
                    .map_err(|e| sled_error(op, e))?
                    .is_ok()
            {
                culled += 1;
            }
        }
        if culled > 0 && self.durability == Durability::Flush {
            self.db.flush().map_err(|e| sled_error(op, e))?;
        }
        Ok(culled)
    }
}

impl Sweeper {
    /// Starts the sweeper thread; it holds only a weak handle, so dropping the store stops it.
    fn start(inner: Weak<Inner>, interval: Duration) -> std::io::Result<Sweeper> {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("mcp-kv-sled-sweeper".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(inner) = inner.upgrade() else { return };
                if inner.closed.load(Ordering::Acquire) {
                    return;
                }
                // A failed sweep is retried at the next tick; reads hide expired entries anyway.
                let _ = inner.cull_sync();
            })?;
        Ok(Sweeper { stop, handle })
    }

    /// Stops the thread and waits for it (a sweep in progress notices `closed` and ends early).
    fn stop(self) {
        drop(self.stop);
        let _ = self.handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::{HEADER_LEN_EXPIRES, HEADER_LEN_NO_EXPIRY};

    #[tokio::test]
    async fn a_close_dropped_midway_is_finished_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::builder()
            .path(dir.path().join("kv"))
            .durability(Durability::Flush)
            .open()
            .unwrap();
        store
            .put("c", "k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        // Where a close dropped at its flush (a `Timeout`, a cancelled shutdown) leaves the
        // store: marked closed, flusher still running. (Dropping a real close future there
        // depends on thread scheduling: under load its flush can finish within the first poll.)
        store.inner.closed.store(true, Ordering::Release);
        store.close().await.unwrap();
        let flusher = store.inner.flusher.as_ref().unwrap();
        assert!(
            flusher.is_stopped(),
            "the second close returned before the first one's work was done"
        );
    }

    #[test]
    fn a_take_whose_flush_failed_says_the_value_is_gone() {
        let flush = sled_error(
            Operation::Take,
            sled::Error::Io(std::io::Error::other("disk gone")),
        );
        let e = taken_not_flushed(flush.set_temporary(true));
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert!(!e.is_temporary(), "retrying cannot return the value");
        assert_eq!(e.operation(), Some(Operation::Take));
        let msg = e.to_string();
        assert!(msg.contains("taken") && msg.contains("lost"), "{msg}");
        assert!(
            msg.contains("disk gone"),
            "the flush error is the source: {msg}"
        );
    }

    #[test]
    fn value_bytes_is_the_value_past_the_header_on_both_sides_of_the_copy_threshold() {
        for len in [0, 1, COPY_THRESHOLD, COPY_THRESHOLD + 1, 4096] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for (at, offset) in [(None, HEADER_LEN_NO_EXPIRY), (Some(7), HEADER_LEN_EXPIRES)] {
                let stored = encode_ivec(&value, at);
                let bytes = value_bytes(stored.clone(), offset);
                assert_eq!(&bytes[..], &value[..], "len {len}, expiry {at:?}");
                // Slices and clones of a shared value stay the value's bytes.
                if len > 2 {
                    assert_eq!(&bytes.slice(1..len - 1)[..], &value[1..len - 1]);
                }
                drop(stored);
                assert_eq!(&bytes.clone()[..], &value[..]);
            }
        }
    }
}

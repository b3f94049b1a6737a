//! Session scopes: per-client-session state that lives and dies with the session.
//!
//! # Two lifetimes, never confused
//!
//! An MCP server builds **one store when it starts** (its lifespan): a connection pool, a file,
//! a cache. That store is cheap to clone and shared by every client session, and `close()` ends
//! it when the server stops. A client **session** is much shorter: it starts when a client
//! initializes and ends when it disconnects or goes idle. Its state goes through a [`Session`],
//! a scoped view of the shared store:
//!
//! - every access (get, put, delete) refreshes the session's idle TTL;
//! - once the session is idle for longer than `idle_ttl`, its entries are invisible and expire;
//! - [`Session::end`] removes the session's entries at once.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bytes::Bytes;
//! use mcp_kv_core::{DynStore, KvStoreExt};
//! use mcp_kv_memory::MemoryStore;
//!
//! // Server start: one store for the server's whole lifespan, shared by all sessions.
//! let store: DynStore = Arc::new(MemoryStore::new());
//!
//! // A client connects: its state is scoped to its session id.
//! let session = store.session("session-1234", Duration::from_secs(30 * 60))?;
//! session.put("cursor", Bytes::from_static(b"page-2")).await?;
//! assert_eq!(session.get("cursor").await?, Some(Bytes::from_static(b"page-2")));
//!
//! // Another session never sees it.
//! let other = store.session("session-5678", Duration::from_secs(30 * 60))?;
//! assert_eq!(other.get("cursor").await?, None);
//!
//! // The client disconnects: its state goes; the store stays for the next sessions.
//! session.end().await?;
//! assert_eq!(session.get("cursor").await?, None);
//! store.close().await?; // server shutdown
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # How it is stored
//!
//! A marker entry `mcp-kv.sessions / <id>` with TTL `idle_ttl` says the session is alive and
//! holds its **incarnation**, a token made when the session (re)starts; the session's entries
//! live in the collection `mcp-kv.session/<id>` under the keys `<incarnation>/<key>`, with TTL
//! `1.5 × idle_ttl`. Each access reads and refreshes the marker, and at most every
//! `idle_ttl / 2` per handle the TTLs of the incarnation's entries, so no entry expires while
//! the session is alive, and reads through a session whose marker expired see nothing. A
//! session that expired and starts again under the same id gets a new incarnation: the old
//! entries, which outlive the marker by up to `idle_ttl / 2`, stay invisible until they
//! expire (or [`Session::end`] removes them). Concurrent first accesses agree on one
//! incarnation through `put_if_absent`.
//!
//! Limits:
//!
//! - Keys are at most 4096 − 17 bytes (the incarnation prefix takes the rest).
//! - The entries' TTLs are refreshed only on stores with both `touch` and enumeration; on
//!   others an entry lives `1.5 × idle_ttl` from its last write, accessed or not. Without
//!   enumeration [`Session::end`] removes only the marker (the entries expire on their own).
//! - The marker's TTL is refreshed with `touch`, else with a `compare_and_swap` of the marker
//!   with itself, so an access racing [`Session::end`] on another handle or replica never
//!   brings the ended session back. A store with neither refreshes by writing the marker
//!   again, which can.
//! - `mcp-kv.sessions` and the collections starting with `mcp-kv.session/` belong to sessions:
//!   an application collection of such a name is read and removed by the session of that id.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::collection::{decode_json, encode_json};
use crate::{rules, system_clock, KvStore, Result, SharedClock};

/// Collection holding one marker per live session.
pub const SESSION_MARKERS: &str = "mcp-kv.sessions";
/// Prefix of the collection holding one session's entries.
pub const SESSION_PREFIX: &str = "mcp-kv.session/";

/// A session-scoped view of a shared store. See the [module docs](self).
#[derive(Clone)]
pub struct Session {
    store: Arc<dyn KvStore>,
    id: String,
    collection: String,
    idle_ttl: Duration,
    /// Epoch ms of the last refresh of every entry's TTL by this handle; `NEVER` if none.
    last_refresh: Arc<AtomicU64>,
    clock: SharedClock,
}

/// `last_refresh` before the first refresh (or after `end`).
const NEVER: u64 = u64::MAX;

/// Bytes an entry key gains: the incarnation (16 hex digits) and `/`.
const INCARNATION_PREFIX_BYTES: usize = 17;

/// A new incarnation token: 16 hex digits of the clock's milliseconds mixed with a
/// process-wide counter and the process id. Unique enough: it only has to differ from the
/// previous incarnation of the same id (which ended at least an idle TTL earlier, or by
/// `end`), and concurrent creators settle on one through `put_if_absent`.
fn new_incarnation(now_millis: u64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed = now_millis.rotate_left(20) ^ n.rotate_left(44) ^ u64::from(std::process::id());
    format!("{mixed:016x}")
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A session id can be a bearer secret (MCP session ids are): show only its length.
        f.debug_struct("Session")
            .field("id", &format_args!("<{} bytes>", self.id.len()))
            .field("idle_ttl", &self.idle_ttl)
            .field("store", &self.store)
            .finish()
    }
}

impl Session {
    /// A view of session `id` of `store`, idle-expiring after `idle_ttl`.
    ///
    /// `id` must be 1..=(1024 − 15) bytes; `idle_ttl` a valid TTL.
    pub fn new(store: Arc<dyn KvStore>, id: &str, idle_ttl: Duration) -> Result<Self> {
        rules::check_key(id)?;
        rules::check_ttl(Some(idle_ttl))?;
        let collection = format!("{SESSION_PREFIX}{id}");
        rules::check_collection(&collection)?;
        rules::check_ttl(Some(entry_ttl(idle_ttl)))?;
        Ok(Session {
            store,
            id: id.to_string(),
            collection,
            idle_ttl,
            last_refresh: Arc::new(AtomicU64::new(NEVER)),
            clock: system_clock(),
        })
    }

    /// Times the refresh of the entries' TTLs with `clock` instead of the system clock — give
    /// it the clock injected into the store, so a manual clock drives both.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The idle TTL.
    pub fn idle_ttl(&self) -> Duration {
        self.idle_ttl
    }

    /// Whether the session is alive (accessed within its idle TTL and not ended). Does not
    /// refresh it.
    pub async fn is_active(&self) -> Result<bool> {
        Ok(self.store.get(SESSION_MARKERS, &self.id).await?.is_some())
    }

    /// The value of `key` in this session; refreshes the session. `None` once the session
    /// expired or ended.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        check_session_key(key)?;
        let Some(inc) = self.refresh(false).await? else {
            return Ok(None);
        };
        self.store
            .get(&self.collection, &entry_key(&inc, key))
            .await
    }

    /// Stores `value` under `key` in this session; starts or refreshes the session.
    pub async fn put(&self, key: &str, value: Bytes) -> Result<()> {
        // Bad input fails before the session is started or refreshed.
        let caps = self.store.capabilities();
        let ttl = Some(entry_ttl(self.idle_ttl));
        check_session_key(key)?;
        rules::check_put(&caps, &self.collection, key, value.len(), ttl)?;
        let Some(inc) = self.refresh(true).await? else {
            return Err(crate::Error::new(
                crate::ErrorKind::Conflict,
                "the session could not be started (its marker kept changing)",
            ));
        };
        self.store
            .put(&self.collection, &entry_key(&inc, key), value, ttl)
            .await
    }

    /// Deletes `key` from this session; refreshes the session.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        check_session_key(key)?;
        let Some(inc) = self.refresh(false).await? else {
            return Ok(false);
        };
        self.store
            .delete(&self.collection, &entry_key(&inc, key))
            .await
    }

    /// The value of `key` decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get(key).await?.map(|b| decode_json(&b)).transpose()
    }

    /// Stores `value` as JSON under `key`.
    pub async fn put_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.put(key, encode_json(value)?).await
    }

    /// Ends the session: removes its marker and every entry. Returns how many entries were
    /// removed. Idempotent.
    pub async fn end(&self) -> Result<u64> {
        self.store.delete(SESSION_MARKERS, &self.id).await?;
        self.last_refresh.store(NEVER, Ordering::Relaxed);
        if self.store.capabilities().enumerate {
            return self.store.clear(&self.collection).await;
        }
        Ok(0)
    }

    /// Reads and refreshes the marker (starting a new incarnation when there is none and
    /// `create`), and the incarnation's entries' TTLs when due. The live incarnation, or `None`
    /// when the session is not alive (and not started).
    async fn refresh(&self, create: bool) -> Result<Option<String>> {
        let caps = self.store.capabilities();
        // A marker can expire between two reads, and a starter can lose to another: a few
        // rounds settle it.
        for _ in 0..4 {
            if let Some(marker) = self.store.get(SESSION_MARKERS, &self.id).await? {
                let inc = String::from_utf8(marker.to_vec())
                    .ok()
                    .filter(|i| i.len() + 1 == INCARNATION_PREFIX_BYTES)
                    .ok_or_else(|| crate::Error::corrupted("a session marker is not ours"))?;
                // Never undoes a concurrent `end` (or a restart): `touch` and the swap only
                // refresh the marker still there.
                let refreshed = match crate::store::refresh_ttl(
                    self.store.as_ref(),
                    SESSION_MARKERS,
                    &self.id,
                    &marker,
                    Some(self.idle_ttl),
                )
                .await?
                {
                    Some(refreshed) => refreshed,
                    None => {
                        self.store
                            .put(SESSION_MARKERS, &self.id, marker, Some(self.idle_ttl))
                            .await?;
                        true
                    }
                };
                if !refreshed {
                    continue; // expired, ended or restarted between the read and the refresh
                }
                self.refresh_entries_when_due(&inc, caps).await?;
                return Ok(Some(inc));
            }
            if !create {
                return Ok(None);
            }
            let inc = new_incarnation(self.clock.now_millis());
            let marker = Bytes::from(inc.clone().into_bytes());
            let started = match caps.put_if_absent {
                true => {
                    self.store
                        .put_if_absent(SESSION_MARKERS, &self.id, marker, Some(self.idle_ttl))
                        .await?
                }
                false => {
                    self.store
                        .put(SESSION_MARKERS, &self.id, marker, Some(self.idle_ttl))
                        .await?;
                    true
                }
            };
            if started {
                self.last_refresh
                    .store(self.clock.now_millis(), Ordering::Relaxed);
                return Ok(Some(inc));
            }
            // Another access started it first: read its incarnation.
        }
        Ok(None)
    }

    /// At most every `idle_ttl / 2` per handle: the incarnation's entries get their TTL again.
    async fn refresh_entries_when_due(&self, inc: &str, caps: crate::Capabilities) -> Result<()> {
        let now = self.clock.now_millis();
        let half_idle = crate::expiry::ttl_millis_ceil(self.idle_ttl / 2);
        let due = match self.last_refresh.load(Ordering::Relaxed) {
            NEVER => true,
            at => now.saturating_sub(at) >= half_idle,
        };
        if !due {
            return Ok(());
        }
        if caps.touch && caps.enumerate {
            self.refresh_entries(inc).await?;
        }
        self.last_refresh.store(now, Ordering::Relaxed);
        Ok(())
    }

    async fn refresh_entries(&self, inc: &str) -> Result<()> {
        let ttl = Some(entry_ttl(self.idle_ttl));
        let prefix = entry_key(inc, "");
        let mut cursor = None;
        loop {
            let page = self.store.keys(&self.collection, cursor, 256).await?;
            for key in page.keys.iter().filter(|k| k.starts_with(&prefix)) {
                self.store.touch(&self.collection, key, ttl).await?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }
}

/// The stored key of a session key in incarnation `inc`.
fn entry_key(inc: &str, key: &str) -> String {
    format!("{inc}/{key}")
}

/// A session key: 1..=(4096 − 17) bytes (the incarnation prefix takes the rest).
fn check_session_key(key: &str) -> Result<()> {
    rules::check_key(key)?;
    if key.len() + INCARNATION_PREFIX_BYTES > rules::MAX_KEY_BYTES {
        return Err(crate::Error::new(
            crate::ErrorKind::InvalidKey,
            format!(
                "a session key is at most {} bytes",
                rules::MAX_KEY_BYTES - INCARNATION_PREFIX_BYTES
            ),
        ));
    }
    Ok(())
}

fn entry_ttl(idle: Duration) -> Duration {
    idle.saturating_add(idle / 2)
}

/// Conveniences on every store: typed collections and session scopes.
pub trait KvStoreExt {
    /// A typed view of collection `name` (values as JSON).
    fn collection<T>(&self, name: &str) -> crate::Collection<T>
    where
        T: Serialize + DeserializeOwned + Send + Sync;

    /// A session-scoped view; see [`Session`].
    fn session(&self, id: &str, idle_ttl: Duration) -> Result<Session>;
}

impl<S: KvStore + 'static> KvStoreExt for Arc<S> {
    fn collection<T>(&self, name: &str) -> crate::Collection<T>
    where
        T: Serialize + DeserializeOwned + Send + Sync,
    {
        crate::Collection::new(self.clone(), name)
    }

    fn session(&self, id: &str, idle_ttl: Duration) -> Result<Session> {
        Session::new(self.clone(), id, idle_ttl)
    }
}

impl KvStoreExt for Arc<dyn KvStore> {
    fn collection<T>(&self, name: &str) -> crate::Collection<T>
    where
        T: Serialize + DeserializeOwned + Send + Sync,
    {
        crate::Collection::new(self.clone(), name)
    }

    fn session(&self, id: &str, idle_ttl: Duration) -> Result<Session> {
        Session::new(self.clone(), id, idle_ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    /// A store that answers nothing: any call reaching it fails the test.
    #[derive(Debug)]
    struct Untouchable;

    #[async_trait::async_trait]
    impl KvStore for Untouchable {
        fn capabilities(&self) -> crate::Capabilities {
            crate::Capabilities::default()
        }
        async fn get_entry(&self, _: &str, _: &str) -> Result<Option<crate::Entry>> {
            panic!("the store was called")
        }
        async fn put(&self, _: &str, _: &str, _: Bytes, _: Option<Duration>) -> Result<()> {
            panic!("the store was called")
        }
        async fn delete(&self, _: &str, _: &str) -> Result<bool> {
            panic!("the store was called")
        }
    }

    #[tokio::test]
    async fn bad_input_fails_before_the_session_is_touched() {
        let s = Session::new(Arc::new(Untouchable), "sid", Duration::from_secs(60)).unwrap();
        let too_big = Bytes::from(vec![
            0u8;
            crate::Capabilities::default().max_value_bytes + 1
        ]);
        assert_eq!(
            s.put("", Bytes::new()).await.unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
        assert_eq!(
            s.put("k", too_big).await.unwrap_err().kind(),
            ErrorKind::ValueTooLarge
        );
        assert_eq!(s.get("").await.unwrap_err().kind(), ErrorKind::InvalidKey);
        assert_eq!(
            s.delete("").await.unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
    }
}

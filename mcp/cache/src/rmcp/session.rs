//! [`KvSessionStore`]: rmcp's streamable-HTTP [`SessionStore`] on a `KvStore`, with an idle
//! TTL.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use mcp_kv_core::{DynStore, Error, ErrorKind, Operation};
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};
use sha2::{Digest, Sha256};

/// Default collection of the session records.
pub const DEFAULT_SESSION_COLLECTION: &str = "mcp-kv.rmcp-sessions";
/// Default idle TTL of a session record: 30 minutes.
pub const DEFAULT_SESSION_IDLE_TTL: Duration = Duration::from_secs(30 * 60);

/// Reads and refreshes of one record before giving up on a record that keeps changing.
const REFRESH_ATTEMPTS: usize = 8;

fn changing() -> Error {
    Error::new(
        ErrorKind::Conflict,
        "session record kept changing while its TTL was refreshed",
    )
}

/// Streamable-HTTP session records (the client's `initialize` params) in a `KvStore`, so a
/// session survives a server restart and moves between replicas sharing the store (Redis,
/// DynamoDB, …). Set it as `StreamableHttpServerConfig::session_store`.
///
/// - **Layout.** One entry per session in collection `mcp-kv.rmcp-sessions`, keyed by the
///   SHA-256 hex of the session id (a session id is a bearer secret: it is never stored or
///   logged as is), value = `SessionState` as JSON.
/// - **Idle TTL.** Every record is written with the idle TTL, and each [`load`] (a restore on
///   another replica or after a restart) and each [`touch`](Self::touch) resets it. rmcp calls
///   the store only at `initialize`, restore and close, so a server that wants the record to
///   live as long as the session is *active* calls [`touch`](Self::touch) on each request that
///   carries an `Mcp-Session-Id` (the crate's example server does this in a middleware).
/// - **Refreshing never undoes a delete or a replace.** The TTL is reset with the store's
///   `touch`, or else with a `compare_and_swap` of the record with itself; a store with neither
///   cannot refresh atomically, so there [`touch`](Self::touch) is
///   [`ErrorKind::Unsupported`] and [`load`] leaves the TTL as the last [`store`] set it. A
///   record deleted while [`load`] refreshes it is reported as unknown (`None`); one that
///   changes under 8 reads and refreshes in a row is [`ErrorKind::Conflict`].
/// - Stored bytes that do not decode are an error ([`ErrorKind::Corrupted`]), not a silently
///   unknown session.
///
/// [`load`]: SessionStore::load
/// [`store`]: SessionStore::store
#[derive(Clone)]
pub struct KvSessionStore {
    store: DynStore,
    collection: String,
    idle_ttl: Duration,
}

impl fmt::Debug for KvSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvSessionStore")
            .field("store", &self.store)
            .field("collection", &self.collection)
            .field("idle_ttl", &self.idle_ttl)
            .finish()
    }
}

impl KvSessionStore {
    /// Session records in `store` with the default collection and idle TTL (30 min).
    pub fn new(store: DynStore) -> Self {
        KvSessionStore {
            store,
            collection: DEFAULT_SESSION_COLLECTION.to_string(),
            idle_ttl: DEFAULT_SESSION_IDLE_TTL,
        }
    }

    /// Sets the idle TTL.
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Sets the collection.
    pub fn collection(mut self, collection: impl Into<String>) -> Self {
        self.collection = collection.into();
        self
    }

    fn key(session_id: &str) -> String {
        hex::encode(Sha256::digest(session_id.as_bytes()))
    }

    /// Resets the idle TTL of a live session record; `true` if it was live. Uses the store's
    /// `touch` when supported, else a `compare_and_swap` of the record with itself (so a
    /// concurrent delete or replace is never undone; [`ErrorKind::Conflict`] if the record
    /// changes under each of 8 tries); [`ErrorKind::Unsupported`] on a store with neither.
    pub async fn touch(&self, session_id: &str) -> mcp_kv_core::Result<bool> {
        let key = Self::key(session_id);
        if self.store.capabilities().touch {
            return self
                .store
                .touch(&self.collection, &key, Some(self.idle_ttl))
                .await;
        }
        for _ in 0..REFRESH_ATTEMPTS {
            let Some(current) = self.store.get(&self.collection, &key).await? else {
                return Ok(false);
            };
            if self.refresh(&key, &current).await? {
                return Ok(true);
            }
            // Replaced or deleted since the read: look again.
        }
        Err(changing())
    }

    /// Resets the idle TTL of `key` if its value is still `current`: `false` if it is gone
    /// (store with `touch`) or no longer `current` (store with `compare_and_swap`).
    async fn refresh(&self, key: &str, current: &Bytes) -> mcp_kv_core::Result<bool> {
        let ttl = Some(self.idle_ttl);
        mcp_kv_core::store::refresh_ttl(self.store.as_ref(), &self.collection, key, current, ttl)
            .await?
            .ok_or_else(|| Error::unsupported(Operation::Touch))
    }
}

#[async_trait::async_trait]
impl SessionStore for KvSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let key = Self::key(session_id);
        for _ in 0..REFRESH_ATTEMPTS {
            let Some(bytes) = self.store.get(&self.collection, &key).await? else {
                return Ok(None);
            };
            let state: SessionState = serde_json::from_slice(&bytes).map_err(|_| {
                Box::new(Error::new(
                    ErrorKind::Corrupted,
                    "stored session state does not decode",
                ))
            })?;
            match self.refresh(&key, &bytes).await {
                Ok(true) => return Ok(Some(state)),
                // Deleted or replaced since the read: read again.
                Ok(false) => continue,
                // No atomic way to refresh: the TTL stays as `store` set it.
                Err(e) if e.kind() == ErrorKind::Unsupported => return Ok(Some(state)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Box::new(changing()))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let bytes = serde_json::to_vec(state)?;
        self.store
            .put(
                &self.collection,
                &Self::key(session_id),
                bytes.into(),
                Some(self.idle_ttl),
            )
            .await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.store
            .delete(&self.collection, &Self::key(session_id))
            .await?;
        Ok(())
    }
}

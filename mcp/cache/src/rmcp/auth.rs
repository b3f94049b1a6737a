//! rmcp's OAuth client stores on a `KvStore` (feature `rmcp-auth`): [`KvCredentialStore`]
//! and [`KvStateStore`].
//!
//! Credentials hold access and refresh tokens: put the store behind the encryption wrapper
//! (`mcp-kv-wrappers`) when it is shared or on disk.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mcp_kv_core::DynStore;
use rmcp::transport::auth::{
    AuthError, CredentialRefreshGuard, CredentialStore, StateStore, StoredAuthorizationState,
    StoredCredentials,
};
use sha2::{Digest, Sha256};

/// Default collection of stored credentials.
pub const DEFAULT_CREDENTIAL_COLLECTION: &str = "mcp-kv.rmcp-credentials";
/// Default collection of pending authorization states.
pub const DEFAULT_STATE_COLLECTION: &str = "mcp-kv.rmcp-oauth-states";

fn store_error(context: &'static str) -> impl FnOnce(mcp_kv_core::Error) -> AuthError {
    // The store's error describes the failure, never the data.
    move |e| AuthError::CredentialStoreError(format!("{context}: {e}"))
}

/// One client's OAuth credentials (rmcp's `StoredCredentials`) under one account key.
///
/// - Layout: collection `mcp-kv.rmcp-credentials`, key = the account name given to
///   [`new`](Self::new) (e.g. the MCP server's URL), value = JSON, no TTL.
/// - Refresh coordination: when the store has atomic `put_if_absent` and `compare_and_swap`,
///   the refresh guard is a lease under the account's name in collection
///   `<collection>.refresh-locks` (apart from the credentials, so no account's credentials can
///   be another account's lease; TTL [`lock_ttl`](Self::lock_ttl), 30 s by default) taken with
///   `put_if_absent` — so processes sharing a store (Redis, DynamoDB) never refresh one refresh
///   token twice — and released on drop by `compare_and_swap` of its own token (also when
///   `acquire_refresh_guard` is dropped mid-attempt or fails). Stores without atomics
///   coordinate nothing (rmcp's default).
#[derive(Clone)]
pub struct KvCredentialStore {
    store: DynStore,
    collection: String,
    account: String,
    lock_ttl: Duration,
}

impl fmt::Debug for KvCredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvCredentialStore")
            .field("store", &self.store)
            .field("collection", &self.collection)
            .field("account", &self.account)
            .field("lock_ttl", &self.lock_ttl)
            .finish()
    }
}

impl KvCredentialStore {
    /// Credentials of `account` in `store`.
    pub fn new(store: DynStore, account: impl Into<String>) -> Self {
        KvCredentialStore {
            store,
            collection: DEFAULT_CREDENTIAL_COLLECTION.to_string(),
            account: account.into(),
            lock_ttl: Duration::from_secs(30),
        }
    }

    /// Sets the collection (the refresh leases go to `<collection>.refresh-locks`).
    pub fn collection(mut self, collection: impl Into<String>) -> Self {
        self.collection = collection.into();
        self
    }

    /// Sets the refresh lease's TTL (also how long `acquire_refresh_guard` waits for it).
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    fn lock_collection(&self) -> String {
        format!("{}.refresh-locks", self.collection)
    }
}

/// Releases the refresh lease when dropped.
struct Lease {
    store: DynStore,
    collection: String,
    key: String,
    token: Bytes,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return; // No runtime: the lease expires by its TTL.
        };
        let (store, collection, key, token) = (
            self.store.clone(),
            std::mem::take(&mut self.collection),
            std::mem::take(&mut self.key),
            self.token.clone(),
        );
        handle.spawn(async move {
            let _ = store
                .compare_and_swap(&collection, &key, Some(&token), None, None)
                .await;
        });
    }
}

#[async_trait::async_trait]
impl CredentialStore for KvCredentialStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let Some(bytes) = self
            .store
            .get(&self.collection, &self.account)
            .await
            .map_err(store_error("load"))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| AuthError::CredentialStoreError("stored credentials do not decode".into()))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let bytes = serde_json::to_vec(&credentials)
            .map_err(|_| AuthError::CredentialStoreError("credentials do not encode".into()))?;
        self.store
            .put(&self.collection, &self.account, bytes.into(), None)
            .await
            .map_err(store_error("save"))
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.store
            .delete(&self.collection, &self.account)
            .await
            .map(|_| ())
            .map_err(store_error("clear"))
    }

    async fn acquire_refresh_guard(&self) -> Result<Option<CredentialRefreshGuard>, AuthError> {
        let caps = self.store.capabilities();
        if !(caps.put_if_absent && caps.compare_and_swap) {
            return Ok(None);
        }
        // Made before the first attempt: if this future is dropped while an attempt is in
        // flight (one the store may have applied), dropping the lease releases it; releasing a
        // lease that was not taken changes nothing, as no one else holds its token.
        let lease = Lease {
            store: self.store.clone(),
            collection: self.lock_collection(),
            key: self.account.clone(),
            token: Bytes::from(hex::encode(rand_token())),
        };
        // `None`: a lock TTL too long for an `Instant`, which the store rejects below.
        let deadline = Instant::now().checked_add(self.lock_ttl);
        loop {
            let won = self
                .store
                .put_if_absent(
                    &lease.collection,
                    &lease.key,
                    lease.token.clone(),
                    Some(self.lock_ttl),
                )
                .await
                .map_err(store_error("refresh lock"))?;
            if won {
                return Ok(Some(CredentialRefreshGuard::new(lease)));
            }
            if deadline.is_none_or(|d| Instant::now() >= d) {
                return Err(AuthError::CredentialStoreError(
                    "timed out waiting for the refresh lock".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A random lease token.
fn rand_token() -> [u8; 32] {
    rand::random()
}

/// Pending OAuth authorization states (PKCE verifier, CSRF token) with a TTL, so abandoned
/// flows expire by themselves.
///
/// Layout: collection `mcp-kv.rmcp-oauth-states`, key = SHA-256 hex of the CSRF token (never
/// the token itself), value = JSON, TTL 10 minutes by default.
///
/// A state is single-use. rmcp's callback handling calls `load`, checks the response's issuer,
/// then `delete`s the state before it exchanges the code; here `delete` is that consuming step:
/// it removes the state with the store's atomic `take` (plain `delete` on a store without it)
/// and fails with [`AuthError::AuthorizationFailed`] when no live state was there — already
/// consumed by a concurrent callback (another replica, a double submit), or expired — so of
/// callbacks racing with one state exactly one goes on to exchange its code.
#[derive(Clone)]
pub struct KvStateStore {
    store: DynStore,
    collection: String,
    ttl: Duration,
}

impl fmt::Debug for KvStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvStateStore")
            .field("store", &self.store)
            .field("collection", &self.collection)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl KvStateStore {
    /// States in `store`, 10-minute TTL.
    pub fn new(store: DynStore) -> Self {
        KvStateStore {
            store,
            collection: DEFAULT_STATE_COLLECTION.to_string(),
            ttl: Duration::from_secs(600),
        }
    }

    /// Sets how long a pending authorization lives.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the collection.
    pub fn collection(mut self, collection: impl Into<String>) -> Self {
        self.collection = collection.into();
        self
    }

    fn key(csrf_token: &str) -> String {
        hex::encode(Sha256::digest(csrf_token.as_bytes()))
    }
}

#[async_trait::async_trait]
impl StateStore for KvStateStore {
    async fn save(
        &self,
        csrf_token: &str,
        state: StoredAuthorizationState,
    ) -> Result<(), AuthError> {
        let bytes = serde_json::to_vec(&state)
            .map_err(|_| AuthError::CredentialStoreError("state does not encode".into()))?;
        self.store
            .put(
                &self.collection,
                &Self::key(csrf_token),
                bytes.into(),
                Some(self.ttl),
            )
            .await
            .map_err(store_error("save state"))
    }

    async fn load(&self, csrf_token: &str) -> Result<Option<StoredAuthorizationState>, AuthError> {
        let Some(bytes) = self
            .store
            .get(&self.collection, &Self::key(csrf_token))
            .await
            .map_err(store_error("load state"))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| AuthError::CredentialStoreError("stored state does not decode".into()))
    }

    async fn delete(&self, csrf_token: &str) -> Result<(), AuthError> {
        let key = Self::key(csrf_token);
        let removed = if self.store.capabilities().take {
            self.store
                .take(&self.collection, &key)
                .await
                .map(|v| v.is_some())
        } else {
            self.store.delete(&self.collection, &key).await
        }
        .map_err(store_error("delete state"))?;
        if removed {
            Ok(())
        } else {
            Err(AuthError::AuthorizationFailed(
                "authorization state already used or expired".into(),
            ))
        }
    }
}

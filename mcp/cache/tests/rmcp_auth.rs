//! rmcp's OAuth client stores on the memory backend.
#![cfg(feature = "rmcp-auth")]

use std::sync::Arc;
use std::time::Duration;

use mcp_kv_cache::rmcp::{KvCredentialStore, KvStateStore};
use mcp_kv_core::{DynStore, KvStore, ManualClock};
use mcp_kv_memory::MemoryStore;
use rmcp::transport::auth::{
    CredentialStore, StateStore, StoredAuthorizationState, StoredCredentials,
};

#[tokio::test]
async fn credentials_round_trip_and_clear() {
    let store: DynStore = Arc::new(MemoryStore::new());
    let creds = KvCredentialStore::new(store.clone(), "https://mcp.example/");
    assert!(creds.load().await.unwrap().is_none());
    let c = StoredCredentials::new("client-1".into(), None, vec!["read".into()], Some(42));
    creds.save(c).await.unwrap();
    // A second handle (another process sharing the store) sees them.
    let other = KvCredentialStore::new(store.clone(), "https://mcp.example/");
    let loaded = other.load().await.unwrap().unwrap();
    assert_eq!(loaded.client_id, "client-1");
    assert_eq!(loaded.granted_scopes, vec!["read".to_string()]);
    assert!(KvCredentialStore::new(store.clone(), "another")
        .load()
        .await
        .unwrap()
        .is_none());
    other.clear().await.unwrap();
    assert!(creds.load().await.unwrap().is_none());
    // Garbage is an error, not "no credentials".
    store
        .put(
            "mcp-kv.rmcp-credentials",
            "https://mcp.example/",
            "{".into(),
            None,
        )
        .await
        .unwrap();
    assert!(creds.load().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_guard_is_exclusive_across_handles() {
    let store: DynStore = Arc::new(MemoryStore::new());
    let a = KvCredentialStore::new(store.clone(), "acct").lock_ttl(Duration::from_secs(5));
    let b = KvCredentialStore::new(store.clone(), "acct").lock_ttl(Duration::from_millis(200));
    let guard = a
        .acquire_refresh_guard()
        .await
        .unwrap()
        .expect("memory store has atomics");
    // b waits up to its lock TTL, then gives up.
    assert!(b.acquire_refresh_guard().await.is_err());
    drop(guard);
    // Released on drop (asynchronously).
    let mut got = None;
    for _ in 0..40 {
        if let Ok(Some(g)) = b.acquire_refresh_guard().await {
            got = Some(g);
            break;
        }
    }
    assert!(got.is_some());
}

#[tokio::test]
async fn states_expire_and_are_keyed_by_hash() {
    let clock = ManualClock::new();
    let store: DynStore = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    let states = KvStateStore::new(store.clone()).ttl(Duration::from_secs(60));
    let state: StoredAuthorizationState = serde_json::from_value(serde_json::json!({
        "pkce_verifier": "verifier-secret",
        "csrf_token": "csrf-secret",
        "created_at": 1
    }))
    .unwrap();
    states.save("csrf-secret", state).await.unwrap();
    let keys = store
        .keys("mcp-kv.rmcp-oauth-states", None, 10)
        .await
        .unwrap()
        .keys;
    assert!(keys.iter().all(|k| !k.contains("csrf")), "{keys:?}");
    assert_eq!(
        states
            .load("csrf-secret")
            .await
            .unwrap()
            .unwrap()
            .pkce_verifier,
        "verifier-secret"
    );
    states.delete("csrf-secret").await.unwrap();
    assert!(states.load("csrf-secret").await.unwrap().is_none());
    let state: StoredAuthorizationState = serde_json::from_value(serde_json::json!({
        "pkce_verifier": "v", "csrf_token": "c2", "created_at": 1
    }))
    .unwrap();
    states.save("c2", state).await.unwrap();
    clock.advance(Duration::from_secs(61));
    assert!(
        states.load("c2").await.unwrap().is_none(),
        "abandoned flows expire"
    );
}

//! rmcp's OAuth client stores on the memory backend.
#![cfg(feature = "rmcp-auth")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_cache::rmcp::{KvCredentialStore, KvStateStore};
use mcp_kv_core::testkit::Intercept;
use mcp_kv_core::{DynStore, KvStore, ManualClock, Operation};
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

fn pending_state(csrf: &str) -> StoredAuthorizationState {
    serde_json::from_value(serde_json::json!({
        "pkce_verifier": "verifier-secret",
        "csrf_token": csrf,
        "created_at": 1
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_state_is_consumed_exactly_once() {
    let store: DynStore = Arc::new(MemoryStore::new());
    // rmcp's callback: load, check the issuer, delete (consume), then exchange the code.
    let states = KvStateStore::new(store.clone());
    states
        .save("csrf-1", pending_state("csrf-1"))
        .await
        .unwrap();
    let replica = KvStateStore::new(store.clone());
    assert!(states.load("csrf-1").await.unwrap().is_some());
    assert!(replica.load("csrf-1").await.unwrap().is_some());
    states.delete("csrf-1").await.unwrap();
    assert!(
        matches!(
            replica.delete("csrf-1").await,
            Err(rmcp::transport::auth::AuthError::AuthorizationFailed(_))
        ),
        "a second callback with the same state must not go on to exchange its code"
    );

    // Racing callbacks: exactly one consumes.
    states
        .save("csrf-2", pending_state("csrf-2"))
        .await
        .unwrap();
    let racers = (0..16).map(|_| {
        let s = KvStateStore::new(store.clone());
        tokio::spawn(async move {
            s.load("csrf-2").await.unwrap().is_some() && s.delete("csrf-2").await.is_ok()
        })
    });
    let won = futures::future::join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1);
}

#[tokio::test]
async fn an_overlong_lock_ttl_is_an_error_not_a_panic() {
    let store: DynStore = Arc::new(MemoryStore::new());
    let creds = KvCredentialStore::new(store, "acct").lock_ttl(Duration::MAX);
    assert!(creds.acquire_refresh_guard().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_never_collides_with_another_accounts_credentials() {
    let store: DynStore = Arc::new(MemoryStore::new());
    let a = KvCredentialStore::new(store.clone(), "acct").lock_ttl(Duration::from_millis(200));
    let b = KvCredentialStore::new(store.clone(), "acct.refresh-lock");
    let c = StoredCredentials::new("client-b".into(), None, vec![], None);
    b.save(c).await.unwrap();
    // b's credentials do not hold a's lease...
    let guard = a
        .acquire_refresh_guard()
        .await
        .expect("a's lease is free")
        .expect("memory store has atomics");
    // ... and a's lease does not replace b's credentials.
    assert_eq!(b.load().await.unwrap().unwrap().client_id, "client-b");
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_acquire_releases_the_lease_it_took() {
    // A memory store whose next `put_if_absent` is applied but never answers, as when a
    // caller's timeout drops the request after the server ran it.
    let hang = AtomicBool::new(true);
    let store: DynStore = Arc::new(Intercept::new(Arc::new(MemoryStore::new())).after(
        move |call, _| {
            let hang_now = call.op == Operation::PutIfAbsent && hang.swap(false, Ordering::SeqCst);
            async move {
                if hang_now {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        },
    ));
    let creds = KvCredentialStore::new(store.clone(), "acct").lock_ttl(Duration::from_secs(30));
    // The caller gives up while the store has taken the lease but not answered yet.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), creds.acquire_refresh_guard())
            .await
            .is_err()
    );
    // The lease is released (asynchronously), not held for its 30 s TTL.
    let other = KvCredentialStore::new(store, "acct").lock_ttl(Duration::from_secs(1));
    assert!(other.acquire_refresh_guard().await.unwrap().is_some());
}

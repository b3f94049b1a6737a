//! The OAuth scenarios on the memory backend (manual clock shared by backend and token store),
//! plus the raw-storage scan and the builder's refusals.

mod common;

use std::sync::Arc;

use common::Env;
use mcp_kv_core::{DynStore, ManualClock};
use mcp_kv_memory::MemoryStore;
use mcp_kv_oauth::{OAuthError, TokenStore};

async fn make(test: &str) -> Option<Env> {
    let clock = ManualClock::new();
    let raw: DynStore = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    Some(Env::new("memory", test, raw, clock, true))
}

scenarios!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_storage_holds_no_plaintext_secrets() {
    let env = make("raw_scan").await.unwrap();
    common::raw_storage_holds_no_plaintext_secrets(&env).await;
    env.cleanup().await;
}

#[tokio::test]
async fn building_without_a_key_is_a_config_error() {
    let raw: DynStore = Arc::new(MemoryStore::new());
    assert!(matches!(
        TokenStore::builder(raw.clone()).build(),
        Err(OAuthError::Config(_))
    ));
    assert!(matches!(
        TokenStore::builder(raw.clone())
            .insecure_plaintext_for_tests()
            .code_lifetime(std::time::Duration::ZERO)
            .build(),
        Err(OAuthError::Config(_))
    ));
    assert!(matches!(
        TokenStore::builder(raw.clone())
            .insecure_plaintext_for_tests()
            .clock_skew(std::time::Duration::from_secs(3600))
            .build(),
        Err(OAuthError::Config(_))
    ));
    let store = TokenStore::builder(raw)
        .insecure_plaintext_for_tests()
        .build()
        .unwrap();
    assert!(!store.is_encrypted());
}

#[tokio::test]
async fn registration_refuses_unsafe_redirect_uris() {
    let env = make("registration").await.unwrap();
    for bad in [
        "http://app.example/cb",
        "https://app.example/cb#x",
        "javascript:alert(1)",
        "https://user@app.example/cb",
    ] {
        assert!(matches!(
            env.oauth
                .register_client(mcp_kv_oauth::ClientMetadata::new([bad]))
                .await,
            Err(OAuthError::InvalidRedirectUri(_))
        ));
    }
    assert!(matches!(
        env.oauth
            .register_client(mcp_kv_oauth::ClientMetadata::new(Vec::<String>::new()))
            .await,
        Err(OAuthError::InvalidRedirectUri(_))
    ));
}

//! Regression tests of the second security audit, on the memory backend (some through a
//! wrapper that makes deletes fail, as a backend brown-out or a dropped request would).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mcp_kv_core::testkit::Intercept;
use mcp_kv_core::{DynStore, Error, ErrorKind, ManualClock, Operation};
use mcp_kv_memory::MemoryStore;
use mcp_kv_oauth::{
    pkce_challenge, AuthorizationRequest, ClientMetadata, CodeExchange, EncryptionKey, OAuthError,
    RefreshRequest, TokenPair, TokenStore,
};

const REDIRECT: &str = "http://127.0.0.1:33418/callback";
const MCP: &str = "https://mcp.example/mcp";
const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";
const SUBJECT: &str = "user-42@idp.example";

fn store_over(raw: DynStore, clock: &ManualClock) -> TokenStore {
    TokenStore::builder(raw)
        .encryption_key(EncryptionKey::generate(1))
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn memory() -> TokenStore {
    let clock = ManualClock::new();
    let raw: DynStore = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    store_over(raw, &clock)
}

/// Runs the whole flow for `client_id` with `scopes`, up to the first token pair.
async fn tokens(store: &TokenStore, client_id: &str, scopes: &[&str]) -> TokenPair {
    let request = AuthorizationRequest::new(client_id, REDIRECT, pkce_challenge(VERIFIER), MCP)
        .scopes(scopes.iter().copied());
    let pending = store.begin_authorization(request).await.unwrap();
    let state = pending.state.expose_secret();
    let auth = store.attach_subject(state, SUBJECT).await.unwrap();
    store
        .grant_consent(SUBJECT, client_id, REDIRECT, MCP, &auth.scopes, None)
        .await
        .unwrap();
    let issued = store.complete_authorization(state, None).await.unwrap();
    store
        .exchange_code(CodeExchange::new(
            issued.code,
            client_id,
            REDIRECT,
            VERIFIER,
        ))
        .await
        .unwrap()
}

/// A rotation forgets the key of the generation before the previous one. If that token's
/// best-effort deletes failed at two rotations in a row, it was no longer named anywhere:
/// `revoke` returned and the token still verified.
#[tokio::test]
async fn revoked_family_leaves_no_access_token_after_failed_rotation_deletes() {
    let clock = ManualClock::new();
    // While `fail` is set, every delete in a collection ending with `.access` fails with a
    // temporary error; everything else reaches the memory store.
    let fail = Arc::new(AtomicBool::new(false));
    let failing = fail.clone();
    let faulty = Intercept::new(Arc::new(
        MemoryStore::builder().clock(clock.clone()).build(),
    ))
    .before(move |call| {
        let refuse = failing.load(Ordering::SeqCst)
            && call.op == Operation::Delete
            && call
                .collection
                .as_deref()
                .is_some_and(|c| c.ends_with(".access"));
        async move {
            match refuse {
                true => Err(
                    Error::new(ErrorKind::Unavailable, "injected delete failure")
                        .set_temporary(true),
                ),
                false => Ok(()),
            }
        }
    });
    let store = store_over(Arc::new(faulty), &clock);
    let client = store
        .register_client(ClientMetadata::new([REDIRECT]))
        .await
        .unwrap();
    let id = &client.client_id;
    let gen0 = tokens(&store, id, &["tools:call"]).await;

    fail.store(true, Ordering::SeqCst);
    // Rotation 0 → 1: the delete of access token 0 fails (best effort: the refresh succeeds).
    let gen1 = store
        .refresh(RefreshRequest::new(gen0.refresh_token.clone(), id))
        .await
        .unwrap();
    // Rotation 1 → 2 while deletes still fail: it may refuse (a temporary error, nothing
    // rotated), or succeed — but never forget a live access token.
    let gen2 = match store
        .refresh(RefreshRequest::new(gen1.refresh_token.clone(), id))
        .await
    {
        Ok(pair) => pair,
        Err(e) => {
            assert_eq!(e.error_code(), "temporarily_unavailable", "{e}");
            fail.store(false, Ordering::SeqCst);
            store
                .refresh(RefreshRequest::new(gen1.refresh_token.clone(), id))
                .await
                .unwrap()
        }
    };
    fail.store(false, Ordering::SeqCst);

    assert!(store
        .revoke(gen2.refresh_token.expose_secret())
        .await
        .unwrap());
    for (name, pair) in [("gen0", &gen0), ("gen1", &gen1), ("gen2", &gen2)] {
        assert!(
            store
                .verify_access(pair.access_token.expose_secret(), MCP)
                .await
                .is_err(),
            "{name}'s access token still verifies after revoke returned"
        );
    }
}

/// A deleted public client (no secret to fail authentication with) kept rotating its refresh
/// tokens, for ever.
#[tokio::test]
async fn refresh_is_refused_once_the_client_is_deleted() {
    let store = memory();
    let client = store
        .register_client(ClientMetadata::new([REDIRECT]))
        .await
        .unwrap();
    let id = &client.client_id;
    let pair = tokens(&store, id, &["tools:call"]).await;
    assert!(store.delete_client(id).await.unwrap());
    assert!(matches!(
        store
            .refresh(RefreshRequest::new(pair.refresh_token.clone(), id))
            .await,
        Err(OAuthError::InvalidClient(_))
    ));
}

/// Narrowing a client's scopes did not narrow its grants: refresh went on minting tokens with
/// the scopes it may no longer ask for.
#[tokio::test]
async fn refresh_is_held_to_the_clients_current_scopes() {
    let store = memory();
    let client = store
        .register_client(ClientMetadata::new([REDIRECT]).scopes(["tools:call", "tools:read"]))
        .await
        .unwrap();
    let id = &client.client_id;
    let pair = tokens(&store, id, &["tools:call", "tools:read"]).await;
    store
        .update_client(id, ClientMetadata::new([REDIRECT]).scopes(["tools:read"]))
        .await
        .unwrap();
    assert!(matches!(
        store
            .refresh(RefreshRequest::new(pair.refresh_token.clone(), id))
            .await,
        Err(OAuthError::InvalidScope(_))
    ));
    // Asking for what is still allowed works (nothing was burned by the refusal).
    let narrowed = store
        .refresh(RefreshRequest::new(pair.refresh_token.clone(), id).scopes(["tools:read"]))
        .await
        .unwrap();
    assert_eq!(narrowed.scopes, vec!["tools:read"]);
}

/// The same for a code issued before the narrowing.
#[tokio::test]
async fn code_is_held_to_the_clients_current_scopes() {
    let store = memory();
    let client = store
        .register_client(ClientMetadata::new([REDIRECT]).scopes(["tools:call", "tools:read"]))
        .await
        .unwrap();
    let id = &client.client_id;
    let request = AuthorizationRequest::new(id, REDIRECT, pkce_challenge(VERIFIER), MCP)
        .scopes(["tools:call"]);
    let pending = store.begin_authorization(request).await.unwrap();
    let state = pending.state.expose_secret();
    let auth = store.attach_subject(state, SUBJECT).await.unwrap();
    store
        .grant_consent(SUBJECT, id, REDIRECT, MCP, &auth.scopes, None)
        .await
        .unwrap();
    let issued = store.complete_authorization(state, None).await.unwrap();
    store
        .update_client(id, ClientMetadata::new([REDIRECT]).scopes(["tools:read"]))
        .await
        .unwrap();
    assert!(matches!(
        store
            .exchange_code(CodeExchange::new(issued.code, id, REDIRECT, VERIFIER))
            .await,
        Err(OAuthError::InvalidScope(_))
    ));
}

/// `update_client` could turn a public client "confidential" without giving it a secret:
/// `authenticate_client` then accepted it with no secret while its metadata said confidential.
#[tokio::test]
async fn update_cannot_change_a_clients_type() {
    let store = memory();
    let public = store
        .register_client(ClientMetadata::new([REDIRECT]))
        .await
        .unwrap();
    assert!(matches!(
        store
            .update_client(
                &public.client_id,
                ClientMetadata::new([REDIRECT]).confidential()
            )
            .await,
        Err(OAuthError::InvalidRequest(_))
    ));
    let authenticated = store
        .authenticate_client(&public.client_id, None)
        .await
        .unwrap();
    assert!(!authenticated.metadata.confidential);

    let confidential = store
        .register_client(ClientMetadata::new([REDIRECT]).confidential())
        .await
        .unwrap();
    assert!(matches!(
        store
            .update_client(&confidential.client_id, ClientMetadata::new([REDIRECT]))
            .await,
        Err(OAuthError::InvalidRequest(_))
    ));
    // Other changes still go through.
    let renamed = store
        .update_client(
            &confidential.client_id,
            ClientMetadata::new([REDIRECT])
                .confidential()
                .name("renamed"),
        )
        .await
        .unwrap();
    assert_eq!(renamed.metadata.client_name.as_deref(), Some("renamed"));
}

/// A redirect URI with CR LF passed validation (the URL parser drops them) and was stored as
/// is, ready to split the response of a transport that puts it in a `Location` header.
#[tokio::test]
async fn registration_refuses_redirect_uris_with_control_characters() {
    let store = memory();
    assert!(matches!(
        store
            .register_client(ClientMetadata::new([
                "https://app.example/cb\r\nSet-Cookie: session=attacker"
            ]))
            .await,
        Err(OAuthError::InvalidRedirectUri(_))
    ));
}

//! # mcp-kv-oauth
//!
//! The storage and security core of an MCP server's OAuth layer, on any mcp-kv backend: client
//! registrations, pending authorizations, consent records, one-time authorization codes,
//! upstream identity-provider tokens (encrypted), and the opaque access and refresh tokens
//! issued to MCP clients — stored only as hashes, bound to client and audience, rotated with
//! reuse detection, revocable at once. Transport-independent: no HTTP in it; an OAuth proxy
//! or authorization server calls one method per step.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_oauth::{
//!     pkce_challenge, AuthorizationRequest, ClientMetadata, CodeExchange, OAuthError,
//!     RefreshRequest, TokenStore, UpstreamTokens,
//! };
//! use mcp_kv_wrappers::encryption::EncryptionKey;
//!
//! const MCP: &str = "https://mcp.example/mcp"; // this server: the tokens' audience
//!
//! // At server start: one store for every replica, with an encryption key (required).
//! let store = TokenStore::builder(Arc::new(MemoryStore::new()))
//!     .encryption_key(EncryptionKey::generate(1))
//!     .build()?;
//!
//! // 1. Dynamic client registration: exact redirect URIs, https or loopback http.
//! let client = store
//!     .register_client(ClientMetadata::new(["http://127.0.0.1:33418/callback"]))
//!     .await?;
//!
//! // 2. /authorize: PKCE S256 and the RFC 8707 resource are mandatory.
//! let verifier = "a-client-side-secret-verifier-of-at-least-43-characters";
//! let request = AuthorizationRequest::new(
//!     &client.client_id,
//!     "http://127.0.0.1:33418/callback",
//!     pkce_challenge(verifier),
//!     MCP,
//! )
//! .scopes(["tools:call"])
//! .client_state("client-xyz");
//! let pending = store.begin_authorization(request).await?;
//! // ... redirect to the upstream identity provider with `pending.state` ...
//!
//! // 3. Upstream callback: the user is known, consent is asked once and remembered.
//! let state = pending.state.expose_secret();
//! let auth = store.attach_subject(state, "user-42").await?;
//! let (cid, redirect, resource) = (&auth.client_id, &auth.redirect_uri, &auth.resource);
//! if !store.has_consent("user-42", cid, redirect, resource, &auth.scopes).await? {
//!     // ... show the consent page; on approval:
//!     store.grant_consent("user-42", cid, redirect, resource, &auth.scopes, None).await?;
//! }
//! let upstream = UpstreamTokens::new("upstream-idp-access-token");
//! let issued = store.complete_authorization(state, Some(upstream)).await?;
//! assert_eq!(issued.client_state.as_deref(), Some("client-xyz"));
//!
//! // 4. /token: the code is single-use and bound to client, redirect URI, verifier, resource.
//! let tokens = store
//!     .exchange_code(CodeExchange::new(
//!         issued.code.clone(),
//!         &client.client_id,
//!         "http://127.0.0.1:33418/callback",
//!         verifier,
//!     ))
//!     .await?;
//! let again = CodeExchange::new(issued.code, &client.client_id, &issued.redirect_uri, verifier);
//! assert!(matches!(store.exchange_code(again).await, Err(OAuthError::InvalidGrant(_))));
//!
//! // 5. Every MCP request: one store read, audience checked.
//! let grant = store.verify_access(tokens.access_token.expose_secret(), MCP).await?;
//! assert_eq!(grant.subject, "user-42");
//! assert!(matches!(
//!     store.verify_access(tokens.access_token.expose_secret(), "https://other.example").await,
//!     Err(OAuthError::AudienceMismatch)
//! ));
//! // Upstream tokens stay on the server side.
//! let upstream = store.upstream_tokens(&grant).await?.unwrap();
//! assert_eq!(upstream.access_token.expose_secret(), "upstream-idp-access-token");
//!
//! // 6. Refresh rotates: a new pair, the old access token stops verifying.
//! let rotated = store
//!     .refresh(RefreshRequest::new(tokens.refresh_token.clone(), &client.client_id))
//!     .await?;
//! assert!(store.verify_access(rotated.access_token.expose_secret(), MCP).await.is_ok());
//! assert!(store.verify_access(tokens.access_token.expose_secret(), MCP).await.is_err());
//!
//! // 7. Revocation (RFC 7009) ends the whole grant family at once.
//! assert!(store.revoke(rotated.access_token.expose_secret()).await?);
//! assert!(store.verify_access(rotated.access_token.expose_secret(), MCP).await.is_err());
//! let next = RefreshRequest::new(rotated.refresh_token, &client.client_id);
//! assert!(matches!(store.refresh(next).await, Err(OAuthError::Revoked(_))));
//! # Ok::<(), OAuthError>(())
//! # }).unwrap();
//! ```
//!
//! ## What is stored, and how
//!
//! Every record is JSON sealed by [`mcp_kv_wrappers::encryption::Encryption`]
//! (XChaCha20-Poly1305, associated data = collection and key): building a [`TokenStore`]
//! without a keyring is an [`OAuthError::Config`] error unless
//! [`insecure_plaintext_for_tests`](TokenStoreBuilder::insecure_plaintext_for_tests) is called.
//! Secrets handed out (codes, access and refresh tokens, pending states, client secrets) are
//! 256 bits from the thread-local CSPRNG (`rand::rng()`), prefixed by their kind, and never
//! stored: their storage key is `hex(SHA-256(domain ‖ 0 ‖ secret))`, with one domain per kind.
//!
//! **Rotating the encryption key across replicas**: give every replica the new key as an *old*
//! key first, and make it active only once all of them hold it. A replica that meets a record
//! sealed under a key it does not hold refuses it — and a one-time record (a code, a pending
//! authorization) is burned as it is refused, so a replica lagging behind a rotation would
//! cost users their logins in progress.
//!
//! | collection (`<prefix>.` …) | key | value | TTL |
//! |---|---|---|---|
//! | `clients` | client id | registration, hash of the client secret | none |
//! | `pending` | hash(state) | client, redirect URI, PKCE challenge, scopes, resource, client state, subject | 15 min |
//! | `consents` | hash(subject, client, redirect URI, resource, scopes) | the same, with expiry | consent lifetime (30 d) |
//! | `codes` | hash(code) | client, redirect URI, PKCE challenge, resource, subject, scopes, upstream id | 5 min |
//! | `upstream` | random id | upstream access/refresh token | max(access, refresh lifetime, 1 s); a lifetime the upstream did not give counts as the refresh-token lifetime |
//! | `access` | hash(access token) | family, generation, client, subject, scopes, audience, expiry | access lifetime (1 h) |
//! | `refresh` | hash(refresh token) | family, generation, client, expiry | refresh lifetime (30 d) |
//! | `families` | family id | generation, current refresh hash, current and previous access hash, revoked flag | refresh lifetime |
//!
//! Storage TTLs are the lifetime plus the clock-skew allowance plus
//! [`EXPIRED_REPORT_GRACE`](config::EXPIRED_REPORT_GRACE), so a late use reads the record and
//! is told [`OAuthError::Expired`]; expiry itself is decided from the record's own timestamp
//! and the store's clock. No TTL arithmetic can yield zero or a negative duration (lifetimes
//! are checked non-zero at build time; sums saturate and are clamped to `1 ms..=100 years`).
//!
//! ### One read per `verify_access`, revocation included
//!
//! The access record carries every binding — client, subject, scopes, audience, expiry — so
//! [`TokenStore::verify_access`] is one `get`. Revocation is made visible to that single read
//! by **deleting** access records rather than flagging the family: the family record names its
//! current access token and the previous one (deleted right after rotation, best-effort), a
//! rotation makes sure the one before the previous is gone before it swaps the family — so no
//! access token of a family lives unnamed even when those deletes fail — and
//! [`revoke_family`](TokenStore::revoke_family) deletes those, then marks the family revoked
//! with `compare_and_swap`, retrying if a rotation moved the family meanwhile. A rotation that
//! loses its `compare_and_swap` to a revocation deletes the access record it had just written
//! (no client ever saw that token). When `revoke` returns, no access token of the family
//! verifies.
//!
//! ### Refresh rotation
//!
//! Each refresh record names its family and generation; the family names the one refresh
//! token usable next. [`TokenStore::refresh`] checks the client is still registered and still
//! allowed the scopes, deletes the access token of the generation before the previous one
//! (refusing to rotate if that fails), writes the next generation's tokens, then swaps the
//! family record (`compare_and_swap` on its exact bytes) and deletes the previous access
//! token. A refresh token of an older generation is reuse — the family is revoked. Two
//! concurrent presentations of one refresh token: one swap wins, the other sees the family
//! moved and revokes it too (one of the two presenters may be an attacker; OAuth 2.1 §4.3.1).
//!
//! ## Threat model
//!
//! Each attack, the defence, and the test that proves it (in `tests/`, run on the memory,
//! SQLite, Redis and DynamoDB backends: `memory::<name>`, `sqlite::<name>`, `redis::<name>`,
//! `dynamodb::<name>`; tests named `grant_lifecycle::<name>` run on the memory backend
//! only).
//!
//! | attack | defence | test |
//! |---|---|---|
//! | **Confused deputy** — a code issued to client A is redeemed by client B, or sent to another redirect URI | the code record binds client id and redirect URI (exact string); a mismatch is refused **after** the atomic `take`, so the code is burned | `confused_deputy_other_client_is_rejected_and_burns_code`, `confused_deputy_other_redirect_is_rejected_and_burns_code` |
//! | **Token passthrough** — upstream IdP tokens reach the MCP client, or a client presents an upstream token to the MCP server | token responses ([`TokenPair`]) carry only this server's opaque tokens; upstream tokens live encrypted in their own collection, readable only through [`TokenStore::upstream_tokens`] from a verified grant; `verify_access` accepts only `mcpat_` tokens it issued | `token_passthrough_upstream_tokens_stay_server_side` |
//! | **Code replay** — a code redeemed twice, concurrently, across replicas | atomic `take` of the code record (linearizable per key on every backend); wrong verifier burns it too | `code_replay_32_concurrent_redemptions_exactly_one_wins`, `wrong_pkce_verifier_is_rejected_and_burns_code` |
//! | **Refresh replay** — a stolen refresh token used after the client rotated it | rotation by `compare_and_swap` on the grant family; an older generation revokes the family and deletes its access tokens | `refresh_reuse_revokes_the_family`, `concurrent_refresh_rotates_once` |
//! | **Storage theft** — an attacker reads the backend (dump, backup, replica) | tokens, codes, states and client secrets stored only as SHA-256 hashes of 256-bit secrets; every record encrypted; upstream tokens only in ciphertext | `raw_storage_holds_no_plaintext_secrets` |
//! | **Storage tampering** — an attacker edits or moves stored records | AEAD bound to collection and key: an edited or moved record is a `Decryption` error, never accepted; each record also names its own key; a one-time record (code, pending authorization) that does not open is burned as it is refused | `tampered_records_are_rejected` |
//! | **Cross-client use** — client B uses (or revokes) client A's refresh token; an access token used as a refresh token or the reverse | refresh and access records bind the client id, checked at refresh and by `revoke_for_client` (RFC 7009 §2.1); access and refresh tokens have distinct prefixes, hash domains and collections | `cross_client_refresh_is_rejected`, `access_and_refresh_tokens_are_not_interchangeable` |
//! | **Audience confusion** — a token for MCP server X replayed at server Y | audience (RFC 8707 resource) bound at authorization, checked at exchange, refresh and in `verify_access` | `audience_x_token_is_rejected_for_y` |
//! | **Late use** — an expired code or token | expiry from the record's timestamp and the store's clock (skew allowance configurable), typed [`OAuthError::Expired`] | `expired_code_and_tokens_are_rejected` |
//! | **Stolen token after logout** — a client or user ends a grant, the tokens keep working | `revoke` deletes the family's access tokens before marking it revoked (one-read `verify_access` sees it at once), refresh tokens of a revoked family are refused, upstream tokens deleted and never written back by a late `replace_upstream_tokens`; an access token may not outlive its family (lifetimes checked at build) | `full_flow_register_to_revoke`, `token_passthrough_upstream_tokens_stay_server_side` |
//! | **Registration changed under a grant** — a client is deleted, its scopes narrowed, or it turns itself from public to confidential | pending authorizations, codes and refresh are checked against the registration as it is now (client exists, redirect URI registered, scopes still allowed); a deleted client's refresh tokens are refused, its access tokens end with their lifetime; `update_client` refuses to change the client type (its secret, or its absence, was fixed at registration) | `grant_lifecycle::refresh_is_refused_once_the_client_is_deleted`, `grant_lifecycle::refresh_is_held_to_the_clients_current_scopes`, `grant_lifecycle::code_is_held_to_the_clients_current_scopes`, `grant_lifecycle::update_cannot_change_a_clients_type` |
//! | **Revocation after storage faults** — the best-effort deletes of rotated-out access tokens fail at two rotations in a row, leaving a token no family names | a rotation deletes the token before the previous one before it swaps the family, and refuses (temporarily) if it cannot: at most the current and previous access tokens of a family are live, and `revoke_family` deletes both | `grant_lifecycle::revoked_family_leaves_no_access_token_after_failed_rotation_deletes` |
//! | **Response splitting through a redirect URI** — a registered redirect URI carrying CR LF, which the URL parser drops but the stored string keeps, ends up in a `Location` header | redirect URIs with whitespace or ASCII control characters are refused at registration | `grant_lifecycle::registration_refuses_redirect_uris_with_control_characters` |
//! | **Leaks through logs** — secrets in `Debug`, errors or logs | [`Secret`] redacts `Debug`, has no `Display`, zeroizes on drop; error messages name checks, never values | `debug_and_errors_never_show_secrets` |
//!
//! Not covered here (the transport's job): authenticating confidential clients before the
//! token endpoint (use [`TokenStore::authenticate_client`]), CSRF on the consent page, TLS.

#![forbid(unsafe_code)]

mod client;
pub mod config;
mod crypto;
mod error;
mod records;
mod request;
mod secret;
mod store;

pub use client::{
    validate_redirect_uri, ClientCredentials, ClientMetadata, RegisteredClient, MAX_REDIRECT_URIS,
    MAX_REDIRECT_URI_BYTES,
};
pub use config::{Lifetimes, TokenStoreBuilder};
pub use crypto::pkce_challenge;
pub use error::{OAuthError, Result};
pub use records::{
    AccessGrant, AuthorizationHandle, IssuedCode, PendingAuthorization, TokenPair, UpstreamTokens,
};
pub use request::{AuthorizationRequest, CodeExchange, RefreshRequest};
pub use secret::Secret;
pub use store::TokenStore;

/// The encryption keys a [`TokenStore`] needs, re-exported from
/// [`mcp_kv_wrappers::encryption`] so that callers need not depend on that crate.
pub use mcp_kv_wrappers::encryption::{EncryptionKey, Keyring};

#[cfg(test)]
mod static_checks {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_sync() {
        send_sync::<crate::TokenStore>();
        send_sync::<crate::OAuthError>();
        send_sync::<crate::Secret>();
        send_sync::<crate::TokenPair>();
        send_sync::<crate::AccessGrant>();
        send_sync::<crate::UpstreamTokens>();
    }
}

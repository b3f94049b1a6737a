//! Scenarios shared by every backend's test file: each backend provides an [`Env`] maker and
//! calls [`scenarios!`], which defines one `#[tokio::test]` per scenario, named alike.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mcp_kv_core::{Bytes, DynStore, ErrorKind, KvStore, ManualClock};
use mcp_kv_oauth::{
    pkce_challenge, AuthorizationRequest, ClientCredentials, ClientMetadata, CodeExchange,
    IssuedCode, OAuthError, RefreshRequest, TokenPair, TokenStore, UpstreamTokens,
};
use mcp_kv_wrappers::encryption::{EncryptionKey, Keyring};

pub const REDIRECT: &str = "http://127.0.0.1:33418/callback";
pub const OTHER_REDIRECT: &str = "https://app.example/callback";
pub const MCP: &str = "https://mcp.example/mcp";
pub const OTHER_MCP: &str = "https://other-mcp.example/mcp";
pub const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";
pub const WRONG_VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFH";
pub const SUBJECT: &str = "user-42@idp.example";
pub const UPSTREAM_ACCESS: &str = "upstream-access-token-Zq8xV3mN7pR2";
pub const UPSTREAM_REFRESH: &str = "upstream-refresh-token-Kd4sW9bT1yL6";

/// One test's world: the raw backend, two token stores over it (two replicas sharing the
/// keyring), and the manual clock of the token stores (and of the backend when it takes one).
pub struct Env {
    pub backend: &'static str,
    pub raw: DynStore,
    pub oauth: TokenStore,
    pub replica: TokenStore,
    pub clock: ManualClock,
    pub prefix: String,
    pub keyring: Keyring,
    /// Whether the backend expires entries by the same manual clock.
    pub backend_uses_clock: bool,
    /// Whatever must live as long as the env (a temporary directory).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Env {
    /// Builds an env over `raw`, with a collection prefix unique to this test (so tests can
    /// share one Redis server or SQLite file).
    pub fn new(
        backend: &'static str,
        test: &str,
        raw: DynStore,
        clock: ManualClock,
        backend_uses_clock: bool,
    ) -> Env {
        let short: String = test.chars().take(32).collect();
        let prefix = format!("oauth-{short}-{:08x}", rand_u32());
        let keyring = Keyring::new(EncryptionKey::generate(7));
        let build = || {
            TokenStore::builder(raw.clone())
                .keyring(keyring.clone())
                .clock(clock.clone())
                .collection_prefix(prefix.clone())
                .build()
                .expect("token store builds")
        };
        Env {
            backend,
            oauth: build(),
            replica: build(),
            raw,
            clock,
            prefix,
            keyring,
            backend_uses_clock,
            guard: None,
        }
    }

    pub async fn client(&self) -> ClientCredentials {
        self.oauth
            .register_client(
                ClientMetadata::new([REDIRECT, OTHER_REDIRECT])
                    .scopes(["tools:call", "tools:read"]),
            )
            .await
            .expect("register")
    }

    /// Runs authorize → subject → consent → complete for `client_id`, returning the code.
    pub async fn code_for(
        &self,
        client_id: &str,
        resource: &str,
        upstream: Option<UpstreamTokens>,
    ) -> IssuedCode {
        let req =
            AuthorizationRequest::new(client_id, REDIRECT, pkce_challenge(VERIFIER), resource)
                .scopes(["tools:call"])
                .client_state("client-state-1");
        let pending = self.oauth.begin_authorization(req).await.expect("begin");
        let state = pending.state.expose_secret();
        let auth = self
            .oauth
            .attach_subject(state, SUBJECT)
            .await
            .expect("attach subject");
        if !self
            .oauth
            .has_consent(
                SUBJECT,
                &auth.client_id,
                &auth.redirect_uri,
                &auth.resource,
                &auth.scopes,
            )
            .await
            .expect("has consent")
        {
            self.oauth
                .grant_consent(
                    SUBJECT,
                    &auth.client_id,
                    &auth.redirect_uri,
                    &auth.resource,
                    &auth.scopes,
                    None,
                )
                .await
                .expect("consent");
        }
        self.oauth
            .complete_authorization(state, upstream)
            .await
            .expect("complete")
    }

    pub fn exchange(&self, code: &IssuedCode, client_id: &str) -> CodeExchange {
        CodeExchange::new(code.code.clone(), client_id, REDIRECT, VERIFIER)
    }

    pub async fn tokens_for(&self, client_id: &str) -> TokenPair {
        let code = self.code_for(client_id, MCP, Some(upstream())).await;
        self.oauth
            .exchange_code(self.exchange(&code, client_id))
            .await
            .expect("exchange")
    }

    /// Every (collection, key, value) of this test's collections, read from the raw backend.
    pub async fn raw_entries(&self) -> Vec<(String, String, Bytes)> {
        let mut out = Vec::new();
        for collection in self.raw.collections().await.expect("collections") {
            if !collection.starts_with(&self.prefix) {
                continue;
            }
            let mut cursor = None;
            loop {
                let page = self.raw.keys(&collection, cursor, 100).await.expect("keys");
                for key in page.keys {
                    if let Some(v) = self.raw.get(&collection, &key).await.expect("get") {
                        out.push((collection.clone(), key, v));
                    }
                }
                match page.next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        out
    }

    /// The single raw key of a collection (`<prefix>.<name>`), when it holds exactly one.
    pub async fn only_key(&self, name: &str) -> (String, String) {
        let collection = format!("{}.{name}", self.prefix);
        let page = self.raw.keys(&collection, None, 10).await.expect("keys");
        assert_eq!(page.keys.len(), 1, "{collection} should hold one record");
        (collection, page.keys[0].clone())
    }

    /// Removes everything this test wrote (its collections all start with its prefix).
    pub async fn cleanup(&self) {
        for collection in self.raw.collections().await.expect("collections") {
            if collection.starts_with(&self.prefix) {
                self.raw.clear(&collection).await.expect("clear");
            }
        }
    }

    /// Advances the clock by `by`.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

pub fn upstream() -> UpstreamTokens {
    UpstreamTokens::new(UPSTREAM_ACCESS)
        .refresh_token(UPSTREAM_REFRESH)
        .access_expires_in(Duration::from_secs(3600))
        .refresh_expires_in(Duration::from_secs(86400))
        .scopes(["openid", "email"])
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The forms a secret could leak in: the string, its random part, the decoded random bytes.
fn needles(secret: &str) -> Vec<Vec<u8>> {
    let mut out = vec![secret.as_bytes().to_vec()];
    if let Some((_, random)) = secret.split_once('_') {
        out.push(random.as_bytes().to_vec());
        if let Ok(raw) = URL_SAFE_NO_PAD.decode(random) {
            out.push(raw);
        }
    }
    out
}

/// Panics if any secret appears in `haystack` (in any form of [`needles`]).
pub fn assert_absent(haystack: &[u8], secrets: &[(&str, &str)], place: &str) {
    for (what, secret) in secrets {
        for needle in needles(secret) {
            assert!(
                !contains(haystack, &needle),
                "{what} found in plaintext in {place}"
            );
        }
    }
}

// ---- scenarios ------------------------------------------------------------------------------

/// register → authorize → consent → code → tokens → verify → refresh → revoke.
pub async fn full_flow_register_to_revoke(env: &Env) {
    let s = &env.oauth;
    let client = env.client().await;
    assert!(client.client_secret.is_none());
    let registered = s.get_client(&client.client_id).await.unwrap().unwrap();
    assert_eq!(
        registered.metadata.redirect_uris,
        vec![REDIRECT, OTHER_REDIRECT]
    );

    // Authorize: pending record, visible to the consent page, subject attached once.
    let req = AuthorizationRequest::new(&client.client_id, REDIRECT, pkce_challenge(VERIFIER), MCP)
        .scopes(["tools:call", "tools:read"])
        .client_state("xyz");
    let pending = s.begin_authorization(req).await.unwrap();
    let state = pending.state.expose_secret().to_string();
    let view = s.pending_authorization(&state).await.unwrap();
    assert_eq!(view.subject, None);
    assert_eq!(view.scopes, vec!["tools:call", "tools:read"]);
    let view = env.replica.attach_subject(&state, SUBJECT).await.unwrap();
    assert_eq!(view.subject.as_deref(), Some(SUBJECT));
    assert!(matches!(
        s.attach_subject(&state, "someone-else").await,
        Err(OAuthError::InvalidGrant(_))
    ));

    // Consent: required, exact, remembered.
    assert!(matches!(
        s.complete_authorization(&state, None).await,
        Err(OAuthError::ConsentRequired)
    ));
    assert!(!s
        .has_consent(SUBJECT, &client.client_id, REDIRECT, MCP, &view.scopes)
        .await
        .unwrap());
    s.grant_consent(
        SUBJECT,
        &client.client_id,
        REDIRECT,
        MCP,
        &["tools:call".to_string()],
        None,
    )
    .await
    .unwrap();
    assert!(matches!(
        s.complete_authorization(&state, None).await,
        Err(OAuthError::ConsentRequired)
    ));
    s.grant_consent(
        SUBJECT,
        &client.client_id,
        REDIRECT,
        MCP,
        &view.scopes,
        None,
    )
    .await
    .unwrap();
    // A consent names its resource: the same client asking for another MCP server asks again.
    assert!(!s
        .has_consent(
            SUBJECT,
            &client.client_id,
            REDIRECT,
            OTHER_MCP,
            &view.scopes
        )
        .await
        .unwrap());
    assert!(s
        .has_consent(SUBJECT, &client.client_id, REDIRECT, MCP, &view.scopes)
        .await
        .unwrap());

    // Code.
    let code = s
        .complete_authorization(&state, Some(upstream()))
        .await
        .unwrap();
    assert_eq!(code.redirect_uri, REDIRECT);
    assert_eq!(code.client_state.as_deref(), Some("xyz"));
    assert!(matches!(
        s.complete_authorization(&state, None).await,
        Err(OAuthError::InvalidGrant(_))
    ));

    // Tokens (on the other replica).
    let pair = env
        .replica
        .exchange_code(env.exchange(&code, &client.client_id).resource(MCP))
        .await
        .unwrap();
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.audience, MCP);
    assert_ne!(pair.access_token, pair.refresh_token);

    // Verify.
    let grant = s
        .verify_access(pair.access_token.expose_secret(), MCP)
        .await
        .unwrap();
    assert_eq!(grant.client_id, client.client_id);
    assert_eq!(grant.subject, SUBJECT);
    assert!(grant.has_scope("tools:read"));
    let up = s.upstream_tokens(&grant).await.unwrap().unwrap();
    assert_eq!(up.access_token.expose_secret(), UPSTREAM_ACCESS);
    assert_eq!(up.refresh_token.unwrap().expose_secret(), UPSTREAM_REFRESH);

    // Refresh, narrowing scopes.
    let rotated = s
        .refresh(
            RefreshRequest::new(pair.refresh_token.clone(), &client.client_id)
                .scopes(["tools:call"]),
        )
        .await
        .unwrap();
    assert_eq!(rotated.scopes, vec!["tools:call"]);
    let g2 = env
        .replica
        .verify_access(rotated.access_token.expose_secret(), MCP)
        .await
        .unwrap();
    assert!(!g2.has_scope("tools:read"));
    assert_eq!(g2.family_id, grant.family_id);
    assert!(matches!(
        s.verify_access(pair.access_token.expose_secret(), MCP)
            .await,
        Err(OAuthError::InvalidToken(_))
    ));
    // Widening is refused.
    assert!(matches!(
        s.refresh(
            RefreshRequest::new(rotated.refresh_token.clone(), &client.client_id).scopes(["admin"])
        )
        .await,
        Err(OAuthError::InvalidScope(_))
    ));

    // Revoke: the family ends at once, upstream tokens are gone.
    assert!(s
        .revoke(rotated.refresh_token.expose_secret())
        .await
        .unwrap());
    assert!(matches!(
        s.verify_access(rotated.access_token.expose_secret(), MCP)
            .await,
        Err(OAuthError::InvalidToken(_))
    ));
    assert!(matches!(
        s.refresh(RefreshRequest::new(
            rotated.refresh_token.clone(),
            &client.client_id
        ))
        .await,
        Err(OAuthError::Revoked(_))
    ));
    assert!(s.upstream_tokens(&g2).await.unwrap().is_none());
    assert!(!s.revoke("mcpat_not-a-token").await.unwrap());

    // Client lifecycle: a code issued before the client dropped its redirect URI, or was
    // deleted, is refused at redemption (and burned).
    let before_update = env.code_for(&client.client_id, MCP, None).await;
    let updated = s
        .update_client(
            &client.client_id,
            ClientMetadata::new([OTHER_REDIRECT]).name("renamed"),
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata.client_name.as_deref(), Some("renamed"));
    assert!(matches!(
        s.exchange_code(env.exchange(&before_update, &client.client_id))
            .await,
        Err(OAuthError::InvalidRedirectUri(_))
    ));
    s.update_client(&client.client_id, ClientMetadata::new([REDIRECT]))
        .await
        .unwrap();
    let before_delete = env.code_for(&client.client_id, MCP, None).await;
    assert!(s.delete_client(&client.client_id).await.unwrap());
    assert!(s.get_client(&client.client_id).await.unwrap().is_none());
    assert!(matches!(
        s.exchange_code(env.exchange(&before_delete, &client.client_id))
            .await,
        Err(OAuthError::InvalidClient(_))
    ));
}

/// A code issued to client A, redeemed by client B: rejected, and the code is burned.
pub async fn confused_deputy_other_client_is_rejected_and_burns_code(env: &Env) {
    let a = env.client().await;
    let b = env.client().await;
    let code = env.code_for(&a.client_id, MCP, None).await;
    let err = env
        .oauth
        .exchange_code(env.exchange(&code, &b.client_id))
        .await
        .unwrap_err();
    assert!(matches!(err, OAuthError::InvalidClient(_)), "{err}");
    // Burned: the rightful client cannot use it either.
    let err = env
        .replica
        .exchange_code(env.exchange(&code, &a.client_id))
        .await
        .unwrap_err();
    assert!(matches!(err, OAuthError::InvalidGrant(_)), "{err}");
    // Authorizing B with A's redirect URI that B did not register is refused up front.
    let c = env
        .oauth
        .register_client(ClientMetadata::new([OTHER_REDIRECT]))
        .await
        .unwrap();
    let req = AuthorizationRequest::new(&c.client_id, REDIRECT, pkce_challenge(VERIFIER), MCP);
    assert!(matches!(
        env.oauth.begin_authorization(req).await,
        Err(OAuthError::InvalidRedirectUri(_))
    ));
}

/// A code redeemed with another (even registered) redirect URI: rejected and burned.
pub async fn confused_deputy_other_redirect_is_rejected_and_burns_code(env: &Env) {
    let a = env.client().await;
    let code = env.code_for(&a.client_id, MCP, None).await;
    let wrong = CodeExchange::new(code.code.clone(), &a.client_id, OTHER_REDIRECT, VERIFIER);
    assert!(matches!(
        env.oauth.exchange_code(wrong).await,
        Err(OAuthError::InvalidRedirectUri(_))
    ));
    assert!(matches!(
        env.oauth
            .exchange_code(env.exchange(&code, &a.client_id))
            .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    // Near-misses of a registered URI are not registered URIs.
    for near in [
        "http://127.0.0.1:33418/callback/",
        "http://127.0.0.1:33418/callback?x=1",
        "http://localhost:33418/callback",
    ] {
        let req = AuthorizationRequest::new(&a.client_id, near, pkce_challenge(VERIFIER), MCP);
        assert!(matches!(
            env.oauth.begin_authorization(req).await,
            Err(OAuthError::InvalidRedirectUri(_))
        ));
    }
}

/// A token for audience X is rejected by Y; a code for X cannot be exchanged for Y; a refresh
/// cannot move a grant to Y.
pub async fn audience_x_token_is_rejected_for_y(env: &Env) {
    let a = env.client().await;
    let pair = env.tokens_for(&a.client_id).await;
    assert!(env
        .oauth
        .verify_access(pair.access_token.expose_secret(), MCP)
        .await
        .is_ok());
    assert!(matches!(
        env.oauth
            .verify_access(pair.access_token.expose_secret(), OTHER_MCP)
            .await,
        Err(OAuthError::AudienceMismatch)
    ));
    assert!(matches!(
        env.oauth
            .verify_access(
                pair.access_token.expose_secret(),
                "https://mcp.example/mcp/"
            )
            .await,
        Err(OAuthError::AudienceMismatch)
    ));
    let code = env.code_for(&a.client_id, MCP, None).await;
    assert!(matches!(
        env.oauth
            .exchange_code(env.exchange(&code, &a.client_id).resource(OTHER_MCP))
            .await,
        Err(OAuthError::AudienceMismatch)
    ));
    assert!(matches!(
        env.oauth
            .refresh(
                RefreshRequest::new(pair.refresh_token.clone(), &a.client_id).resource(OTHER_MCP)
            )
            .await,
        Err(OAuthError::AudienceMismatch)
    ));
    // A grant for Y verifies for Y only.
    let code = env.code_for(&a.client_id, OTHER_MCP, None).await;
    let y = env
        .oauth
        .exchange_code(env.exchange(&code, &a.client_id))
        .await
        .unwrap();
    assert!(env
        .oauth
        .verify_access(y.access_token.expose_secret(), OTHER_MCP)
        .await
        .is_ok());
    assert!(matches!(
        env.oauth
            .verify_access(y.access_token.expose_secret(), MCP)
            .await,
        Err(OAuthError::AudienceMismatch)
    ));
}

/// 32 concurrent redemptions of one code, half on each replica: exactly one wins, `rounds`
/// times.
pub async fn code_replay_32_concurrent_redemptions_exactly_one_wins(env: &Env, rounds: usize) {
    let a = env.client().await;
    for round in 0..rounds {
        let code = env.code_for(&a.client_id, MCP, None).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let mut tasks = Vec::with_capacity(32);
        for i in 0..32 {
            let store = if i % 2 == 0 {
                env.oauth.clone()
            } else {
                env.replica.clone()
            };
            let exchange = env.exchange(&code, &a.client_id);
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.exchange_code(exchange).await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(pair) => {
                    wins += 1;
                    assert!(env
                        .oauth
                        .verify_access(pair.access_token.expose_secret(), MCP)
                        .await
                        .is_ok());
                }
                Err(OAuthError::InvalidGrant(_)) => {}
                Err(e) => panic!("round {round}: unexpected error {e}"),
            }
        }
        assert_eq!(wins, 1, "round {round}: {wins} redemptions succeeded");
    }
}

/// Rotate, then present the old refresh token: the family is revoked, the newest access token
/// stops verifying and the newest refresh token stops working.
pub async fn refresh_reuse_revokes_the_family(env: &Env) {
    let a = env.client().await;
    let first = env.tokens_for(&a.client_id).await;
    let second = env
        .oauth
        .refresh(RefreshRequest::new(
            first.refresh_token.clone(),
            &a.client_id,
        ))
        .await
        .unwrap();
    let third = env
        .replica
        .refresh(RefreshRequest::new(
            second.refresh_token.clone(),
            &a.client_id,
        ))
        .await
        .unwrap();
    assert!(env
        .oauth
        .verify_access(third.access_token.expose_secret(), MCP)
        .await
        .is_ok());
    // Replay of the first refresh token (two generations old).
    assert!(matches!(
        env.oauth
            .refresh(RefreshRequest::new(
                first.refresh_token.clone(),
                &a.client_id
            ))
            .await,
        Err(OAuthError::Revoked(_))
    ));
    for t in [&first, &second, &third] {
        assert!(matches!(
            env.replica
                .verify_access(t.access_token.expose_secret(), MCP)
                .await,
            Err(OAuthError::InvalidToken(_))
        ));
    }
    assert!(matches!(
        env.oauth
            .refresh(RefreshRequest::new(
                third.refresh_token.clone(),
                &a.client_id
            ))
            .await,
        Err(OAuthError::Revoked(_))
    ));
    // Another family of the same client and user is untouched.
    let other = env.tokens_for(&a.client_id).await;
    assert!(env
        .oauth
        .verify_access(other.access_token.expose_secret(), MCP)
        .await
        .is_ok());
}

/// 8 concurrent presentations of one refresh token: exactly one rotation succeeds, the rest
/// are reuse, and the family ends revoked (nothing of it verifies).
pub async fn concurrent_refresh_rotates_once(env: &Env) {
    let a = env.client().await;
    for round in 0..10 {
        let pair = env.tokens_for(&a.client_id).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = if i % 2 == 0 {
                env.oauth.clone()
            } else {
                env.replica.clone()
            };
            let req = RefreshRequest::new(pair.refresh_token.clone(), &a.client_id);
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.refresh(req).await
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(p) => winners.push(p),
                Err(OAuthError::Revoked(_)) => {}
                Err(e) => panic!("round {round}: unexpected error {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        for p in winners.iter().chain([&pair]) {
            assert!(env
                .oauth
                .verify_access(p.access_token.expose_secret(), MCP)
                .await
                .is_err());
        }
    }
}

/// After a full flow, no secret is in the backend in plaintext: not the access or refresh
/// token, the code, the pending state, the client secret, the PKCE verifier, the upstream
/// tokens — nor, since every record is encrypted, the subject. Returns every raw byte seen
/// (keys and values), for backends that add a file scan.
pub async fn raw_storage_holds_no_plaintext_secrets(env: &Env) -> Vec<(String, String)> {
    let s = &env.oauth;
    let client = s
        .register_client(ClientMetadata::new([REDIRECT]).confidential())
        .await
        .unwrap();
    let client_secret = client.client_secret.clone().unwrap();
    s.authenticate_client(&client.client_id, Some(client_secret.expose_secret()))
        .await
        .unwrap();
    let req = AuthorizationRequest::new(&client.client_id, REDIRECT, pkce_challenge(VERIFIER), MCP);
    let pending = s.begin_authorization(req).await.unwrap();
    let state = pending.state.expose_secret().to_string();
    s.attach_subject(&state, SUBJECT).await.unwrap();
    s.grant_consent(SUBJECT, &client.client_id, REDIRECT, MCP, &[], None)
        .await
        .unwrap();
    let code = s
        .complete_authorization(&state, Some(upstream()))
        .await
        .unwrap();
    // A second code left unredeemed, so a code record is in storage during the scan.
    let code2 = env.code_for(&client.client_id, MCP, Some(upstream())).await;
    let pair = s
        .exchange_code(env.exchange(&code, &client.client_id))
        .await
        .unwrap();
    let rotated = s
        .refresh(RefreshRequest::new(
            pair.refresh_token.clone(),
            &client.client_id,
        ))
        .await
        .unwrap();
    let grant = s
        .verify_access(rotated.access_token.expose_secret(), MCP)
        .await
        .unwrap();
    assert!(s.upstream_tokens(&grant).await.unwrap().is_some());

    let entries = env.raw_entries().await;
    let collections: std::collections::BTreeSet<_> =
        entries.iter().map(|(c, _, _)| c.as_str()).collect();
    for name in [
        "clients", "consents", "codes", "upstream", "access", "refresh", "families",
    ] {
        assert!(
            collections.contains(format!("{}.{name}", env.prefix).as_str()),
            "{name} missing from the scan: the scan would prove nothing"
        );
    }
    let secrets = [
        ("access token", pair.access_token.expose_secret()),
        ("refresh token", pair.refresh_token.expose_secret()),
        ("rotated access token", rotated.access_token.expose_secret()),
        (
            "rotated refresh token",
            rotated.refresh_token.expose_secret(),
        ),
        ("authorization code", code.code.expose_secret()),
        ("unredeemed authorization code", code2.code.expose_secret()),
        ("pending state", state.as_str()),
        ("client secret", client_secret.expose_secret()),
        ("pkce verifier", VERIFIER),
        ("upstream access token", UPSTREAM_ACCESS),
        ("upstream refresh token", UPSTREAM_REFRESH),
        ("subject", SUBJECT),
    ];
    let mut out = Vec::new();
    for (collection, key, value) in &entries {
        let place = format!("{}: {collection}", env.backend);
        assert_absent(key.as_bytes(), &secrets, &place);
        assert_absent(value, &secrets, &place);
        assert!(
            mcp_kv_wrappers::encryption::envelope_key_id(value).is_some(),
            "{place}: a record is not an encrypted envelope"
        );
    }
    for (what, secret) in secrets {
        out.push((what.to_string(), secret.to_string()));
    }
    out
}

/// A wrong PKCE verifier is refused (typed) and burns the code; a malformed one too.
pub async fn wrong_pkce_verifier_is_rejected_and_burns_code(env: &Env) {
    let a = env.client().await;
    let code = env.code_for(&a.client_id, MCP, None).await;
    let wrong = CodeExchange::new(code.code.clone(), &a.client_id, REDIRECT, WRONG_VERIFIER);
    assert!(matches!(
        env.oauth.exchange_code(wrong).await,
        Err(OAuthError::InvalidPkce(_))
    ));
    assert!(matches!(
        env.oauth
            .exchange_code(env.exchange(&code, &a.client_id))
            .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    let code = env.code_for(&a.client_id, MCP, None).await;
    let short = CodeExchange::new(code.code.clone(), &a.client_id, REDIRECT, "short");
    assert!(matches!(
        env.oauth.exchange_code(short).await,
        Err(OAuthError::InvalidPkce(_))
    ));
    // Only S256 challenges are accepted.
    let plain = AuthorizationRequest::new(&a.client_id, REDIRECT, VERIFIER, MCP)
        .code_challenge_method("plain");
    assert!(matches!(
        env.oauth.begin_authorization(plain).await,
        Err(OAuthError::InvalidPkce(_))
    ));
}

/// Expired pending authorization, code, access token, refresh token and consent: typed
/// rejections, never accepted.
pub async fn expired_code_and_tokens_are_rejected(env: &Env) {
    let s = &env.oauth;
    let lt = s.lifetimes();
    let just_past = |d: Duration| d + lt.clock_skew + Duration::from_secs(1);
    let a = env.client().await;

    // Code: 5 min (+ skew) later it is expired, and burned.
    let code = env.code_for(&a.client_id, MCP, None).await;
    env.advance(just_past(lt.code));
    assert!(matches!(
        s.exchange_code(env.exchange(&code, &a.client_id)).await,
        Err(OAuthError::Expired(_))
    ));
    assert!(matches!(
        s.exchange_code(env.exchange(&code, &a.client_id)).await,
        Err(OAuthError::InvalidGrant(_))
    ));
    // Within the skew allowance a code is still good.
    let code = env.code_for(&a.client_id, MCP, None).await;
    env.advance(lt.code + lt.clock_skew / 2);
    assert!(s
        .exchange_code(env.exchange(&code, &a.client_id))
        .await
        .is_ok());

    // Pending authorization: 15 min.
    let req = AuthorizationRequest::new(&a.client_id, REDIRECT, pkce_challenge(VERIFIER), MCP);
    let pending = s.begin_authorization(req).await.unwrap();
    env.advance(just_past(lt.pending));
    assert!(matches!(
        s.attach_subject(pending.state.expose_secret(), SUBJECT)
            .await,
        Err(OAuthError::Expired(_))
    ));

    // Access token: 1 h; the refresh token still works and gives a fresh one.
    let pair = env.tokens_for(&a.client_id).await;
    env.advance(just_past(lt.access_token));
    assert!(matches!(
        s.verify_access(pair.access_token.expose_secret(), MCP)
            .await,
        Err(OAuthError::Expired(_))
    ));
    let fresh = s
        .refresh(RefreshRequest::new(
            pair.refresh_token.clone(),
            &a.client_id,
        ))
        .await
        .unwrap();
    assert!(s
        .verify_access(fresh.access_token.expose_secret(), MCP)
        .await
        .is_ok());

    // Refresh token: 30 d. Checked on every backend: expiry is judged from the record's own
    // timestamp by the token store's (manual) clock, and the storage TTL outlasts the lifetime
    // by the skew allowance and a grace period, so a backend that expires by its own clock
    // (Redis: 30 d of real time) still holds the record to be judged expired.
    env.advance(just_past(lt.refresh_token));
    assert!(matches!(
        s.refresh(RefreshRequest::new(
            fresh.refresh_token.clone(),
            &a.client_id
        ))
        .await,
        Err(OAuthError::Expired(_))
    ));
}

fn storage<T>(r: Result<T, OAuthError>) -> ErrorKind {
    match r {
        Err(OAuthError::Storage(e)) => e.kind(),
        Err(e) => panic!("expected a storage error, got {e}"),
        Ok(_) => panic!("a tampered record was accepted"),
    }
}

/// Edited, moved or garbage records are typed errors, never accepted.
pub async fn tampered_records_are_rejected(env: &Env) {
    let s = &env.oauth;
    let a = env.client().await;
    let pair = env.tokens_for(&a.client_id).await;

    // Flip one ciphertext byte of the access record.
    let (access_c, access_k) = env.only_key("access").await;
    let original = env.raw.get(&access_c, &access_k).await.unwrap().unwrap();
    let mut edited = original.to_vec();
    let last = edited.len() - 20;
    edited[last] ^= 0x01;
    env.raw
        .put(&access_c, &access_k, Bytes::from(edited), None)
        .await
        .unwrap();
    let kind = storage(
        s.verify_access(pair.access_token.expose_secret(), MCP)
            .await,
    );
    assert_eq!(kind, ErrorKind::Decryption);

    // Move another grant's access record onto this key (as an attacker with write access
    // would, to borrow its audience or subject).
    env.raw
        .put(&access_c, &access_k, original.clone(), None)
        .await
        .unwrap();
    let other = env.tokens_for(&a.client_id).await;
    let other_key = env
        .raw_entries()
        .await
        .into_iter()
        .find(|(c, k, _)| *c == access_c && *k != access_k)
        .unwrap();
    env.raw
        .put(&access_c, &access_k, other_key.2.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        storage(
            s.verify_access(pair.access_token.expose_secret(), MCP)
                .await
        ),
        ErrorKind::Decryption
    );
    assert!(s
        .verify_access(other.access_token.expose_secret(), MCP)
        .await
        .is_ok());

    // Plaintext planted in place of a record.
    env.raw
        .put(
            &access_c,
            &access_k,
            Bytes::from_static(b"{\"audience\":\"https://mcp.example/mcp\"}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        storage(
            s.verify_access(pair.access_token.expose_secret(), MCP)
                .await
        ),
        ErrorKind::Decryption
    );

    // A tampered code record: refused, and burned.
    let code = env.code_for(&a.client_id, MCP, None).await;
    let (code_c, code_k) = env.only_key("codes").await;
    env.raw
        .put(&code_c, &code_k, Bytes::from_static(&[1u8; 80]), None)
        .await
        .unwrap();
    assert_eq!(
        storage(s.exchange_code(env.exchange(&code, &a.client_id)).await),
        ErrorKind::Decryption
    );
    assert!(matches!(
        s.exchange_code(env.exchange(&code, &a.client_id)).await,
        Err(OAuthError::InvalidGrant(_))
    ));

    // A tampered family record: the refresh is refused.
    let family_c = format!("{}.families", env.prefix);
    let fams = env.raw.keys(&family_c, None, 10).await.unwrap();
    for k in &fams.keys {
        env.raw
            .put(&family_c, k, Bytes::from_static(b"garbage"), None)
            .await
            .unwrap();
    }
    assert_eq!(
        storage(
            s.refresh(RefreshRequest::new(
                other.refresh_token.clone(),
                &a.client_id
            ))
            .await
        ),
        ErrorKind::Decryption
    );

    // Without encryption (tests only), garbage still never passes: `Corrupted`.
    let plain = TokenStore::builder(env.raw.clone())
        .insecure_plaintext_for_tests()
        .clock(env.clock.clone())
        .collection_prefix(format!("{}-plain", env.prefix))
        .build()
        .unwrap();
    let c = plain
        .register_client(ClientMetadata::new([REDIRECT]))
        .await
        .unwrap();
    let req = AuthorizationRequest::new(&c.client_id, REDIRECT, pkce_challenge(VERIFIER), MCP);
    let p = plain.begin_authorization(req).await.unwrap();
    plain
        .attach_subject(p.state.expose_secret(), SUBJECT)
        .await
        .unwrap();
    plain
        .grant_consent(SUBJECT, &c.client_id, REDIRECT, MCP, &[], None)
        .await
        .unwrap();
    let code = plain
        .complete_authorization(p.state.expose_secret(), None)
        .await
        .unwrap();
    let tokens = plain
        .exchange_code(env.exchange(&code, &c.client_id))
        .await
        .unwrap();
    let access_c = format!("{}-plain.access", env.prefix);
    let keys = env.raw.keys(&access_c, None, 10).await.unwrap().keys;
    env.raw
        .put(
            &access_c,
            &keys[0],
            Bytes::from_static(b"{\"not\":\"a record\"}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        storage(
            plain
                .verify_access(tokens.access_token.expose_secret(), MCP)
                .await
        ),
        ErrorKind::Corrupted
    );
    env.raw.clear(&access_c).await.unwrap();
    for name in [
        "clients", "consents", "families", "refresh", "codes", "pending",
    ] {
        let _ = env.raw.clear(&format!("{}-plain.{name}", env.prefix)).await;
    }
}

/// Upstream tokens never reach the client: the token response holds only this server's
/// tokens, an upstream token presented to `verify_access` is refused, and upstream tokens are
/// readable only server-side from a verified grant.
pub async fn token_passthrough_upstream_tokens_stay_server_side(env: &Env) {
    let a = env.client().await;
    let pair = env.tokens_for(&a.client_id).await;
    let shown = format!("{pair:?}");
    assert!(!shown.contains(UPSTREAM_ACCESS) && !shown.contains(UPSTREAM_REFRESH));
    for t in [
        pair.access_token.expose_secret(),
        pair.refresh_token.expose_secret(),
    ] {
        assert!(!t.contains(UPSTREAM_ACCESS) && !t.contains(UPSTREAM_REFRESH));
    }
    assert!(matches!(
        env.oauth.verify_access(UPSTREAM_ACCESS, MCP).await,
        Err(OAuthError::InvalidToken(_))
    ));
    assert!(matches!(
        env.oauth
            .refresh(RefreshRequest::new(UPSTREAM_REFRESH, &a.client_id))
            .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    let grant = env
        .oauth
        .verify_access(pair.access_token.expose_secret(), MCP)
        .await
        .unwrap();
    let up = env.replica.upstream_tokens(&grant).await.unwrap().unwrap();
    assert_eq!(up.access_token.expose_secret(), UPSTREAM_ACCESS);
    assert!(!format!("{up:?}").contains(UPSTREAM_ACCESS));
    // The server refreshes upstream: replaced in place, still server-side only.
    env.oauth
        .replace_upstream_tokens(&grant, UpstreamTokens::new("upstream-access-2"))
        .await
        .unwrap();
    let up = env.oauth.upstream_tokens(&grant).await.unwrap().unwrap();
    assert_eq!(up.access_token.expose_secret(), "upstream-access-2");
    // The upstream record's TTL is max(access, refresh, 1 s).
    let (uc, uk) = env.only_key("upstream").await;
    let stored_ttl = || async {
        let entry = env.raw.get_entry(&uc, &uk).await.unwrap().unwrap();
        entry.ttl.unwrap()
    };
    let ttl = stored_ttl().await;
    assert!(
        ttl <= s_lifetime(env) && ttl > Duration::from_secs(3600),
        "{ttl:?}"
    );
    // An upstream refresh token of unknown lifetime outlives a short upstream access token.
    let short = UpstreamTokens::new("upstream-access-3")
        .refresh_token("upstream-refresh-3")
        .access_expires_in(Duration::from_secs(60));
    env.oauth
        .replace_upstream_tokens(&grant, short)
        .await
        .unwrap();
    let ttl = stored_ttl().await;
    assert!(ttl > Duration::from_secs(3600), "{ttl:?}");
    // After a revocation, a late upstream refresh does not bring the tokens back.
    assert!(env
        .oauth
        .revoke(pair.refresh_token.expose_secret())
        .await
        .unwrap());
    assert!(matches!(
        env.oauth
            .replace_upstream_tokens(&grant, UpstreamTokens::new("upstream-access-4"))
            .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    assert!(env.oauth.upstream_tokens(&grant).await.unwrap().is_none());
}

fn s_lifetime(env: &Env) -> Duration {
    // upstream without lifetimes: the refresh-token lifetime.
    env.oauth.lifetimes().refresh_token
}

/// A refresh token presented by another client is refused.
pub async fn cross_client_refresh_is_rejected(env: &Env) {
    let a = env.client().await;
    let b = env.client().await;
    let pair = env.tokens_for(&a.client_id).await;
    assert!(matches!(
        env.oauth
            .refresh(RefreshRequest::new(
                pair.refresh_token.clone(),
                &b.client_id
            ))
            .await,
        Err(OAuthError::InvalidClient(_))
    ));
    // The rightful client still can.
    let rotated = env
        .oauth
        .refresh(RefreshRequest::new(
            pair.refresh_token.clone(),
            &a.client_id,
        ))
        .await
        .unwrap();
    // Nor can B revoke A's tokens (RFC 7009 §2.1); A can.
    for token in [&rotated.access_token, &rotated.refresh_token] {
        assert!(matches!(
            env.oauth
                .revoke_for_client(token.expose_secret(), &b.client_id)
                .await,
            Err(OAuthError::InvalidClient(_))
        ));
    }
    assert!(env
        .oauth
        .verify_access(rotated.access_token.expose_secret(), MCP)
        .await
        .is_ok());
    assert!(env
        .oauth
        .revoke_for_client(rotated.refresh_token.expose_secret(), &a.client_id)
        .await
        .unwrap());
    assert!(env
        .oauth
        .verify_access(rotated.access_token.expose_secret(), MCP)
        .await
        .is_err());
    // Confidential clients: the secret is checked in constant time, as hashes.
    let c = env
        .oauth
        .register_client(ClientMetadata::new([REDIRECT]).confidential())
        .await
        .unwrap();
    let secret = c.client_secret.unwrap();
    assert!(env
        .oauth
        .authenticate_client(&c.client_id, Some(secret.expose_secret()))
        .await
        .is_ok());
    assert!(matches!(
        env.oauth
            .authenticate_client(&c.client_id, Some("mcpcs_wrong"))
            .await,
        Err(OAuthError::InvalidClient(_))
    ));
    assert!(matches!(
        env.oauth.authenticate_client(&c.client_id, None).await,
        Err(OAuthError::InvalidClient(_))
    ));
    assert!(matches!(
        env.oauth
            .authenticate_client(&a.client_id, Some(secret.expose_secret()))
            .await,
        Err(OAuthError::InvalidClient(_))
    ));
}

/// An access token is never a refresh token, nor the reverse — also when the random part is
/// transplanted under the other prefix.
pub async fn access_and_refresh_tokens_are_not_interchangeable(env: &Env) {
    let a = env.client().await;
    let pair = env.tokens_for(&a.client_id).await;
    let access = pair.access_token.expose_secret();
    let refresh = pair.refresh_token.expose_secret();
    assert!(matches!(
        env.oauth.verify_access(refresh, MCP).await,
        Err(OAuthError::InvalidToken(_))
    ));
    assert!(matches!(
        env.oauth
            .refresh(RefreshRequest::new(access, &a.client_id))
            .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    let swapped_a = format!("mcpat_{}", &refresh[6..]);
    let swapped_r = format!("mcprt_{}", &access[6..]);
    assert!(matches!(
        env.oauth.verify_access(&swapped_a, MCP).await,
        Err(OAuthError::InvalidToken(_))
    ));
    assert!(matches!(
        env.oauth
            .refresh(RefreshRequest::new(swapped_r, &a.client_id))
            .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    let code = env.code_for(&a.client_id, MCP, None).await;
    assert!(matches!(
        env.oauth
            .verify_access(code.code.expose_secret(), MCP)
            .await,
        Err(OAuthError::InvalidToken(_))
    ));
    // Both still work for what they are.
    assert!(env.oauth.verify_access(access, MCP).await.is_ok());
    assert!(env
        .oauth
        .refresh(RefreshRequest::new(refresh, &a.client_id))
        .await
        .is_ok());
}

/// No secret in Debug output or error messages along a flow that fails in every way.
pub async fn debug_and_errors_never_show_secrets(env: &Env) {
    let a = env.client().await;
    let code = env.code_for(&a.client_id, MCP, Some(upstream())).await;
    let pair = env
        .oauth
        .exchange_code(env.exchange(&code, &a.client_id))
        .await
        .unwrap();
    let mut text = format!("{:?}{:?}{:?}{:?}", code, pair, env.oauth, upstream());
    let errors = [
        env.oauth
            .exchange_code(env.exchange(&code, &a.client_id))
            .await
            .unwrap_err(),
        env.oauth
            .verify_access(pair.access_token.expose_secret(), OTHER_MCP)
            .await
            .unwrap_err(),
        env.oauth
            .verify_access(pair.refresh_token.expose_secret(), MCP)
            .await
            .unwrap_err(),
        env.oauth
            .refresh(RefreshRequest::new(pair.refresh_token.clone(), "nobody"))
            .await
            .unwrap_err(),
    ];
    for e in &errors {
        text.push_str(&format!("{e} {e:?} {}", e.error_code()));
    }
    let secrets = [
        ("access token", pair.access_token.expose_secret()),
        ("refresh token", pair.refresh_token.expose_secret()),
        ("code", code.code.expose_secret()),
        ("upstream access", UPSTREAM_ACCESS),
        ("upstream refresh", UPSTREAM_REFRESH),
        ("verifier", VERIFIER),
        ("client id", a.client_id.as_str()),
        ("subject", SUBJECT),
    ];
    assert_absent(text.as_bytes(), &secrets, "Debug/Display output");
}

/// Generates one `#[tokio::test]` per scenario for a backend whose env maker is
/// `async fn make(test: &str) -> Option<Env>` (None: skipped).
#[macro_export]
macro_rules! scenarios {
    ($make:ident) => {
        $crate::scenario!($make, full_flow_register_to_revoke);
        $crate::scenario!(
            $make,
            confused_deputy_other_client_is_rejected_and_burns_code
        );
        $crate::scenario!(
            $make,
            confused_deputy_other_redirect_is_rejected_and_burns_code
        );
        $crate::scenario!($make, audience_x_token_is_rejected_for_y);
        $crate::scenario!($make, refresh_reuse_revokes_the_family);
        $crate::scenario!($make, concurrent_refresh_rotates_once);
        $crate::scenario!($make, wrong_pkce_verifier_is_rejected_and_burns_code);
        $crate::scenario!($make, expired_code_and_tokens_are_rejected);
        $crate::scenario!($make, tampered_records_are_rejected);
        $crate::scenario!($make, token_passthrough_upstream_tokens_stay_server_side);
        $crate::scenario!($make, cross_client_refresh_is_rejected);
        $crate::scenario!($make, access_and_refresh_tokens_are_not_interchangeable);
        $crate::scenario!($make, debug_and_errors_never_show_secrets);

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn code_replay_32_concurrent_redemptions_exactly_one_wins() {
            let Some(env) = $make("code_replay").await else {
                return;
            };
            common::code_replay_32_concurrent_redemptions_exactly_one_wins(&env, 100).await;
            env.cleanup().await;
        }
    };
}

/// One scenario as a test.
#[macro_export]
macro_rules! scenario {
    ($make:ident, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let Some(env) = $make(stringify!($name)).await else {
                return;
            };
            common::$name(&env).await;
            env.cleanup().await;
        }
    };
}

//! What is stored, record by record (JSON, through the encryption wrapper), and the public
//! views handed to callers.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

use crate::client::RegisteredClient;
use crate::secret::Secret;

/// Stored under `clients/<client_id>`, no TTL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClientRecord {
    pub client: RegisteredClient,
    /// Hash of the client secret (confidential clients only).
    pub secret_key: Option<String>,
}

/// Stored under `pending/<hash(state)>`, TTL = pending lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingRecord {
    pub key: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub resource: String,
    pub client_state: Option<String>,
    pub subject: Option<String>,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Stored under `consents/<hash(subject, client, redirect uri, resource, scopes)>`, TTL = its
/// lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConsentRecord {
    pub subject: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub granted_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Stored under `codes/<hash(code)>`, TTL = code lifetime; taken once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CodeRecord {
    pub key: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub upstream_id: Option<String>,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Stored under `upstream/<random id>`, TTL = max(access, refresh lifetime, 1 s). The only
/// record holding token plaintext, hence encrypted; zeroized on drop.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UpstreamRecord {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub token_type: String,
    pub scopes: Vec<String>,
    pub access_expires_at_ms: Option<u64>,
    pub refresh_expires_at_ms: Option<u64>,
}

impl Drop for UpstreamRecord {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(r) = self.refresh_token.as_mut() {
            r.zeroize();
        }
    }
}

impl fmt::Debug for UpstreamRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamRecord").finish_non_exhaustive()
    }
}

/// Stored under `access/<hash(access token)>`, TTL = access lifetime. Everything
/// `verify_access` checks is in this one record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessRecord {
    pub key: String,
    pub family_id: String,
    pub generation: u64,
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub audience: String,
    pub upstream_id: Option<String>,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Stored under `refresh/<hash(refresh token)>`, TTL = refresh lifetime. Kept after rotation
/// so that a second presentation is recognised as reuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefreshRecord {
    pub key: String,
    pub family_id: String,
    pub generation: u64,
    pub client_id: String,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Stored under `families/<family id>`: the state of one grant (one code exchange and every
/// rotation after it). Changed only by `compare_and_swap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FamilyRecord {
    pub family_id: String,
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub audience: String,
    pub upstream_id: Option<String>,
    pub generation: u64,
    /// The one refresh token that may be used next.
    pub refresh_key: String,
    /// The access token issued with it.
    pub access_key: String,
    /// The access token of the previous generation, deleted right after rotation; kept here
    /// so that revocation deletes it even if that delete failed.
    pub previous_access_key: Option<String>,
    pub revoked: bool,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

/// A pending authorization, as a consent page needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// The client asking.
    pub client_id: String,
    /// The registered redirect URI the code will go to.
    pub redirect_uri: String,
    /// The scopes asked for (normalized).
    pub scopes: Vec<String>,
    /// The RFC 8707 resource (the audience of the tokens).
    pub resource: String,
    /// The client's own `state`, echoed on the redirect.
    pub client_state: Option<String>,
    /// The user, once the upstream identity provider said who it is.
    pub subject: Option<String>,
    /// When it expires, in epoch milliseconds.
    pub expires_at_ms: u64,
}

impl From<&PendingRecord> for PendingAuthorization {
    fn from(r: &PendingRecord) -> Self {
        PendingAuthorization {
            client_id: r.client_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            scopes: r.scopes.clone(),
            resource: r.resource.clone(),
            client_state: r.client_state.clone(),
            subject: r.subject.clone(),
            expires_at_ms: r.expires_at_ms,
        }
    }
}

/// What `begin_authorization` returns: the state value to carry through the upstream login.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthorizationHandle {
    /// The opaque state (256 bits): send it as `state` to the upstream identity provider.
    pub state: Secret,
    /// When the pending authorization expires, in epoch milliseconds.
    pub expires_at_ms: u64,
}

/// An authorization code, to be sent to the client's redirect URI.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedCode {
    /// The one-time code (256 bits).
    pub code: Secret,
    /// Where to send it (the redirect URI of the authorization request).
    pub redirect_uri: String,
    /// The client's `state`, to echo.
    pub client_state: Option<String>,
    /// How long the code stays redeemable.
    pub expires_in: Duration,
}

/// The token response given to an MCP client. Holds only this server's opaque tokens, never
/// the upstream identity provider's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenPair {
    /// The access token (256 bits, `mcpat_` prefix).
    pub access_token: Secret,
    /// The refresh token (256 bits, `mcprt_` prefix); single use, rotated on every refresh.
    pub refresh_token: Secret,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Lifetime of the access token.
    pub expires_in: Duration,
    /// Scopes of the access token.
    pub scopes: Vec<String>,
    /// Audience (RFC 8707 resource) of the access token.
    pub audience: String,
}

/// What `verify_access` proves about a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessGrant {
    /// The client the token was issued to.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The audience the token is bound to (equal to the expected audience).
    pub audience: String,
    /// When the token expires, in epoch milliseconds.
    pub expires_at_ms: u64,
    /// The grant family (one code exchange and its rotations); not secret.
    pub family_id: String,
    pub(crate) upstream_id: Option<String>,
}

impl AccessGrant {
    /// Whether the grant includes `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Tokens from the upstream identity provider. Stored encrypted, handed only to server-side
/// code (through [`TokenStore::upstream_tokens`](crate::TokenStore::upstream_tokens)), never to
/// MCP clients.
#[derive(Clone)]
#[non_exhaustive]
pub struct UpstreamTokens {
    /// The upstream access token.
    pub access_token: Secret,
    /// The upstream refresh token, if any.
    pub refresh_token: Option<Secret>,
    /// The upstream token type (usually `Bearer`).
    pub token_type: String,
    /// Scopes granted upstream.
    pub scopes: Vec<String>,
    /// Lifetime of the upstream access token, if known.
    pub access_expires_in: Option<Duration>,
    /// Lifetime of the upstream refresh token, if known.
    pub refresh_expires_in: Option<Duration>,
}

impl UpstreamTokens {
    /// Upstream tokens with an access token, type `Bearer`, no refresh token, unknown
    /// lifetimes.
    pub fn new(access_token: impl Into<Secret>) -> Self {
        UpstreamTokens {
            access_token: access_token.into(),
            refresh_token: None,
            token_type: "Bearer".into(),
            scopes: Vec::new(),
            access_expires_in: None,
            refresh_expires_in: None,
        }
    }

    /// Sets the refresh token.
    pub fn refresh_token(mut self, token: impl Into<Secret>) -> Self {
        self.refresh_token = Some(token.into());
        self
    }

    /// Sets the lifetime of the access token (`expires_in` of the upstream response).
    pub fn access_expires_in(mut self, lifetime: Duration) -> Self {
        self.access_expires_in = Some(lifetime);
        self
    }

    /// Sets the lifetime of the refresh token.
    pub fn refresh_expires_in(mut self, lifetime: Duration) -> Self {
        self.refresh_expires_in = Some(lifetime);
        self
    }

    /// Sets the upstream scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

impl fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("token_type", &self.token_type)
            .field("scopes", &self.scopes)
            .field("access_expires_in", &self.access_expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

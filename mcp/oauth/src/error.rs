//! [`OAuthError`]: every way a step of the flow can fail, typed. Messages never contain a
//! token, code, verifier, secret, subject or client id.

/// The result type of this crate.
pub type Result<T, E = OAuthError> = std::result::Result<T, E>;

/// Why an OAuth step was refused or failed.
///
/// Match on the variant; [`OAuthError::error_code`] gives the RFC 6749 / RFC 6750 error code a
/// transport layer sends back. The `Display` text is safe to log: it names the failed check,
/// never the value that failed it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The code, refresh token or pending authorization is unknown, already used, or was
    /// issued for something else.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// The client is unknown, failed authentication, or is not the client the grant was
    /// issued to.
    #[error("invalid client: {0}")]
    InvalidClient(&'static str),
    /// A redirect URI is malformed, not allowed (not https / loopback http, has a fragment),
    /// not registered, or not the one the code was issued for.
    #[error("invalid redirect uri: {0}")]
    InvalidRedirectUri(&'static str),
    /// The PKCE challenge or verifier is malformed, not S256, or does not match.
    #[error("invalid pkce: {0}")]
    InvalidPkce(&'static str),
    /// A requested scope is malformed, not allowed for the client, or wider than the grant.
    #[error("invalid scope: {0}")]
    InvalidScope(&'static str),
    /// A request parameter is malformed or missing.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The access token presented to a resource is unknown (never issued, revoked, or not an
    /// access token).
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// The code, token or pending authorization has expired.
    #[error("expired: {0}")]
    Expired(&'static str),
    /// The grant family was revoked (explicitly, or because a rotated refresh token was
    /// presented again).
    #[error("revoked: {0}")]
    Revoked(&'static str),
    /// The token or code was issued for another audience (RFC 8707 resource).
    #[error("audience mismatch")]
    AudienceMismatch,
    /// The user has not consented to this client, redirect URI and scopes.
    #[error("consent required")]
    ConsentRequired,
    /// The token store is misconfigured (e.g. no encryption key).
    #[error("config: {0}")]
    Config(&'static str),
    /// The underlying store failed, or a stored record did not decode or authenticate
    /// (`Corrupted` / `Decryption`): the step is refused, never accepted.
    #[error("storage: {0}")]
    Storage(#[from] mcp_kv_core::Error),
}

impl OAuthError {
    /// The OAuth error code a transport sends for this error (`invalid_grant`,
    /// `invalid_client`, `invalid_request`, `invalid_scope`, `invalid_token`,
    /// `access_denied`, `server_error`, `temporarily_unavailable`).
    ///
    /// Binding failures at the token endpoint (wrong redirect URI, wrong verifier, expired or
    /// revoked grant) are `invalid_grant`, as RFC 6749 §5.2 asks; a resource server answering
    /// a bad access token uses `invalid_token` (RFC 6750) for [`InvalidToken`](Self::InvalidToken),
    /// [`Expired`](Self::Expired), [`Revoked`](Self::Revoked) and
    /// [`AudienceMismatch`](Self::AudienceMismatch).
    pub fn error_code(&self) -> &'static str {
        match self {
            OAuthError::InvalidGrant(_)
            | OAuthError::InvalidPkce(_)
            | OAuthError::Expired(_)
            | OAuthError::Revoked(_) => "invalid_grant",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidRedirectUri(_) | OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidToken(_) | OAuthError::AudienceMismatch => "invalid_token",
            OAuthError::ConsentRequired => "access_denied",
            OAuthError::Config(_) => "server_error",
            OAuthError::Storage(e) if e.is_temporary() => "temporarily_unavailable",
            OAuthError::Storage(_) => "server_error",
        }
    }

    /// The storage error's kind, when this is a [`Storage`](Self::Storage) error.
    pub fn storage_kind(&self) -> Option<mcp_kv_core::ErrorKind> {
        match self {
            OAuthError::Storage(e) => Some(e.kind()),
            _ => None,
        }
    }
}

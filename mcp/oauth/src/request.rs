//! The inputs of the flow's steps, as a transport layer parses them from HTTP requests.

use crate::secret::Secret;

/// An authorization request (`/authorize`), already parsed.
///
/// ```
/// use mcp_kv_oauth::AuthorizationRequest;
///
/// let req = AuthorizationRequest::new(
///     "client-id",
///     "https://app.example/cb",
///     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
///     "https://mcp.example/mcp",
/// )
/// .scopes(["tools:call"])
/// .client_state("xyz");
/// assert_eq!(req.code_challenge_method, "S256");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// The registered client.
    pub client_id: String,
    /// One of the client's registered redirect URIs, exactly.
    pub redirect_uri: String,
    /// The PKCE code challenge.
    pub code_challenge: String,
    /// The PKCE method; only `S256` is accepted.
    pub code_challenge_method: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// The RFC 8707 resource: the MCP server the tokens will be for (their audience).
    pub resource: String,
    /// The client's `state`, echoed back with the code.
    pub client_state: Option<String>,
}

impl AuthorizationRequest {
    /// A request with method `S256`, no scopes and no client state.
    pub fn new(
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
        code_challenge: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        AuthorizationRequest {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            code_challenge: code_challenge.into(),
            code_challenge_method: "S256".into(),
            scopes: Vec::new(),
            resource: resource.into(),
            client_state: None,
        }
    }

    /// Sets the PKCE method the client sent (anything but `S256` is refused).
    pub fn code_challenge_method(mut self, method: impl Into<String>) -> Self {
        self.code_challenge_method = method.into();
        self
    }

    /// Sets the requested scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the client's `state`.
    pub fn client_state(mut self, state: impl Into<String>) -> Self {
        self.client_state = Some(state.into());
        self
    }
}

/// A token request with `grant_type=authorization_code`, already parsed (and the client
/// already authenticated with [`TokenStore::authenticate_client`](crate::TokenStore::authenticate_client)
/// when it is confidential).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CodeExchange {
    /// The authorization code.
    pub code: Secret,
    /// The client redeeming it.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE code verifier.
    pub code_verifier: Secret,
    /// The RFC 8707 resource, if the client repeats it; must equal the one authorized.
    pub resource: Option<String>,
}

impl CodeExchange {
    /// A code exchange without a resource parameter.
    pub fn new(
        code: impl Into<Secret>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
        code_verifier: impl Into<Secret>,
    ) -> Self {
        CodeExchange {
            code: code.into(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            code_verifier: code_verifier.into(),
            resource: None,
        }
    }

    /// Sets the resource parameter.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }
}

/// A token request with `grant_type=refresh_token`, already parsed (client authenticated when
/// confidential).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: Secret,
    /// The client presenting it.
    pub client_id: String,
    /// Narrower scopes, if asked; never wider than the original grant.
    pub scopes: Option<Vec<String>>,
    /// The RFC 8707 resource, if repeated; must equal the grant's audience.
    pub resource: Option<String>,
}

impl RefreshRequest {
    /// A refresh request keeping the grant's scopes and audience.
    pub fn new(refresh_token: impl Into<Secret>, client_id: impl Into<String>) -> Self {
        RefreshRequest {
            refresh_token: refresh_token.into(),
            client_id: client_id.into(),
            scopes: None,
            resource: None,
        }
    }

    /// Asks for narrower scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the resource parameter.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }
}

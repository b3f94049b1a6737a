//! Client registrations (RFC 7591 dynamic client registration records), redirect URI and scope
//! rules.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::secret::Secret;
use crate::{OAuthError, Result};

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 16;
/// Longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI_BYTES: usize = 2048;

/// What a client asks to register with (the parts of RFC 7591 metadata this store enforces).
///
/// ```
/// use mcp_kv_oauth::ClientMetadata;
///
/// let meta = ClientMetadata::new(["https://app.example/callback", "http://127.0.0.1:8765/cb"])
///     .name("My MCP client")
///     .scopes(["tools:read", "tools:call"]);
/// assert_eq!(meta.redirect_uris.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientMetadata {
    /// Redirect URIs, compared by exact string match: `https`, or `http` on a loopback host
    /// (`127.0.0.1`, `[::1]`, `localhost`); no fragment, no user info, no whitespace or control
    /// characters.
    pub redirect_uris: Vec<String>,
    /// A human-readable name, shown on the consent page.
    pub client_name: Option<String>,
    /// The scopes this client may ask for; `None`: any scope.
    pub scopes: Option<Vec<String>>,
    /// A confidential client authenticates with a client secret issued at registration; a
    /// public client (the usual MCP client) relies on PKCE alone.
    pub confidential: bool,
}

impl ClientMetadata {
    /// A public client with these redirect URIs.
    pub fn new<I, S>(redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientMetadata {
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            client_name: None,
            scopes: None,
            confidential: false,
        }
    }

    /// Sets the client's display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// Restricts the scopes the client may ask for.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Makes the client confidential: registration issues a client secret.
    pub fn confidential(mut self) -> Self {
        self.confidential = true;
        self
    }

    /// Checks every rule and normalizes the scope list (sorted, deduplicated).
    pub(crate) fn validated(mut self) -> Result<Self> {
        if self.redirect_uris.is_empty() {
            return Err(OAuthError::InvalidRedirectUri("no redirect uri registered"));
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::InvalidRedirectUri("too many redirect uris"));
        }
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri)?;
        }
        if let Some(scopes) = self.scopes.take() {
            self.scopes = Some(normalize_scopes(scopes)?);
        }
        if self.client_name.as_ref().is_some_and(|n| n.len() > 256) {
            return Err(OAuthError::InvalidRequest(
                "client name longer than 256 bytes",
            ));
        }
        Ok(self)
    }

    /// Whether `uri` is registered, by exact string comparison.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }
}

/// A registered client, as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The client id issued at registration.
    pub client_id: String,
    /// The registered metadata.
    pub metadata: ClientMetadata,
    /// When it registered, in epoch milliseconds.
    pub registered_at_ms: u64,
}

/// What registration returns to the client: its id and, for a confidential client, its secret
/// (shown once, stored only as a hash).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The new client id.
    pub client_id: String,
    /// The client secret of a confidential client.
    pub client_secret: Option<Secret>,
}

/// Checks one redirect URI: parses as an absolute URL; `https` with a host, or `http` on a
/// loopback host (`127.0.0.1`, `[::1]`, `localhost`); no fragment; no user info; no space or
/// ASCII control character (which the URL parser would drop, but the stored string keeps).
pub fn validate_redirect_uri(uri: &str) -> Result<()> {
    if uri.len() > MAX_REDIRECT_URI_BYTES {
        return Err(OAuthError::InvalidRedirectUri("redirect uri is too long"));
    }
    if uri.contains('#') {
        return Err(OAuthError::InvalidRedirectUri(
            "redirect uri has a fragment",
        ));
    }
    // The URL parser silently drops tabs, newlines and leading or trailing spaces, but the
    // raw string is what is stored, matched and redirected to: refuse them (a CR LF in a
    // `Location` header splits the response).
    if uri.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(OAuthError::InvalidRedirectUri(
            "redirect uri has whitespace or control characters",
        ));
    }
    let url = Url::parse(uri)
        .map_err(|_| OAuthError::InvalidRedirectUri("redirect uri does not parse"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OAuthError::InvalidRedirectUri("redirect uri has user info"));
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(host)) if is_loopback(&host) => Ok(()),
        ("http", _) => Err(OAuthError::InvalidRedirectUri(
            "plain http is allowed only on a loopback host",
        )),
        _ => Err(OAuthError::InvalidRedirectUri(
            "redirect uri scheme must be https",
        )),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => *ip == Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

/// Checks a resource indicator (RFC 8707): an absolute URI without a fragment.
pub(crate) fn validate_resource(resource: &str) -> Result<()> {
    if resource.is_empty() || resource.len() > MAX_REDIRECT_URI_BYTES || resource.contains('#') {
        return Err(OAuthError::InvalidRequest(
            "resource is not an absolute uri without fragment",
        ));
    }
    Url::parse(resource)
        .map(|_| ())
        .map_err(|_| OAuthError::InvalidRequest("resource is not an absolute uri without fragment"))
}

/// Validates scope tokens (RFC 6749 §3.3 characters), sorts and deduplicates them.
pub(crate) fn normalize_scopes<I, S>(scopes: I) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut out: Vec<String> = scopes.into_iter().map(Into::into).collect();
    for s in &out {
        let ok = !s.is_empty()
            && s.len() <= 256
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !ok {
            return Err(OAuthError::InvalidScope("malformed scope token"));
        }
    }
    out.sort();
    out.dedup();
    if out.len() > 64 {
        return Err(OAuthError::InvalidScope("more than 64 scopes"));
    }
    Ok(out)
}

/// Whether every scope of `requested` is in `granted` (both normalized).
pub(crate) fn is_subset(requested: &[String], granted: &[String]) -> bool {
    requested.iter().all(|s| granted.binary_search(s).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1:8765/cb",
            "http://[::1]:9000/cb",
            "http://localhost/cb",
            "http://LOCALHOST:1/cb",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "http://127.0.0.2/cb",
            "http://localhost.evil.example/cb",
            "https://app.example/cb#frag",
            "https://app.example/cb#",
            "https://user:pw@app.example/cb",
            "javascript:alert(1)",
            "ftp://app.example/cb",
            "/relative",
            "",
            "com.example.app:/cb",
            "https://app.example/cb\r\nSet-Cookie: session=attacker",
            "https://app.example/cb\n",
            " https://app.example/cb",
            "https://app.exa\tmple/cb",
            "https://app.example/c b",
            "https://app.example/cb\u{7f}",
        ] {
            assert!(
                matches!(
                    validate_redirect_uri(bad),
                    Err(OAuthError::InvalidRedirectUri(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn exact_match_only() {
        let m = ClientMetadata::new(["https://app.example/cb"])
            .validated()
            .unwrap();
        assert!(m.allows_redirect("https://app.example/cb"));
        assert!(!m.allows_redirect("https://app.example/cb/"));
        assert!(!m.allows_redirect("https://APP.example/cb"));
        assert!(!m.allows_redirect("https://app.example/cb?x=1"));
    }

    #[test]
    fn scopes() {
        assert_eq!(normalize_scopes(["b", "a", "b"]).unwrap(), vec!["a", "b"]);
        assert!(normalize_scopes(["a b"]).is_err());
        assert!(normalize_scopes([""]).is_err());
        assert!(normalize_scopes(["a\"b"]).is_err());
        let g = normalize_scopes(["a", "b"]).unwrap();
        assert!(is_subset(&["a".to_string()], &g));
        assert!(!is_subset(&["c".to_string()], &g));
    }
}

//! Random tokens, domain-separated hashes and PKCE: the only places secrets are made or
//! compared.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroize as _;

use crate::secret::{ct_eq_str, Secret};
use crate::{OAuthError, Result};

/// What a secret is, and therefore which hash domain its storage key lives in. An access token
/// hashed in the refresh domain (or the reverse) finds nothing: one can never stand for the
/// other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    AccessToken,
    RefreshToken,
    Code,
    Pending,
    ClientSecret,
}

impl Kind {
    /// The visible prefix of generated secrets (helps secret scanners; never trusted alone).
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Kind::AccessToken => "mcpat_",
            Kind::RefreshToken => "mcprt_",
            Kind::Code => "mcpac_",
            Kind::Pending => "mcpst_",
            Kind::ClientSecret => "mcpcs_",
        }
    }

    fn domain(self) -> &'static [u8] {
        match self {
            Kind::AccessToken => b"mcp-kv-oauth/v1/access-token",
            Kind::RefreshToken => b"mcp-kv-oauth/v1/refresh-token",
            Kind::Code => b"mcp-kv-oauth/v1/authorization-code",
            Kind::Pending => b"mcp-kv-oauth/v1/pending-state",
            Kind::ClientSecret => b"mcp-kv-oauth/v1/client-secret",
        }
    }
}

/// Length of every generated secret's random part: 256 bits.
pub(crate) const SECRET_BYTES: usize = 32;

/// A fresh secret of `kind`: its prefix and 256 bits from the thread-local CSPRNG
/// (`rand::rng()`, ChaCha12 seeded and reseeded from the OS), base64url without padding.
pub(crate) fn generate(kind: Kind) -> Secret {
    let mut raw = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut raw);
    let mut out = String::with_capacity(kind.prefix().len() + 43);
    out.push_str(kind.prefix());
    URL_SAFE_NO_PAD.encode_string(raw, &mut out);
    raw.zeroize();
    Secret::new(out)
}

/// A non-secret random identifier (client ids, family ids, upstream record ids): 128 bits, hex.
pub(crate) fn random_id() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Whether `value` looks like a secret of `kind` (prefix and length): a cheap filter before any
/// store read; the hash lookup is what decides.
pub(crate) fn well_formed(kind: Kind, value: &str) -> bool {
    value.len() == kind.prefix().len() + 43 && value.starts_with(kind.prefix())
}

/// The storage key of a secret: hex SHA-256 of its domain, a NUL and the secret. Only this is
/// ever stored; the secret itself is not.
pub(crate) fn storage_key(kind: Kind, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.domain());
    h.update([0u8]);
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// The hash of a tuple of strings, each length-prefixed so that no two tuples collide (used for
/// consent keys).
pub(crate) fn tuple_key(domain: &[u8], parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(domain);
    h.update([0u8]);
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Checks a PKCE code challenge: method `S256` only, and 43 base64url characters (the encoding
/// of a SHA-256 digest).
pub(crate) fn check_challenge(challenge: &str, method: &str) -> Result<()> {
    if method != "S256" {
        return Err(OAuthError::InvalidPkce("only the S256 method is accepted"));
    }
    let ok = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(OAuthError::InvalidPkce(
            "code challenge is not 43 base64url characters",
        ));
    }
    Ok(())
}

/// The S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks a PKCE verifier against the stored challenge: RFC 7636 syntax (43..=128 unreserved
/// characters), then `BASE64URL(SHA256(verifier)) == challenge` in constant time.
pub(crate) fn verify_pkce(verifier: &str, challenge: &str) -> Result<()> {
    let syntax = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !syntax {
        return Err(OAuthError::InvalidPkce("code verifier is malformed"));
    }
    if !ct_eq_str(&pkce_challenge(verifier), challenge) {
        return Err(OAuthError::InvalidPkce(
            "code verifier does not match the challenge",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_distinct_and_well_formed() {
        let a = generate(Kind::AccessToken);
        let b = generate(Kind::AccessToken);
        assert_ne!(a, b);
        assert!(well_formed(Kind::AccessToken, a.expose_secret()));
        assert!(!well_formed(Kind::RefreshToken, a.expose_secret()));
        assert_eq!(storage_key(Kind::AccessToken, a.expose_secret()).len(), 64);
    }

    #[test]
    fn hash_domains_differ() {
        let t = "same-bytes";
        assert_ne!(
            storage_key(Kind::AccessToken, t),
            storage_key(Kind::RefreshToken, t)
        );
        assert_ne!(storage_key(Kind::Code, t), storage_key(Kind::Pending, t));
    }

    #[test]
    fn tuple_keys_do_not_collide_on_concatenation() {
        assert_ne!(tuple_key(b"d", &["ab", "c"]), tuple_key(b"d", &["a", "bc"]));
    }

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(pkce_challenge(verifier), challenge);
        assert!(verify_pkce(verifier, challenge).is_ok());
        assert!(check_challenge(challenge, "S256").is_ok());
        assert!(check_challenge(challenge, "plain").is_err());
        assert!(verify_pkce("short", challenge).is_err());
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
        assert!(matches!(
            verify_pkce(other, challenge),
            Err(OAuthError::InvalidPkce(_))
        ));
    }
}

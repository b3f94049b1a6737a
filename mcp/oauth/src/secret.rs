//! [`Secret`]: a token, code, verifier or client secret that never shows in `Debug`, logs or
//! errors, is compared in constant time and is wiped from memory when dropped.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A secret string: an access or refresh token, an authorization code, a PKCE verifier, a
/// client secret, an upstream token.
///
/// - `Debug` prints `Secret([REDACTED])`; there is no `Display`, so a secret cannot slip into
///   a log line or an error message by formatting.
/// - Equality ([`Secret::ct_eq`] and `PartialEq`) runs in constant time.
/// - The buffer is zeroized when the value is dropped.
///
/// Read it with [`expose_secret`](Secret::expose_secret) only where it must leave the process
/// (the HTTP response to the client that owns it).
///
/// ```
/// use mcp_kv_oauth::Secret;
///
/// let token = Secret::new("mcpat_very-secret");
/// assert_eq!(format!("{token:?}"), "Secret([REDACTED])");
/// assert_eq!(token.expose_secret(), "mcpat_very-secret");
/// assert!(token.ct_eq("mcpat_very-secret"));
/// ```
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret string.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself. Keep the borrow short; never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret equals `other`, in time independent of where they differ.
    pub fn ct_eq(&self, other: &str) -> bool {
        ct_eq_str(&self.0, other)
    }

    /// The secret's length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.expose_secret())
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Constant-time equality of two strings (the length is not hidden; every secret this crate
/// compares has a public, fixed format).
pub(crate) fn ct_eq_str(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_eq_is_by_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s, Secret::from("hunter2"));
        assert_ne!(s, Secret::from("hunter3"));
        assert!(!s.ct_eq("hunter"));
        assert_eq!(s.len(), 7);
    }
}

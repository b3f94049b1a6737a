//! [`TokenStoreBuilder`]: lifetimes, clock skew, clock, collection prefix and — required — the
//! encryption keyring.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::{rules, system_clock, Clock, DynStore, SharedClock};
use mcp_kv_wrappers::encryption::{Encryption, EncryptionConfig, EncryptionKey, Keyring};

use crate::store::TokenStore;
use crate::{OAuthError, Result};

/// Default lifetime of an authorization code: 5 minutes.
pub const DEFAULT_CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Default lifetime of a pending authorization: 15 minutes.
pub const DEFAULT_PENDING_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Default lifetime of an access token: 1 hour.
pub const DEFAULT_ACCESS_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Default lifetime of a refresh token (each rotation starts a new one): 30 days.
pub const DEFAULT_REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Default lifetime of a consent record: 30 days.
pub const DEFAULT_CONSENT_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Default clock-skew allowance between replicas: 10 seconds.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(10);
/// Largest clock-skew allowance accepted: 5 minutes.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// How long a record is kept in storage past its logical expiry (plus skew), so that late use
/// is reported as [`OAuthError::Expired`] rather than as unknown.
pub const EXPIRED_REPORT_GRACE: Duration = Duration::from_secs(60);

/// The lifetimes and allowances of a [`TokenStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lifetimes {
    /// Authorization code lifetime (default 5 min).
    pub code: Duration,
    /// Pending authorization lifetime (default 15 min).
    pub pending: Duration,
    /// Access token lifetime (default 1 h).
    pub access_token: Duration,
    /// Refresh token lifetime, renewed by each rotation (default 30 days).
    pub refresh_token: Duration,
    /// Consent record lifetime (default 30 days).
    pub consent: Duration,
    /// Clock-skew allowance: a code or token stays accepted this long past its expiry, so that
    /// replicas whose clocks differ slightly agree (default 10 s, at most 5 min).
    pub clock_skew: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            code: DEFAULT_CODE_LIFETIME,
            pending: DEFAULT_PENDING_LIFETIME,
            access_token: DEFAULT_ACCESS_LIFETIME,
            refresh_token: DEFAULT_REFRESH_LIFETIME,
            consent: DEFAULT_CONSENT_LIFETIME,
            clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }
}

impl Lifetimes {
    fn check(&self) -> Result<()> {
        let longest = rules::MAX_TTL - MAX_CLOCK_SKEW - EXPIRED_REPORT_GRACE;
        for d in [
            self.code,
            self.pending,
            self.access_token,
            self.refresh_token,
            self.consent,
        ] {
            if d.is_zero() || d > longest {
                return Err(OAuthError::Config(
                    "a lifetime is zero or longer than ~100 years",
                ));
            }
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(OAuthError::Config("clock skew allowance above 5 minutes"));
        }
        // A family (what `revoke` finds an access token through) lives as long as its refresh
        // token: an access token outliving it could no longer be revoked.
        if self.access_token > self.refresh_token {
            return Err(OAuthError::Config(
                "the access-token lifetime is longer than the refresh-token lifetime",
            ));
        }
        Ok(())
    }
}

enum Protection {
    None,
    Keyring(Keyring),
    InsecurePlaintext,
}

/// Builds a [`TokenStore`] over any [`DynStore`].
///
/// An encryption keyring is required: every record goes through
/// [`mcp_kv_wrappers::encryption::Encryption`] (XChaCha20-Poly1305, bound to collection and
/// key). Building without one is an [`OAuthError::Config`] error, unless
/// [`insecure_plaintext_for_tests`](Self::insecure_plaintext_for_tests) is called explicitly.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use mcp_kv_memory::MemoryStore;
/// use mcp_kv_oauth::{OAuthError, TokenStore};
/// use mcp_kv_wrappers::encryption::EncryptionKey;
///
/// let backend = Arc::new(MemoryStore::new());
/// // No key: refused.
/// assert!(matches!(TokenStore::builder(backend.clone()).build(), Err(OAuthError::Config(_))));
///
/// let store = TokenStore::builder(backend)
///     .encryption_key(EncryptionKey::generate(1))
///     .code_lifetime(Duration::from_secs(120))
///     .clock_skew(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(store.lifetimes().code, Duration::from_secs(120));
///
/// // An access token may not outlive its refresh token (it could not be revoked).
/// let too_long = TokenStore::builder(Arc::new(MemoryStore::new()))
///     .encryption_key(EncryptionKey::generate(1))
///     .access_token_lifetime(Duration::from_secs(7200))
///     .refresh_token_lifetime(Duration::from_secs(3600))
///     .build();
/// assert!(matches!(too_long, Err(OAuthError::Config(_))));
/// # Ok::<(), OAuthError>(())
/// ```
#[must_use = "call .build() to get a token store"]
pub struct TokenStoreBuilder {
    backend: DynStore,
    protection: Protection,
    lifetimes: Lifetimes,
    clock: SharedClock,
    prefix: String,
}

impl fmt::Debug for TokenStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protection = match &self.protection {
            Protection::None => "none (build fails)",
            Protection::Keyring(_) => "encrypted",
            Protection::InsecurePlaintext => "INSECURE plaintext (tests only)",
        };
        f.debug_struct("TokenStoreBuilder")
            .field("backend", &self.backend)
            .field("protection", &protection)
            .field("lifetimes", &self.lifetimes)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl TokenStoreBuilder {
    pub(crate) fn new(backend: DynStore) -> Self {
        TokenStoreBuilder {
            backend,
            protection: Protection::None,
            lifetimes: Lifetimes::default(),
            clock: system_clock(),
            prefix: "oauth".into(),
        }
    }

    /// Encrypts every record with this keyring (its active key seals; older keys read).
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.protection = Protection::Keyring(keyring);
        self
    }

    /// Encrypts every record with this one key.
    pub fn encryption_key(self, key: EncryptionKey) -> Self {
        self.keyring(Keyring::new(key))
    }

    /// Stores records **unencrypted**. Tokens, codes and client secrets are still stored only
    /// as hashes, but upstream tokens are stored in plaintext and records are not
    /// authenticated. For tests only.
    pub fn insecure_plaintext_for_tests(mut self) -> Self {
        self.protection = Protection::InsecurePlaintext;
        self
    }

    /// Sets every lifetime at once.
    pub fn lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Authorization code lifetime (default 5 min).
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.code = lifetime;
        self
    }

    /// Pending authorization lifetime (default 15 min).
    pub fn pending_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.pending = lifetime;
        self
    }

    /// Access token lifetime (default 1 h); at most the refresh-token lifetime.
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.access_token = lifetime;
        self
    }

    /// Refresh token lifetime (default 30 days).
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.refresh_token = lifetime;
        self
    }

    /// Consent record lifetime (default 30 days).
    pub fn consent_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.consent = lifetime;
        self
    }

    /// Clock-skew allowance (default 10 s, at most 5 min).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.lifetimes.clock_skew = skew;
        self
    }

    /// The clock expiry checks read (tests inject a [`ManualClock`](mcp_kv_core::ManualClock);
    /// give the backend the same one).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Prefix of the collection names (default `oauth`: `oauth.clients`, `oauth.codes`, …).
    pub fn collection_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Builds the store: [`OAuthError::Config`] without a keyring (unless the insecure switch
    /// is on), with invalid lifetimes, a bad prefix, or a backend without atomic
    /// `put_if_absent`, `take` and `compare_and_swap`.
    pub fn build(self) -> Result<TokenStore> {
        self.lifetimes.check()?;
        if self.prefix.is_empty() || self.prefix.len() > 64 {
            return Err(OAuthError::Config("collection prefix must be 1..=64 bytes"));
        }
        let caps = self.backend.capabilities();
        if !(caps.put_if_absent && caps.take && caps.compare_and_swap) {
            return Err(OAuthError::Config(
                "the backend lacks atomic put_if_absent, take or compare_and_swap",
            ));
        }
        let (store, encrypted): (DynStore, bool) = match self.protection {
            Protection::None => {
                return Err(OAuthError::Config(
                    "no encryption keyring: set one, or call insecure_plaintext_for_tests()",
                ))
            }
            Protection::Keyring(keyring) => (
                Arc::new(Encryption::new(
                    self.backend,
                    keyring,
                    EncryptionConfig::default().allow_legacy_plaintext(false),
                )),
                true,
            ),
            Protection::InsecurePlaintext => (self.backend, false),
        };
        Ok(TokenStore::from_parts(
            store,
            encrypted,
            self.lifetimes,
            self.clock,
            &self.prefix,
        ))
    }
}

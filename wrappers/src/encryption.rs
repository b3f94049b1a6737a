//! [`Encryption`]: XChaCha20-Poly1305 encryption of values, bound to their collection and key
//! (feature `encryption`).
//!
//! # Envelope
//!
//! Every stored value is an envelope of [`OVERHEAD`] (45) bytes more than the plaintext:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version, [`FORMAT_V1`] |
//! | 4 | key id, big-endian `u32` |
//! | 24 | nonce, fresh from the OS random generator for every write |
//! | n + 16 | ciphertext and Poly1305 tag |
//!
//! The associated data is the version, the key id and
//! [`encode_pair(collection, key)`](mcp_kv_core::encoding::encode_pair) (length-prefixed, so
//! no two pairs alike): a ciphertext copied to another key or collection, or with its header
//! edited, does not decrypt. 24-byte random nonces make a nonce collision negligible even for
//! billions of writes under one key.
//!
//! # Fail closed
//!
//! A value that is not an envelope (plaintext), names a key id the [`Keyring`] does not hold,
//! or fails its tag (wrong key, tampering, moved) is an [`ErrorKind::Decryption`] error — never
//! returned as is, never `None`. For a migration from unencrypted data,
//! [`EncryptionConfig::allow_legacy_plaintext`] returns values that are **not envelopes**
//! (shorter than 45 bytes or not starting with byte `0x01`) as plaintext; envelopes that fail
//! still fail. Run [`Encryption::rekey`] to encrypt them, then turn the opt-in off: while it is
//! on, anyone who can write to the backend can plant values that read as genuine.
//!
//! # Keys and rotation
//!
//! A [`Keyring`] holds one active key, used for every write, and any number of older keys by
//! id, used to read what they wrote. To rotate: add a new active key, keep the old ones, run
//! [`Encryption::rekey`] — it walks `collections()` and `keys()` and re-encrypts every value
//! not under the active key with the inner store's `compare_and_swap` (so a concurrent write is
//! never overwritten: the loser is the re-encryption, which sees the new value already under
//! the active key) keeping each entry's remaining TTL. When it reports no failures, the old
//! keys can be dropped. A rekey dropped midway keeps what it re-encrypted; running it again
//! finishes the rest. It walks every collection of the inner store: with tenants sharing the
//! backend through a `Namespace` outside this wrapper, use [`Encryption::rekey_prefix`].
//!
//! Keys come from 32 random bytes ([`EncryptionKey::generate`], [`random_key_bytes`],
//! [`EncryptionKey::from_bytes`]) or from a passphrase through Argon2id
//! ([`EncryptionKey::from_passphrase`], [`KdfParams`]: by default 19 MiB, 2 passes, 1 lane —
//! OWASP's recommendation). The **salt** must be at least 16 random bytes ([`random_salt`]),
//! generated once per deployment and stored next to the configuration (it is not secret, but
//! the same passphrase with another salt gives another key, and every replica must use the
//! same one). Key material lives only inside the cipher, which zeroizes it on drop
//! (`chacha20poly1305` does, through `zeroize`); derived bytes are held in `Zeroizing`
//! buffers; `Debug` shows key ids only.
//!
//! # Atomic operations
//!
//! `put_if_absent` and `touch` forward to the inner store. `compare_and_swap` compares
//! the **decrypted** stored value with `current` (ciphertexts of equal values differ), then
//! swaps the stored ciphertext for the new one with the inner store's `compare_and_swap`.
//! `take` reads, decrypts, then swaps the exact ciphertext it read for nothing (the inner
//! `compare_and_swap` again), so a value that fails to decrypt is an error and stays stored;
//! it costs a round trip more than the inner `take`, which it uses only when the inner store
//! has no `compare_and_swap`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use mcp_kv_core::{Bytes, ErrorKind, KvStore};
//! use mcp_kv_memory::MemoryStore;
//! use mcp_kv_wrappers::encryption::{Encryption, EncryptionConfig, EncryptionKey, Keyring};
//!
//! let backend = Arc::new(MemoryStore::new());
//! let keyring = Keyring::new(EncryptionKey::generate(1));
//! let store = Encryption::new(backend.clone(), keyring, EncryptionConfig::default());
//! store.put("tokens", "alice", Bytes::from_static(b"secret"), None).await?;
//! assert_eq!(store.get("tokens", "alice").await?.unwrap(), "secret");
//! assert_ne!(backend.get("tokens", "alice").await?.unwrap(), "secret");
//!
//! // Moving the ciphertext to another key does not work.
//! let stolen = backend.get("tokens", "alice").await?.unwrap();
//! backend.put("tokens", "mallory", stolen, None).await?;
//! assert_eq!(store.get("tokens", "mallory").await.unwrap_err().kind(), ErrorKind::Decryption);
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`ErrorKind::Decryption`]: mcp_kv_core::ErrorKind::Decryption

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::{AeadCore, AeadInPlace, KeyInit, XChaCha20Poly1305, XNonce};
use mcp_kv_core::encoding::encode_pair;
use mcp_kv_core::{
    rules, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation, Page, Result,
};
use zeroize::Zeroizing;

/// The AEAD crate itself, for baselines that call XChaCha20-Poly1305 directly (the wrappers
/// benchmark). Not part of the stable API.
#[doc(hidden)]
pub use chacha20poly1305 as __aead;

/// The envelope format written by this version.
pub const FORMAT_V1: u8 = 1;
const HEADER: usize = 1 + 4;
const NONCE: usize = 24;
const TAG: usize = 16;
/// Bytes an envelope adds to its plaintext: version, key id, nonce and tag.
pub const OVERHEAD: usize = HEADER + NONCE + TAG;

/// 32 random bytes from the operating system, for a new key to store somewhere safe and load
/// with [`EncryptionKey::from_bytes`].
pub fn random_key_bytes() -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(key.as_mut());
    key
}

/// 16 random bytes from the operating system, a salt for [`EncryptionKey::from_passphrase`].
pub fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    salt
}

/// Cost of the Argon2id key derivation of [`EncryptionKey::from_passphrase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KdfParams {
    /// Memory in KiB (default 19 456 = 19 MiB).
    pub memory_kib: u32,
    /// Passes over the memory (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        KdfParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Custom costs (the defaults are the recommended minimum for production).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        KdfParams {
            memory_kib,
            iterations,
            parallelism,
        }
    }
}

/// One 256-bit key with its id. `Debug` shows the id only; the key is zeroized on drop.
#[derive(Clone)]
pub struct EncryptionKey {
    id: u32,
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl EncryptionKey {
    /// A new random key (from the OS generator). It cannot be exported: to keep a key across
    /// restarts, make its bytes with [`random_key_bytes`], store them, and use
    /// [`EncryptionKey::from_bytes`].
    pub fn generate(id: u32) -> Self {
        let bytes = random_key_bytes();
        Self::from_array(id, &bytes)
    }

    /// A key from 32 bytes of key material ([`ErrorKind::Config`] for any other length).
    pub fn from_bytes(id: u32, bytes: &[u8]) -> Result<Self> {
        let array: &[u8; 32] = bytes.try_into().map_err(|_| {
            Error::new(
                ErrorKind::Config,
                format!("an encryption key is 32 bytes, not {}", bytes.len()),
            )
        })?;
        Ok(Self::from_array(id, array))
    }

    fn from_array(id: u32, bytes: &[u8; 32]) -> Self {
        EncryptionKey {
            id,
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// A key derived from a passphrase with Argon2id (version 0x13) and `salt` (at least 16
    /// bytes; see the [module docs](self) on salt handling). Slow on purpose: derive once at
    /// start-up.
    pub fn from_passphrase(
        id: u32,
        passphrase: &[u8],
        salt: &[u8],
        params: KdfParams,
    ) -> Result<Self> {
        if salt.len() < 16 {
            return Err(Error::new(
                ErrorKind::Config,
                "the KDF salt must be at least 16 bytes",
            ));
        }
        let params = argon2::Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(32),
        )
        .map_err(|_| Error::new(ErrorKind::Config, "invalid Argon2 parameters"))?;
        let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        kdf.hash_password_into(passphrase, salt, out.as_mut())
            .map_err(|_| Error::new(ErrorKind::Config, "key derivation failed"))?;
        Ok(Self::from_array(id, &out))
    }

    /// The key's id, written in every envelope it seals.
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// One active key for writing and older keys for reading, by id. Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    active: u32,
    keys: Arc<BTreeMap<u32, EncryptionKey>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// A keyring whose active key is `active`.
    pub fn new(active: EncryptionKey) -> Self {
        let id = active.id;
        Keyring {
            active: id,
            keys: Arc::new(BTreeMap::from([(id, active)])),
        }
    }

    /// Adds an older key, used only to read ([`ErrorKind::Config`] if its id is taken).
    pub fn with_old_key(mut self, key: EncryptionKey) -> Result<Self> {
        if self.keys.contains_key(&key.id) {
            return Err(Error::new(ErrorKind::Config, "two keys with the same id"));
        }
        Arc::make_mut(&mut self.keys).insert(key.id, key);
        Ok(self)
    }

    /// Makes `key` the active key; the previous active key stays for reading
    /// ([`ErrorKind::Config`] if its id is taken).
    pub fn rotate(self, key: EncryptionKey) -> Result<Self> {
        let id = key.id;
        let mut ring = self.with_old_key(key)?;
        ring.active = id;
        Ok(ring)
    }

    /// The id of the key that seals new values.
    pub fn active_id(&self) -> u32 {
        self.active
    }

    /// The ids of every key held.
    pub fn ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    fn active(&self) -> &EncryptionKey {
        // The active id is always a key of the map (new, rotate).
        &self.keys[&self.active]
    }
}

fn aad(version: u8, key_id: u32, collection: &str, key: &str) -> Vec<u8> {
    let pair = encode_pair(collection, key);
    let mut aad = Vec::with_capacity(HEADER + pair.len());
    aad.push(version);
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.extend_from_slice(&pair);
    aad
}

fn decryption_error(context: &'static str) -> Error {
    Error::new(ErrorKind::Decryption, context)
}

/// Seals `plaintext` for `(collection, key)` under the keyring's active key.
pub fn seal(keyring: &Keyring, collection: &str, key: &str, plaintext: &[u8]) -> Result<Bytes> {
    let k = keyring.active();
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    out.push(FORMAT_V1);
    out.extend_from_slice(&k.id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = k
        .cipher
        .encrypt_in_place_detached(
            &nonce,
            &aad(FORMAT_V1, k.id, collection, key),
            &mut out[HEADER + NONCE..],
        )
        .map_err(|_| Error::new(ErrorKind::Backend, "encryption failed"))?;
    out.extend_from_slice(&tag);
    Ok(Bytes::from(out))
}

/// Whether `stored` has the shape of an envelope (length and version byte), and its key id.
pub fn envelope_key_id(stored: &[u8]) -> Option<u32> {
    if stored.len() < OVERHEAD || stored[0] != FORMAT_V1 {
        return None;
    }
    let id: [u8; 4] = stored[1..HEADER].try_into().ok()?;
    Some(u32::from_be_bytes(id))
}

/// Opens an envelope written for `(collection, key)`. Anything else — too short, unknown
/// version or key id, failed tag — is [`ErrorKind::Decryption`]. Never panics.
pub fn open(keyring: &Keyring, collection: &str, key: &str, stored: &[u8]) -> Result<Bytes> {
    let id =
        envelope_key_id(stored).ok_or_else(|| decryption_error("not an encrypted envelope"))?;
    let k = keyring
        .keys
        .get(&id)
        .ok_or_else(|| decryption_error("sealed with a key the keyring does not hold"))?;
    let nonce = XNonce::from_slice(&stored[HEADER..HEADER + NONCE]);
    let body = &stored[HEADER + NONCE..];
    let (ciphertext, tag) = body.split_at(body.len() - TAG);
    let mut plain = ciphertext.to_vec();
    k.cipher
        .decrypt_in_place_detached(
            nonce,
            &aad(FORMAT_V1, id, collection, key),
            &mut plain,
            tag.into(),
        )
        .map_err(|_| decryption_error("authentication failed (wrong key, moved or tampered)"))?;
    Ok(Bytes::from(plain))
}

/// Options of an [`Encryption`] wrapper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncryptionConfig {
    /// Return stored values that are not envelopes as plaintext (migration only; default
    /// off). See the [module docs](self).
    pub allow_legacy_plaintext: bool,
}

impl EncryptionConfig {
    /// The defaults: fail closed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads values that are not envelopes as plaintext (for a migration; see the
    /// [module docs](self)).
    pub fn allow_legacy_plaintext(mut self, on: bool) -> Self {
        self.allow_legacy_plaintext = on;
        self
    }
}

/// What [`Encryption::rekey`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RekeyReport {
    /// Live entries looked at.
    pub scanned: u64,
    /// Entries re-encrypted under the active key.
    pub rekeyed: u64,
    /// Legacy plaintext entries encrypted (only with `allow_legacy_plaintext`).
    pub encrypted_plaintext: u64,
    /// Entries already under the active key (including ones a concurrent writer rewrote).
    pub current: u64,
    /// Entries that did not decrypt, or whose envelope names the active key but fails its tag
    /// (tampered or corrupted), left untouched.
    pub failed: u64,
    /// Entries that decrypted but whose new envelope would exceed the inner store's value
    /// limit (legacy plaintext within [`OVERHEAD`] bytes of it), left untouched.
    pub too_large: u64,
}

impl RekeyReport {
    fn add(&mut self, o: RekeyReport) {
        self.scanned += o.scanned;
        self.rekeyed += o.rekeyed;
        self.encrypted_plaintext += o.encrypted_plaintext;
        self.current += o.current;
        self.failed += o.failed;
        self.too_large += o.too_large;
    }
}

/// Encrypts the values of `S`. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Encryption<S> {
    inner: S,
    keyring: Keyring,
    config: EncryptionConfig,
}

impl<S: KvStore> Encryption<S> {
    /// Wraps `inner`, sealing with `keyring`'s active key.
    pub fn new(inner: S, keyring: Keyring, config: EncryptionConfig) -> Self {
        Encryption {
            inner,
            keyring,
            config,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    fn max_value(&self) -> usize {
        self.inner
            .capabilities()
            .max_value_bytes
            .saturating_sub(OVERHEAD)
    }

    fn seal(&self, collection: &str, key: &str, value: &[u8], op: Operation) -> Result<Bytes> {
        rules::check_value(value.len(), self.max_value()).map_err(|e| e.with_operation(op))?;
        seal(&self.keyring, collection, key, value).map_err(|e| e.with_operation(op))
    }

    fn open(&self, collection: &str, key: &str, stored: &Bytes, op: Operation) -> Result<Bytes> {
        if self.config.allow_legacy_plaintext && envelope_key_id(stored).is_none() {
            return Ok(stored.clone());
        }
        open(&self.keyring, collection, key, stored).map_err(|e| e.with_operation(op))
    }

    /// Re-encrypts, under the active key, every entry of every collection (as listed by the
    /// inner store's `collections()`) that another key sealed — and, with
    /// `allow_legacy_plaintext`, every plaintext entry. See the [module docs](self).
    ///
    /// **Every collection of the inner store**: on a store shared with other tenants (a
    /// [`Namespace`](crate::namespace::Namespace) placed *outside* this wrapper) or holding
    /// collections written without encryption, use [`rekey_prefix`](Self::rekey_prefix) with
    /// the namespace's [`prefix`](crate::namespace::Namespace::prefix) instead: `rekey()`
    /// would count their entries as `failed` — and, with `allow_legacy_plaintext`, encrypt
    /// their plaintext under this keyring.
    pub async fn rekey(&self) -> Result<RekeyReport> {
        self.rekey_prefix("").await
    }

    /// [`Encryption::rekey`] for the collections of the inner store whose names start with
    /// `prefix` (the namespace's own, with a `Namespace` outside this wrapper).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use mcp_kv_core::{Bytes, KvStore};
    /// use mcp_kv_memory::MemoryStore;
    /// use mcp_kv_wrappers::encryption::{Encryption, EncryptionConfig, EncryptionKey, Keyring};
    /// use mcp_kv_wrappers::namespace::Namespace;
    ///
    /// let shared = Arc::new(MemoryStore::new());
    /// shared.put("other-tenant:notes", "n", Bytes::from_static(b"plain"), None).await?;
    /// let (old, new) = (EncryptionKey::generate(1), EncryptionKey::generate(2));
    /// let config = EncryptionConfig::new();
    /// let before = Namespace::new(Encryption::new(shared.clone(), Keyring::new(old.clone()), config.clone()), "t")?;
    /// before.put("tokens", "a", Bytes::from_static(b"secret"), None).await?;
    ///
    /// let ring = Keyring::new(new).with_old_key(old)?;
    /// let after = Namespace::new(Encryption::new(shared.clone(), ring, config), "t")?;
    /// let report = after.inner().rekey_prefix(after.prefix()).await?;
    /// assert_eq!((report.rekeyed, report.failed), (1, 0)); // the other tenant is not looked at
    /// assert_eq!(shared.get("other-tenant:notes", "n").await?.unwrap(), "plain");
    /// # Ok::<(), mcp_kv_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn rekey_prefix(&self, prefix: &str) -> Result<RekeyReport> {
        let mut report = RekeyReport::default();
        for collection in self.inner.collections().await? {
            if collection.starts_with(prefix) {
                report.add(self.rekey_collection(&collection).await?);
            }
        }
        Ok(report)
    }

    /// [`Encryption::rekey`] for one collection.
    pub async fn rekey_collection(&self, collection: &str) -> Result<RekeyReport> {
        let mut report = RekeyReport::default();
        let mut cursor = None;
        loop {
            let page = self.inner.keys(collection, cursor, 256).await?;
            for key in &page.keys {
                self.rekey_one(collection, key, &mut report).await?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(report),
            }
        }
    }

    async fn rekey_one(&self, collection: &str, key: &str, report: &mut RekeyReport) -> Result<()> {
        let mut counted = false;
        loop {
            let Some(entry) = self.inner.get_entry(collection, key).await? else {
                return Ok(()); // deleted or expired meanwhile
            };
            if !counted {
                report.scanned += 1;
                counted = true;
            }
            let id = envelope_key_id(&entry.value);
            let plain = match self.open(collection, key, &entry.value, Operation::Other) {
                Ok(p) => p,
                Err(_) => {
                    report.failed += 1;
                    return Ok(());
                }
            };
            if id == Some(self.keyring.active) {
                // Opened above: a tampered envelope under the active key counts as failed.
                report.current += 1;
                return Ok(());
            }
            if rules::check_value(plain.len(), self.max_value()).is_err() {
                report.too_large += 1;
                return Ok(());
            }
            let sealed = seal(&self.keyring, collection, key, &plain)?;
            if self
                .inner
                .compare_and_swap(collection, key, Some(&entry.value), Some(sealed), entry.ttl)
                .await?
            {
                if id.is_some() {
                    report.rekeyed += 1;
                } else {
                    report.encrypted_plaintext += 1;
                }
                return Ok(());
            }
            // A concurrent writer changed the entry: look again (its value is kept).
        }
    }
}

#[async_trait]
impl<S: KvStore> KvStore for Encryption<S> {
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        caps.max_value_bytes = caps.max_value_bytes.saturating_sub(OVERHEAD);
        caps
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        match self.inner.get(collection, key).await? {
            Some(s) => Ok(Some(self.open(collection, key, &s, Operation::Get)?)),
            None => Ok(None),
        }
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        match self.inner.get_entry(collection, key).await? {
            Some(e) => Ok(Some(Entry {
                value: self.open(collection, key, &e.value, Operation::GetEntry)?,
                ttl: e.ttl,
            })),
            None => Ok(None),
        }
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_name(collection, key)?;
        let sealed = self.seal(collection, key, &value, Operation::Put)?;
        self.inner.put(collection, key, sealed, ttl).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.inner.delete(collection, key).await
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let stored = self.inner.get_many(collection, keys).await?;
        stored
            .iter()
            .zip(keys)
            .map(|(s, k)| {
                s.as_ref()
                    .map(|s| self.open(collection, k, s, Operation::GetMany))
                    .transpose()
            })
            .collect()
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let stored = self.inner.get_entries(collection, keys).await?;
        stored
            .into_iter()
            .zip(keys)
            .map(|(e, k)| {
                e.map(|e| {
                    Ok(Entry {
                        value: self.open(collection, k, &e.value, Operation::GetEntries)?,
                        ttl: e.ttl,
                    })
                })
                .transpose()
            })
            .collect()
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_entries(&self.capabilities(), collection, &entries, ttl)
            .map_err(|e| e.with_operation(Operation::PutMany))?;
        let sealed = entries
            .into_iter()
            .map(|(k, v)| {
                let s = seal(&self.keyring, collection, &k, &v)?;
                Ok((k, s))
            })
            .collect::<Result<Vec<_>>>()?;
        self.inner.put_many(collection, sealed, ttl).await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.inner.delete_many(collection, keys).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        rules::check_name(collection, key)?;
        let sealed = self.seal(collection, key, &value, Operation::PutIfAbsent)?;
        self.inner.put_if_absent(collection, key, sealed, ttl).await
    }

    /// Over an inner store with `compare_and_swap`, a read, then the stored ciphertext swapped
    /// for nothing: a value that does not decrypt is an error and **stays** (a keyring missing
    /// an old key must not destroy what that key could still read). One taker wins, as with
    /// the inner `take`: the swap succeeds only for the exact bytes read, and each write's
    /// fresh nonce makes those unique. Without `compare_and_swap`, the inner `take` (the entry
    /// is gone before it is decrypted).
    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        crate::cas::take_decoded(&self.inner, collection, key, |s| {
            self.open(collection, key, s, Operation::Take)
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let op = Operation::CompareAndSwap;
        rules::check_name(collection, key)?;
        let new = new
            .map(|v| self.seal(collection, key, &v, op))
            .transpose()?;
        let Some(current) = current else {
            return self
                .inner
                .compare_and_swap(collection, key, None, new, ttl)
                .await;
        };
        crate::cas::swap_decoded(&self.inner, collection, key, current, new, ttl, |s| {
            self.open(collection, key, s, op)
        })
        .await
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.inner.touch(collection, key, ttl).await
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.inner.keys(collection, cursor, limit).await
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.inner.collections().await
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.inner.clear(collection).await
    }

    async fn cull(&self) -> Result<u64> {
        self.inner.cull().await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{manual_store, store};

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    fn enc<S: KvStore>(inner: S, ring: Keyring) -> Encryption<S> {
        Encryption::new(inner, ring, EncryptionConfig::default())
    }

    #[test]
    fn envelope_round_trip_and_binding() {
        let ring = Keyring::new(EncryptionKey::generate(7));
        let s = seal(&ring, "c", "k", b"hello").unwrap();
        assert_eq!(s.len(), 5 + OVERHEAD);
        assert_eq!(envelope_key_id(&s), Some(7));
        assert_eq!(open(&ring, "c", "k", &s).unwrap(), "hello");
        assert_ne!(
            seal(&ring, "c", "k", b"hello").unwrap(),
            s,
            "fresh nonce per write"
        );
        for (c, k) in [("c", "k2"), ("c2", "k"), ("ck", ""), ("", "ck")] {
            assert_eq!(
                open(&ring, c, k, &s).unwrap_err().kind(),
                ErrorKind::Decryption
            );
        }
        let mut header = s.to_vec();
        header[4] ^= 1; // other key id
        assert_eq!(
            open(&ring, "c", "k", &header).unwrap_err().kind(),
            ErrorKind::Decryption
        );
        let mut body = s.to_vec();
        *body.last_mut().unwrap() ^= 1;
        assert_eq!(
            open(&ring, "c", "k", &body).unwrap_err().kind(),
            ErrorKind::Decryption
        );
    }

    #[test]
    fn debug_never_shows_keys() {
        let bytes = [0x42u8; 32];
        let key = EncryptionKey::from_bytes(3, &bytes).unwrap();
        let ring = Keyring::new(key.clone());
        let text = format!("{key:?} {ring:?} {:?}", enc(store(), ring.clone()));
        assert!(!text.contains("42") && !text.contains("66"), "{text}");
        assert!(text.contains("redacted"));
        assert_eq!(
            EncryptionKey::from_bytes(1, &[0; 31]).unwrap_err().kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn passphrase_keys_are_deterministic_per_salt() {
        let p = KdfParams::new(64, 1, 1); // tiny cost for the test only
        let salt = [9u8; 16];
        let a = EncryptionKey::from_passphrase(1, b"correct horse", &salt, p).unwrap();
        let b = EncryptionKey::from_passphrase(1, b"correct horse", &salt, p).unwrap();
        let other = EncryptionKey::from_passphrase(1, b"correct horse", &[8u8; 16], p).unwrap();
        let s = seal(&Keyring::new(a), "c", "k", b"v").unwrap();
        assert_eq!(open(&Keyring::new(b), "c", "k", &s).unwrap(), "v");
        assert!(open(&Keyring::new(other), "c", "k", &s).is_err());
        assert!(EncryptionKey::from_passphrase(1, b"x", b"short", p).is_err());
        assert_ne!(random_salt(), random_salt());
    }

    #[tokio::test]
    async fn wrong_key_and_plaintext_fail_closed() {
        let inner = store();
        let a = enc(inner.clone(), Keyring::new(EncryptionKey::generate(1)));
        let other = enc(inner.clone(), Keyring::new(EncryptionKey::generate(1)));
        a.put("c", "k", b("v"), None).await.unwrap();
        assert_eq!(
            other.get("c", "k").await.unwrap_err().kind(),
            ErrorKind::Decryption
        );
        inner.put("c", "plain", b("legacy"), None).await.unwrap();
        assert_eq!(
            a.get("c", "plain").await.unwrap_err().kind(),
            ErrorKind::Decryption
        );
        assert_eq!(
            a.take("c", "plain").await.unwrap_err().kind(),
            ErrorKind::Decryption
        );
        let legacy = Encryption::new(
            inner.clone(),
            a.keyring().clone(),
            EncryptionConfig::new().allow_legacy_plaintext(true),
        );
        inner.put("c", "plain", b("legacy"), None).await.unwrap();
        assert_eq!(legacy.get("c", "plain").await.unwrap().unwrap(), "legacy");
        // Envelopes that fail still fail with the opt-in.
        assert_eq!(
            Encryption::new(
                inner.clone(),
                other.keyring().clone(),
                EncryptionConfig::new().allow_legacy_plaintext(true)
            )
            .get("c", "k")
            .await
            .unwrap_err()
            .kind(),
            ErrorKind::Decryption
        );
        let err = a.get("c", "plain").await.unwrap_err().to_string();
        assert!(!err.contains("legacy") && !err.contains("plain"), "{err}");
    }

    #[tokio::test]
    async fn cas_compares_plaintext() {
        let e = enc(store(), Keyring::new(EncryptionKey::generate(1)));
        assert!(e
            .compare_and_swap("c", "k", None, Some(b("one")), None)
            .await
            .unwrap());
        assert!(!e
            .compare_and_swap("c", "k", None, Some(b("two")), None)
            .await
            .unwrap());
        assert!(!e
            .compare_and_swap("c", "k", Some(b"zzz"), Some(b("two")), None)
            .await
            .unwrap());
        assert!(e
            .compare_and_swap("c", "k", Some(b"one"), Some(b("two")), None)
            .await
            .unwrap());
        assert_eq!(e.get("c", "k").await.unwrap().unwrap(), "two");
        assert!(e
            .compare_and_swap("c", "k", Some(b"two"), None, None)
            .await
            .unwrap());
        assert_eq!(e.get("c", "k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn rotation_then_rekey_keeps_values_and_ttls() {
        let (inner, clock) = manual_store();
        let old = EncryptionKey::generate(1);
        let v1 = enc(inner.clone(), Keyring::new(old.clone()));
        for i in 0..600 {
            let ttl = (i % 2 == 0).then(|| Duration::from_secs(100 + i));
            v1.put("a", &format!("k{i}"), Bytes::from(format!("v{i}")), ttl)
                .await
                .unwrap();
        }
        v1.put("b", "x", b("bx"), None).await.unwrap();
        clock.advance(Duration::from_secs(10));
        let new = EncryptionKey::generate(2);
        let ring = Keyring::new(old).rotate(new.clone()).unwrap();
        assert_eq!(ring.active_id(), 2);
        let v2 = enc(inner.clone(), ring);
        // A write under the new key before the re-key: left alone.
        v2.put("b", "y", b("by"), None).await.unwrap();
        let report = v2.rekey().await.unwrap();
        assert_eq!(report.scanned, 602);
        assert_eq!(report.rekeyed, 601);
        assert_eq!(report.current, 1);
        assert_eq!(report.failed, 0);
        let only_new = enc(inner.clone(), Keyring::new(new));
        for i in 0..600u64 {
            let e = only_new
                .get_entry("a", &format!("k{i}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(e.value, format!("v{i}"));
            if i % 2 == 0 {
                assert_eq!(e.ttl, Some(Duration::from_secs(90 + i)));
            } else {
                assert_eq!(e.ttl, None);
            }
        }
        assert_eq!(only_new.get("b", "x").await.unwrap().unwrap(), "bx");
        assert_eq!(v2.rekey().await.unwrap().rekeyed, 0);
    }

    #[tokio::test]
    async fn rekey_counts_tampered_and_too_large_entries_and_goes_on() {
        use mcp_kv_memory::MemoryStore;
        let inner = Arc::new(MemoryStore::builder().max_value_bytes(1000).build());
        let active = EncryptionKey::generate(1);
        let e = Encryption::new(
            inner.clone(),
            Keyring::new(active),
            EncryptionConfig::new().allow_legacy_plaintext(true),
        );
        // Collection "a": legacy plaintext that cannot take the envelope's 45 bytes more.
        let big = Bytes::from(vec![b'x'; 990]);
        inner.put("a", "big", big.clone(), None).await.unwrap();
        // Collection "b": an envelope under the active key, one tag bit flipped.
        e.put("b", "t", b("v"), None).await.unwrap();
        let mut tampered = inner.get("b", "t").await.unwrap().unwrap().to_vec();
        *tampered.last_mut().unwrap() ^= 1;
        inner
            .put("b", "t", Bytes::from(tampered), None)
            .await
            .unwrap();
        // Collection "c": plaintext that fits.
        inner.put("c", "p", b("plain"), None).await.unwrap();
        let report = e.rekey().await.unwrap();
        assert_eq!(
            (report.scanned, report.too_large, report.failed),
            (3, 1, 1),
            "{report:?}"
        );
        assert_eq!((report.encrypted_plaintext, report.current), (1, 0));
        assert_eq!(inner.get("a", "big").await.unwrap(), Some(big), "untouched");
        assert_eq!(e.get("c", "p").await.unwrap(), Some(b("plain")));
    }

    #[tokio::test]
    async fn rekey_migrates_plaintext_when_opted_in() {
        let inner = store();
        inner
            .put("c", "p", b("{\"legacy\":true}"), None)
            .await
            .unwrap();
        let key = EncryptionKey::generate(5);
        let e = Encryption::new(
            inner.clone(),
            Keyring::new(key.clone()),
            EncryptionConfig::new().allow_legacy_plaintext(true),
        );
        let report = e.rekey().await.unwrap();
        assert_eq!(report.encrypted_plaintext, 1);
        assert_eq!(
            enc(inner.clone(), Keyring::new(key))
                .get("c", "p")
                .await
                .unwrap()
                .unwrap(),
            "{\"legacy\":true}"
        );
        let strict = enc(inner.clone(), Keyring::new(EncryptionKey::generate(9)));
        inner.put("c", "q", b("plain"), None).await.unwrap();
        let report = strict.rekey().await.unwrap();
        assert_eq!(report.failed, 2);
        assert_eq!(
            inner.get("c", "q").await.unwrap().unwrap(),
            "plain",
            "untouched"
        );
    }
}

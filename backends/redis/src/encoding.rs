//! How `(collection, key, value, ttl)` become Redis keys, values and expiries, and back.
//!
//! # Key layout
//!
//! ```text
//! {prefix}{<escaped collection>}:<key>
//! ```
//!
//! - `prefix` comes from the configuration (default `mcp-kv:`); it may not contain `{` or `}`.
//! - The collection sits inside a **hash tag** (`{…}`), so every key of one collection hashes to
//!   the same Redis Cluster slot: batches (`MGET`, pipelines, multi-key `UNLINK`) stay
//!   single-slot, and `keys()`/`clear()` scan a single node.
//! - The collection is escaped with [`mcp_kv_core::encoding::escape`]: `%` and each of
//!   `{ } * ? [ ] \ :` become `%XX`. The escaped form therefore holds no `}` (the hash tag ends
//!   exactly after the collection), no glob character (a `SCAN MATCH` pattern built from it is
//!   literal) and no `:` (the separator after the tag is unambiguous). Escaping is injective,
//!   so two collections never share keys.
//! - The key follows verbatim: any UTF-8, NUL included. It is never part of a pattern, so it
//!   needs no escaping; the `}:` that ends the collection part is always the first `}`.
//!
//! Example: collection `oauth:codes`, key `a*b` with the default prefix is stored as
//! `mcp-kv:{oauth%3Acodes}:a*b`.
//!
//! # Values and expiry
//!
//! Values are stored as plain Redis strings, byte for byte (no header). TTLs are written with
//! `PX` in milliseconds rounded **up** ([`mcp_kv_core::expiry::ttl_millis_ceil`]), so a TTL is
//! never shortened; Redis itself expires the key. The remaining TTL is read with `PTTL` in the
//! same script call as the value.

use std::borrow::Cow;
use std::time::Duration;

use mcp_kv_core::encoding::{escape, unescape};
use mcp_kv_core::{Cursor, Error, ErrorKind, Result};

/// Characters escaped in a collection name (`%` is always escaped too).
pub const COLLECTION_RESERVED: &[char] = &['{', '}', '*', '?', '[', ']', '\\', ':'];

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "mcp-kv:";

/// Checks a key prefix: no `{` or `}` (they would move the hash tag).
pub fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.contains(['{', '}']) {
        return Err(Error::new(
            ErrorKind::Config,
            "the key prefix may not contain `{` or `}` (they would change the cluster hash tag)",
        ));
    }
    Ok(())
}

/// The escaped form of a collection name (the hash tag's content).
pub fn escape_collection(collection: &str) -> Cow<'_, str> {
    escape(collection, COLLECTION_RESERVED)
}

/// Escapes the glob characters of Redis' `MATCH` (`* ? [ ] \`) with a backslash.
pub fn glob_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['*', '?', '[', ']', '\\']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// The key prefix shared by every entry of one collection: `{prefix}{<escaped>}:`.
///
/// Built once per operation; [`CollectionKeys::key`] appends a key to it.
#[derive(Clone)]
pub struct CollectionKeys {
    base: Vec<u8>,
    /// Length of `{prefix}`, i.e. where the hash tag starts.
    prefix_len: usize,
}

impl std::fmt::Debug for CollectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A collection name may be derived from user data: show only its size.
        write!(f, "CollectionKeys({} bytes)", self.base.len())
    }
}

impl CollectionKeys {
    /// The key prefix of `collection` under `prefix`.
    pub fn new(prefix: &str, collection: &str) -> Self {
        let escaped = escape_collection(collection);
        let mut base = Vec::with_capacity(prefix.len() + escaped.len() + 3);
        base.extend_from_slice(prefix.as_bytes());
        base.push(b'{');
        base.extend_from_slice(escaped.as_bytes());
        base.extend_from_slice(b"}:");
        CollectionKeys {
            base,
            prefix_len: prefix.len(),
        }
    }

    /// The full Redis key of `key`.
    pub fn key(&self, key: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.base.len() + key.len());
        out.extend_from_slice(&self.base);
        out.extend_from_slice(key.as_bytes());
        out
    }

    /// Writes the full Redis key of `key` into `buf` (cleared first), to reuse one buffer
    /// across a batch.
    pub fn write_key(&self, buf: &mut Vec<u8>, key: &str) {
        buf.clear();
        buf.extend_from_slice(&self.base);
        buf.extend_from_slice(key.as_bytes());
    }

    /// The common prefix of every key of the collection.
    pub fn base(&self) -> &[u8] {
        &self.base
    }

    /// The hash tag content (the escaped collection), which decides the cluster slot.
    pub fn hash_tag(&self) -> &[u8] {
        &self.base[self.prefix_len + 1..self.base.len() - 2]
    }

    /// The cluster slot of every key of the collection.
    pub fn slot(&self) -> u16 {
        crc16_xmodem(self.hash_tag()) % 16384
    }

    /// A `SCAN MATCH` pattern matching exactly the keys of the collection.
    pub fn pattern(&self, prefix: &str) -> Vec<u8> {
        let mut out = glob_escape(prefix).into_owned().into_bytes();
        // The escaped collection holds no glob character (see the module docs).
        out.extend_from_slice(&self.base[self.prefix_len..]);
        out.push(b'*');
        out
    }

    /// The user key of a Redis key of this collection; anything else is `Corrupted`.
    pub fn decode_key(&self, redis_key: &[u8]) -> Result<String> {
        let rest = redis_key
            .strip_prefix(self.base.as_slice())
            .ok_or_else(|| Error::corrupted("a scanned key is outside its collection"))?;
        String::from_utf8(rest.to_vec()).map_err(|_| Error::corrupted("a stored key is not UTF-8"))
    }
}

/// The `SCAN MATCH` pattern of every key under `prefix`: `{glob-escaped prefix}{*`.
pub fn all_collections_pattern(prefix: &str) -> Vec<u8> {
    let mut out = glob_escape(prefix).into_owned().into_bytes();
    out.extend_from_slice(b"{*");
    out
}

/// The collection of a Redis key under `prefix`, or `None` when the key does not follow the
/// layout (not one of ours).
pub fn decode_collection(prefix: &str, redis_key: &[u8]) -> Option<String> {
    let rest = redis_key
        .strip_prefix(prefix.as_bytes())?
        .strip_prefix(b"{")?;
    let end = rest.iter().position(|&b| b == b'}')?;
    if rest.get(end + 1) != Some(&b':') {
        return None;
    }
    let escaped = std::str::from_utf8(&rest[..end]).ok()?;
    unescape(escaped).ok()
}

/// The `PX` argument of a TTL: milliseconds, rounded up.
pub fn ttl_millis(ttl: Duration) -> u64 {
    mcp_kv_core::expiry::ttl_millis_ceil(ttl)
}

/// The remaining TTL reported by `PTTL`: `Some(None)` for no expiry (-1), else `Some` of at
/// least 1 ms; `None` when the key is gone (-2).
pub fn pttl_to_ttl(pttl: i64) -> Option<Option<Duration>> {
    match pttl {
        -1 => Some(None),
        n if n >= 0 => Some(Some(Duration::from_millis(n.unsigned_abs().max(1)))),
        _ => None,
    }
}

/// CRC16-XMODEM, the hash of Redis Cluster key slots.
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The position in a `keys()` listing: the Redis `SCAN` cursor, plus the keys of the last
/// `SCAN` batch that did not fit in the page (so no key is skipped or returned twice by our
/// own paging).
///
/// Text form: `<scan cursor>` then, for each leftover key, `\n` and the key with `%` and `\n`
/// percent-escaped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScanPosition {
    /// The `SCAN` cursor to continue from (`0` once the scan is complete).
    pub cursor: u64,
    /// Keys already scanned but not yet returned.
    pub pending: Vec<String>,
}

impl ScanPosition {
    /// Parses a cursor issued by [`ScanPosition::to_cursor`].
    pub fn parse(cursor: &Cursor) -> Result<Self> {
        let bad = || Error::new(ErrorKind::InvalidKey, "cursor was not issued by this store");
        let mut parts = cursor.as_str().split('\n');
        let scan = parts.next().ok_or_else(bad)?;
        let cursor = scan.parse::<u64>().map_err(|_| bad())?;
        let pending = parts
            .map(|p| unescape(p).map_err(|_| bad()))
            .collect::<Result<Vec<_>>>()?;
        Ok(ScanPosition { cursor, pending })
    }

    /// Whether nothing is left to list.
    pub fn is_done(&self) -> bool {
        self.cursor == 0 && self.pending.is_empty()
    }

    /// The opaque cursor of this position.
    pub fn to_cursor(&self) -> Cursor {
        let mut s = self.cursor.to_string();
        for key in &self.pending {
            s.push('\n');
            s.push_str(&escape(key, &['\n']));
        }
        Cursor::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_documented_shape() {
        let c = CollectionKeys::new("mcp-kv:", "oauth:codes");
        assert_eq!(c.key("a*b"), b"mcp-kv:{oauth%3Acodes}:a*b".to_vec());
        assert_eq!(c.hash_tag(), b"oauth%3Acodes");
        assert_eq!(c.pattern("mcp-kv:"), b"mcp-kv:{oauth%3Acodes}:*".to_vec());
        assert_eq!(c.decode_key(b"mcp-kv:{oauth%3Acodes}:a*b").unwrap(), "a*b");
        assert!(c.decode_key(b"mcp-kv:{other}:a").is_err());
    }

    #[test]
    fn collections_never_collide_and_round_trip() {
        let names = [
            "a", "a:b", "a%3Ab", "{x}", "x}:y", "*", "?", "[a]", "\\", "%", "é", "a\0b",
        ];
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let c = CollectionKeys::new("p:", name);
            assert!(seen.insert(c.base().to_vec()), "{name:?}");
            let tag = std::str::from_utf8(c.hash_tag()).unwrap();
            assert!(
                !tag.contains(['{', '}', '*', '?', '[', ']', '\\', ':']),
                "{tag}"
            );
            let key = c.key("k}:{x");
            assert_eq!(decode_collection("p:", &key).as_deref(), Some(name));
            assert_eq!(c.decode_key(&key).unwrap(), "k}:{x");
        }
        // A (collection, key) split never moves: ("a:b","c") and ("a","b:c") differ.
        assert_ne!(
            CollectionKeys::new("", "a:b").key("c"),
            CollectionKeys::new("", "a").key("b:c")
        );
    }

    #[test]
    fn prefix_rules_and_glob_escaping() {
        assert!(check_prefix("app:").is_ok());
        assert!(check_prefix("a{b").is_err());
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        let c = CollectionKeys::new("p*:", "c");
        assert_eq!(c.pattern("p*:"), b"p\\*:{c}:*".to_vec());
        assert_eq!(all_collections_pattern("p?"), b"p\\?{*".to_vec());
        assert_eq!(decode_collection("p:", b"p:{c}x"), None);
        assert_eq!(decode_collection("p:", b"q:{c}:x"), None);
    }

    #[test]
    fn slots_match_redis() {
        // Values from the Redis Cluster specification / CLUSTER KEYSLOT.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(crc16_xmodem(b"foo") % 16384, 12182);
        assert_eq!(CollectionKeys::new("", "foo").slot(), 12182);
    }

    #[test]
    fn ttls_round_up() {
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(pttl_to_ttl(-1), Some(None));
        assert_eq!(pttl_to_ttl(0), Some(Some(Duration::from_millis(1))));
        assert_eq!(pttl_to_ttl(1500), Some(Some(Duration::from_millis(1500))));
        assert_eq!(pttl_to_ttl(-2), None);
    }

    #[test]
    fn scan_positions_round_trip() {
        let p = ScanPosition {
            cursor: 42,
            pending: vec!["a\nb".into(), "%0A".into(), "c".into()],
        };
        assert_eq!(ScanPosition::parse(&p.to_cursor()).unwrap(), p);
        let empty = ScanPosition::default();
        assert_eq!(ScanPosition::parse(&empty.to_cursor()).unwrap(), empty);
        assert!(ScanPosition::parse(&Cursor::new("x")).is_err());
        assert!(ScanPosition::parse(&Cursor::new("1\n%G")).is_err());
    }
}

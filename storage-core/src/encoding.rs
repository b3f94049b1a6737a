//! Collision-free encodings of `(collection, key)` for backends that need one flat name.
//!
//! Two encodings, both injective (no two pairs encode alike — `("a:b", "c")` and `("a", "b:c")`
//! stay apart):
//!
//! - [`encode_pair`]: bytes, a 4-byte big-endian collection length, the collection, then the
//!   key. All keys of one collection share the prefix [`collection_prefix`], so a collection is
//!   one contiguous range in an ordered store (sled).
//! - [`escape`]: text, percent-escaping a chosen set of reserved characters (and `%` itself),
//!   for stores whose names are strings with separators (Redis keys, namespaced collections).

use std::borrow::Cow;

use crate::{Error, Result};

/// The byte prefix shared by every encoded key of `collection`.
pub fn collection_prefix(collection: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + collection.len());
    push_prefix(&mut out, collection);
    out
}

fn push_prefix(out: &mut Vec<u8>, collection: &str) {
    // Collections are at most 1024 bytes (checked by the rules), far below u32::MAX.
    let len = u32::try_from(collection.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(collection.as_bytes());
}

/// Encodes `(collection, key)` as `len(collection) as u32 BE ‖ collection ‖ key`.
///
/// ```
/// use mcp_kv_core::encoding::{decode_pair, encode_pair};
///
/// let a = encode_pair("a:b", "c");
/// let b = encode_pair("a", "b:c");
/// assert_ne!(a, b);
/// assert_eq!(decode_pair(&a).unwrap(), ("a:b".to_string(), "c".to_string()));
/// ```
pub fn encode_pair(collection: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + collection.len() + key.len());
    push_prefix(&mut out, collection);
    out.extend_from_slice(key.as_bytes());
    out
}

/// Decodes what [`encode_pair`] wrote; anything else is [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted).
pub fn decode_pair(bytes: &[u8]) -> Result<(String, String)> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| Error::corrupted("encoded name shorter than its length prefix"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(Error::corrupted(
            "encoded name shorter than its collection length",
        ));
    }
    let (c, k) = rest.split_at(len);
    let c = std::str::from_utf8(c).map_err(|_| Error::corrupted("collection is not UTF-8"))?;
    let k = std::str::from_utf8(k).map_err(|_| Error::corrupted("key is not UTF-8"))?;
    Ok((c.to_string(), k.to_string()))
}

/// Decodes only the key of an encoded pair whose collection prefix is already known.
pub fn decode_key_after_prefix(bytes: &[u8], prefix_len: usize) -> Result<String> {
    let k = bytes
        .get(prefix_len..)
        .ok_or_else(|| Error::corrupted("encoded name shorter than its prefix"))?;
    std::str::from_utf8(k)
        .map(str::to_string)
        .map_err(|_| Error::corrupted("key is not UTF-8"))
}

/// Percent-escapes `%` and every character of `reserved` (as `%XX` per UTF-8 byte).
///
/// Injective for a fixed `reserved` set; the result contains none of the reserved characters,
/// so one of them can join escaped parts unambiguously.
///
/// ```
/// use mcp_kv_core::encoding::{escape, unescape};
///
/// let e = escape("a:b%c", &[':']);
/// assert_eq!(e, "a%3Ab%25c");
/// assert_eq!(unescape(&e).unwrap(), "a:b%c");
/// ```
pub fn escape<'a>(s: &'a str, reserved: &[char]) -> Cow<'a, str> {
    if !s.chars().any(|c| c == '%' || reserved.contains(&c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '%' || reserved.contains(&c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Reverses [`escape`]; malformed escapes are [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted).
pub fn unescape(s: &str) -> Result<String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits exactly (`from_str_radix` alone would take a sign: `%+1`).
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::corrupted("malformed escape in a stored name"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::corrupted("escaped name is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_never_collide() {
        let cases = [
            ("a:b", "c"),
            ("a", "b:c"),
            ("", "x"),
            ("x", ""),
            ("\0", "\0\0"),
            ("é", "ü"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (c, k) in cases {
            let e = encode_pair(c, k);
            assert!(e.starts_with(&collection_prefix(c)));
            assert_eq!(decode_pair(&e).unwrap(), (c.to_string(), k.to_string()));
            assert!(seen.insert(e));
        }
        assert!(decode_pair(&[0, 0]).is_err());
        assert!(decode_pair(&[0, 0, 0, 9, b'a']).is_err());
        assert!(decode_pair(&[0, 0, 0, 1, 0xff]).is_err());
    }

    #[test]
    fn escape_round_trips() {
        for s in ["", "plain", "a:b", "%", "%3A", "{tag}*?[x]\\", "é:ü"] {
            let e = escape(s, &[':', '{', '}', '*', '?', '[', ']', '\\']);
            assert!(!e.contains(':') && !e.contains('{'));
            assert_eq!(unescape(&e).unwrap(), s);
        }
        assert!(unescape("%G1").is_err());
        assert!(unescape("%4").is_err());
        // A sign is not a hex digit.
        assert!(unescape("%+1").is_err());
        assert!(unescape("%-1").is_err());
    }
}

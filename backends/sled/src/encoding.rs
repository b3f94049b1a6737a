//! How `(collection, key, value, expiry)` become sled bytes, and back.
//!
//! # Keys
//!
//! A sled key is [`mcp_kv_core::encoding::encode_pair`]:
//!
//! ```text
//! len(collection) as u32 big-endian ‖ collection (UTF-8) ‖ key (UTF-8)
//! ```
//!
//! The length prefix makes the encoding injective (`("a:b", "c")` and `("a", "b:c")` never
//! meet), and every key of one collection shares the prefix
//! [`collection_prefix`], so a collection is one
//! contiguous range of the tree: `keys()` and `clear()` are prefix scans, and `collections()`
//! jumps from one prefix range to the next with [`prefix_successor`].
//!
//! # Values
//!
//! A sled value is a small header followed by the caller's bytes, untouched:
//!
//! ```text
//! version = 0x01 ‖ tag ‖ [expires_at as u64 big-endian, when tag = 0x01] ‖ value
//!   tag 0x00: no expiry          (2-byte header)
//!   tag 0x01: expires_at follows (10-byte header; Unix epoch milliseconds)
//! ```
//!
//! An entry is live while `now <= expires_at` ([`mcp_kv_core::expiry::is_live`]). Anything
//! else — an empty value, an unknown version or tag, a truncated expiry — decodes to
//! [`ErrorKind::Corrupted`](mcp_kv_core::ErrorKind::Corrupted), never a panic.
//!
//! ```
//! use mcp_kv_sled::encoding::{decode_value, encode_value};
//!
//! let stored = encode_value(b"hello", Some(1_700_000_000_000));
//! let decoded = decode_value(&stored).unwrap();
//! assert_eq!(decoded.value, b"hello");
//! assert_eq!(decoded.expires_at, Some(1_700_000_000_000));
//! assert!(decode_value(&[0x07, 0x00]).is_err()); // unknown version
//! ```

use mcp_kv_core::{Error, Result};

pub use mcp_kv_core::encoding::{collection_prefix, encode_pair};

/// Longest encoded name kept on the stack by [`with_encoded_pair`].
const STACK_NAME_BYTES: usize = 192;

/// Calls `f` with [`encode_pair`]`(collection, key)`, built on the stack when it is short (the
/// hot read path then allocates nothing for the name) and on the heap otherwise. The bytes are
/// exactly `encode_pair`'s.
pub fn with_encoded_pair<T>(collection: &str, key: &str, f: impl FnOnce(&[u8]) -> T) -> T {
    let len = 4 + collection.len() + key.len();
    if len > STACK_NAME_BYTES {
        return f(&encode_pair(collection, key));
    }
    let mut buf = [0u8; STACK_NAME_BYTES];
    let prefix = u32::try_from(collection.len()).unwrap_or(u32::MAX);
    buf[..4].copy_from_slice(&prefix.to_be_bytes());
    buf[4..4 + collection.len()].copy_from_slice(collection.as_bytes());
    buf[4 + collection.len()..len].copy_from_slice(key.as_bytes());
    f(&buf[..len])
}

/// The format version written in the first byte of every stored value.
pub const FORMAT_VERSION: u8 = 1;

/// Tag byte: the entry never expires.
const TAG_NO_EXPIRY: u8 = 0;
/// Tag byte: an 8-byte big-endian `expires_at` (epoch ms) follows.
const TAG_EXPIRES: u8 = 1;

/// Header length of an entry without expiry.
pub const HEADER_LEN_NO_EXPIRY: usize = 2;
/// Header length of an entry with an expiry.
pub const HEADER_LEN_EXPIRES: usize = 10;

/// A decoded stored value, borrowing the stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// When the entry expires (epoch ms), `None` if never.
    pub expires_at: Option<u64>,
    /// The caller's value bytes.
    pub value: &'a [u8],
    /// Where the value starts inside the stored bytes (the header length).
    pub offset: usize,
}

/// Encodes a value and its expiry as stored bytes: header then value.
pub fn encode_value(value: &[u8], expires_at: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(expires_at) + value.len());
    out.push(FORMAT_VERSION);
    match expires_at {
        None => out.push(TAG_NO_EXPIRY),
        Some(at) => {
            out.push(TAG_EXPIRES);
            out.extend_from_slice(&at.to_be_bytes());
        }
    }
    out.extend_from_slice(value);
    out
}

/// Stored bytes up to this length are built by [`encode_ivec`] in sled's own buffer, in one
/// allocation (values up to 4 KiB, with either header).
const ONE_ALLOCATION_MAX: usize = 4096 + HEADER_LEN_EXPIRES;

/// Zeros that sled's buffer of a short stored value is allocated from (see [`encode_ivec`]).
static ZEROS: [u8; ONE_ALLOCATION_MAX] = [0; ONE_ALLOCATION_MAX];

/// [`encode_value`] as sled's buffer type (what the store writes).
///
/// sled offers no way to allocate an `IVec` of a given length other than copying a slice of
/// that length, and its conversions from owned buffers (`Vec`, `Box<[u8]>`) copy them into a
/// new allocation too. Building the bytes in a `Vec` first would cost a second allocation, a
/// second copy and a free per write (for a 1 KiB value, a `Vec` just past the size glibc's
/// per-thread cache serves). Up to `ONE_ALLOCATION_MAX` bytes (values up to 4 KiB) the buffer
/// is instead allocated from a slice of a static run of zeros and written in place (sled's
/// `IVec` is mutable while it is not shared); longer values take the `Vec` path.
pub fn encode_ivec(value: &[u8], expires_at: Option<u64>) -> sled::IVec {
    let len = header_len(expires_at) + value.len();
    let Some(zeros) = ZEROS.get(..len) else {
        return sled::IVec::from(encode_value(value, expires_at));
    };
    let mut stored = sled::IVec::from(zeros);
    write_stored(&mut stored, value, expires_at);
    stored
}

/// The header length of an entry with this expiry.
#[inline]
fn header_len(expires_at: Option<u64>) -> usize {
    match expires_at {
        None => HEADER_LEN_NO_EXPIRY,
        Some(_) => HEADER_LEN_EXPIRES,
    }
}

/// Writes header then value into `out`, which is exactly `header_len(expires_at) +
/// value.len()` bytes long.
#[inline]
fn write_stored(out: &mut [u8], value: &[u8], expires_at: Option<u64>) {
    let (header, rest) = out.split_at_mut(header_len(expires_at));
    header[0] = FORMAT_VERSION;
    match expires_at {
        None => header[1] = TAG_NO_EXPIRY,
        Some(at) => {
            header[1] = TAG_EXPIRES;
            header[2..].copy_from_slice(&at.to_be_bytes());
        }
    }
    rest.copy_from_slice(value);
}

/// Decodes stored bytes written by [`encode_value`]; anything else is `Corrupted`.
pub fn decode_value(stored: &[u8]) -> Result<Decoded<'_>> {
    let [version, tag, rest @ ..] = stored else {
        return Err(Error::corrupted("stored value is shorter than its header"));
    };
    if *version != FORMAT_VERSION {
        return Err(Error::corrupted(
            "stored value has an unknown format version",
        ));
    }
    match *tag {
        TAG_NO_EXPIRY => Ok(Decoded {
            expires_at: None,
            value: rest,
            offset: HEADER_LEN_NO_EXPIRY,
        }),
        TAG_EXPIRES => {
            let (at, value) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| Error::corrupted("stored value has a truncated expiry"))?;
            Ok(Decoded {
                expires_at: Some(u64::from_be_bytes(*at)),
                value,
                offset: HEADER_LEN_EXPIRES,
            })
        }
        _ => Err(Error::corrupted("stored value has an unknown header tag")),
    }
}

/// Reads only the expiry of stored bytes (what `cull` needs).
pub fn decode_expiry(stored: &[u8]) -> Result<Option<u64>> {
    decode_value(stored).map(|d| d.expires_at)
}

/// The collection name of an encoded sled key and the length of its prefix
/// (`4 + collection.len()`); malformed keys (and an empty collection name, which no store
/// writes) are `Corrupted`.
pub fn decode_collection(encoded: &[u8]) -> Result<(String, usize)> {
    let (len, rest) = encoded
        .split_first_chunk::<4>()
        .ok_or_else(|| Error::corrupted("stored name is shorter than its length prefix"))?;
    let len = usize::try_from(u32::from_be_bytes(*len))
        .map_err(|_| Error::corrupted("stored collection length does not fit"))?;
    if len == 0 {
        return Err(Error::corrupted("stored collection name is empty"));
    }
    let name = rest
        .get(..len)
        .ok_or_else(|| Error::corrupted("stored name is shorter than its collection length"))?;
    let name = std::str::from_utf8(name)
        .map_err(|_| Error::corrupted("stored collection name is not UTF-8"))?;
    Ok((name.to_string(), 4 + len))
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None` if
/// there is none (the prefix is all `0xFF`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < u8::MAX {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_kv_core::ErrorKind;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        for (v, at) in [
            (&b""[..], None),
            (b"x", None),
            (b"hello", Some(0)),
            (b"\x01\x00", Some(u64::MAX)),
        ] {
            let e = encode_value(v, at);
            assert_eq!(&encode_ivec(v, at)[..], &e[..]);
            let d = decode_value(&e).unwrap();
            assert_eq!((d.value, d.expires_at), (v, at));
            assert_eq!(&e[d.offset..], v);
        }
    }

    #[test]
    fn ivec_is_encode_value_on_both_sides_of_the_inline_and_one_allocation_limits() {
        // sled keeps up to 22 bytes inline; 2- and 10-byte headers; values up to 4 KiB are
        // built in sled's buffer, longer ones through a `Vec`.
        for len in [0, 1, 12, 13, 20, 21, 1024, 4095, 4096, 4097, 10_000] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
            for at in [None, Some(0x0102_0304_0506_0708)] {
                let ivec = encode_ivec(&value, at);
                assert_eq!(
                    &ivec[..],
                    &encode_value(&value, at)[..],
                    "len {len}, {at:?}"
                );
                // A second encoding starts from zeros again, not from the first one's bytes.
                let empty = encode_ivec(&vec![0; len], at);
                assert!(empty[header_len(at)..].iter().all(|&b| b == 0));
            }
        }
        assert!(ZEROS.iter().all(|&b| b == 0));
    }

    #[test]
    fn bad_bytes_are_corrupted() {
        for bad in [
            &b""[..],
            &[1],
            &[0, 0],
            &[2, 0, 1],
            &[1, 2],
            &[1, 1, 0, 0, 0],
            &[1, 1, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(
                decode_value(bad).unwrap_err().kind(),
                ErrorKind::Corrupted,
                "{bad:?}"
            );
        }
        assert!(decode_collection(&[0, 0]).is_err());
        assert!(decode_collection(&[0, 0, 0, 0, b'k']).is_err());
        assert!(decode_collection(&[0, 0, 0, 3, b'a']).is_err());
        assert!(decode_collection(&[0, 0, 0, 1, 0xff]).is_err());
        assert!(decode_collection(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn stack_and_heap_names_match_encode_pair() {
        for (c, k) in [
            ("c", "k"),
            ("a:b", "\0é"),
            (&"c".repeat(100)[..], &"k".repeat(88)[..]),
        ] {
            with_encoded_pair(c, k, |e| assert_eq!(e, encode_pair(c, k)));
        }
        let long = "k".repeat(4096);
        with_encoded_pair("c", &long, |e| assert_eq!(e, encode_pair("c", &long)));
        with_encoded_pair(&"c".repeat(94), &"k".repeat(94), |e| {
            assert_eq!(e.len(), 192)
        });
    }

    #[test]
    fn collections_and_successors() {
        let k = encode_pair("a:b", "c");
        assert_eq!(decode_collection(&k).unwrap(), ("a:b".to_string(), 7));
        assert_eq!(prefix_successor(&[0, 1]), Some(vec![0, 2]));
        assert_eq!(prefix_successor(&[0, 0xff]), Some(vec![1]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(&[]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary stored bytes never panic the decoders, and whatever decodes re-encodes to
        /// the same bytes (the format has one spelling per entry).
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(d) = decode_value(&bytes) {
                prop_assert_eq!(encode_value(d.value, d.expires_at), bytes.clone());
            }
            let _ = decode_expiry(&bytes);
            if let Ok((c, n)) = decode_collection(&bytes) {
                prop_assert!(bytes.starts_with(&collection_prefix(&c)));
                prop_assert_eq!(n, 4 + c.len());
            }
        }

        /// Mutating one byte of a valid header either still decodes or is `Corrupted`.
        #[test]
        fn mutated_headers_never_panic(
            value in proptest::collection::vec(any::<u8>(), 0..32),
            at in proptest::option::of(any::<u64>()),
            pos in 0usize..10,
            byte in any::<u8>(),
            cut in 0usize..12,
        ) {
            let mut e = encode_value(&value, at);
            let pos = pos % e.len();
            e[pos] = byte;
            e.truncate(e.len().saturating_sub(cut % 3));
            match decode_value(&e) {
                Ok(d) => prop_assert!(d.offset <= e.len()),
                Err(err) => prop_assert_eq!(err.kind(), ErrorKind::Corrupted),
            }
        }

        /// The stack encoding is byte for byte `encode_pair`.
        #[test]
        fn stack_encoding_is_encode_pair(c in ".{1,120}", k in ".{1,120}") {
            with_encoded_pair(&c, &k, |e| assert_eq!(e, encode_pair(&c, &k)));
        }

        /// Distinct pairs never encode alike, and each stays inside its collection's range.
        #[test]
        fn pairs_stay_in_their_prefix(c1 in ".{1,8}", k1 in ".{1,8}", c2 in ".{1,8}", k2 in ".{1,8}") {
            let (e1, e2) = (encode_pair(&c1, &k1), encode_pair(&c2, &k2));
            prop_assert_eq!(e1 == e2, c1 == c2 && k1 == k2);
            let p = collection_prefix(&c1);
            prop_assert!(e1.starts_with(&p));
            if let Some(s) = prefix_successor(&p) {
                prop_assert!(e1 < s);
            }
            if c1 != c2 {
                prop_assert!(!e2.starts_with(&p));
            }
        }
    }
}

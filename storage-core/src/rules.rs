//! The name, TTL, size and batch rules of the contract, in one place.
//!
//! Every backend calls these before any I/O, so bad input is a typed error and nothing is
//! written. Messages report lengths, never the names themselves (a key may be derived from a
//! token).

use std::time::Duration;

use bytes::Bytes;

use crate::{Capabilities, Error, ErrorKind, Result};

/// Longest collection name, in UTF-8 bytes, that every backend accepts.
pub const MAX_COLLECTION_BYTES: usize = 1024;
/// Longest key, in UTF-8 bytes, that every backend accepts.
pub const MAX_KEY_BYTES: usize = 4096;
/// Longest TTL accepted: 100 years (of 365.25 days). Longer TTLs are [`ErrorKind::InvalidTtl`].
pub const MAX_TTL: Duration = Duration::from_secs(100 * 31_557_600);

/// Checks a collection name: 1..=[`MAX_COLLECTION_BYTES`] bytes.
pub fn check_collection(collection: &str) -> Result<()> {
    check_collection_within(collection, MAX_COLLECTION_BYTES)
}

/// Checks a collection name: 1..=`max` bytes (and never more than [`MAX_COLLECTION_BYTES`]).
fn check_collection_within(collection: &str, max: usize) -> Result<()> {
    let max = max.min(MAX_COLLECTION_BYTES);
    if collection.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            "collection name is empty",
        ));
    }
    if collection.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            format!(
                "collection name is {} bytes; the limit is {max}",
                collection.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a key: 1..=[`MAX_KEY_BYTES`] bytes.
pub fn check_key(key: &str) -> Result<()> {
    check_key_within(key, MAX_KEY_BYTES)
}

/// Checks a key: 1..=`max` bytes (and never more than [`MAX_KEY_BYTES`]).
fn check_key_within(key: &str, max: usize) -> Result<()> {
    let max = max.min(MAX_KEY_BYTES);
    if key.is_empty() {
        return Err(Error::new(ErrorKind::InvalidKey, "key is empty"));
    }
    if key.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            format!("key is {} bytes; the limit is {max}", key.len()),
        ));
    }
    Ok(())
}

/// Checks a collection and a key.
pub fn check_name(collection: &str, key: &str) -> Result<()> {
    check_collection(collection)?;
    check_key(key)
}

/// Checks a TTL: `None` (no expiry) or 1 ns..=[`MAX_TTL`].
pub fn check_ttl(ttl: Option<Duration>) -> Result<()> {
    match ttl {
        None => Ok(()),
        Some(t) if t.is_zero() => Err(Error::new(ErrorKind::InvalidTtl, "ttl is zero")),
        Some(t) if t > MAX_TTL => Err(Error::new(
            ErrorKind::InvalidTtl,
            format!("ttl is {} s; the limit is 100 years", t.as_secs()),
        )),
        Some(_) => Ok(()),
    }
}

/// Checks a value's size against `max_value_bytes`.
pub fn check_value(len: usize, max_value_bytes: usize) -> Result<()> {
    if len > max_value_bytes {
        return Err(Error::new(
            ErrorKind::ValueTooLarge,
            format!("value is {len} bytes; the limit is {max_value_bytes}"),
        ));
    }
    Ok(())
}

/// Checks everything a `put` (or `put_if_absent`) needs. Names are held to the store's own
/// limits, `caps.max_collection_bytes` and `caps.max_key_bytes`, where they are shorter than the
/// contract's.
pub fn check_put(
    caps: &Capabilities,
    collection: &str,
    key: &str,
    value_len: usize,
    ttl: Option<Duration>,
) -> Result<()> {
    check_collection_within(collection, caps.max_collection_bytes)?;
    check_key_within(key, caps.max_key_bytes)?;
    check_ttl(ttl)?;
    check_value(value_len, caps.max_value_bytes)
}

/// Checks a batch size against `max_batch`.
pub fn check_batch_len(caps: &Capabilities, len: usize) -> Result<()> {
    if len > caps.max_batch {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("batch of {len} entries; the limit is {}", caps.max_batch),
        ));
    }
    Ok(())
}

/// Checks a whole batch of keys before any I/O, names held to the store's own limits (as
/// [`check_put`]): a key the store would reject must fail the batch before its first write.
pub fn check_keys(caps: &Capabilities, collection: &str, keys: &[&str]) -> Result<()> {
    check_collection_within(collection, caps.max_collection_bytes)?;
    check_batch_len(caps, keys.len())?;
    keys.iter()
        .try_for_each(|k| check_key_within(k, caps.max_key_bytes))
}

/// Checks a whole `put_many` batch before any I/O: names (held to the store's own limits, as
/// [`check_put`]), TTL and every value's size.
pub fn check_entries(
    caps: &Capabilities,
    collection: &str,
    entries: &[(String, Bytes)],
    ttl: Option<Duration>,
) -> Result<()> {
    check_collection_within(collection, caps.max_collection_bytes)?;
    check_ttl(ttl)?;
    check_batch_len(caps, entries.len())?;
    entries.iter().try_for_each(|(k, v)| {
        check_key_within(k, caps.max_key_bytes)?;
        check_value(v.len(), caps.max_value_bytes)
    })
}

/// Checks a `keys()` page request.
pub fn check_limit(limit: usize) -> Result<()> {
    if limit == 0 {
        return Err(Error::new(ErrorKind::InvalidKey, "page limit is zero"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("c", "k").is_ok());
        assert_eq!(
            check_collection("").unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
        assert!(check_collection(&"c".repeat(MAX_COLLECTION_BYTES)).is_ok());
        assert!(check_collection(&"c".repeat(MAX_COLLECTION_BYTES + 1)).is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        let msg = check_key(&"secret".repeat(1000)).unwrap_err().to_string();
        assert!(!msg.contains("secret"), "{msg}");
    }

    #[test]
    fn ttls() {
        assert!(check_ttl(None).is_ok());
        assert!(check_ttl(Some(Duration::from_millis(1))).is_ok());
        assert!(check_ttl(Some(MAX_TTL)).is_ok());
        assert_eq!(
            check_ttl(Some(Duration::ZERO)).unwrap_err().kind(),
            ErrorKind::InvalidTtl
        );
        assert!(check_ttl(Some(MAX_TTL + Duration::from_secs(1))).is_err());
    }

    #[test]
    fn batches_are_checked_whole() {
        let caps = Capabilities::default();
        let ok = Bytes::from_static(b"v");
        let big = Bytes::from(vec![0u8; caps.max_value_bytes + 1]);
        let entries = vec![("a".to_string(), ok.clone()), ("b".to_string(), big)];
        assert_eq!(
            check_entries(&caps, "c", &entries, None)
                .unwrap_err()
                .kind(),
            ErrorKind::ValueTooLarge
        );
        let entries = vec![("a".to_string(), ok.clone()), (String::new(), ok.clone())];
        assert_eq!(
            check_entries(&caps, "c", &entries, None)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidKey
        );
    }

    #[test]
    fn batches_and_puts_hold_names_to_the_stores_own_limits() {
        let mut caps = Capabilities {
            max_key_bytes: 4,
            max_collection_bytes: 3,
            ..Capabilities::default()
        };
        let v = Bytes::from_static(b"v");
        assert!(check_keys(&caps, "abc", &["abcd"]).is_ok());
        assert!(check_keys(&caps, "abc", &["abcd", "abcde"]).is_err());
        assert!(check_keys(&caps, "abcd", &["a"]).is_err());
        assert!(check_put(&caps, "abc", "abcd", 1, None).is_ok());
        assert!(check_put(&caps, "abc", "abcde", 1, None).is_err());
        assert!(check_put(&caps, "abcd", "a", 1, None).is_err());
        let entries = vec![("a".to_string(), v.clone()), ("abcde".to_string(), v)];
        let err = check_entries(&caps, "abc", &entries, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert!(err.to_string().contains("the limit is 4"), "{err}");
        // A store declaring longer names than the contract's is still held to the contract.
        caps.max_key_bytes = usize::MAX;
        assert!(check_keys(&caps, "c", &[&"k".repeat(MAX_KEY_BYTES + 1)]).is_err());
    }
}

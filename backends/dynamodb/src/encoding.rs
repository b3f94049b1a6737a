//! How `(collection, key, value, expiry)` become a DynamoDB item, and back.
//!
//! | attribute | type | content |
//! |---|---|---|
//! | `pk` | S | partition key: the collection, or its hashed form |
//! | `sk` | S | sort key: the key, or its hashed form |
//! | `v` | B | the value |
//! | `exp` | N | expiry, Unix epoch **milliseconds** (absent: no expiry); used for every check |
//! | `ttl` | N | expiry, Unix epoch **seconds rounded up**; the table's TTL attribute |
//! | `c` | S | the original collection, only when `pk` is hashed |
//! | `k` | S | the original key, only when `sk` is hashed |
//!
//! A name is stored as is unless it is longer than DynamoDB allows for its key attribute (2048
//! bytes for a partition key, 1024 for a sort key) or starts with [`HASH_PREFIX`]; then it is
//! stored as `HASH_PREFIX` + hex SHA-256 of the name, and the original goes to `c` / `k`. Since
//! every real name that starts with the prefix is hashed too, a stored name that starts with it
//! is always a hash, and one that does not is always the real name: nothing collides (short of
//! a SHA-256 collision) and listings return real names.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use mcp_kv_core::{Error, Result};
use sha2::{Digest, Sha256};

/// Partition key attribute (the collection).
pub const PK: &str = "pk";
/// Sort key attribute (the key).
pub const SK: &str = "sk";
/// Value attribute (binary).
pub const VALUE: &str = "v";
/// Expiry in epoch milliseconds (number), checked by every read and condition.
pub const EXP: &str = "exp";
/// Expiry in epoch seconds, rounded up (number): the table's TTL attribute.
pub const TTL: &str = "ttl";
/// The original collection of a hashed `pk`.
pub const ORIG_COLLECTION: &str = "c";
/// The original key of a hashed `sk`.
pub const ORIG_KEY: &str = "k";

/// Largest partition key value DynamoDB accepts, in bytes.
pub const MAX_PK_BYTES: usize = 2048;
/// Largest sort key value DynamoDB accepts, in bytes.
pub const MAX_SK_BYTES: usize = 1024;
/// The reserved prefix of hashed names.
pub const HASH_PREFIX: &str = "~sha256~";

/// The stored form of a name whose key attribute holds at most `limit` bytes.
pub fn encode_name(name: &str, limit: usize) -> Cow<'_, str> {
    if name.len() > limit || name.starts_with(HASH_PREFIX) {
        let digest = Sha256::digest(name.as_bytes());
        Cow::Owned(format!("{HASH_PREFIX}{}", hex::encode(digest)))
    } else {
        Cow::Borrowed(name)
    }
}

/// Whether a stored name is a hashed form (the original is then in `c` / `k`).
pub fn is_hashed(stored: &str) -> bool {
    stored.starts_with(HASH_PREFIX)
}

/// The primary key of one entry, with the originals of hashed parts.
#[derive(Debug, Clone)]
pub struct ItemKey<'a> {
    /// Stored partition key.
    pub pk: Cow<'a, str>,
    /// Stored sort key.
    pub sk: Cow<'a, str>,
    collection: &'a str,
    key: &'a str,
}

impl<'a> ItemKey<'a> {
    /// The primary key of `(collection, key)`.
    pub fn new(collection: &'a str, key: &'a str) -> Self {
        ItemKey {
            pk: encode_name(collection, MAX_PK_BYTES),
            sk: encode_name(key, MAX_SK_BYTES),
            collection,
            key,
        }
    }

    /// `{pk, sk}` for GetItem, DeleteItem, UpdateItem and batch keys.
    pub fn key_map(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), AttributeValue::S(self.pk.to_string())),
            (SK.to_string(), AttributeValue::S(self.sk.to_string())),
        ])
    }

    /// The whole item of a put.
    pub fn item(&self, value: Bytes, expires_at: Option<u64>) -> HashMap<String, AttributeValue> {
        let mut item = self.key_map();
        item.insert(
            VALUE.to_string(),
            AttributeValue::B(Blob::new(Vec::from(value))),
        );
        if let Some(at) = expires_at {
            item.insert(EXP.to_string(), number(at));
            item.insert(TTL.to_string(), number(ttl_seconds(at)));
        }
        if is_hashed(&self.pk) {
            item.insert(
                ORIG_COLLECTION.to_string(),
                AttributeValue::S(self.collection.to_string()),
            );
        }
        if is_hashed(&self.sk) {
            item.insert(
                ORIG_KEY.to_string(),
                AttributeValue::S(self.key.to_string()),
            );
        }
        item
    }
}

/// The TTL attribute for an expiry in epoch milliseconds: seconds, rounded up, so DynamoDB
/// never deletes an item before its millisecond expiry.
pub fn ttl_seconds(expires_at_ms: u64) -> u64 {
    expires_at_ms.div_ceil(1000)
}

/// A number attribute.
pub fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The value of a stored item.
pub fn decode_value(item: &HashMap<String, AttributeValue>) -> Result<Bytes> {
    match item.get(VALUE) {
        Some(AttributeValue::B(b)) => Ok(Bytes::copy_from_slice(b.as_ref())),
        Some(_) => Err(Error::corrupted("value attribute `v` is not binary")),
        None => Err(Error::corrupted("item has no value attribute `v`")),
    }
}

/// The expiry (epoch ms) of a stored item; `None`: no expiry.
pub fn decode_expiry(item: &HashMap<String, AttributeValue>) -> Result<Option<u64>> {
    match item.get(EXP) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(n)) => n
            .parse()
            .map(Some)
            .map_err(|_| Error::corrupted("expiry attribute `exp` is not an integer")),
        Some(_) => Err(Error::corrupted("expiry attribute `exp` is not a number")),
    }
}

/// The real key of a stored item (from `sk`, or `k` when `sk` is hashed).
pub fn decode_key(item: &HashMap<String, AttributeValue>) -> Result<String> {
    decode_name(item, SK, ORIG_KEY)
}

/// The real collection of a stored item (from `pk`, or `c` when `pk` is hashed).
pub fn decode_collection(item: &HashMap<String, AttributeValue>) -> Result<String> {
    decode_name(item, PK, ORIG_COLLECTION)
}

/// The stored sort key of an item.
pub fn stored_sk(item: &HashMap<String, AttributeValue>) -> Result<&str> {
    match item.get(SK) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(Error::corrupted("item has no string sort key `sk`")),
    }
}

fn decode_name(item: &HashMap<String, AttributeValue>, attr: &str, orig: &str) -> Result<String> {
    let stored = match item.get(attr) {
        Some(AttributeValue::S(s)) => s,
        _ => return Err(Error::corrupted("item has no string key attribute")),
    };
    if !is_hashed(stored) {
        return Ok(stored.clone());
    }
    match item.get(orig) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(Error::corrupted(
            "hashed name without its original attribute",
        )),
    }
}

/// Cursor tokens of `keys()`: a version tag and the last stored sort key of the page.
const CURSOR_TAG: &str = "d1:";

/// The cursor after the stored sort key `sk`.
pub fn encode_cursor(sk: &str) -> String {
    format!("{CURSOR_TAG}{sk}")
}

/// The stored sort key a cursor resumes after; `None` if the token is not ours.
pub fn decode_cursor(token: &str) -> Option<&str> {
    // A stored sort key is never longer than MAX_SK_BYTES: a longer one is not our cursor (it
    // would only make DynamoDB refuse the Query).
    token
        .strip_prefix(CURSOR_TAG)
        .filter(|s| !s.is_empty() && s.len() <= MAX_SK_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_longer_than_a_sort_key_are_refused() {
        let longest = "x".repeat(MAX_SK_BYTES);
        assert_eq!(
            decode_cursor(&encode_cursor(&longest)),
            Some(longest.as_str())
        );
        let forged = format!("{CURSOR_TAG}{}", "x".repeat(MAX_SK_BYTES + 1));
        assert_eq!(decode_cursor(&forged), None);
    }

    #[test]
    fn short_names_stay_long_names_hash() {
        assert_eq!(encode_name("k", MAX_SK_BYTES), "k");
        let long = "x".repeat(MAX_SK_BYTES + 1);
        let e = encode_name(&long, MAX_SK_BYTES);
        assert!(is_hashed(&e));
        assert!(e.len() <= MAX_SK_BYTES);
        assert_eq!(
            encode_name(&"x".repeat(MAX_SK_BYTES), MAX_SK_BYTES).len(),
            MAX_SK_BYTES
        );
        // A real name that looks like a hash is hashed too, so it cannot collide with one.
        let fake = e.to_string();
        let e2 = encode_name(&fake, MAX_SK_BYTES);
        assert!(is_hashed(&e2));
        assert_ne!(e2, e);
        // Multi-byte characters count in bytes.
        let wide = "é".repeat(513); // 1026 bytes
        assert!(is_hashed(&encode_name(&wide, MAX_SK_BYTES)));
    }

    #[test]
    fn item_round_trip() {
        let long = "k".repeat(4096);
        for key in ["plain", long.as_str(), "~sha256~abc"] {
            let ik = ItemKey::new("coll", key);
            let item = ik.item(Bytes::from_static(b"val"), Some(1_500));
            assert_eq!(decode_key(&item).unwrap(), key);
            assert_eq!(decode_collection(&item).unwrap(), "coll");
            assert_eq!(decode_value(&item).unwrap(), Bytes::from_static(b"val"));
            assert_eq!(decode_expiry(&item).unwrap(), Some(1_500));
            assert_eq!(item.get(TTL), Some(&AttributeValue::N("2".into())));
            assert_eq!(item.contains_key(ORIG_KEY), key != "plain");
        }
        let item = ItemKey::new("c", "k").item(Bytes::new(), None);
        assert_eq!(decode_expiry(&item).unwrap(), None);
        assert!(!item.contains_key(TTL));
    }

    #[test]
    fn bad_items_are_corrupted() {
        let mut item = ItemKey::new("c", "k").item(Bytes::new(), Some(5));
        item.insert(VALUE.into(), AttributeValue::S("x".into()));
        item.insert(EXP.into(), AttributeValue::N("1.5".into()));
        assert!(decode_value(&item).is_err());
        assert!(decode_expiry(&item).is_err());
        let mut hashed = ItemKey::new("c", &"k".repeat(2000)).item(Bytes::new(), None);
        hashed.remove(ORIG_KEY);
        assert!(decode_key(&hashed).is_err());
    }

    #[test]
    fn ttl_rounds_up() {
        assert_eq!(ttl_seconds(1000), 1);
        assert_eq!(ttl_seconds(1001), 2);
        assert_eq!(ttl_seconds(0), 0);
    }

    #[test]
    fn cursors() {
        assert_eq!(decode_cursor(&encode_cursor("a:b")), Some("a:b"));
        assert_eq!(decode_cursor("x"), None);
        assert_eq!(decode_cursor("d1:"), None);
    }
}

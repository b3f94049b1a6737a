//! Cache keys: the canonical JSON of a request's params, hashed, and the caller's
//! [`Partition`].
//!
//! The canonical form sorts object keys recursively (so argument order never splits an entry),
//! writes no whitespace, escapes strings as serde_json does, and writes a float with no
//! fractional part within ±2^53 as an integer (`1.0` and `1` are one key). Strings are not
//! Unicode-normalized. The form is written straight into SHA-256, never materialized.

use std::fmt;
use std::io::Write;

use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

/// Domain separation of principal hashes (a principal hash is never a params hash).
const PRINCIPAL_DOMAIN: &[u8] = b"mcp-kv.cache principal v1\0";

/// Whose cached results a request may see.
///
/// - [`Partition::Public`]: shared by every caller; only for methods or items marked public.
/// - [`Partition::Principal`]: one caller's own results, named by a hash of its identity (the
///   raw identity is never stored).
/// - [`Partition::Anonymous`]: callers without an identity share this one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Shared by every caller.
    Public,
    /// Callers without an identity.
    Anonymous,
    /// One principal: 32 hex digits of SHA-256 over the identity (and the cache's salt).
    Principal(String),
}

impl Partition {
    /// The partition of `identity` (e.g. an OAuth subject or client id) under `salt` (see
    /// [`ResponseCache::builder`](crate::ResponseCache::builder); may be empty).
    pub fn principal(identity: &str, salt: &[u8]) -> Partition {
        let mut h = Sha256::new();
        h.update(PRINCIPAL_DOMAIN);
        h.update((salt.len() as u64).to_be_bytes());
        h.update(salt);
        h.update(identity.as_bytes());
        let digest = h.finalize();
        Partition::Principal(hex::encode(&digest[..16]))
    }

    /// The partition's name as it appears in collection names: `public`, `anonymous` or
    /// `p-<32 hex>`.
    pub fn name(&self) -> String {
        match self {
            Partition::Public => "public".to_string(),
            Partition::Anonymous => "anonymous".to_string(),
            Partition::Principal(h) => format!("p-{h}"),
        }
    }

    pub(crate) fn write_name(&self, out: &mut String) {
        match self {
            Partition::Public => out.push_str("public"),
            Partition::Anonymous => out.push_str("anonymous"),
            Partition::Principal(h) => {
                out.push_str("p-");
                out.push_str(h);
            }
        }
    }
}

impl fmt::Debug for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hashes only; safe to show.
        write!(f, "Partition({})", self.name())
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// SHA-256 of the canonical JSON of `params`, as 64 lowercase hex digits.
///
/// ```
/// use serde_json::json;
/// use mcp_kv_cache::params_hash;
///
/// let a = json!({"name": "weather", "arguments": {"city": "Oslo", "units": "metric"}});
/// let b = json!({"arguments": {"units": "metric", "city": "Oslo"}, "name": "weather"});
/// assert_eq!(params_hash(&a), params_hash(&b));
/// assert_ne!(params_hash(&a), params_hash(&json!({"name": "weather"})));
/// ```
pub fn params_hash(params: &Value) -> String {
    let mut w = HashWriter(Sha256::new());
    write_canonical(params, &mut w);
    hex::encode(w.0.finalize())
}

/// The canonical JSON of `value` as a string (for inspection and tests; the cache hashes it
/// without building it).
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    // Only valid UTF-8 is ever written.
    String::from_utf8_lossy(&out).into_owned()
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes never fail on the two writers used here (a Vec and a hasher).
fn write_canonical<W: Write>(value: &Value, w: &mut W) {
    let _ = write_value(value, w);
}

fn write_value<W: Write>(value: &Value, w: &mut W) -> std::io::Result<()> {
    match value {
        Value::Null => w.write_all(b"null"),
        Value::Bool(true) => w.write_all(b"true"),
        Value::Bool(false) => w.write_all(b"false"),
        Value::Number(n) => write_number(n, w),
        Value::String(s) => write_string(s, w),
        Value::Array(items) => {
            w.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write_value(item, w)?;
            }
            w.write_all(b"]")
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // serde_json's default map is already sorted; `preserve_order` (which another crate
            // may switch on through feature unification) is not.
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            w.write_all(b"{")?;
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write_string(k, w)?;
                w.write_all(b":")?;
                write_value(v, w)?;
            }
            w.write_all(b"}")
        }
    }
}

fn write_string<W: Write>(s: &str, w: &mut W) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, s).map_err(std::io::Error::other)
}

fn write_number<W: Write>(n: &Number, w: &mut W) -> std::io::Result<()> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        if f.fract() == 0.0 && f.abs() <= EXACT {
            // -0.0 and 0.0 both become 0.
            return write!(w, "{}", f as i64);
        }
    }
    write!(w, "{n}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_recursively_and_compact() {
        let v = json!({"b": [ {"z": 1, "a": 2} ], "a": {"y": null, "x": "s\"q"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"x":"s\"q","y":null},"b":[{"a":2,"z":1}]}"#
        );
    }

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(
            params_hash(&json!({"n": 1.0})),
            params_hash(&json!({"n": 1}))
        );
        assert_eq!(canonical_json(&json!(-0.0)), "0");
        assert_eq!(canonical_json(&json!(1.5)), "1.5");
        assert_ne!(
            params_hash(&json!({"n": 1.5})),
            params_hash(&json!({"n": 1}))
        );
    }

    #[test]
    fn array_order_matters_and_types_differ() {
        assert_ne!(params_hash(&json!([1, 2])), params_hash(&json!([2, 1])));
        assert_ne!(
            params_hash(&json!({"a": "1"})),
            params_hash(&json!({"a": 1}))
        );
        assert_ne!(params_hash(&json!(null)), params_hash(&json!({})));
    }

    #[test]
    fn principals() {
        let a = Partition::principal("alice", b"");
        assert_eq!(a, Partition::principal("alice", b""));
        assert_ne!(a, Partition::principal("bob", b""));
        assert_ne!(a, Partition::principal("alice", b"salt"));
        let name = a.name();
        assert!(name.starts_with("p-") && name.len() == 34, "{name}");
        assert!(!format!("{a:?}").contains("alice"));
    }
}

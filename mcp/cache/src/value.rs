//! What the cache needs to know about a result: [`CacheValue`] and its [`ResultHints`].

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Who may share a cached result, as a result itself declares it (MCP's `cacheScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HintScope {
    /// Any caller may be served this result.
    Public,
    /// Only the caller who asked.
    Private,
}

/// What a result says about its own cacheability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResultHints {
    /// An error result (e.g. a tool result with `isError: true`): never cached.
    pub is_error: bool,
    /// Not a complete result (e.g. `resultType` other than `"complete"`): never cached.
    pub incomplete: bool,
    /// The result's freshness hint (`ttlMs`): the cache keeps it at most this long; zero means
    /// not cached.
    pub ttl: Option<Duration>,
    /// The result's scope hint (`cacheScope`): a private result is never stored in a partition
    /// callers share (the public one, or the anonymous one).
    pub scope: Option<HintScope>,
}

impl ResultHints {
    /// Hints of an error result.
    pub fn error() -> Self {
        ResultHints {
            is_error: true,
            ..Default::default()
        }
    }
}

/// A result type the cache can hold: serde-encodable as JSON, cloneable (single-flight hands
/// one result to every waiter), and able to say whether it is an error and what cache hints
/// it carries.
pub trait CacheValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The result's hints; the default: a complete, non-error result without hints.
    fn hints(&self) -> ResultHints {
        ResultHints::default()
    }
}

/// JSON results, read the MCP way: `isError: true` is an error; a `resultType` other than
/// `"complete"` is incomplete; `ttlMs` (milliseconds) and `cacheScope` (`"public"` /
/// `"private"`) are hints.
impl CacheValue for Value {
    fn hints(&self) -> ResultHints {
        let Some(obj) = self.as_object() else {
            return ResultHints::default();
        };
        ResultHints {
            is_error: obj.get("isError").and_then(Value::as_bool) == Some(true),
            incomplete: obj
                .get("resultType")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "complete"),
            ttl: obj.get("ttlMs").and_then(Value::as_f64).map(|ms| {
                // Any JSON number (`1500`, `1500.0`, `1.5e3`); negative means "immediately
                // stale"; past what a `Duration` holds, the longest one (the cache's own TTL
                // caps it anyway).
                Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
            }),
            scope: match obj.get("cacheScope").and_then(Value::as_str) {
                Some("public") => Some(HintScope::Public),
                Some("private") => Some(HintScope::Private),
                _ => None,
            },
        }
    }
}

impl CacheValue for String {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_hints() {
        let h = json!({"content": [], "isError": true}).hints();
        assert!(h.is_error);
        let h = json!({"tools": [], "ttlMs": 1500, "cacheScope": "private"}).hints();
        assert_eq!(h.ttl, Some(Duration::from_millis(1500)));
        assert_eq!(h.scope, Some(HintScope::Private));
        assert!(!h.is_error && !h.incomplete);
        assert_eq!(json!({"ttlMs": -3}).hints().ttl, Some(Duration::ZERO));
        assert_eq!(json!({"ttlMs": -1.0}).hints().ttl, Some(Duration::ZERO));
        for ms in [json!(1000.0), json!(1e3), json!(1000)] {
            let h = json!({ "ttlMs": ms }).hints();
            assert_eq!(h.ttl, Some(Duration::from_secs(1)), "{ms}");
        }
        assert_eq!(json!({"ttlMs": 1e300}).hints().ttl, Some(Duration::MAX));
        assert_eq!(json!({"ttlMs": "soon"}).hints().ttl, None);
        assert!(json!({"resultType": "incomplete"}).hints().incomplete);
        assert!(!json!({"resultType": "complete"}).hints().incomplete);
        assert_eq!(json!([1]).hints(), ResultHints::default());
    }
}

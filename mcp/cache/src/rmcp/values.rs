//! [`CacheValue`] for rmcp's result types: error, completeness and cache hints.

use std::time::Duration;

use rmcp::model::{
    CacheScope, CallToolResult, GetPromptResult, ListPromptsResult, ListResourcesResult,
    ListToolsResult, ReadResourceResult, ResultType,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{CacheValue, HintScope, ResultHints};

fn incomplete(result_type: &Option<ResultType>) -> bool {
    result_type
        .as_ref()
        .is_some_and(|t| t.as_str() != ResultType::COMPLETE.as_str())
}

fn hints(
    result_type: &Option<ResultType>,
    ttl_ms: Option<u64>,
    scope: Option<CacheScope>,
) -> ResultHints {
    ResultHints {
        incomplete: incomplete(result_type),
        ttl: ttl_ms.map(Duration::from_millis),
        scope: match scope {
            Some(CacheScope::Public) => Some(HintScope::Public),
            Some(CacheScope::Private) => Some(HintScope::Private),
            // An unknown future scope: the conservative reading.
            Some(_) => Some(HintScope::Private),
            None => None,
        },
        ..ResultHints::default()
    }
}

macro_rules! hinted {
    ($($t:ty),*) => {$(
        impl CacheValue for $t {
            fn hints(&self) -> ResultHints {
                hints(&self.result_type, self.ttl_ms, self.cache_scope)
            }
        }
    )*};
}

hinted!(
    ListToolsResult,
    ListResourcesResult,
    ListPromptsResult,
    ReadResourceResult
);

impl CacheValue for GetPromptResult {
    fn hints(&self) -> ResultHints {
        hints(&self.result_type, None, None)
    }
}

impl CacheValue for CallToolResult {
    fn hints(&self) -> ResultHints {
        let mut h = hints(&self.result_type, None, None);
        h.is_error = self.is_error == Some(true);
        h
    }
}

/// A response that is either a complete result (cacheable) or something else (input
/// required, a task handle) that is served but never stored.
#[derive(Clone, Debug)]
pub(crate) enum Served<C, R> {
    Complete(C),
    Other(R),
}

impl<C: Serialize, R> Serialize for Served<C, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Served::Complete(c) => c.serialize(s),
            // Never reached: its hints say incomplete, so the cache does not encode it.
            Served::Other(_) => Err(serde::ser::Error::custom("not a complete result")),
        }
    }
}

impl<'de, C: DeserializeOwned, R> Deserialize<'de> for Served<C, R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        C::deserialize(d).map(Served::Complete)
    }
}

impl<C, R> CacheValue for Served<C, R>
where
    C: CacheValue,
    R: Clone + Send + Sync + 'static,
{
    fn hints(&self) -> ResultHints {
        match self {
            Served::Complete(c) => c.hints(),
            Served::Other(_) => ResultHints {
                incomplete: true,
                ..ResultHints::default()
            },
        }
    }
}

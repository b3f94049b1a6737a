//! # mcp-kv-cache
//!
//! A response cache for MCP servers over any mcp-kv store: per-method settings, keys from the
//! canonical JSON of the request, per-caller partitions, single-flight on misses, error
//! results never cached, per-method statistics. The `rmcp` feature adds a caching wrapper
//! around any rmcp `ServerHandler` and rmcp's session and credential stores on a `KvStore`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use serde_json::{json, Value};
//! use mcp_kv_cache::{CacheConfig, Method, ResponseCache};
//! use mcp_kv_memory::MemoryStore;
//!
//! let cache = ResponseCache::builder(Arc::new(MemoryStore::new()))
//!     .config(CacheConfig::builder().include_tool("weather").build())
//!     .build();
//!
//! let params = json!({"name": "weather", "arguments": {"city": "Oslo"}});
//! let call = || async { Ok::<Value, String>(json!({"content": [{"type": "text", "text": "4 °C"}]})) };
//!
//! // First call: a miss, the handler runs, the result is stored in alice's partition.
//! let r1 = cache.get_or_compute_as(Method::ToolsCall, &params, Some("alice"), call).await?;
//! // Second call: a hit.
//! let r2 = cache.get_or_compute_as(Method::ToolsCall, &params, Some("alice"), call).await?;
//! assert_eq!(r1, r2);
//! let stats = cache.stats().method(Method::ToolsCall);
//! assert_eq!((stats.misses, stats.hits, stats.stores), (1, 1, 1));
//!
//! // Bob has his own partition: a miss for him.
//! cache.get_or_compute_as(Method::ToolsCall, &params, Some("bob"), call).await?;
//! assert_eq!(cache.stats().method(Method::ToolsCall).misses, 2);
//!
//! // Error results are never cached.
//! let failing = || async { Ok::<Value, String>(json!({"content": [], "isError": true})) };
//! let other = json!({"name": "weather", "arguments": {"city": "Nowhere"}});
//! cache.get_or_compute_as(Method::ToolsCall, &other, Some("alice"), failing).await?;
//! assert_eq!(cache.stats().method(Method::ToolsCall).errors, 1);
//!
//! // The tool's data changed: drop its results everywhere.
//! cache.invalidate_method(Method::ToolsCall).await.unwrap();
//! # Ok::<(), String>(())
//! # }).unwrap();
//! ```
//!
//! ## What is cached
//!
//! | method | default | TTL | partition |
//! |---|---|---|---|
//! | `tools/list`, `resources/list`, `prompts/list` | on | 300 s | per principal |
//! | `resources/read`, `prompts/get` | on | 3600 s | per principal |
//! | `tools/call` | opt-in per tool ([`CacheConfigBuilder::include_tool`]), minus an exclude list | 3600 s | per principal |
//!
//! Every method can be switched off, given another TTL (per item too), and have items (tool
//! and prompt names, resource URIs) excluded. Results larger than
//! [`CacheConfig::max_item_bytes`] (1 MiB by default) are served but not stored (counted as
//! skipped); `Err` results and error results (`isError: true`) are never stored; a result's
//! own hints (`ttlMs`, `cacheScope`) shorten its TTL or keep it out of the partitions callers
//! share — public and anonymous (see [`CacheValue`]).
//!
//! ## Keys and partitions
//!
//! An entry is named by the method, the SHA-256 of the canonical JSON of the request params
//! (object keys sorted recursively, so argument order never splits an entry — see
//! [`params_hash`]) and a [`Partition`]. **By default every method is partitioned per
//! principal**: a response may depend on who asks (filtered lists, per-user data), and one
//! caller must never be served another's result. A principal's partition is named by a hash
//! of its identity (salted with [`ResponseCacheBuilder::principal_salt`]), never the identity
//! itself; callers without an identity share the anonymous partition — so a server whose
//! callers reach the cache without an identity (with rmcp: no `rmcp::Principal` in the request
//! extensions, see `rmcp::principal_from_context`) shares every cached result among them; a
//! result marked `cacheScope: "private"` is never stored there. Only methods or items marked
//! public ([`CacheConfigBuilder::public`], [`CacheConfigBuilder::public_item`]) share one
//! partition across identified callers.
//!
//! ## Storage layout and invalidation
//!
//! One collection per method and partition: `mcp-kv.cache/<method>/<partition>`, e.g.
//! `mcp-kv.cache/tools/list/public` or `mcp-kv.cache/tools/call/p-<32 hex>`; key = 64 hex
//! digits of the params hash; value = the result's JSON, with the store's TTL. Invalidation
//! clears those collections — per method and partition, per method (all partitions, e.g. on a
//! list-changed notification) or per partition (all methods) — see [`ResponseCache`].
//!
//! ## Single-flight
//!
//! Concurrent identical misses in one process run the handler once; the others wait and share
//! its result (errors included) — except an incomplete one (a task handle, an input request),
//! which belongs to the call that made it: each waiter then runs its own. A leader that panics, or whose future is dropped, releases its
//! waiters, who start over. rmcp does not drop a request's future on
//! `notifications/cancelled`: it cancels the request's `ct`, and a handler that stops on it
//! answers the waiters with what it returns — return an error (not stored) or an incomplete
//! result, never a partial one that reads as complete. Across processes, each replica computes at most once per key at a time.
//!
//! ## Statistics
//!
//! [`ResponseCache::stats`] gives, per method: hits, misses, coalesced waits, stores, skips,
//! errors, store errors and bypassed requests — relaxed atomics, no lock.
//!
//! ## rmcp (features `rmcp`, `rmcp-auth`)
//!
//! `rmcp::CachingHandler` wraps any rmcp `ServerHandler` (rmcp 3.11) and serves the six
//! methods above through the cache, honouring rmcp's `ttl_ms` / `cache_scope` hints;
//! `rmcp::KvSessionStore` is rmcp's streamable-HTTP `SessionStore` on a `KvStore` (idle TTL),
//! so sessions survive restarts and move between replicas; with `rmcp-auth`,
//! `KvCredentialStore` / `KvStateStore` serve rmcp's OAuth client. The facade's
//! `examples/mcp_server.rs` (`cargo run --features full --example mcp_server`) is a complete
//! streamable-HTTP server on axum (bearer tokens verified with mcp-kv-oauth, state on SQLite
//! or Redis); the facade's `tests/e2e_*.rs` drive it as a process with the rmcp client and the
//! official Python SDK.

#![forbid(unsafe_code)]

mod cache;
pub mod config;
mod flight;
mod key;
#[cfg(feature = "rmcp")]
pub mod rmcp;
mod stats;
mod value;

pub use cache::{ResponseCache, ResponseCacheBuilder};
pub use config::{CacheConfig, CacheConfigBuilder, Method, MethodSettings, ToolInclude};
pub use key::{canonical_json, params_hash, Partition};
pub use stats::{CacheStats, MethodStats};
pub use value::{CacheValue, HintScope, ResultHints};

#[cfg(test)]
mod static_checks {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_sync() {
        send_sync::<crate::ResponseCache>();
        send_sync::<crate::CacheConfig>();
        send_sync::<crate::CacheStats>();
        send_sync::<crate::Partition>();
    }
}

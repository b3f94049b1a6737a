//! rmcp glue (feature `rmcp`): [`CachingHandler`] around any rmcp `ServerHandler`,
//! [`KvSessionStore`] for rmcp's streamable-HTTP server and, with feature `rmcp-auth`,
//! [`KvCredentialStore`] / [`KvStateStore`] for rmcp's OAuth client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use mcp_kv_cache::rmcp::CachingHandler;
//! use mcp_kv_cache::{CacheConfig, ResponseCache};
//! use mcp_kv_memory::MemoryStore;
//!
//! #[derive(Clone)]
//! struct MyServer;
//! impl rmcp::ServerHandler for MyServer {}
//!
//! let store: mcp_kv_core::DynStore = Arc::new(MemoryStore::new());
//! let cache = ResponseCache::builder(store)
//!     .config(CacheConfig::builder().include_tool("search").build())
//!     .build();
//! let handler = CachingHandler::new(MyServer, cache.clone());
//! // serve `handler` like any ServerHandler: rmcp::ServiceExt::serve(handler, transport)
//! # let _ = handler; Ok(()) }
//! ```

#[cfg(feature = "rmcp-auth")]
mod auth;
mod handler;
mod session;
mod values;

#[cfg(feature = "rmcp-auth")]
pub use auth::{
    KvCredentialStore, KvStateStore, DEFAULT_CREDENTIAL_COLLECTION, DEFAULT_STATE_COLLECTION,
};
pub use handler::{principal_from_context, CachingHandler, Principal, VaryOn};
pub use session::{KvSessionStore, DEFAULT_SESSION_COLLECTION, DEFAULT_SESSION_IDLE_TTL};

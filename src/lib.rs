//! # mcp-kv
//!
//! One async key-value contract with TTL for MCP servers, real backends behind it, composable
//! wrappers, and the MCP parts on top. This facade re-exports the pieces behind Cargo features.

#![forbid(unsafe_code)]

pub use mcp_kv_core::*;

/// The in-memory backend (feature `memory`).
#[cfg(feature = "memory")]
pub use mcp_kv_memory as memory;

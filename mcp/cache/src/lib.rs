//! MCP response cache on any mcp-kv store.
//!
//! Work in progress: see the open issues.

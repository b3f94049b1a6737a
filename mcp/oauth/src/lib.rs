//! OAuth token store for MCP servers, on any mcp-kv store.
//!
//! Work in progress: see the open issues.

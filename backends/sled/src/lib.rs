//! sled backend of mcp-kv.
//!
//! Work in progress: see the open issues.

//! SQLite backend of mcp-kv (rusqlite, bundled).
//!
//! Work in progress: see the open issues.

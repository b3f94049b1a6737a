//! In-memory backend of mcp-kv: a sharded concurrent map with TTL, optional per-collection LRU bound.
//!
//! Work in progress: see the open issues.

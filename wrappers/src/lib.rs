//! Composable wrappers of mcp-kv: namespace, encryption, statistics, retry, timeout, compression and more.
//!
//! Work in progress: see the open issues.

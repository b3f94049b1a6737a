//! Composable wrappers of mcp-kv (work in progress).

#![forbid(unsafe_code)]

mod hook;
pub mod namespace;
pub mod read_only;
pub mod retry;
pub mod size_limit;
pub mod statistics;
pub mod timeout;
pub mod tracing;
pub mod ttl_policy;

mod cas;
#[cfg(feature = "compression")]
pub mod compression;
#[cfg(feature = "encryption")]
pub mod encryption;
#[cfg(test)]
mod test_support;

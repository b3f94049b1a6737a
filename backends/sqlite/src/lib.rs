//! SQLite backend of mcp-kv (rusqlite, bundled). Docs in progress.

#![forbid(unsafe_code)]

pub mod config;
mod encoding;
mod engine;
mod schema;
mod store;

pub use config::{
    Durability, Location, SqliteConfig, SqliteStoreBuilder, DEFAULT_BUSY_TIMEOUT, DEFAULT_READERS,
    DEFAULT_TABLE,
};
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;
